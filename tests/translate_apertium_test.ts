/** ApertiumTranslator against a real Apertium APy (started per test on a free port). */
import assert from "node:assert/strict";
import { ApertiumTranslator } from "../lib/translate/providers/apertium.ts";
import { toApertiumCodes } from "../lib/translate/providers/iso639.ts";
import { createTranslator } from "../lib/translate/providers/mod.ts";
import { type ApertiumServer, startApertium } from "./apertium.ts";
import { isTranslateError, runTranslatorConformance } from "./translator_conformance.ts";

runTranslatorConformance("apertium", async () => {
  const apy = await startApertium();
  const translator = new ApertiumTranslator({ baseUrl: apy.url });
  await translator.start();
  return {
    translator,
    at: (baseUrl) => new ApertiumTranslator({ baseUrl }),
    source: "en",
    target: "es",
    close: () => apy.close(),
  };
});

async function withApertium(
  fn: (apy: ApertiumServer, translator: ApertiumTranslator) => Promise<void>,
) {
  const apy = await startApertium();
  const translator = new ApertiumTranslator({ baseUrl: apy.url });
  try {
    await fn(apy, translator);
  } finally {
    translator.close();
    await apy.close();
  }
}

const signal = () => AbortSignal.timeout(10_000);

Deno.test("apertium: translates Hello from English into Spanish", async () => {
  await withApertium(async (_apy, translator) => {
    await translator.start();
    const out = await translator.translate({
      texts: ["Hello"],
      source: "en",
      target: "es",
      signal: signal(),
    });
    assert.deepEqual(out, [{ text: "Hola" }]);
  });
});

Deno.test("apertium: knows its pairs after start(), not before", async () => {
  await withApertium(async (_apy, translator) => {
    assert.equal(translator.supports("en", "es"), undefined);
    await translator.start();
    assert.equal(translator.supports("en", "es"), true);
    assert.equal(translator.supports("es", "en"), true);
    assert.equal(translator.supports("en", "fr"), false);
    assert.equal(translator.supports("fr", "es"), false);
    // APy cannot detect a language.
    assert.equal(translator.supports(undefined, "es"), false);
    assert.ok(translator.pairs?.some((p) => p.source === "eng" && p.target === "spa"));
  });
});

Deno.test("apertium: a pair that is not installed is unsupported", async () => {
  await withApertium(async (_apy, translator) => {
    // Before the list is known the call goes out and APy says "That pair is not installed".
    await assert.rejects(
      translator.translate({ texts: ["Hello"], source: "en", target: "fr", signal: signal() }),
      isTranslateError("unsupported"),
    );
    // After, it is refused without a call.
    await translator.start();
    await assert.rejects(
      translator.translate({ texts: ["Hello"], source: "en", target: "fr", signal: signal() }),
      isTranslateError("unsupported"),
    );
  });
});

Deno.test("apertium: without a source language the call is unsupported", async () => {
  await withApertium(async (_apy, translator) => {
    await translator.start();
    await assert.rejects(
      translator.translate({ texts: ["Hello"], target: "es", signal: signal() }),
      isTranslateError("unsupported"),
    );
  });
});

Deno.test("apertium: a placeholder and the text's edges survive", async () => {
  await withApertium(async (_apy, translator) => {
    await translator.start();
    const out = await translator.translate({
      texts: ["⟦0⟧ Hello", "Hello ⟦0⟧ ", " "],
      source: "en",
      target: "es",
      signal: signal(),
    });
    assert.deepEqual(out.map((t) => t.text), ["⟦0⟧ Hola", "Hola ⟦0⟧ ", " "]);
  });
});

Deno.test("apertium: a region variant picks APy's variant pair (es → en-US is spa|eng_US)", async () => {
  await withApertium(async (_apy, translator) => {
    await translator.start();
    assert.equal(translator.supports("es", "en-US"), true);
    const [out] = await translator.translate({
      texts: ["Hola"],
      source: "es",
      target: "en-US",
      signal: signal(),
    });
    assert.equal(out.text, "Hello");
    // An unknown region falls back to the language's plain pair.
    assert.equal(translator.supports("en-GB", "es-MX"), true);
  });
});

Deno.test("apertium: refreshes the pair list on its timer and stops on close()", async () => {
  await withApertium(async (apy) => {
    const translator = new ApertiumTranslator({ baseUrl: apy.url, refreshMs: 50 });
    try {
      await translator.start();
      const first = translator.pairs;
      const deadline = Date.now() + 5_000;
      while (translator.pairs === first && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.notEqual(translator.pairs, first, "the list was not fetched again");
    } finally {
      translator.close();
      translator.close(); // idempotent
    }
    // Let a refresh that was in flight at close() settle (it is aborted).
    await new Promise((r) => setTimeout(r, 100));
  });
});

Deno.test("apertium: createTranslator starts fetching the pairs at once", async () => {
  await withApertium(async (apy) => {
    const translator = createTranslator({ provider: "apertium", url: apy.url });
    assert.ok(translator instanceof ApertiumTranslator);
    try {
      await translator.refreshPairs(); // joins the fetch the factory started
      assert.equal(translator.supports("en", "es"), true);
    } finally {
      translator.close();
    }
  });
});

Deno.test("apertium: maps Parley codes to ISO 639-3", () => {
  assert.deepEqual(toApertiumCodes("en"), ["eng"]);
  assert.deepEqual(toApertiumCodes("pt-BR"), ["por_BR", "por"]);
  assert.deepEqual(toApertiumCodes("hr"), ["hrv", "hbs_HR", "hbs"]);
  assert.deepEqual(toApertiumCodes("ast"), ["ast"]);
  assert.deepEqual(toApertiumCodes("xx"), ["xx"]);
});

Deno.test("apertium: documents its batch limits", () => {
  const translator = new ApertiumTranslator();
  assert.deepEqual(translator.limits, { maxTexts: 1, maxChars: 10_000, concurrency: 4 });
  translator.close();
});

Deno.test("apertium: APy run as the README shows listens on 127.0.0.1 only", async () => {
  await withApertium(async (apy, translator) => {
    const port = Number(new URL(apy.url).port);
    // 127.0.0.2 is this machine too: a port bound to every interface would answer there.
    await assert.rejects(
      Deno.connect({ hostname: "127.0.0.2", port }),
      Deno.errors.ConnectionRefused,
    );
    await translator.start();
    assert.ok(translator.languages()?.has("en"), "its pairs give the languages users may choose");
    assert.ok(translator.languages()?.has("es"));
  });
});
