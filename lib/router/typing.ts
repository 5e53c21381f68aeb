/**
 * Typing indicators that expire by themselves: each (from, to) pair has one timer, refreshed by
 * every typing frame, and `onStop` runs when it expires or is cleared.
 */
export class TypingTracker {
  #timers = new Map<string, ReturnType<typeof setTimeout>>();
  #ttl: number;
  #onStop: (from: string, to: string) => void;

  constructor(ttlMs: number, onStop: (from: string, to: string) => void) {
    this.#ttl = ttlMs;
    this.#onStop = onStop;
  }

  /** Starts or refreshes; returns true when the pair was not typing before. */
  start(from: string, to: string): boolean {
    const key = `${from}\n${to}`;
    const existing = this.#timers.get(key);
    if (existing !== undefined) clearTimeout(existing);
    this.#timers.set(
      key,
      setTimeout(() => {
        this.#timers.delete(key);
        this.#onStop(from, to);
      }, this.#ttl),
    );
    return existing === undefined;
  }

  /** Stops a pair now (message sent, or typing cancelled); no-op when it was not typing. */
  stop(from: string, to: string): void {
    const key = `${from}\n${to}`;
    const timer = this.#timers.get(key);
    if (timer === undefined) return;
    clearTimeout(timer);
    this.#timers.delete(key);
    this.#onStop(from, to);
  }

  /** Forgets every pair typed by `from`, without notifying (they went offline). */
  clearFrom(from: string): void {
    for (const [key, timer] of this.#timers) {
      if (key.startsWith(`${from}\n`)) {
        clearTimeout(timer);
        this.#timers.delete(key);
      }
    }
  }

  clearAll(): void {
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
  }
}
