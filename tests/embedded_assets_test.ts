/**
 * What `deno compile` needs: the server must read no file of the source tree at run time, so
 * the binary needs nothing beside it. `deno compile` itself cannot run here (it downloads its
 * runtime), so this starts main.ts from another working directory with read and write access
 * to that directory only, and uses the page, its assets and the WebSocket.
 */
import assert from "node:assert/strict";
import { build } from "../build.ts";
import { spawnServer } from "./process_helpers.ts";

import { ParleyClient } from "../lib/client/client.ts";
import { SecureChannel } from "../lib/client/secure_channel.ts";
import { WsChannel } from "../lib/client/ws_channel.ts";

Deno.test("embedded assets: the server runs from another directory, reading none of its sources", async () => {
  await build({ ifStale: true, quiet: true });
  const cwd = await Deno.makeTempDir({ prefix: "parley-cwd-" });
  const server = await spawnServer("data", [], { cwd });
  try {
    const base = /http (http:\/\/\S+)/.exec(server.output())![1].replace(/\/$/, "");
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
    const raw = await WsChannel.open(`${base.replace("http", "ws")}/ws`);
    const secure = await SecureChannel.establish(raw, { verifyIdentity: server.pin });
    const client = new ParleyClient(secure);
    assert.equal((await client.nextOf("hello")).type, "hello");
    client.close();
    await client.closed;
    assert.ok((await Deno.stat(`${cwd}/data/parley.db`)).isFile, "data dir is relative to cwd");
  } finally {
    await server.stop("SIGTERM");
    await Deno.remove(cwd, { recursive: true });
  }
  assert.doesNotMatch(server.output(), /NotCapable|PermissionDenied|ERROR/, server.output());
});
