/**
 * One translation is one provider call, even when the provider closes kept-alive connections
 * (Deno's fetch would send the request again on a new connection, and it would be billed twice).
 */
import assert from "node:assert/strict";
import { silentLogger } from "../lib/log.ts";
import { MetricsRegistry } from "../lib/metrics/mod.ts";
import { LibreTranslateTranslator } from "../lib/translate/providers/mod.ts";
import { TranslationService } from "../lib/translate/service.ts";
import { TranslateError } from "../lib/translate/translator.ts";
import { startClosingProvider } from "./fakes/closing_provider.ts";

const signal = () => AbortSignal.timeout(5000);

Deno.test("a provider that closes kept-alive connections gets each call exactly once", async () => {
  const provider = startClosingProvider();
  try {
    const translator = new LibreTranslateTranslator({ baseUrl: provider.url });
    for (let i = 1; i <= 4; i++) {
      const [out] = await translator.translate({
        texts: [`hello ${i}`],
        source: "en",
        target: "es",
        signal: signal(),
      });
      assert.equal(out.text, `es:hello ${i}`);
      assert.equal(provider.requests, i, `translation ${i} reached the provider once`);
    }
  } finally {
    await provider.close();
  }
});

Deno.test("a call whose connection drops is not sent again, and /metrics counts it", async () => {
  const provider = startClosingProvider({ drop: true });
  const registry = new MetricsRegistry();
  const service = new TranslationService({
    translator: new LibreTranslateTranslator({ baseUrl: provider.url }),
    logger: silentLogger,
    metrics: registry,
    timeoutMs: 3000,
  });
  try {
    const translator = new LibreTranslateTranslator({ baseUrl: provider.url });
    const err = await translator.translate({
      texts: ["hello"],
      source: "en",
      target: "es",
      signal: signal(),
    }).catch((e) => e);
    assert.ok(err instanceof TranslateError, String(err));
    assert.equal(err.code, "unavailable");
    assert.ok(err.connectionLost, err.message);
    assert.equal(provider.requests, 1, "sent once, not retried");

    const outcome = (await service.translate("good night", "en", ["fr"])).get("fr");
    assert.equal(outcome?.kind, "untranslated");
    assert.equal(provider.requests, 2);
    assert.match(
      registry.render(),
      /parley_translation_connection_lost_total\{provider="libretranslate"\} 1/,
    );
  } finally {
    service.close();
    await provider.close();
  }
});
