/**
 * What `deno compile` needs: the server must read no file of the source tree at run time, so
 * the binary needs nothing beside it. `deno compile` itself cannot run here (it downloads its
 * runtime), so this starts main.ts from another working directory with read and write access
 * to that directory only, and uses the page, its assets and the WebSocket.
 */
import assert from "node:assert/strict";
import { build } from "../build.ts";
import { TEST_KDF_ITERATIONS } from "./helpers.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;

import { ParleyClient } from "../lib/client/client.ts";
import { SecureChannel } from "../lib/client/secure_channel.ts";
import { pinFingerprint } from "../lib/crypto/mod.ts";
import { WsChannel } from "../islands/ws_channel.ts";

Deno.test("embedded assets: the server runs from another directory, reading none of its sources", async () => {
  await build({ ifStale: true, quiet: true });
  const cwd = await Deno.makeTempDir({ prefix: "parley-cwd-" });
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      `--allow-read=${cwd}`,
      `--allow-write=${cwd}`,
      "--allow-env",
      MAIN,
      "--tcp-port",
      "0",
      "--http-port",
      "0",
      "--data-dir",
      "data",
    ],
    cwd,
    env: { PARLEY_KDF_ITERATIONS: String(TEST_KDF_ITERATIONS), NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
  }).spawn();
  let out = "";
  const url = Promise.withResolvers<string>();
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder();
    for await (const bytes of stream) {
      out += decoder.decode(bytes, { stream: true });
      const m = /http (http:\/\/\S+)/.exec(out);
      if (m) url.resolve(m[1]);
    }
  };
  const pumps = Promise.all([pump(child.stdout), pump(child.stderr)]);
  const status = child.status.then((s) => {
    url.reject(new Error(`server exited (${s.code}) before serving http:\n${out}`));
    return s;
  });
  try {
    const base = (await url.promise).replace(/\/$/, "");
    const page = await fetch(base);
    const html = await page.text();
    assert.equal(page.status, 200);
    assert.match(html, /<div id="app"/);
    for (const [, path] of html.matchAll(/(?:src|href)="(\/static\/[^"]+)"/g)) {
      const res = await fetch(base + path);
      assert.equal(res.status, 200, path);
      assert.ok((await res.text()).length > 100, path);
    }
    // And the WebSocket reaches the router, through the encrypted session, pinned to the
    // fingerprint the server printed.
    const fingerprint = /Parley identity: (SHA256:\S+)/.exec(out)?.[1];
    assert.ok(fingerprint, out);
    const raw = await WsChannel.open(`${base.replace("http", "ws")}/ws`);
    const secure = await SecureChannel.establish(raw, {
      verifyIdentity: pinFingerprint(fingerprint),
    });
    const client = new ParleyClient(secure);
    assert.equal((await client.nextOf("hello")).type, "hello");
    client.close();
    await client.closed;
    assert.ok((await Deno.stat(`${cwd}/data/parley.db`)).isFile, "data dir is relative to cwd");
  } finally {
    try {
      child.kill("SIGTERM");
    } catch { /* exited */ }
    await status;
    await pumps;
    await Deno.remove(cwd, { recursive: true });
  }
  assert.doesNotMatch(out, /NotCapable|PermissionDenied|ERROR/, out);
});
