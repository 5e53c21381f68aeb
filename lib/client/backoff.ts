/** Options for {@link Backoff}. */
export interface BackoffOptions {
  /** Delay before the first retry, before jitter. @default 1000 */
  initialDelayMs?: number;
  /** Longest delay, before jitter. @default 30000 */
  maxDelayMs?: number;
  /** Each retry waits this many times longer than the one before. @default 2 */
  multiplier?: number;
  /**
   * Fraction of each delay that is random: 0.5 waits between half and all of it, so clients
   * dropped together by a restart do not all come back in the same instant.
   * @default 0.5
   */
  jitter?: number;
  /** Source of randomness in [0, 1). @default Math.random */
  random?: () => number;
}

/**
 * Exponential backoff with jitter, capped: `next()` gives the delay before each retry, `reset()`
 * starts over after a success. Uses no platform API, so the browser bundle can share it.
 */
export class Backoff {
  #initial: number;
  #max: number;
  #multiplier: number;
  #jitter: number;
  #random: () => number;
  #attempt = 0;

  constructor(options: BackoffOptions = {}) {
    this.#initial = check("initialDelayMs", options.initialDelayMs ?? 1000, (v) => v >= 0);
    this.#max = check("maxDelayMs", options.maxDelayMs ?? 30_000, (v) => v >= this.#initial);
    this.#multiplier = check("multiplier", options.multiplier ?? 2, (v) => v >= 1);
    this.#jitter = check("jitter", options.jitter ?? 0.5, (v) => v >= 0 && v <= 1);
    this.#random = options.random ?? Math.random;
  }

  /** Retries handed out since the last reset. */
  get attempt(): number {
    return this.#attempt;
  }

  /** The delay before the next retry, in whole milliseconds. */
  next(): number {
    const base = Math.min(this.#max, this.#initial * this.#multiplier ** this.#attempt);
    this.#attempt++;
    return Math.round(base * (1 - this.#jitter * this.#random()));
  }

  /** Starts over from the initial delay. */
  reset(): void {
    this.#attempt = 0;
  }
}

function check(name: string, value: number, ok: (v: number) => boolean): number {
  if (!Number.isFinite(value) || !ok(value)) {
    throw new RangeError(`Cannot back off as '${name}' is out of range: current value is ${value}`);
  }
  return value;
}
