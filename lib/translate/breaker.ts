/**
 * A circuit breaker: after `threshold` failures in a row it opens and calls fail fast for
 * `cooldownMs`; then one trial call is let through (half-open). Success closes it; another
 * failure opens it again for twice as long, up to `maxCooldownMs`. A provider that is down costs
 * each message nothing, and is not hammered while it recovers.
 */
export type BreakerState = "closed" | "open" | "half-open";

export interface BreakerOptions {
  /** Failures in a row that open the breaker. @default 5 */
  threshold?: number;
  /** First pause, in milliseconds. @default 30000 */
  cooldownMs?: number;
  /** Longest pause. @default 300000 */
  maxCooldownMs?: number;
  /** Told when the state changes, with the failure that caused it (for the log). */
  onChange?: (state: BreakerState, detail: { pauseMs?: number; cause?: unknown }) => void;
  now?: () => number;
}

export class CircuitBreaker {
  #threshold: number;
  #baseCooldown: number;
  #maxCooldown: number;
  #cooldown: number;
  #onChange: BreakerOptions["onChange"];
  #now: () => number;
  #failures = 0;
  #openUntil = 0;
  #state: BreakerState = "closed";
  #trialInFlight = false;
  /** The last failure, for /healthz. */
  lastFailure: { at: number; message: string } | undefined;

  constructor(options: BreakerOptions = {}) {
    this.#threshold = options.threshold ?? 5;
    this.#baseCooldown = this.#cooldown = options.cooldownMs ?? 30_000;
    this.#maxCooldown = options.maxCooldownMs ?? 300_000;
    this.#onChange = options.onChange;
    this.#now = options.now ?? Date.now;
  }

  get state(): BreakerState {
    if (this.#state === "open" && this.#now() >= this.#openUntil) this.#set("half-open");
    return this.#state;
  }

  /** When an open breaker lets the next trial through (ms since the epoch). */
  get retryAt(): number | undefined {
    return this.#state === "open" ? this.#openUntil : undefined;
  }

  /** Whether a call may go out now. In half-open, only one trial at a time. */
  allow(): boolean {
    const state = this.state;
    if (state === "closed") return true;
    if (state === "open" || this.#trialInFlight) return false;
    this.#trialInFlight = true;
    return true;
  }

  success(): void {
    this.#failures = 0;
    this.#trialInFlight = false;
    this.#cooldown = this.#baseCooldown;
    if (this.#state !== "closed") this.#set("closed");
  }

  failure(cause: unknown): void {
    this.lastFailure = { at: this.#now(), message: String((cause as Error)?.message ?? cause) };
    this.#failures++;
    const trial = this.#state === "half-open";
    this.#trialInFlight = false;
    if (!trial && (this.#state === "open" || this.#failures < this.#threshold)) return;
    if (trial) this.#cooldown = Math.min(this.#cooldown * 2, this.#maxCooldown);
    this.#openUntil = this.#now() + this.#cooldown;
    this.#set("open", { pauseMs: this.#cooldown, cause });
  }

  #set(state: BreakerState, detail: { pauseMs?: number; cause?: unknown } = {}): void {
    this.#state = state;
    this.#onChange?.(state, detail);
  }
}
