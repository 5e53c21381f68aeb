import { encodeJsonEvent } from "../protocol/json.ts";
import { LagFreeClock } from "../lag_free_clock.ts";
import type { Connection } from "./connection.ts";
import type { Limits } from "./options.ts";

/**
 * The longest a heartbeat may go unanswered, in slow-reader timeouts, even while it waits in the
 * server's queues or the server has the client's input still to open.
 */
export const HEARTBEAT_LIMIT = 4;

/** What the reader watch needs of the router's limits. */
export type WatchLimits = Pick<Limits, "slowReaderMs" | "restAfterMs" | "lazyWaitMs">;

/** A message written live, kept until the reader surely took it. */
export interface TrackedMessage {
  id: string;
}

/**
 * Whether one connection's reader keeps up, and what it may not have read. It sees every frame
 * the session writes (`sent`) and every line it receives (`heard`); once a tick (`WatchTick`) it
 * asks a JSON reader for a heartbeat and drops the connection when the answer does not come
 * (`Connection.abort`). Private messages the reader may not have taken stay listed
 * (`untaken`), so that a reader dropped as too slow loses nothing: they are stored for its next
 * sign-in. A quiet connection is told to rest (`Connection.rest`).
 */
export class ReaderWatch {
  readonly #conn: Connection;
  /**
   * Private messages written live that the reader may not have taken yet, by frame number.
   * Should the connection be dropped as too slow, they are stored for the next sign-in. Made
   * when first needed: most connections never carry one past a quick reader.
   */
  #unconfirmed: { index: number; message: TrackedMessage }[] | undefined;
  /** The heartbeat waiting for its answer, with its frame number. */
  #beat: { seq: number; index: number; at: number; leftAt?: number } | undefined;
  /** Frame number of the last answered heartbeat: the client has read everything up to it. */
  #read = -1;
  #beats = 0;
  #lastBeatAt: number | undefined;
  #sentSinceBeat = false;
  /** Something was sent or received since the last tick. */
  #active = true;
  #quietSince = 0;
  #rested = false;

  constructor(conn: Connection) {
    this.#conn = conn;
  }

  /** The session received a line. */
  heard(): void {
    this.#active = true;
  }

  /**
   * The session wrote frame number `index`. `track`: the private message it carries, kept until
   * the reader has surely taken it. A `lazy` frame asks for no heartbeat (see `tick`).
   */
  sent(index: number, lazy: boolean, track?: TrackedMessage): void {
    if (!lazy) this.#sentSinceBeat = true;
    this.#active = true;
    if (!track) return;
    const taken = this.#taken();
    // Forget what the reader has; the list stays as long as the reader is behind.
    if (this.#unconfirmed?.length && this.#unconfirmed[0].index < taken) {
      this.#unconfirmed = this.#unconfirmed.filter((u) => u.index >= taken);
    }
    if (index >= taken) (this.#unconfirmed ??= []).push({ index, message: track });
  }

  /** The client answered heartbeat `seq`: it read everything sent before it. */
  answered(seq: number): void {
    if (!this.#beat || seq !== this.#beat.seq) return;
    this.#read = this.#beat.index;
    this.#beat = undefined;
  }

  /** Private messages written to this connection that may never have reached the reader. */
  untaken(): TrackedMessage[] {
    const taken = this.#taken();
    return (this.#unconfirmed ?? []).filter((u) => u.index >= taken).map((u) => u.message);
  }

  /**
   * Frames numbered below this surely reached the reader. In JSON mode that is everything up to
   * the last heartbeat it answered (it read them, in order); in text mode, with no answers to go
   * by, what the socket took.
   */
  #taken(): number {
    return this.#conn.dialect === "json" ? this.#read + 1 : this.#conn.progress().accepted;
  }

  /**
   * One tick (JSON mode; returns whether the connection was told to rest). A connection that was
   * sent something since its last heartbeat gets a new one; one that leaves a heartbeat
   * unanswered for longer than the slow-reader timeout is not reading, however empty its socket
   * buffers look, and is dropped as too slow. Connections with nothing sent are left alone: they
   * cannot be falling behind. Nor are those sent only presence (lazy events): nothing in it waits
   * for the reader's answer, and at 10,000 online everyone is sent presence all the time, so
   * asking them all would cost the server thousands of answers to open a second. A reader that
   * stops reading presence alone is still dropped by the transport's write watch or byte cap.
   */
  tick(now: number, limits: WatchLimits): boolean {
    if (this.#conn.dialect !== "json") return false;
    const rested = this.#restIfQuiet(now, limits.restAfterMs);
    const timeoutMs = limits.slowReaderMs;
    const beat = this.#beat;
    if (beat) {
      // The reader's time starts when the heartbeat has left the server's own queues, and waits
      // while the server still has the client's input to open (the answer may be in it): a
      // server that is behind (sealing for thousands after a restart) must not blame its
      // readers. However far behind, no heartbeat waits longer than HEARTBEAT_LIMIT timeouts
      // (plus the longest a lazy frame may wait to leave, for a short timeout on a big server),
      // unless the client's bytes wait in the server's own receive queue, not read yet: the
      // server, busy opening others' lines, has not looked at its answer. A client that sends
      // and does not read is still found: by its transport, whose writes to it stop.
      const progress = this.#conn.progress();
      if (beat.leftAt === undefined && progress.handedOver > beat.index) beat.leftAt = now;
      const late = beat.leftAt !== undefined && now - beat.leftAt > timeoutMs &&
        !progress.inputPending;
      if (
        (late || now - beat.at > HEARTBEAT_LIMIT * timeoutMs + limits.lazyWaitMs) &&
        !this.#conn.inputWaiting?.()
      ) {
        this.#conn.abort(`heartbeat ${beat.seq} unanswered for ${timeoutMs} ms`);
      }
      return rested;
    }
    // At most one every half timeout (the first that long after the first tick): enough to
    // find a stopped reader in time, and cheap.
    this.#lastBeatAt ??= now;
    if (!this.#sentSinceBeat || now - this.#lastBeatAt < timeoutMs / 2) return rested;
    this.#lastBeatAt = now;
    const seq = ++this.#beats;
    // Ahead of anything a replay holds back: it is lazy, and asks whether the reader reads.
    const index = this.#conn.send(encodeJsonEvent({ type: "heartbeat", seq }), true);
    this.#active = true;
    this.#sentSinceBeat = false;
    this.#beat = { seq, index, at: now };
    return rested;
  }

  /**
   * Tells the connection to rest once it has been quiet for `afterMs`: a busy one never pays to
   * wake up, and an idle server soon holds only what it needs. Returns whether it rested.
   */
  #restIfQuiet(now: number, afterMs: number): boolean {
    if (this.#active) {
      this.#active = false;
      this.#quietSince = now;
      this.#rested = false;
    } else if (!this.#rested && now - this.#quietSince >= afterMs) {
      this.#rested = true;
      return this.#conn.rest?.() ?? false;
    }
    return false;
  }
}

/**
 * The heartbeat tick every reader watch shares: once a second (at most half the slow-reader
 * timeout), on a clock the server's own lag does not advance. A reader that stops reading is
 * found within the slow-reader timeout plus a lazy round and two heartbeat periods (at most
 * HEARTBEAT_LIMIT timeouts while the server is behind), however slowly its socket buffers fill.
 * It runs only while there are connections.
 */
export class WatchTick {
  readonly #limits: WatchLimits;
  readonly #watches: () => Iterable<ReaderWatch>;
  readonly #rested: () => void;
  readonly #clock = new LagFreeClock(2000);
  #timer: ReturnType<typeof setInterval> | undefined;

  /** `watches` lists the watches to tick; `rested` counts each connection told to rest. */
  constructor(limits: WatchLimits, watches: () => Iterable<ReaderWatch>, rested: () => void) {
    this.#limits = limits;
    this.#watches = watches;
    this.#rested = rested;
  }

  /** Starts ticking, unless it already does. */
  start(): void {
    if (this.#timer !== undefined) return;
    this.#clock.resume();
    this.#timer = setInterval(() => {
      const now = this.#clock.tick();
      for (const w of this.#watches()) if (w.tick(now, this.#limits)) this.#rested();
    }, Math.min(1000, this.#limits.slowReaderMs / 2));
    Deno.unrefTimer(this.#timer);
  }

  /** Stops ticking (no connections left, or shutting down). */
  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
