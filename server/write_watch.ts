import { LagFreeClock } from "../lib/lag_free_clock.ts";

/**
 * One timer for every connection's slow-reader check, instead of a timer per write. It keeps
 * its own clock, which advances at most a little more than one interval per tick: when the event
 * loop itself falls behind (a busy server), that time does not count against readers, whose
 * finished writes may simply not have been processed yet.
 */
export interface Watched {
  /** Judges the connection at `now` (the watch's clock, in ms). */
  check(now: number): void;
}

const INTERVAL_MS = 250;

class WriteWatch {
  #watched = new Set<Watched>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #clock = new LagFreeClock(INTERVAL_MS * 2);

  /** The watch's clock: real time, minus the event loop's lag. */
  get now(): number {
    return this.#clock.now;
  }

  add(w: Watched): void {
    this.#watched.add(w);
    if (this.#timer !== undefined) return;
    this.#clock.resume();
    this.#timer = setInterval(() => this.#tick(), INTERVAL_MS);
    Deno.unrefTimer(this.#timer);
  }

  delete(w: Watched): void {
    this.#watched.delete(w);
    if (this.#watched.size === 0 && this.#timer !== undefined) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }

  #tick(): void {
    const now = this.#clock.tick();
    for (const w of [...this.#watched]) w.check(now);
  }
}

/** The process's one watch. */
export const writeWatch: WriteWatch = new WriteWatch();
