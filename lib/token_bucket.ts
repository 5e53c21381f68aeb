/**
 * A token bucket: `burst` tokens at most, refilled at `ratePerSec`. Used per connection so one
 * flooding client is told to slow down without affecting anybody else.
 */
/** The default clock, one for every bucket: a bound function per bucket was one per connection. */
const monotonicNow = performance.now.bind(performance);

export class TokenBucket {
  #tokens: number;
  #last: number;
  readonly rate: number;
  readonly burst: number;
  #now: () => number;

  constructor(
    ratePerSec: number,
    burst: number,
    now: () => number = monotonicNow,
  ) {
    if (!(ratePerSec > 0) || !(burst >= 1)) {
      throw new RangeError(
        `Cannot create a token bucket as 'ratePerSec' must be positive and 'burst' at least 1: current values are ${ratePerSec} and ${burst}`,
      );
    }
    this.rate = ratePerSec;
    this.burst = burst;
    this.#tokens = burst;
    this.#now = now;
    this.#last = now();
  }

  /** Takes `cost` tokens if available; returns false (taking nothing) when the bucket is short. */
  take(cost = 1): boolean {
    const now = this.#now();
    this.#tokens = Math.min(this.burst, this.#tokens + ((now - this.#last) / 1000) * this.rate);
    this.#last = now;
    if (this.#tokens < cost) return false;
    this.#tokens -= cost;
    return true;
  }

  /** True when the bucket has refilled completely (nothing taken recently). */
  get full(): boolean {
    return this.secondsUntil(this.burst) === 0;
  }

  /** Seconds until `cost` tokens will be available. */
  secondsUntil(cost = 1): number {
    const tokens = Math.min(
      this.burst,
      this.#tokens + ((this.#now() - this.#last) / 1000) * this.rate,
    );
    return Math.max(0, (cost - tokens) / this.rate);
  }
}
