import type { Counter, MetricsRegistry } from "../metrics/mod.ts";

/**
 * The `/metrics` counters of refusals by a limit. Made before the router, since admission
 * counts the connections it refuses before any router exists; the router counts the rest.
 */
export class LimitCounters {
  readonly #hits: Counter;
  readonly #slowReaders: Counter;

  constructor(metrics: MetricsRegistry) {
    this.#hits = metrics.counter(
      "parley_limit_hits_total",
      "Requests refused by a limit: connections, connection rate, message rate and size, " +
        "line length, sign-in deadline, slow readers.",
    );
    this.#slowReaders = metrics.counter(
      "parley_slow_reader_disconnects_total",
      "Connections closed because they did not read what was sent to them, by transport.",
    );
  }

  /** Counts a refusal by the limit named `limit` (an error code or a deadline's name). */
  hit(limit: string): void {
    this.#hits.inc({ limit });
  }

  /** Counts a connection closed as too slow a reader, by transport. */
  slowReader(transport: string): void {
    this.#slowReaders.inc({ transport });
    this.hit("too_slow");
  }
}
