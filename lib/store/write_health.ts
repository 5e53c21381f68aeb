import { isParleyError, type ParleyError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { Store } from "./store.ts";

/** The store methods that write, and `check`, which commits a probe write. */
const WRITES: ReadonlySet<string> = new Set<keyof Store>([
  "createUser",
  "setLang",
  "setPasswordHash",
  "storeOffline",
  "ack",
  "appendMessage",
  "openDevice",
  "ackDevice",
  "forgetDevice",
  "markRead",
  "pruneHistory",
  "createRoom",
  "joinRoom",
  "leaveRoom",
  "setTopic",
  "invite",
  "setRole",
  "createWebLogin",
  "deleteWebLogin",
  "saveResumeToken",
  "touchResumeToken",
  "deleteResumeTokens",
  "putTranslations",
  "check",
]);

/** Whether the store's writes go through, for /healthz and /metrics. */
export interface WriteState {
  writable: boolean;
  /** While not writable: when the first write was refused (milliseconds since the epoch). */
  since?: number;
  /** While not writable: writes refused since then. */
  refused?: number;
}

/**
 * Whether the store can write, learnt from the outcome of every write made through a store it
 * {@linkcode StoreWriteHealth.wrap | wrapped} (and from the probe write of `check()`). A full
 * disk is an episode: its first refused write is logged, the refusals after it are only
 * counted, and the episode ends, logged once more, when a probe write commits again. A write
 * that succeeds meanwhile starts that probe, since some "successful" writes commit nothing (an
 * ack of ids already gone) and cannot tell.
 */
export class StoreWriteHealth {
  readonly #logger: Logger;
  #failing: { since: number; refused: number } | undefined;
  #probing = false;
  /** Refused writes since start-up, for /metrics. */
  #refusedTotal = 0;

  constructor(logger: Logger) {
    this.#logger = logger;
  }

  /** Where the store's writes stand now. */
  get state(): WriteState {
    const failing = this.#failing;
    return failing
      ? { writable: false, since: failing.since, refused: failing.refused }
      : { writable: true };
  }

  /** Writes refused for want of space since start-up. */
  get refusedTotal(): number {
    return this.#refusedTotal;
  }

  /** The same store, with the outcome of each write reported here. */
  wrap(store: Store): Store {
    const wrapped: Store = new Proxy(store, {
      get: (target, property, receiver) => {
        const value = Reflect.get(target, property, receiver);
        if (typeof value !== "function" || typeof property !== "string") return value;
        // Called on the store itself: its private fields are not the proxy's.
        if (!WRITES.has(property)) return value.bind(target);
        return (...args: unknown[]) => {
          const result = value.apply(target, args);
          if (!(result instanceof Promise)) return result;
          result.then(
            () => property === "check" ? this.#recovered() : this.#wrote(wrapped),
            (err) => isParleyError(err, "storage_full") && this.#refused(property, err),
          );
          return result;
        };
      },
    });
    return wrapped;
  }

  #wrote(store: Store): void {
    if (!this.#failing || this.#probing) return;
    this.#probing = true;
    // Its outcome is counted by the wrapper like any other write.
    store.check().catch(() => {}).finally(() => this.#probing = false);
  }

  #refused(op: string, err: ParleyError): void {
    this.#refusedTotal++;
    if (this.#failing) {
      this.#failing.refused++;
      return;
    }
    this.#failing = { since: Date.now(), refused: 1 };
    this.#logger.error(
      "the store cannot write: the disk is full. Messages to offline users, registrations and " +
        "browser sign-ins are refused (storage_full) until there is room again; nothing " +
        "confirmed is lost",
      { op, error: err.cause ?? err },
    );
  }

  #recovered(): void {
    const failing = this.#failing;
    if (!failing) return;
    this.#failing = undefined;
    this.#logger.info("the store writes again: there is room on the disk", {
      refused: failing.refused,
      seconds: Math.round((Date.now() - failing.since) / 1000),
    });
  }
}
