/**
 * The translation service on its own: masking, batching within the provider's limits, the two
 * cache layers, deadlines and the circuit breaker, against the loopback Google v2 server.
 */
import assert from "node:assert/strict";
import { generateDataKeyBytes } from "../lib/crypto/mod.ts";
import { DataKey } from "../lib/crypto/mod.ts";
import { silentLogger } from "../lib/log.ts";
import { MetricsRegistry } from "../lib/metrics/mod.ts";
import { SqliteStore } from "../lib/store/mod.ts";
import { CircuitBreaker } from "../lib/translate/breaker.ts";
import { sameLanguage } from "../lib/translate/languages.ts";
import { LruCache } from "../lib/translate/lru.ts";
import { maskText, nothingToTranslate, unmaskText } from "../lib/translate/mask.ts";
import { GoogleTranslator } from "../lib/translate/providers/mod.ts";
import { TranslationService } from "../lib/translate/service.ts";
import type { Translator } from "../lib/translate/translator.ts";
import { type FakeGoogle, startFakeGoogle } from "./fakes/google_v2.ts";

async function withService(
  fn: (service: TranslationService, fake: FakeGoogle, store: SqliteStore) => Promise<void>,
  options: { timeoutMs?: number; threshold?: number } = {},
): Promise<void> {
  const fake = await startFakeGoogle();
  const key = await DataKey.fromBytes(generateDataKeyBytes(), { source: "test" });
  const store = await SqliteStore.open({ path: ":memory:", dataKey: key });
  const service = new TranslationService({
    translator: new GoogleTranslator({ apiKey: fake.apiKey, baseUrl: fake.url }),
    cache: store,
    logger: silentLogger,
    metrics: new MetricsRegistry(),
    timeoutMs: options.timeoutMs ?? 2000,
    breaker: { threshold: options.threshold ?? 5, cooldownMs: 200 },
  });
  try {
    await fn(service, fake, store);
  } finally {
    service.close();
    await store.close();
    await fake.close();
  }
}

Deno.test("mask: protected parts become placeholders and come back exactly", () => {
  const cases = [
    "hi @bob, see https://x.org/a?b=c. Then `rm -rf /` in #dev-room; mail a.b@c.io",
    "C# is #1 and ⟦0⟧ is mine",
    "```\nmulti\nline```and (www.example.com/path)",
    "trailing link https://example.com/x), right?",
  ];
  for (const text of cases) {
    const masked = maskText(text);
    assert.equal(unmaskText(masked.text, masked.tokens), text, text);
  }
  const m = maskText("see https://example.com/a. ok");
  assert.deepEqual(m.tokens, ["https://example.com/a"], "sentence punctuation is not the URL's");
  assert.equal(unmaskText("⟦0⟧ ⟦0⟧", ["x"]), undefined, "a repeated placeholder is refused");
  assert.equal(unmaskText("nothing", ["x"]), undefined, "a lost placeholder is refused");
  assert.equal(unmaskText("[⟦ 0 ⟧]", ["x"]), "[x]", "spaces a provider adds are tolerated");
  assert.ok(nothingToTranslate(maskText("@bob https://x.org 42 :)").text));
  assert.ok(!nothingToTranslate(maskText("@bob hola").text));
});

Deno.test("same language: regions match, Chinese scripts do not", () => {
  assert.ok(sameLanguage("en", "en-GB"));
  assert.ok(sameLanguage("pt-BR", "pt"));
  assert.ok(!sameLanguage("en", "es"));
  assert.ok(sameLanguage("zh", "zh-CN"));
  assert.ok(!sameLanguage("zh-CN", "zh-TW"));
  assert.ok(sameLanguage("zh-Hant", "zh-TW"));
});

Deno.test("LRU: bounded by count and size, least recently used goes first", () => {
  const lru = new LruCache<string>(3, 10, (v) => v.length);
  lru.set("a", "1");
  lru.set("b", "2");
  lru.set("c", "3");
  lru.get("a");
  lru.set("d", "4");
  assert.equal(lru.get("b"), undefined);
  assert.equal(lru.get("a"), "1");
  lru.set("big", "123456789");
  assert.equal(lru.size, 2, "the size bound evicts the oldest until 10 fits");
  assert.equal(lru.get("d"), undefined, "c and d were the least recently used");
  assert.equal(lru.get("a"), "1");
  lru.set("huge", "12345678901");
  assert.equal(lru.get("huge"), undefined, "an entry over the bound is not kept");
});

Deno.test("breaker: opens after the threshold, lets one trial through, backs off", () => {
  let now = 0;
  const changes: string[] = [];
  const b = new CircuitBreaker({
    threshold: 2,
    cooldownMs: 100,
    maxCooldownMs: 150,
    now: () => now,
    onChange: (s) => changes.push(s),
  });
  b.failure(new Error("1"));
  assert.equal(b.state, "closed");
  b.failure(new Error("2"));
  assert.equal(b.state, "open");
  assert.equal(b.allow(), false);
  now = 100;
  assert.equal(b.allow(), true, "one trial");
  assert.equal(b.allow(), false, "only one");
  b.failure(new Error("3"));
  assert.equal(b.retryAt, 250, "the pause doubles, up to the maximum");
  now = 250;
  assert.equal(b.allow(), true);
  b.success();
  assert.equal(b.state, "closed");
  assert.deepEqual(changes, ["open", "half-open", "open", "half-open", "closed"]);
});

Deno.test("texts asked for together go out in one call per target, split at 128", () =>
  withService(async (service, fake) => {
    const texts = Array.from({ length: 130 }, (_, i) => `line ${i}`);
    const out = await service.translateMany(texts.map((text) => ({ text, source: "en" })), "es");
    assert.deepEqual(
      out.map((o) => o.kind === "translated" && o.text),
      texts.map((t) => `es:${t}`),
    );
    assert.deepEqual(fake.requests.map((r) => r.q.length), [128, 2]);
    // Concurrent single messages to the same target share a call too.
    fake.requests.length = 0;
    await Promise.all(["a b", "c d", "e f"].map((t) => service.translate(t, "en", ["de"])));
    assert.equal(fake.requests.length, 1);
    assert.deepEqual(fake.requests[0].q, ["a b", "c d", "e f"]);
  }));

Deno.test("the memory cache answers first, then the store's, then the provider", () =>
  withService(async (service, fake, store) => {
    await service.translate("good night", "en", ["it"]);
    await service.translate("good night", "en", ["it"]);
    assert.equal(fake.requests.length, 1);
    // A second service on the same store has an empty memory but finds it in the store.
    const other = new TranslationService({
      translator: new GoogleTranslator({ apiKey: fake.apiKey, baseUrl: fake.url }),
      cache: store,
      logger: silentLogger,
    });
    const again = await other.translate("good night", "en", ["it"]);
    assert.deepEqual(again.get("it"), {
      kind: "translated",
      text: "it:good night",
      source: "en",
      target: "it",
      provider: "google",
    });
    assert.equal(fake.requests.length, 1);
    other.close();
  }));

Deno.test("no call when there is nothing to translate or the reader reads the source language", () =>
  withService(async (service, fake) => {
    const out = await service.translate("@bob https://x.org :)", "en", ["es"]);
    assert.deepEqual(out.get("es"), { kind: "same" });
    const same = await service.translate("hello", "en", ["en-US"]);
    assert.deepEqual(same.get("en-US"), { kind: "same" });
    assert.equal(fake.requests.length, 0);
  }));

Deno.test("a detected source language equal to the target means no translation", () =>
  withService(async (service) => {
    // Source unknown (a message stored before translation): the provider detects it.
    const out = await service.translateMany([{ text: "es:ya traducido" }], "es");
    assert.deepEqual(out[0], { kind: "same" });
  }));

Deno.test("a timeout, an error and a paused provider each give their reason", () =>
  withService(async (service, fake) => {
    fake.failNext("hang");
    const slow = await service.translate("one", "en", ["es"]);
    assert.deepEqual(slow.get("es"), { kind: "untranslated", reason: "timeout" });
    fake.failNext("quota");
    const quota = await service.translate("two", "en", ["es"]);
    assert.deepEqual(quota.get("es"), { kind: "untranslated", reason: "unavailable" });
    assert.equal(service.health().state, "paused");
    const paused = await service.translate("three", "en", ["es"]);
    assert.deepEqual(paused.get("es"), { kind: "untranslated", reason: "paused" });
    assert.equal(fake.requests.length, 2, "no call while paused");
    // After the pause, one trial goes out; success resumes.
    await new Promise((r) => setTimeout(r, 250));
    const back = await service.translate("four", "en", ["es"]);
    assert.equal(back.get("es")?.kind, "translated");
    assert.equal(service.health().state, "ok");
  }, { timeoutMs: 200, threshold: 2 }));

Deno.test("an unsupported pair is remembered and not asked again", () =>
  withService(async (service, fake) => {
    fake.failNext("bad_pair");
    const a = await service.translate("hello there", "en", ["xx"]);
    assert.deepEqual(a.get("xx"), { kind: "untranslated", reason: "unsupported" });
    const b = await service.translate("another one", "en", ["xx"]);
    assert.deepEqual(b.get("xx"), { kind: "untranslated", reason: "unsupported" });
    assert.equal(fake.requests.length, 1);
    assert.equal(service.health().state, "ok", "an unsupported pair is not a provider failure");
  }));

Deno.test("a trial call answered 'unsupported' ends the pause: the provider is up", () =>
  withService(async (service, fake) => {
    fake.failNext("server_error", 2);
    await service.translate("one", "en", ["es"]);
    await service.translate("two", "en", ["es"]);
    assert.equal(service.health().state, "paused");
    await new Promise((r) => setTimeout(r, 250));
    fake.failNext("bad_pair");
    const trial = await service.translate("three", "en", ["xx"]);
    assert.deepEqual(trial.get("xx"), { kind: "untranslated", reason: "unsupported" });
    assert.equal(service.health().state, "ok");
    const after = await service.translate("four", "en", ["es"]);
    assert.equal(after.get("es")?.kind, "translated");
  }, { timeoutMs: 500, threshold: 2 }));

Deno.test("texts nobody waits for any more are not sent", async () => {
  const fake = await startFakeGoogle();
  const google = new GoogleTranslator({ apiKey: fake.apiKey, baseUrl: fake.url });
  // One text per call, one call at a time (like Apertium), over Google's real HTTP API.
  const serial: Translator = {
    name: "google",
    limits: { maxTexts: 1, maxChars: 10_000, concurrency: 1 },
    translate: (request) => google.translate(request),
  };
  const service = new TranslationService({
    translator: serial,
    logger: silentLogger,
    timeoutMs: 200,
  });
  try {
    fake.setDelay(300);
    const out = await service.translateMany(
      ["one", "two", "three"].map((text) => ({ text, source: "en" })),
      "de",
    );
    assert.deepEqual(out.map((o) => o.kind), ["untranslated", "untranslated", "untranslated"]);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(
      fake.requests.length,
      1,
      "the two that waited past everyone's deadline stayed home",
    );
  } finally {
    service.close();
    await fake.close();
  }
});
