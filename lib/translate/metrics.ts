import type { Counter, Histogram, MetricsRegistry } from "../metrics/mod.ts";
import type { UntranslatedReason } from "../protocol/types.ts";
import type { TranslationHealth } from "./service.ts";

/** The translation service's metrics: provider calls, cache hits, failures and latency. */
export class TranslationMetrics {
  #calls?: Counter;
  #texts?: Counter;
  #cache?: Counter;
  #untranslated?: Counter;
  #connectionLost?: Counter;
  #latency?: Histogram;

  constructor(
    registry: MetricsRegistry | undefined,
    provider: string,
    health: () => TranslationHealth,
  ) {
    if (!registry) return;
    this.#calls = registry.counter(
      "parley_translation_calls_total",
      "Calls to the translation provider, by outcome (ok or an error code).",
    );
    this.#texts = registry.counter(
      "parley_translation_texts_total",
      "Texts sent to the translation provider.",
    );
    this.#cache = registry.counter(
      "parley_translation_cache_total",
      "Translation lookups by where they were answered: memory, store, or miss (a provider call).",
    );
    this.#untranslated = registry.counter(
      "parley_translation_untranslated_total",
      "Deliveries that went out untranslated, by reason.",
    );
    this.#connectionLost = registry.counter(
      "parley_translation_connection_lost_total",
      "Provider calls whose connection closed before the answer came. Never sent again (the " +
        "provider may have done the call): always 0 retries.",
    );
    this.#latency = registry.histogram(
      "parley_translation_call_seconds",
      "Time a translation provider call took.",
    );
    registry.gauge(
      "parley_translation_state",
      "1 for the translator's current state (off, ok, paused, trying).",
      () => {
        const now = health().state;
        return (["off", "ok", "paused", "trying"] as const).map((state) => ({
          labels: { provider, state },
          value: state === now ? 1 : 0,
        }));
      },
    );
  }

  call(provider: string, outcome: string, texts: number, ms: number): void {
    this.#calls?.inc({ provider, outcome });
    this.#texts?.inc({ provider }, texts);
    this.#latency?.observe(ms / 1000, { provider });
  }

  /** A call whose connection was lost after it was sent (and that was not sent again). */
  connectionLost(provider: string): void {
    this.#connectionLost?.inc({ provider });
  }

  /** Calls that lost their connection so far (for tests). */
  connectionsLost(provider: string): number {
    return this.#connectionLost?.value({ provider }) ?? 0;
  }

  cache(result: "memory" | "store" | "miss", count = 1): void {
    this.#cache?.inc({ result }, count);
  }

  untranslated(reason: UntranslatedReason): void {
    this.#untranslated?.inc({ reason });
  }

  /** Provider calls made so far with `outcome` (for tests and the bench). */
  calls(provider: string, outcome = "ok"): number {
    return this.#calls?.value({ provider, outcome }) ?? 0;
  }
}
