/** The translation API key is never printed; given as a flag (visible in `ps`), it is warned of. */
import assert from "node:assert/strict";
import { loadConfig } from "../lib/config.ts";
import { startFakeLibreTranslate } from "./fakes/libretranslate.ts";
import { spawnServer } from "./process_helpers.ts";

const KEY = "pw-tls-secret-4f1c9a";

for (const given of ["flag", "env"] as const) {
  Deno.test(`a translation key given as ${given} never shows in the output`, async () => {
    const provider = await startFakeLibreTranslate({ apiKey: KEY });
    const dataDir = await Deno.makeTempDir({ prefix: "parley-key-" });
    try {
      const server = await spawnServer(
        dataDir,
        [
          "--translate-provider",
          "libretranslate",
          // A key in the URL's query must not be printed either.
          "--translate-url",
          `${provider.url}/?api_key=${KEY}`,
          ...(given === "flag" ? ["--translate-key", KEY] : []),
        ],
        { env: given === "env" ? { PARLEY_TRANSLATE_KEY: KEY } : {} },
      );
      const status = await server.stop("SIGTERM");
      assert.equal(status.code, 0);
      const output = server.output();
      assert.ok(!output.includes(KEY), `the key was printed:\n${output}`);
      assert.match(output, /Parley translation: libretranslate at http:\/\/127\.0\.0\.1:\d+,/);
      if (given === "flag") {
        assert.match(output, /WARN .*--translate-key.*`ps`.*set PARLEY_TRANSLATE_KEY/);
      } else {
        assert.doesNotMatch(output, /--translate-key/);
      }
    } finally {
      await provider.close();
      await Deno.remove(dataDir, { recursive: true });
    }
  });
}

Deno.test("loadConfig() tells a key given as a flag from one in the environment", () => {
  const flag = loadConfig(["--translate-key", "k"], () => undefined);
  assert.ok(flag !== "help" && flag.translateKeyFromFlag);
  const env = loadConfig([], (n) => n === "PARLEY_TRANSLATE_KEY" ? "k" : undefined);
  assert.ok(env !== "help" && env.translateKey === "k" && !env.translateKeyFromFlag);
});
