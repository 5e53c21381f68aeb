/**
 * Whether PostgreSQL answers, learnt from the outcome of every statement the store runs: a lost
 * connection starts an episode (logged once, with the time it started), the first statement
 * that goes through again ends it (logged once more). For /healthz and the log.
 */
import type { Logger } from "../../log.ts";
import { isUnreachable } from "./errors.ts";

export interface Reachability {
  reachable: boolean;
  /** While unreachable: when the first statement failed (milliseconds since the epoch). */
  since?: number;
  /** While unreachable: the client library's error (no password: URLs are never in it). */
  error?: string;
}

export class PostgresHealth {
  readonly #logger: Logger;
  readonly #where: string;
  #down: { since: number; error: string; failed: number } | undefined;

  /** @param where the redacted URL, for the log. */
  constructor(logger: Logger, where: string) {
    this.#logger = logger;
    this.#where = where;
  }

  get state(): Reachability {
    const down = this.#down;
    return down ? { reachable: false, since: down.since, error: down.error } : { reachable: true };
  }

  /** Told after each statement or transaction: no argument when it went through. */
  observe(error?: unknown): void {
    if (error === undefined) {
      const down = this.#down;
      if (!down) return;
      this.#down = undefined;
      this.#logger.info("PostgreSQL answers again", {
        store: this.#where,
        failed: down.failed,
        seconds: Math.round((Date.now() - down.since) / 1000),
      });
      return;
    }
    if (!isUnreachable(error)) return;
    if (this.#down) {
      this.#down.failed++;
      return;
    }
    const cause = (error as { cause?: unknown }).cause ?? error;
    const message = cause instanceof Error ? cause.message : String(cause);
    this.#down = { since: Date.now(), error: message, failed: 1 };
    this.#logger.error(
      "cannot reach PostgreSQL: sends, sign-ins and everything else that needs the store fail " +
        "with storage_unavailable until it answers again; nothing acknowledged is lost",
      { store: this.#where, error: message },
    );
  }
}
