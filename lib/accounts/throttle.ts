/**
 * Failed-login throttling. Each key (a name, an address) may fail `freeFailures` times; every
 * further failure doubles a lockout, up to `maxLockoutMs`. A success clears the key. Entries
 * forget themselves after `forgetAfterMs` without failures, so memory stays bounded by activity.
 */
export interface ThrottleOptions {
  /** Failures a key may have before lockouts start; a function gives each kind of key its own. @default 5 */
  freeFailures?: number | ((key: string) => number);
  /** @default 1000 */
  baseLockoutMs?: number;
  /** @default 300000 (5 minutes) */
  maxLockoutMs?: number;
  /** @default 900000 (15 minutes) */
  forgetAfterMs?: number;
  now?: () => number;
}

interface Entry {
  failures: number;
  lockedUntil: number;
  lastFailure: number;
}

export class LoginThrottle {
  #entries = new Map<string, Entry>();
  #free: number | ((key: string) => number);
  #base: number;
  #max: number;
  #forget: number;
  #now: () => number;

  constructor(options: ThrottleOptions = {}) {
    this.#free = options.freeFailures ?? 5;
    this.#base = options.baseLockoutMs ?? 1000;
    this.#max = options.maxLockoutMs ?? 300_000;
    this.#forget = options.forgetAfterMs ?? 900_000;
    this.#now = options.now ?? Date.now;
  }

  /** Milliseconds until any of `keys` may try again; 0 when none is locked. */
  waitMs(keys: string[]): number {
    const now = this.#now();
    let wait = 0;
    for (const key of keys) {
      const e = this.#entries.get(key);
      if (e) wait = Math.max(wait, e.lockedUntil - now);
    }
    return Math.max(0, wait);
  }

  /** Records a failed attempt against every key. */
  fail(keys: string[]): void {
    const now = this.#now();
    this.#sweep(now);
    for (const key of keys) {
      let e = this.#entries.get(key);
      // Failures long past (and no lockout running) are forgotten, however few entries exist.
      if (!e || this.#stale(e, now)) e = { failures: 0, lockedUntil: 0, lastFailure: now };
      e.failures++;
      e.lastFailure = now;
      const over = e.failures - (typeof this.#free === "number" ? this.#free : this.#free(key));
      if (over > 0) e.lockedUntil = now + Math.min(this.#max, this.#base * 2 ** (over - 1));
      this.#entries.set(key, e);
    }
  }

  /** Clears a key after a successful login. */
  succeed(key: string): void {
    this.#entries.delete(key);
  }

  #stale(e: Entry, now: number): boolean {
    return now - e.lastFailure > this.#forget && e.lockedUntil <= now;
  }

  #sweep(now: number) {
    if (this.#entries.size < 1024) return;
    for (const [key, e] of this.#entries) if (this.#stale(e, now)) this.#entries.delete(key);
  }
}
