/** GoogleTranslator against a loopback fake of Google Cloud Translation v2. */
import assert from "node:assert/strict";
import { GoogleTranslator } from "../lib/translate/providers/google.ts";
import { TranslateError, type TranslateErrorCode } from "../lib/translate/translator.ts";
import { type FakeGoogle, type GoogleFailure, startFakeGoogle } from "./fakes/google_v2.ts";
import { isTranslateError, runTranslatorConformance } from "./translator_conformance.ts";

// Looks like a real key (and is URL-unsafe in places) so redaction is tested for real.
const KEY = "AIzaSyFake-Key_0123456789+/=abcdef";

runTranslatorConformance("google", async () => {
  const fake = await startFakeGoogle({ apiKey: KEY });
  return {
    translator: new GoogleTranslator({ apiKey: KEY, baseUrl: fake.url }),
    at: (baseUrl) => new GoogleTranslator({ apiKey: KEY, baseUrl }),
    source: "en",
    target: "es",
    close: () => fake.close(),
  };
});

async function withFake(fn: (fake: FakeGoogle, translator: GoogleTranslator) => Promise<void>) {
  const fake = await startFakeGoogle({ apiKey: KEY });
  try {
    await fn(fake, new GoogleTranslator({ apiKey: KEY, baseUrl: fake.url }));
  } finally {
    await fake.close();
  }
}

const signal = () => AbortSignal.timeout(5_000);

Deno.test("google: sends the documented request: key in the query, q list, target, text", async () => {
  await withFake(async (fake, translator) => {
    const out = await translator.translate({
      texts: ["Hello", "⟦0⟧ friends"],
      target: "pt-BR",
      source: "en",
      signal: signal(),
    });
    assert.deepEqual(out, [{ text: "pt-BR:Hello" }, { text: "pt-BR:⟦0⟧ friends" }]);
    assert.equal(fake.requests.length, 1);
    const [req] = fake.requests;
    assert.equal(req.method, "POST");
    assert.equal(req.path, "/language/translate/v2");
    assert.equal(req.key, KEY);
    assert.match(req.contentType ?? "", /^application\/json/);
    assert.deepEqual(req.q, ["Hello", "⟦0⟧ friends"]);
    assert.equal(req.target, "pt-BR");
    assert.equal(req.source, "en");
    assert.equal(req.format, "text");
  });
});

Deno.test("google: without a source, Google detects it and the result says so", async () => {
  await withFake(async (fake, translator) => {
    const out = await translator.translate({
      texts: ["Hello", "es:Hola"],
      target: "zh-TW",
      signal: signal(),
    });
    assert.deepEqual(out, [
      { text: "zh-TW:Hello", detectedSource: "en" },
      { text: "zh-TW:es:Hola", detectedSource: "es" },
    ]);
    assert.equal(fake.requests[0].source, undefined, "source must be left out, not sent empty");
  });
});

Deno.test("google: reports a detected region form by its primary code", async () => {
  const fake = await startFakeGoogle({ apiKey: KEY, detect: () => "zh-CN" });
  try {
    const translator = new GoogleTranslator({ apiKey: KEY, baseUrl: fake.url });
    const [out] = await translator.translate({ texts: ["你好"], target: "en", signal: signal() });
    assert.equal(out.detectedSource, "zh");
  } finally {
    await fake.close();
  }
});

Deno.test("google: a base URL with a path and a trailing slash still reaches the API", async () => {
  await withFake(async (fake) => {
    // A proxy in front of Google may mount it under a path; the fake only answers the real one.
    const translator = new GoogleTranslator({ apiKey: KEY, baseUrl: `${fake.url}/` });
    const [out] = await translator.translate({ texts: ["Hi"], target: "es", signal: signal() });
    assert.equal(out.text, "es:Hi");
  });
});

const FAILURES: [GoogleFailure, TranslateErrorCode, number | undefined][] = [
  ["bad_key", "bad_key", 400],
  ["forbidden", "bad_key", 403],
  ["quota", "quota", 403],
  ["user_rate_limit", "quota", 403],
  ["rate_limit", "rate_limited", 429],
  ["bad_pair", "unsupported", 400],
  ["server_error", "unavailable", 500],
  ["unavailable", "unavailable", 503],
  ["malformed", "bad_response", 200],
  ["wrong_shape", "bad_response", 200],
  ["wrong_count", "bad_response", undefined],
];

for (const [failure, code, status] of FAILURES) {
  Deno.test(`google: ${failure} answer → ${code}, without the key in the message`, async () => {
    await withFake(async (fake, translator) => {
      fake.failNext(failure);
      const err = await translator.translate({
        texts: ["Hello", "World"],
        target: "es",
        signal: signal(),
      })
        .then(() => undefined, (e: unknown) => e);
      isTranslateError(code)(err);
      const e = err as TranslateError;
      assert.equal(e.status, status);
      assertNoKey(e);
      // The next call goes through: failures are per call.
      const out = await translator.translate({ texts: ["Hello"], target: "es", signal: signal() });
      assert.equal(out[0].text, "es:Hello");
    });
  });
}

Deno.test("google: a wrong key is refused as bad_key, and the key stays out of the message", async () => {
  await withFake(async (fake) => {
    const wrong = "AIzaWrongKey-9876";
    const translator = new GoogleTranslator({ apiKey: wrong, baseUrl: fake.url });
    const err = await translator.translate({ texts: ["Hi"], target: "es", signal: signal() })
      .then(() => undefined, (e: unknown) => e);
    isTranslateError("bad_key")(err);
    assert.ok(!(err as Error).message.includes(wrong));
    assert.equal(fake.requests[0].key, wrong);
  });
});

Deno.test("google: an unknown target is unsupported (400 Invalid Value)", async () => {
  await withFake(async (_fake, translator) => {
    await assert.rejects(
      translator.translate({ texts: ["Hi"], target: "tlh", signal: signal() }),
      isTranslateError("unsupported"),
    );
  });
});

Deno.test("google: a call that hangs ends with timeout at the caller's deadline", async () => {
  await withFake(async (fake, translator) => {
    fake.failNext("hang");
    const started = Date.now();
    const err = await translator.translate({
      texts: ["Hello"],
      target: "es",
      signal: AbortSignal.timeout(200),
    }).then(() => undefined, (e: unknown) => e);
    isTranslateError("timeout")(err);
    assertNoKey(err as TranslateError);
    const took = Date.now() - started;
    assert.ok(took >= 150 && took < 3_000, `took ${took} ms`);
  });
});

Deno.test("google: closing the fake ends a call still hanging", async () => {
  const fake = await startFakeGoogle({ apiKey: KEY });
  const translator = new GoogleTranslator({ apiKey: KEY, baseUrl: fake.url });
  fake.failNext("hang");
  const controller = new AbortController();
  const pending = translator.translate({ texts: ["Hi"], target: "es", signal: controller.signal })
    .then(() => undefined, (e: unknown) => e);
  while (fake.inFlight() === 0) await new Promise((r) => setTimeout(r, 10));
  await fake.close();
  const err = await pending;
  // The fake answers its hanging calls with a 503 as it closes.
  isTranslateError("unavailable")(err);
});

Deno.test("google: a network failure is unavailable, and the key in the URL is redacted", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  const translator = new GoogleTranslator({ apiKey: KEY, baseUrl: `http://127.0.0.1:${port}` });
  const err = await translator.translate({ texts: ["Hi"], target: "es", signal: signal() })
    .then(() => undefined, (e: unknown) => e);
  isTranslateError("unavailable")(err);
  assertNoKey(err as TranslateError);
});

Deno.test("google: needs an API key", () => {
  assert.throws(() => new GoogleTranslator({ apiKey: "" }), /API key/);
});

Deno.test("google: documents its batch limits", () => {
  const translator = new GoogleTranslator({ apiKey: KEY });
  assert.deepEqual(translator.limits, { maxTexts: 128, maxChars: 30_000, concurrency: 4 });
  assert.equal(translator.name, "google");
});

function assertNoKey(err: TranslateError) {
  const text = `${err.message} ${String(err.cause ?? "")} ${err.stack ?? ""}`;
  for (const form of [KEY, encodeURIComponent(KEY), new URLSearchParams({ k: KEY }).toString()]) {
    assert.ok(!text.includes(form.replace(/^k=/, "")), `the key leaked: ${err.message}`);
  }
}
