/**
 * A clock for judging peers from a periodic timer: it advances with real time, but by at most
 * `maxStepMs` per tick, so time the event loop itself lost (a busy server, late timers) does not
 * count against a peer whose answer may simply not have been processed yet.
 */
export class LagFreeClock {
  #now = 0;
  #last = performance.now();
  #maxStep: number;

  constructor(maxStepMs: number) {
    this.#maxStep = maxStepMs;
  }

  /** The clock's time, in ms. */
  get now(): number {
    return this.#now;
  }

  /** Advances the clock by the real time since the last tick, capped; returns the new time. */
  tick(): number {
    const real = performance.now();
    this.#now += Math.min(real - this.#last, this.#maxStep);
    this.#last = real;
    return this.#now;
  }

  /** Restarts the real-time reference (after a pause in ticking) without moving the clock. */
  resume(): void {
    this.#last = performance.now();
  }
}
