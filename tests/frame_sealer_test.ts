/**
 * server/secure_transport.ts FrameSealer with server/turn.ts: frames of one turn go out as one
 * sealed batch; lazy frames (presence, heartbeats) wait for company (with few connections, about
 * a tenth of a second), but never lose their place.
 */
import assert from "node:assert/strict";
import {
  clientHandshake,
  generateIdentitySeed,
  identityFromSeed,
  type SecureSession,
  serverHandshake,
} from "../lib/crypto/mod.ts";
import { FrameSealer } from "../server/secure_transport.ts";
import { sleep } from "./helpers.ts";

async function sealerPair() {
  const identity = await identityFromSeed(generateIdentitySeed());
  const hs = await clientHandshake({ verifyIdentity: () => true });
  const { reply, session: server } = await serverHandshake(identity, hs.hello);
  const client: SecureSession = await hs.finish(reply);
  const lines: { at: number; frames: string[] }[] = [];
  let chain = Promise.resolve();
  const sealer = new FrameSealer(server, {
    sealedLine(line) {
      const at = performance.now();
      chain = chain.then(async () =>
        void lines.push({ at, frames: await client.openFrames(line) })
      );
    },
    sealFailed(err) {
      throw err;
    },
  });
  return { sealer, lines, opened: () => chain };
}

const frame = (n: number) => JSON.stringify({ type: "presence", user: `u${n}`, state: "online" });

Deno.test("frame sealer: a lazy frame waits, then leaves with the next urgent one, in order", async () => {
  const { sealer, lines, opened } = await sealerPair();
  sealer.push(frame(1), true);
  sealer.push(frame(2), true);
  await sleep(30);
  await opened();
  assert.equal(lines.length, 0, "lazy frames alone wait");
  sealer.push(frame(3));
  await sleep(30);
  await opened();
  assert.deepEqual(lines.map((l) => l.frames), [[frame(1), frame(2), frame(3)]]);
});

Deno.test("frame sealer: lazy frames alone go out within about a second", async () => {
  const { sealer, lines, opened } = await sealerPair();
  // Lazy rounds are shared by every connection: let any round an earlier test started pass.
  await sleep(1100);
  const t0 = performance.now();
  sealer.push(frame(1), true);
  while (lines.length === 0 && performance.now() - t0 < 3000) {
    await sleep(20);
    await opened();
  }
  assert.deepEqual(lines.map((l) => l.frames), [[frame(1)]]);
  const waited = lines[0].at - t0;
  assert.ok(waited >= 90 && waited < 1500, `waited ${waited} ms`);
});

Deno.test("frame sealer: a lazy frame pushed while a seal is in flight keeps its place", async () => {
  const { sealer, lines, opened } = await sealerPair();
  sealer.push(frame(1));
  await sleep(5); // the first seal is on its way (or done)
  sealer.push(frame(2), true);
  sealer.push(frame(3));
  await sealer.settled();
  await opened();
  assert.deepEqual(lines.flatMap((l) => l.frames), [frame(1), frame(2), frame(3)]);
});

Deno.test("frame sealer: settled() sends lazy frames at once", async () => {
  const { sealer, lines, opened } = await sealerPair();
  sealer.push(frame(1), true);
  await sealer.settled();
  await opened();
  assert.deepEqual(lines.map((l) => l.frames), [[frame(1)]]);
});
