import { TokenBucket } from "../lib/token_bucket.ts";

/**
 * A token bucket per key (a peer address), forgetting keys that have refilled, so memory stays
 * bounded by recent activity.
 */
export class RateLimiter {
  #buckets = new Map<string, TokenBucket>();
  #rate: number;
  #burst: number;

  /** `ratePerSec` tokens are added per second, up to `burst`. */
  constructor(ratePerSec: number, burst: number) {
    this.#rate = ratePerSec;
    this.#burst = burst;
  }

  /** Takes one token for `key`; returns 0 when allowed, else the seconds until it would be. */
  take(key: string): number {
    if (this.#buckets.size > 10_000) this.#buckets.clear();
    let bucket = this.#buckets.get(key);
    if (!bucket) this.#buckets.set(key, bucket = new TokenBucket(this.#rate, this.#burst));
    return bucket.take(1) ? 0 : bucket.secondsUntil(1);
  }
}
