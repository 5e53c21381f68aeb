/** LibreTranslateTranslator against a loopback fake LibreTranslate, and the provider factory. */
import assert from "node:assert/strict";
import { LibreTranslateTranslator } from "../lib/translate/providers/libretranslate.ts";
import { createTranslator, GoogleTranslator } from "../lib/translate/providers/mod.ts";
import type { TranslateError, TranslateErrorCode } from "../lib/translate/translator.ts";
import {
  type FakeLibreTranslate,
  type LibreFailure,
  startFakeLibreTranslate,
} from "./fakes/libretranslate.ts";
import { isTranslateError, runTranslatorConformance } from "./translator_conformance.ts";

const KEY = "lt-key-0f1e2d3c";

runTranslatorConformance("libretranslate", async () => {
  const fake = await startFakeLibreTranslate({ apiKey: KEY });
  return {
    translator: new LibreTranslateTranslator({ baseUrl: fake.url, apiKey: KEY }),
    at: (baseUrl) => new LibreTranslateTranslator({ baseUrl, apiKey: KEY }),
    source: "en",
    target: "es",
    close: () => fake.close(),
  };
});

async function withFake(
  fn: (fake: FakeLibreTranslate, translator: LibreTranslateTranslator) => Promise<void>,
) {
  const fake = await startFakeLibreTranslate({ apiKey: KEY });
  try {
    await fn(fake, new LibreTranslateTranslator({ baseUrl: fake.url, apiKey: KEY }));
  } finally {
    await fake.close();
  }
}

const signal = () => AbortSignal.timeout(5_000);

Deno.test("libretranslate: sends q as a list with source, target, format and api_key", async () => {
  await withFake(async (fake, translator) => {
    const out = await translator.translate({
      texts: ["Hello", "⟦0⟧ world"],
      source: "en",
      target: "es",
      signal: signal(),
    });
    assert.deepEqual(out, [{ text: "es:Hello" }, { text: "es:⟦0⟧ world" }]);
    const [req] = fake.requests;
    assert.equal(req.method, "POST");
    assert.equal(req.path, "/translate");
    assert.match(req.contentType ?? "", /^application\/json/);
    assert.deepEqual(req.q, ["Hello", "⟦0⟧ world"]);
    assert.equal(req.source, "en");
    assert.equal(req.target, "es");
    assert.equal(req.format, "text");
    assert.equal(req.apiKey, KEY);
  });
});

Deno.test("libretranslate: without a source it asks for auto and reports each detection", async () => {
  await withFake(async (fake, translator) => {
    const out = await translator.translate({
      texts: ["Hello", "fr:Bonjour"],
      target: "de",
      signal: signal(),
    });
    assert.deepEqual(out, [
      { text: "de:Hello", detectedSource: "en" },
      { text: "de:fr:Bonjour", detectedSource: "fr" },
    ]);
    assert.equal(fake.requests[0].source, "auto");
  });
});

Deno.test("libretranslate: sends its own codes for pt-BR and zh-TW", async () => {
  await withFake(async (fake, translator) => {
    await translator.translate({ texts: ["a"], source: "en", target: "pt-BR", signal: signal() });
    await translator.translate({
      texts: ["a"],
      source: "en-GB",
      target: "zh-TW",
      signal: signal(),
    });
    assert.deepEqual(fake.requests.map((r) => [r.source, r.target]), [["en", "pb"], ["en", "zt"]]);
  });
});

Deno.test("libretranslate: codes can be overridden for a server that names them otherwise", async () => {
  const fake = await startFakeLibreTranslate({ languages: ["en", "zh-Hant"] });
  try {
    const translator = new LibreTranslateTranslator({
      baseUrl: fake.url,
      codes: { "zh-TW": "zh-Hant" },
    });
    const [out] = await translator.translate({
      texts: ["Hi"],
      source: "en",
      target: "zh-TW",
      signal: signal(),
    });
    assert.equal(out.text, "zh-Hant:Hi");
    assert.equal(fake.requests[0].apiKey, undefined, "no api_key without a key");
  } finally {
    await fake.close();
  }
});

const FAILURES: [LibreFailure, TranslateErrorCode, number | undefined][] = [
  ["bad_key", "bad_key", 403],
  ["banned", "rate_limited", 403],
  ["rate_limit", "rate_limited", 429],
  ["unsupported", "unsupported", 400],
  ["server_error", "unavailable", 500],
  ["malformed", "bad_response", 200],
  ["wrong_count", "bad_response", undefined],
];

for (const [failure, code, status] of FAILURES) {
  Deno.test(`libretranslate: ${failure} answer → ${code}`, async () => {
    await withFake(async (fake, translator) => {
      fake.failNext(failure);
      const err = await translator
        .translate({ texts: ["Hello", "World"], source: "en", target: "es", signal: signal() })
        .then(() => undefined, (e: unknown) => e);
      isTranslateError(code)(err);
      assert.equal((err as TranslateError).status, status);
      assert.ok(!(err as Error).message.includes(KEY), (err as Error).message);
    });
  });
}

Deno.test("libretranslate: a language the server lacks is unsupported", async () => {
  await withFake(async (_fake, translator) => {
    await assert.rejects(
      translator.translate({ texts: ["Hi"], source: "en", target: "tlh", signal: signal() }),
      isTranslateError("unsupported"),
    );
    // Detection that lands on a language the server lacks: "{…'language': 'xx'} is not supported".
    await assert.rejects(
      translator.translate({ texts: ["sw:Habari"], target: "es", signal: signal() }),
      isTranslateError("unsupported"),
    );
  });
});

Deno.test("libretranslate: a wrong key is bad_key, a missing one too", async () => {
  await withFake(async (fake) => {
    const wrong = new LibreTranslateTranslator({ baseUrl: fake.url, apiKey: "nope-123" });
    await assert.rejects(
      wrong.translate({ texts: ["Hi"], source: "en", target: "es", signal: signal() }),
      isTranslateError("bad_key"),
    );
    const missing = new LibreTranslateTranslator({ baseUrl: fake.url });
    await assert.rejects(
      missing.translate({ texts: ["Hi"], source: "en", target: "es", signal: signal() }),
      isTranslateError("bad_key"),
    );
  });
});

Deno.test("libretranslate: a call that hangs ends with timeout at the caller's deadline", async () => {
  await withFake(async (fake, translator) => {
    fake.failNext("hang");
    await assert.rejects(
      translator.translate({
        texts: ["Hi"],
        source: "en",
        target: "es",
        signal: AbortSignal.timeout(200),
      }),
      isTranslateError("timeout"),
    );
  });
});

Deno.test("libretranslate: documents its batch limits", () => {
  const translator = new LibreTranslateTranslator({ baseUrl: "http://127.0.0.1:5000" });
  assert.deepEqual(translator.limits, { maxTexts: 50, maxChars: 5_000, concurrency: 4 });
  assert.throws(() => new LibreTranslateTranslator({ baseUrl: "" }), /URL/);
});

Deno.test("createTranslator: builds each provider and refuses an incomplete configuration", () => {
  assert.equal(createTranslator({ provider: "none" }), undefined);
  assert.throws(() => createTranslator({ provider: "google" }), /google needs an API key/);
  assert.ok(createTranslator({ provider: "google", apiKey: "k" }) instanceof GoogleTranslator);
  assert.throws(
    () => createTranslator({ provider: "libretranslate" }),
    /libretranslate needs a server URL/,
  );
  const libre = createTranslator({ provider: "libretranslate", url: "http://127.0.0.1:5000" });
  assert.ok(libre instanceof LibreTranslateTranslator);
});
