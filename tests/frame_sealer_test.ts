/**
 * server/secure_transport.ts FrameSealer with server/turn.ts: a group commit. With nothing in
 * flight a frame is sealed at the end of the job that pushed it (with whatever that job pushed);
 * frames pushed while a seal is in flight or the socket is busy go out together in one sealed
 * batch; lazy frames (presence, heartbeats) wait for company (with few connections, about a tenth
 * of a second), but never lose their place.
 */
import assert from "node:assert/strict";
import {
  clientHandshake,
  generateIdentitySeed,
  identityFromSeed,
  type SecureSession,
  serverHandshake,
} from "../lib/crypto/mod.ts";
import { FrameSealer, utf8Bound } from "../server/secure_transport.ts";
import { openSslAead } from "../lib/crypto/_openssl.ts";
import { setImmediate } from "node:timers";
import { sleep } from "./helpers.ts";

/** Counts the seals `session` begins, as they begin, inline (OpenSSL) or queued (WebCrypto). */
function countSeals(session: SecureSession): { begun: number } {
  const seals = { begun: 0 };
  const sealFrames = session.sealFrames.bind(session);
  session.sealFrames = (frames: readonly string[]) => {
    seals.begun++;
    return sealFrames(frames);
  };
  const sealFramesNow = session.sealFramesNow.bind(session);
  session.sealFramesNow = (frames: readonly string[]) => {
    seals.begun++;
    return sealFramesNow(frames);
  };
  return seals;
}

async function sealerPair(
  options: { busy?: () => boolean; maxBatchBytes?: number; maxLazyBatchBytes?: number } = {},
) {
  const identity = await identityFromSeed(generateIdentitySeed());
  const hs = await clientHandshake({ verifyIdentity: () => true });
  const { reply, session: server } = await serverHandshake(identity, hs.hello);
  const client: SecureSession = await hs.finish(reply);
  const lines: { at: number; frames: string[] }[] = [];
  let chain = Promise.resolve();
  // Counts the seals begun, as they begin: whether a frame waited for a timer shows here.
  const seals = countSeals(server);
  const sealer = new FrameSealer(
    server,
    {
      get writeBusy() {
        return options.busy?.() ?? false;
      },
      sealedLine(line) {
        const at = performance.now();
        chain = chain.then(async () =>
          void lines.push({ at, frames: await client.openFrames(line) })
        );
      },
      sealFailed(err) {
        throw err;
      },
    },
    options.maxBatchBytes,
    options.maxLazyBatchBytes,
  );
  return { sealer, server, lines, seals, opened: () => chain };
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

/** Lets the event loop run `n` times (its I/O included), without waiting for a timer. */
async function jobEnds(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** Lets the microtasks queued so far (and those they queue) run, but no timer. */
async function endOfJob(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

Deno.test("frame sealer: with nothing in flight, a frame is sealed at the end of its job, not of a turn", async () => {
  const { sealer, lines, seals, opened } = await sealerPair();
  sealer.push(frame(1));
  sealer.push(frame(2)); // the same job: the same seal
  assert.equal(seals.begun, 0, "not sealed inside the job that pushed it");
  await endOfJob();
  assert.equal(seals.begun, 1, "sealed before any timer ran");
  await sealer.settled();
  await opened();
  assert.deepEqual(lines.map((l) => l.frames), [[frame(1), frame(2)]]);
});

Deno.test("frame sealer: frames pushed while a seal is in flight go together in the next", async () => {
  const { sealer, lines, seals, opened } = await sealerPair();
  sealer.push(frame(1));
  // Right after the seal began (a seal may finish within a few microtasks).
  for (let i = 0; i < 10 && seals.begun === 0; i++) await Promise.resolve();
  assert.equal(seals.begun, 1, "sealed before any timer ran");
  sealer.push(frame(2));
  sealer.push(frame(3), true);
  sealer.push(frame(4));
  assert.equal(seals.begun, 1, "the others wait for the seal in flight");
  await sealer.settled();
  await opened();
  assert.deepEqual(lines.map((l) => l.frames), [[frame(1)], [frame(2), frame(3), frame(4)]]);
});

Deno.test("frame sealer: behind a busy socket, frames wait for the turn and go as one batch", async () => {
  let busy = true;
  const { sealer, lines, seals, opened } = await sealerPair({ busy: () => busy });
  sealer.push(frame(1));
  await endOfJob();
  sealer.push(frame(2));
  await endOfJob();
  assert.equal(seals.begun, 0, "nothing sealed at once while the socket is busy");
  busy = false;
  await sealer.settled();
  await opened();
  assert.deepEqual(lines.map((l) => l.frames), [[frame(1), frame(2)]]);
});

/** A fan-out to `n` connections, each a FrameSealer over `session` (one stands for all). */
function fanOut(session: SecureSession, n: number) {
  const seals = countSeals(session);
  const out = { sealedLine() {}, sealFailed() {} };
  return { seals, sealers: Array.from({ length: n }, () => new FrameSealer(session, out)) };
}

Deno.test("frame sealer: where a seal is a WebCrypto call, a connection that sealed within a turn waits for the turn", async () => {
  // A client's session seals with WebCrypto: it stands for a server without OpenSSL.
  const hs = await clientHandshake({ verifyIdentity: () => true });
  const identity = await identityFromSeed(generateIdentitySeed());
  const webcrypto = await hs.finish((await serverHandshake(identity, hs.hello)).reply);
  assert.equal(webcrypto.sealsInline, false);
  // A fan-out to a thousand connections: each seals at once, and a thousand seals make a turn
  // of 80 ms.
  const { seals, sealers } = fanOut(webcrypto, 1000);
  const t0 = performance.now();
  for (const s of sealers) s.push(frame(1));
  await jobEnds(12);
  assert.equal(seals.begun, 1000, "quiet connections seal at once (in slices, with no timer)");
  await Promise.all(sealers.map((s) => s.settled()));
  const soon = performance.now() - t0 < 60; // a loaded machine may take longer than the turn
  // The next frames come while the first ones are fresh: they wait for the turn, together.
  for (const s of sealers) s.push(frame(2));
  for (const s of sealers) s.push(frame(3));
  await endOfJob();
  if (soon) assert.equal(seals.begun, 1000, "connections that just sealed wait for the turn");
  await Promise.all(sealers.map((s) => s.settled()));
  assert.equal(seals.begun, 2000, "frames 2 and 3 went in one seal per connection");
});

Deno.test({
  name:
    "frame sealer: where seals are inline (OpenSSL), a connection given frames often still seals at once",
  ignore: openSslAead() === undefined,
  async fn() {
    const { server } = await sealerPair();
    assert.equal(server.sealsInline, true);
    const { seals, sealers } = fanOut(server, 1000);
    for (const s of sealers) s.push(frame(1));
    await jobEnds(12);
    assert.equal(seals.begun, 1000);
    await Promise.all(sealers.map((s) => s.settled()));
    // A message every few milliseconds: nothing is in flight, so nobody waits for a turn. What
    // one job pushes a connection is still one seal.
    for (const s of sealers) s.push(frame(2));
    for (const s of sealers) s.push(frame(3));
    await jobEnds(12);
    assert.equal(seals.begun, 2000, "sealed from the end of the job, frames 2 and 3 together");
    await Promise.all(sealers.map((s) => s.settled()));
    assert.equal(seals.begun, 2000);
  },
});

Deno.test("frame sealer: a batch limit bounds every sealed line; a longer frame goes alone, in order", async () => {
  const { sealer, lines, opened } = await sealerPair({ maxBatchBytes: 4096 });
  const big = JSON.stringify({ type: "who", users: "x".repeat(10_000) });
  const frames = [...Array.from({ length: 20 }, (_, i) => frame(i)), big, frame(99)];
  // Pushed in one job: without a limit, one batch.
  for (const f of frames) sealer.push(f);
  await sleep(50);
  await opened();
  assert.deepEqual(lines.flatMap((l) => l.frames), frames);
  for (const l of lines) {
    const bytes = new TextEncoder().encode(l.frames.join("\n")).length;
    assert.ok(
      bytes <= 4096 || l.frames.length === 1,
      `a line of ${l.frames.length} frames, ${bytes} bytes`,
    );
  }
  assert.ok(lines.some((l) => l.frames.length === 1 && l.frames[0] === big));
});

Deno.test("frame sealer: lines of lazy frames alone keep to the lazy limit; a line with an urgent frame to the other", async () => {
  const { sealer, lines, opened } = await sealerPair({
    maxBatchBytes: 8192,
    maxLazyBatchBytes: 1024,
  });
  const presence = Array.from({ length: 60 }, (_, i) => frame(i)); // ~3 KB in all
  for (const f of presence) sealer.push(f, true);
  const t0 = performance.now();
  while (lines.flatMap((l) => l.frames).length < 60 && performance.now() - t0 < 3000) {
    await sleep(20);
    await opened();
  }
  assert.deepEqual(lines.flatMap((l) => l.frames), presence, "every frame, in order");
  assert.ok(lines.length >= 3, `${lines.length} lines`);
  for (const l of lines) {
    assert.ok(new TextEncoder().encode(l.frames.join("\n")).length <= 1024);
  }
  // The same frames with an urgent one at the end go out as the urgent frame's flush: one line.
  lines.length = 0;
  for (const f of presence) sealer.push(f, true);
  sealer.push(frame(999));
  await sealer.settled();
  await opened();
  assert.deepEqual(lines.map((l) => l.frames), [[...presence, frame(999)]]);
});

Deno.test("frame sealer: frames that fit a small batch limit together share a line", async () => {
  const { sealer, lines, opened } = await sealerPair({ maxBatchBytes: 8192 });
  // Three 2,000-character ASCII frames: 6 KB together, though 3 bytes a character would be 18.
  const frames = ["a", "b", "c"].map((c) => JSON.stringify({ type: "say", text: c.repeat(1980) }));
  for (const f of frames) sealer.push(f);
  // Then two that do not fit with them: ✓ is 3 bytes in UTF-8.
  const wide = ["d", "e"].map((c) => JSON.stringify({ type: "say", text: c + "✓".repeat(1000) }));
  for (const f of wide) sealer.push(f);
  await sleep(50);
  await opened();
  assert.deepEqual(lines.map((l) => l.frames), [frames, [wide[0], wide[1]]]);
});

Deno.test("utf8Bound: exact for text, never under for surrogates", () => {
  const enc = new TextEncoder();
  for (const t of ["", "plain", "ünïcødé", "✓✓", "😀", "a😀b", "\ud800", "x\udc00y"]) {
    const real = enc.encode(t).length;
    assert.ok(utf8Bound(t) >= real, t);
    if (!/[\ud800-\udfff]/.test(t)) assert.equal(utf8Bound(t), real, t);
  }
});

Deno.test({
  name:
    "frame sealer: where seals are inline, frames behind a busy socket go as soon as it has written, not at a turn",
  ignore: openSslAead() === undefined,
  async fn() {
    let busy = true;
    const { sealer, lines, seals, opened } = await sealerPair({ busy: () => busy });
    sealer.push(frame(1));
    sealer.push(frame(2));
    await jobEnds(1);
    assert.equal(seals.begun, 0, "nothing sealed while the socket writes");
    busy = false; // the socket has written
    await jobEnds(2);
    assert.equal(seals.begun, 1, "sealed at the next job's end: no timer");
    await opened();
    assert.deepEqual(lines.map((l) => l.frames), [[frame(1), frame(2)]]);
  },
});

Deno.test({
  name:
    "frame sealer: a socket that stays busy is not checked in a loop: its frames wait for a turn",
  ignore: openSslAead() === undefined,
  async fn() {
    let checks = 0;
    const { sealer, lines, opened } = await sealerPair({
      busy: () => {
        checks++;
        return true;
      },
    });
    sealer.push(frame(1));
    await jobEnds(50);
    assert.ok(checks <= 5, `checked ${checks} times in 50 job ends`);
    // The turn then sends it anyway, as for a reader behind: the transport judges the backlog.
    await sleep(200);
    await opened();
    assert.deepEqual(lines.map((l) => l.frames), [[frame(1)]]);
  },
});

Deno.test({
  name:
    "frame sealer: a fan-out to many goes in slices: the first at the end of the job, the rest at the next turns of the event loop, in order",
  ignore: openSslAead() === undefined,
  async fn() {
    const { server } = await sealerPair();
    const order: number[] = [];
    const sealers = Array.from({ length: 1000 }, (_, i) =>
      new FrameSealer(server, {
        sealedLine: () => void order.push(i),
        sealFailed(err) {
          throw err;
        },
      }));
    for (const s of sealers) s.push(frame(1));
    await endOfJob();
    assert.equal(order.length, 100, "one slice at the end of the job");
    await jobEnds(12);
    assert.deepEqual(order, sealers.map((_, i) => i), "the others, in order, with no timer");
  },
});
