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

/** Whether the store's database answers at all (a PostgreSQL server may go away), for /healthz. */
export interface ReachState {
  reachable: boolean;
  /** While unreachable: when the first call failed (milliseconds since the epoch). */
  since?: number;
  /** While unreachable: calls failed since then. */
  failed?: number;
}

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
 *
 * It also tracks whether the store answers at all: a call refused with `storage_unavailable`
 * (PostgreSQL cannot be reached) starts an episode, logged once with its cause; the first call
 * of any kind that succeeds after it ends it, logged once more.
 */
export class StoreWriteHealth {
  readonly #logger: Logger;
  #failing: { since: number; refused: number } | undefined;
  #unreachable: { since: number; failed: number } | undefined;
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

  /** Whether the store answers now, and since when it has not. */
  get reach(): ReachState {
    const down = this.#unreachable;
    return down
      ? { reachable: false, since: down.since, failed: down.failed }
      : { reachable: true };
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
        const write = WRITES.has(property);
        return (...args: unknown[]) => {
          const result = value.apply(target, args);
          if (!(result instanceof Promise)) return result;
          result.then(
            () => {
              this.#answered();
              if (write) property === "check" ? this.#recovered() : this.#wrote(wrapped);
            },
            (err) => {
              if (isParleyError(err, "storage_unavailable")) this.#unanswered(property, err);
              else if (write && isParleyError(err, "storage_full")) this.#refused(property, err);
            },
          );
          return result;
        };
      },
    });
    return wrapped;
  }

  #answered(): void {
    const down = this.#unreachable;
    if (!down) return;
    this.#unreachable = undefined;
    this.#logger.info("the store's database answers again", {
      failed: down.failed,
      seconds: Math.round((Date.now() - down.since) / 1000),
    });
  }

  #unanswered(op: string, err: ParleyError): void {
    if (this.#unreachable) {
      this.#unreachable.failed++;
      return;
    }
    this.#unreachable = { since: Date.now(), failed: 1 };
    // The cause is the database client's error: it names the address, never a password.
    const cause = err.cause instanceof Error ? err.cause.message : String(err.cause ?? err);
    this.#logger.error(
      "the store's database cannot be reached: sends, sign-ins and everything else that needs " +
        "the store fail (storage_unavailable) until it answers again; nothing acknowledged is lost",
      { op, error: cause },
    );
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
