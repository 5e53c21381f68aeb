/**
 * lib/crypto in real headless Chromium: the same module, bundled as the browser island will
 * bundle it, computes the same test vectors as Deno, and a Chromium client completes a handshake
 * with a Deno server and exchanges sealed frames both ways.
 */
import assert from "node:assert/strict";
import {
  type ClientHandshake,
  generateIdentitySeed,
  identityFromSeed,
  type SecureSession,
  serverHandshake,
  type ServerHandshakeResult,
} from "../lib/crypto/mod.ts";
import { computeTestVectors, renderTestVectors } from "../lib/crypto/test_vectors.ts";
import { launchChromium, skipBrowser } from "./browser/chromium.ts";

/** What the page keeps on globalThis between evaluate calls. */
type PageGlobals = {
  parley: typeof import("../lib/crypto/mod.ts") & typeof import("../lib/crypto/test_vectors.ts");
  hs: ClientHandshake;
  hs2: ClientHandshake;
  session: SecureSession;
};

/** Bundles lib/crypto for the browser with `deno bundle`, like the island's build. */
async function bundleCrypto(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "parley-crypto-bundle-" });
  try {
    const lib = new URL("../lib/crypto/", import.meta.url).href;
    await Deno.writeTextFile(
      `${dir}/entry.ts`,
      `export * from "${lib}mod.ts";\nexport * from "${lib}test_vectors.ts";\n`,
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "bundle",
        "--quiet",
        "--platform",
        "browser",
        "-o",
        `${dir}/crypto.js`,
        `${dir}/entry.ts`,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    return await Deno.readTextFile(`${dir}/crypto.js`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test({
  name: "lib/crypto runs in Chromium: same vectors as Deno, and a live handshake with Deno",
  ignore: skipBrowser,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const bundle = await bundleCrypto();
    assert.ok(!/\bDeno\./.test(bundle), "the browser bundle holds no Deno API");
    // WebCrypto needs a secure context: http://127.0.0.1 is one.
    const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
      const path = new URL(req.url).pathname;
      return path === "/crypto.js"
        ? new Response(bundle, { headers: { "content-type": "text/javascript" } })
        : new Response("<!doctype html><title>crypto</title>", {
          headers: { "content-type": "text/html" },
        });
    });
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      await page.goto(`http://127.0.0.1:${server.addr.port}/`);

      // The vectors, computed in Chromium.
      const inBrowser = await page.evaluate(async () => {
        const m = await import("/crypto.js" as string) as PageGlobals["parley"];
        (globalThis as unknown as PageGlobals).parley = m;
        return m.renderTestVectors(await m.computeTestVectors());
      });
      assert.equal(inBrowser, renderTestVectors(await computeTestVectors()));

      // A live handshake: Chromium is the client, Deno the server.
      const identity = await identityFromSeed(generateIdentitySeed());
      const hello = await page.evaluate(async (fp) => {
        const g = globalThis as unknown as PageGlobals;
        g.hs = await g.parley.clientHandshake({ verifyIdentity: g.parley.pinFingerprint(fp) });
        return g.hs.hello as string;
      }, identity.fingerprint);
      const { reply, session }: ServerHandshakeResult = await serverHandshake(identity, hello);
      const up = await page.evaluate(async (reply) => {
        const g = globalThis as unknown as PageGlobals;
        g.session = await g.hs.finish(reply);
        return [
          await g.session.seal('{"type":"login","name":"ann"}'),
          await g.session.seal('{"type":"who"}'),
          g.session.server.fingerprint,
        ] as string[];
      }, reply);
      assert.equal(up[2], identity.fingerprint);
      assert.equal(await session.openText(up[0]), '{"type":"login","name":"ann"}');
      assert.equal(await session.openText(up[1]), '{"type":"who"}');

      const down = await session.sealFrames(['{"type":"hello"}', '{"type":"welcome"}']);
      const replayed = down;
      const result = await page.evaluate(async ([down, replayed]) => {
        const g = globalThis as unknown as PageGlobals;
        const frames = await g.session.openFrames(down);
        const error = await g.session.open(replayed).then(
          () => "opened",
          (e: { code: string }) => e.code,
        );
        return { frames, error };
      }, [down, replayed]);
      assert.deepEqual(result, {
        frames: ['{"type":"hello"}', '{"type":"welcome"}'],
        error: "replayed",
      });

      // An impostor is refused in the browser too.
      const impostor = await identityFromSeed(generateIdentitySeed());
      const hello2 = await page.evaluate(async (fp) => {
        const g = globalThis as unknown as PageGlobals;
        g.hs2 = await g.parley.clientHandshake({ verifyIdentity: g.parley.pinFingerprint(fp) });
        return g.hs2.hello as string;
      }, identity.fingerprint);
      const { reply: reply2 } = await serverHandshake(impostor, hello2);
      const refused = await page.evaluate(
        (reply) =>
          (globalThis as unknown as PageGlobals).hs2.finish(reply).then(
            () => "ok",
            (e: { code: string }) => e.code,
          ),
        reply2,
      );
      assert.equal(refused, "identity_changed");
    } finally {
      await browser.close();
      await server.shutdown();
    }
  },
});
