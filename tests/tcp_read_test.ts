/**
 * The TCP read side sizes each connection's read buffer to what it receives: quiet connections
 * hold a small one, and a long line after a quiet spell still arrives whole.
 */
import assert from "node:assert/strict";
import { MAX_READ_BYTES, MIN_READ_BYTES, nextReadBuffer } from "../server/tcp_read.ts";
import { withServer } from "./helpers.ts";
import { expectFrame, pingOfSize, rawJson, textUser } from "./raw.ts";

Deno.test("read buffer: grows when a read fills it, shrinks when reads are small, within bounds", () => {
  let buf: Uint8Array = new Uint8Array(1024);
  // Small reads (a heartbeat answer) halve it, down to the minimum and no further.
  const sizes: number[] = [];
  for (let i = 0; i < 5; i++) {
    buf = nextReadBuffer(buf, 40);
    sizes.push(buf.length);
  }
  assert.deepEqual(sizes, [512, MIN_READ_BYTES, MIN_READ_BYTES, MIN_READ_BYTES, MIN_READ_BYTES]);
  // A read that fills it doubles it, up to the maximum and no further.
  const grown: number[] = [];
  for (let i = 0; i < 8; i++) {
    buf = nextReadBuffer(buf, buf.length);
    grown.push(buf.length);
  }
  assert.deepEqual(grown, [
    512,
    1024,
    2048,
    4096,
    8192,
    MAX_READ_BYTES,
    MAX_READ_BYTES,
    MAX_READ_BYTES,
  ]);
  // A read between a quarter and all of it keeps the same buffer.
  const same = nextReadBuffer(buf, buf.length / 2);
  assert.equal(same, buf);
});

Deno.test("JSON mode: after small frames shrank the read buffer, an 8 KiB frame still arrives whole", () =>
  withServer(async (server) => {
    const t = await rawJson(server);
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 6; i++) {
        await t.write(JSON.stringify({ type: "ping", cid: `small-${round}-${i}` }));
        await expectFrame(t, { type: "pong", cid: `small-${round}-${i}` });
      }
      await t.write(pingOfSize(8192, `big-${round}`));
      await expectFrame(t, { type: "pong", cid: `big-${round}` });
    }
    assert.equal(server.router.connectionCount, 1);
  }));

Deno.test("text mode: after short commands, an 8 KiB line still arrives whole", () =>
  withServer(async (server) => {
    const alice = await textUser(server, "alice");
    const bob = await server.user("bob");
    await alice.waitFor("* bob is online");
    for (let i = 0; i < 6; i++) {
      await alice.write(`@bob short ${i}`);
      assert.equal((await bob.nextOf("message")).text, `short ${i}`);
    }
    const text = "x".repeat(8192 - "@bob ".length);
    await alice.write(`@bob ${text}`);
    assert.equal((await bob.nextOf("message")).text, text);
    await alice.waitFor("(delivered to bob)");
  }, { limits: { maxMessageBytes: 10_000 } }));
