/**
 * A worker's tally of deliveries in one phase: distinct, duplicated and reordered deliveries per
 * (receiver, sender), and the send→receive latency of each distinct one.
 */
import { clockMs, parseMessage } from "./messages.ts";
import { Histogram } from "./stats.ts";
import type { Delivery } from "./load_client.ts";

/** What one receiver has seen of one sender: a count per sequence number. */
interface Track {
  counts: Uint8Array;
  last: number;
}

export class DeliveryLog {
  phase = -1;
  latency = new Histogram();
  unique = 0;
  duplicates = 0;
  reordered = 0;
  foreign = 0;
  translated = 0;
  untranslated: Record<string, number> = {};
  uniqueBySender = new Map<number, number>();
  /** performance.now() of the last delivery of this phase. */
  lastAt = 0;
  #tracks: Map<number, Track>[] = [];
  #first = 0;

  /**
   * Starts a new phase: everything counted so far is forgotten. Receivers are local indices
   * 0..receivers-1 for global clients `first`..; a sender's own echo (baseline) is not counted.
   */
  reset(phase: number, receivers: number, first: number): void {
    this.phase = phase;
    this.#first = first;
    this.latency = new Histogram();
    this.unique =
      this.duplicates =
      this.reordered =
      this.foreign =
      this.translated =
        0;
    this.untranslated = {};
    this.uniqueBySender = new Map();
    this.lastAt = 0;
    this.#tracks = Array.from({ length: receivers }, () => new Map());
  }

  /** Counts a delivery to local receiver `r`. */
  record(r: number, d: Delivery): void {
    const now = d.at ?? clockMs();
    const m = parseMessage(d.text);
    if (!m || m.phase !== this.phase || this.phase < 0) {
      this.foreign++;
      return;
    }
    if (m.sender === this.#first + r) return;
    this.lastAt = performance.now();
    const tracks = this.#tracks[r];
    let t = tracks.get(m.sender);
    if (!t) tracks.set(m.sender, t = { counts: new Uint8Array(256), last: -1 });
    if (m.seq >= t.counts.length) {
      const grown = new Uint8Array(Math.max(m.seq + 1, t.counts.length * 2));
      grown.set(t.counts);
      t.counts = grown;
    }
    if (t.counts[m.seq] !== 0) {
      this.duplicates++;
      if (t.counts[m.seq] < 255) t.counts[m.seq]++;
      return;
    }
    t.counts[m.seq] = 1;
    if (m.seq < t.last) this.reordered++;
    else t.last = m.seq;
    this.unique++;
    this.uniqueBySender.set(m.sender, (this.uniqueBySender.get(m.sender) ?? 0) + 1);
    this.latency.record((now - m.sentAt) * 1000);
    if (d.translated) this.translated++;
    if (d.untranslated) {
      this.untranslated[d.untranslated] = (this.untranslated[d.untranslated] ?? 0) + 1;
    }
  }
}
