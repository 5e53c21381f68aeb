/**
 * Slow readers on the WebSocket (server/ws.ts WsConnection): a client that stops reading is
 * closed with 1008 "too slow" once its buffer does not drain for `slowReaderMs`, without holding
 * up anyone else; the private messages its socket never took wait in the store for the next
 * sign-in. Deno's WebSocket client always reads, so the stalled reader here is tests/raw_ws.ts.
 */
import assert from "node:assert/strict";
import { ParleyClient } from "../lib/client/client.ts";
import { SecureChannel } from "../lib/client/secure_channel.ts";
import { clientHandshake } from "../lib/crypto/mod.ts";
import { WsChannel } from "../lib/client/ws_channel.ts";
import { WsConnection } from "../server/ws.ts";
import { PASSWORD } from "./helpers.ts";
import { RawWebSocket } from "./raw_ws.ts";
import { startWebServer, type WebServer } from "./web_helpers.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits (bounded) until `check` holds; fails with `what` otherwise. */
async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  while (!await check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await sleep(10);
  }
}

const LIMITS = { slowReaderMs: 300, ratePerSec: 100_000, rateBurst: 100_000 };

/**
 * A WebSocket signed in as a new user `name` by hand: the handshake, then a sealed register,
 * and nothing read after the server_hello: a reader that has stopped. Returns the socket and
 * the session (to open what it did receive, later).
 */
async function stalledWsUser(server: WebServer, name: string) {
  const socket = await RawWebSocket.connect(server.httpPort);
  try {
    const hs = await clientHandshake({ verifyIdentity: server.pin });
    await socket.sendText(hs.hello);
    const session = await hs.finish(await socket.readText());
    const register = JSON.stringify({ type: "register", name, password: PASSWORD });
    await socket.sendText(await session.seal(register));
    await until(() => server.router.online.has(name), `${name} is signed in`);
    return { socket, session };
  } catch (err) {
    socket.close();
    throw err;
  }
}

/** A WebSocket client that reads normally (the browser's path). */
async function wsUser(server: WebServer, name: string): Promise<ParleyClient> {
  const raw = await WsChannel.open(`ws://127.0.0.1:${server.httpPort}/ws`);
  const channel = await SecureChannel.establish(raw, { verifyIdentity: server.pin });
  const client = new ParleyClient(channel);
  await client.register(name, PASSWORD);
  return client;
}

/** The value of a sample on /metrics (0 when absent). */
async function metric(server: WebServer, sample: string): Promise<number> {
  const res = await fetch(`${server.url}/metrics`);
  const text = await res.text();
  const line = text.split("\n").find((l) => l.startsWith(sample + " "));
  return line ? Number(line.slice(sample.length + 1)) : 0;
}

const WS_SLOW = 'parley_slow_reader_disconnects_total{transport="ws"}';
const TOO_SLOW = 'parley_limit_hits_total{limit="too_slow"}';

/** True once the server has judged some WebSocket too slow (in-process, no HTTP request). */
function judgedTooSlow(server: WebServer): boolean {
  return server.router.metrics.render().includes(WS_SLOW + " ");
}

/**
 * While `name` reads nothing, alice sends it private messages of ~4000 bytes (rounds of 25) and
 * a broadcast per round, until the server closes it as too slow (bounded: kernel buffers absorb
 * a few MB first). Returns the ids of everything sent to it, and of the broadcasts.
 */
async function floodUntilTooSlow(server: WebServer, alice: ParleyClient, name: string) {
  const sent: string[] = [];
  const broadcasts: string[] = [];
  const text = "y".repeat(4000);
  let round = 0;
  for (; round < 400 && server.router.online.has(name) && !judgedTooSlow(server); round++) {
    const batch = await Promise.all(Array.from({ length: 25 }, () => alice.send(name, text)));
    sent.push(...batch.map((s) => s.id));
    broadcasts.push((await alice.send("all", `round ${round}`)).id);
  }
  assert.ok(judgedTooSlow(server), `not judged too slow after ${round} rounds`);
  return { sent, broadcasts };
}

Deno.test("ws slow reader: dropped as too slow, others unaffected, every private message kept", async () => {
  const server = await startWebServer({ limits: LIMITS });
  let slow: RawWebSocket | undefined;
  let wendy: ParleyClient | undefined;
  try {
    const alice = await server.user("alice");
    const bob = await server.user("bob");
    wendy = await wsUser(server, "wendy");
    const stalled = await stalledWsUser(server, "slow");
    slow = stalled.socket;
    const bobGot: string[] = [];
    const wendyGot: string[] = [];
    bob.on((e) => e.type === "message" && bobGot.push(e.id));
    wendy.on((e) => e.type === "message" && wendyGot.push(e.id));

    const { sent, broadcasts } = await floodUntilTooSlow(server, alice, "slow");
    // More while the close is under way (the socket takes nothing more): these must be kept.
    const late = await Promise.all(
      Array.from({ length: 25 }, (_, i) => alice.send("slow", `${i}`)),
    );
    sent.push(...late.map((s) => s.id));
    broadcasts.push((await alice.send("all", "after the close")).id);

    // The stalled client resumes reading: everything that reached its socket, then the close.
    const { texts, close } = await slow.readUntilClose();
    assert.deepEqual(close, { code: 1008, reason: "too slow" });
    const received = new Set<string>();
    for (const text of texts) {
      for (const frame of await stalled.session.openFrames(text)) {
        const event = JSON.parse(frame);
        if (event.type === "message" && event.to === "slow") received.add(event.id);
      }
    }
    await until(() => !server.router.online.has("slow"), "slow is offline");

    // Counted once, as a WebSocket too slow.
    assert.equal(await metric(server, WS_SLOW), 1);
    assert.equal(await metric(server, TOO_SLOW), 1);
    assert.equal(await metric(server, 'parley_slow_reader_disconnects_total{transport="tcp"}'), 0);

    // The readers that kept up got every broadcast, in order, over TCP and the WebSocket.
    await bob.ping();
    await wendy.ping();
    assert.deepEqual(bobGot, broadcasts);
    assert.deepEqual(wendyGot, broadcasts);

    // What the socket never took waits in the store. Storing it is asynchronous: wait (bounded)
    // until every untaken message is there; the assertion below says what is missing if not.
    const untaken = sent.filter((id) => !received.has(id));
    await until(
      async () => {
        const stored = new Set((await server.store.pending("slow", 1_000_000)).map((m) => m.id));
        return untaken.every((id) => stored.has(id));
      },
      `${untaken.length} untaken messages are stored`,
      20_000,
    ).catch(() => {});
    const again = await server.user("slow", { login: true });
    const replayed = new Set<string>();
    while (replayed.size < again.welcome!.pending) {
      replayed.add((await again.nextOf("message", (m) => m.offline === true)).id);
    }
    const missing = sent.filter((id) => !received.has(id) && !replayed.has(id));
    assert.deepEqual(
      missing,
      [],
      `${missing.length} of ${sent.length} messages lost (${received.size} received on the ` +
        `old socket, ${replayed.size} replayed)`,
    );
    assert.ok(sent.length > 0 && untaken.length > 0, "the test stalled the reader");
  } finally {
    slow?.close();
    wendy?.close();
    await wendy?.closed;
    await server.close();
  }
});

Deno.test("ws slow reader: a reader that never reads again is signed out and its place freed", async () => {
  const server = await startWebServer({ limits: LIMITS });
  let slow: RawWebSocket | undefined;
  try {
    const alice = await server.user("alice");
    const stalled = await stalledWsUser(server, "slow");
    slow = stalled.socket;
    assert.equal(server.router.admission.open, 2);
    await floodUntilTooSlow(server, alice, "slow");

    // The server closed it as too slow. The client will not read the close (nor anything
    // else): the server must not need it to, to sign it out and free its connection.
    await until(
      () => !server.router.online.has("slow"),
      "a stalled WebSocket closed as too slow is signed out (router.online)",
      5000,
    );
    await until(() => server.router.admission.open === 1, "its admission ticket is released");
    const presence = await alice.nextOf(
      "presence",
      (p) => p.user === "slow" && p.state === "offline",
    );
    assert.equal(presence.state, "offline");
  } finally {
    slow?.close();
    await server.close();
  }
});

Deno.test("WsConnection: frames still in the socket's buffer at a too-slow close are not counted as taken", async () => {
  const opened = Promise.withResolvers<WebSocket>();
  const http = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const { socket, response } = Deno.upgradeWebSocket(req);
    socket.onopen = () => opened.resolve(socket);
    return response;
  });
  const client = await RawWebSocket.connect(http.addr.port); // and it never reads
  try {
    const socket = await opened.promise;
    const frameBytes = 16 * 1024;
    let atClose: { buffered: number; accepted: number } | undefined;
    const conn: WsConnection = new WsConnection(socket, "127.0.0.1", {
      maxBuffered: 256 * 1024,
      slowMs: 300,
      // Called just before the close: what the socket holds then was not taken.
      onTooSlow: () => atClose = { buffered: socket.bufferedAmount, accepted: conn.accepted },
    });
    const frame = "x".repeat(frameBytes);
    let written = 0;
    for (let i = 0; i < 20_000 && !conn.tooSlow; i++) {
      const before = socket.bufferedAmount;
      conn.writeLine(frame, 1, true);
      if (socket.bufferedAmount > before) written++;
      await sleep(1);
    }
    assert.ok(conn.tooSlow && atClose, "the stalled reader was judged too slow");
    assert.ok(atClose.buffered >= frameBytes, `${atClose.buffered} bytes were waiting`);
    const waiting = Math.floor(atClose.buffered / frameBytes);
    // The kernel's buffers took frames before they filled: those count, the waiting ones do not.
    assert.ok(
      atClose.accepted > 0 && atClose.accepted <= written - waiting,
      `${atClose.accepted} of ${written} frames counted as taken at the close, with ${waiting} ` +
        `still in the socket's buffer`,
    );
    // After the close, the frames that were waiting are still not taken: a session detached now
    // must store their messages (ClientSession.untaken), not count them as delivered.
    assert.ok(
      conn.accepted <= written - waiting,
      `${conn.accepted} of ${written} frames counted as taken after the close, though ` +
        `${waiting} were still in the socket's buffer (bufferedAmount is ${socket.bufferedAmount} ` +
        `once the socket is closing)`,
    );
  } finally {
    client.close();
    await http.shutdown();
  }
});
