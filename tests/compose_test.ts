/**
 * lib/router/compose.ts: the router main.ts and tests/helpers.ts build, with the parts the
 * server runs (decorated store, metrics, admission), whoever builds it.
 */
import assert from "node:assert/strict";
import { DataKey, generateDataKeyBytes } from "../lib/crypto/mod.ts";
import { silentLogger } from "../lib/log.ts";
import { composeRouter, DEFAULT_LIMITS } from "../lib/router/mod.ts";
import { SqliteStore } from "../lib/store/mod.ts";
import type { Translator } from "../lib/translate/translator.ts";

/** Says every text in capitals: a provider that answers at once, without a network. */
const shouting: Translator = {
  name: "google",
  limits: { maxTexts: 128, maxChars: 30_000, concurrency: 4 },
  translate: (request) => Promise.resolve(request.texts.map((t) => ({ text: t.toUpperCase() }))),
};

async function withComposed(
  fn: (router: ReturnType<typeof composeRouter>) => void | Promise<void>,
  setup: { limits?: Partial<typeof DEFAULT_LIMITS> } = {},
) {
  const dir = await Deno.makeTempDir({ prefix: "parley-compose-" });
  const dataKey = await DataKey.fromBytes(generateDataKeyBytes(), { source: "a test key" });
  const store = await SqliteStore.open({ path: `${dir}/parley.db`, dataKey });
  const router = composeRouter({ store, logger: silentLogger, translator: shouting, ...setup });
  try {
    await fn(router);
  } finally {
    await router.shutdown();
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
}

async function until(what: string, ok: () => boolean) {
  for (let i = 0; i < 200 && !ok(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(ok(), what);
}

Deno.test("composeRouter() registers the process, store and limit metrics with the router's", async () => {
  await withComposed(async (router) => {
    await router.store.check();
    const text = router.metrics.render();
    for (
      const name of [
        "process_resident_memory_bytes",
        "parley_store_writable",
        "parley_store_reachable",
        "parley_store_full_refusals_total",
        "parley_store_seconds",
        "parley_limit_hits_total",
        "parley_connections_total",
        "parley_translation_",
      ]
    ) assert.match(text, new RegExp(`^# HELP ${name}`, "m"), name);
    assert.match(text, /^parley_store_seconds_count\{op="check"\} 1$/m);
  });
});

Deno.test("composeRouter(): the translation cache uses the router's decorated store", async () => {
  await withComposed(async (router) => {
    const [outcome] = await router.translation.translateMany(
      [{ text: "hola", source: "es" }],
      "en",
    );
    assert.equal(outcome.kind, "translated");
    // Cached through the same store as everything else: timed, its writes watched.
    await until(
      "the cache write shows in parley_store_seconds",
      () => /^parley_store_seconds_count\{op="putTranslations"\} 1$/m.test(router.metrics.render()),
    );
  });
});

Deno.test("composeRouter(): admission counts its refusals with the router's limit counter", async () => {
  await withComposed((router) => {
    const ticket = router.admission.admit("192.0.2.1");
    assert.ok("release" in ticket);
    const refusal = router.admission.admit("192.0.2.2");
    assert.ok(!("release" in refusal) && refusal.code === "server_full");
    assert.match(router.metrics.render(), /^parley_limit_hits_total\{limit="server_full"\} 1$/m);
    ticket.release();
  }, { limits: { maxConnections: 1 } });
});

Deno.test("composeRouter(): limits not given are DEFAULT_LIMITS", async () => {
  await withComposed((router) => {
    assert.deepEqual(router.limits, { ...DEFAULT_LIMITS, rateBurst: 3 });
  }, { limits: { rateBurst: 3 } });
});
