/**
 * Failed-login throttling. Each key (a name, an address) may fail `freeFailures` times; every
 * further failure doubles a lockout, up to `maxLockoutMs`. A success clears the key. Entries
 * forget themselves after `forgetAfterMs` without failures, so memory stays bounded by activity.
 *
 * Attempts are reserved before the password is checked and settled after (`reserve`, then
 * `release`): an attempt still being checked counts as a failure to come, so parallel attempts
 * get no more checks than the same attempts made one after another.
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
  /** Attempts reserved and not yet released: their passwords are being checked. */
  inFlight: number;
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

  /**
   * Milliseconds until any of `keys` may try again; 0 when none is locked. Attempts in flight
   * count as failures: once they would use up a key's free failures, the next attempt waits
   * for the lockout they would bring.
   */
  waitMs(keys: string[]): number {
    const now = this.#now();
    let wait = 0;
    for (const key of keys) {
      const e = this.#entries.get(key);
      if (!e) continue;
      wait = Math.max(wait, e.lockedUntil - now);
      if (e.inFlight === 0) continue;
      const failures = this.#stale(e, now) ? 0 : e.failures;
      const over = failures + e.inFlight - this.#freeOf(key);
      if (over > 0) wait = Math.max(wait, this.#lockout(over));
    }
    return Math.max(0, wait);
  }

  /**
   * Reserves an attempt against every key before its password is checked. Returns 0 when it
   * may go ahead (then `release` must follow, whatever happens), otherwise the milliseconds to
   * wait, and reserves nothing.
   */
  reserve(keys: string[]): number {
    const wait = this.waitMs(keys);
    if (wait > 0) return wait;
    const now = this.#now();
    for (const key of keys) {
      let e = this.#entries.get(key);
      if (!e) {
        e = { failures: 0, lockedUntil: 0, lastFailure: now, inFlight: 0 };
        this.#entries.set(key, e);
      }
      e.inFlight++;
    }
    return 0;
  }

  /** Ends an attempt `reserve` let through; `failed` records it as a failure against every key. */
  release(keys: string[], failed: boolean): void {
    for (const key of keys) {
      const e = this.#entries.get(key);
      if (e && e.inFlight > 0) e.inFlight--;
    }
    if (failed) this.fail(keys);
    for (const key of keys) {
      const e = this.#entries.get(key);
      if (e && e.inFlight === 0 && e.failures === 0 && e.lockedUntil === 0) {
        this.#entries.delete(key);
      }
    }
  }

  /** Records a failed attempt against every key. */
  fail(keys: string[]): void {
    const now = this.#now();
    this.#sweep(now);
    for (const key of keys) {
      let e = this.#entries.get(key);
      if (!e) {
        e = { failures: 0, lockedUntil: 0, lastFailure: now, inFlight: 0 };
        this.#entries.set(key, e);
      }
      // Failures long past (and no lockout running) are forgotten, however few entries exist.
      if (this.#stale(e, now)) e.failures = 0;
      e.failures++;
      e.lastFailure = now;
      const over = e.failures - this.#freeOf(key);
      if (over > 0) e.lockedUntil = now + this.#lockout(over);
    }
  }

  /** Clears a key after a successful login (attempts still in flight stay counted). */
  succeed(key: string): void {
    const e = this.#entries.get(key);
    if (!e) return;
    if (e.inFlight === 0) this.#entries.delete(key);
    else Object.assign(e, { failures: 0, lockedUntil: 0 });
  }

  #freeOf(key: string): number {
    return typeof this.#free === "number" ? this.#free : this.#free(key);
  }

  /** The lockout after the `over`th failure beyond the free ones. */
  #lockout(over: number): number {
    return Math.min(this.#max, this.#base * 2 ** (over - 1));
  }

  #stale(e: Entry, now: number): boolean {
    return now - e.lastFailure > this.#forget && e.lockedUntil <= now;
  }

  #sweep(now: number) {
    if (this.#entries.size < 1024) return;
    for (const [key, e] of this.#entries) {
      if (e.inFlight === 0 && this.#stale(e, now)) this.#entries.delete(key);
    }
  }
}

/** Failed sign-ins one name may have before its lockouts start. */
export const NAME_FREE_FAILURES = 5;
/** Failed sign-ins one address may have before its lockouts start. */
export const ADDRESS_FREE_FAILURES = 20;

/**
 * The server's sign-in throttle: 5 failures per name before lockouts start, 20 per address,
 * since many people may share one address (a NAT, or every nc user on the server's own
 * loopback). Keys are `name:<key>` and `addr:<address>`.
 */
export function createSignInThrottle(): LoginThrottle {
  return new LoginThrottle(SIGN_IN_THROTTLE);
}

/** The settings of the server's sign-in throttle (see `createSignInThrottle`). */
export const SIGN_IN_THROTTLE: ThrottleOptions = {
  freeFailures: (key) => key.startsWith("addr:") ? ADDRESS_FREE_FAILURES : NAME_FREE_FAILURES,
};
