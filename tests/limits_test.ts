/**
 * Limits that keep one connection from hurting the others: message size, the per-connection
 * rate limit, the login deadline and the bounded outbound queue (slow readers).
 */
import assert from "node:assert/strict";
import { presenceNames } from "../lib/protocol/presence_summary.ts";
import { clientHandshake } from "../lib/crypto/mod.ts";
import type { ServerEvent } from "../lib/protocol/types.ts";
import type { ClientSession, Connection } from "../lib/router/mod.ts";
import { DEFAULT_LIMITS } from "../lib/router/options.ts";
import { HEARTBEAT_LIMIT } from "../lib/router/reader_watch.ts";
import { LAZY_MAX_WAIT_MS } from "../server/turn.ts";
import { PASSWORD, sleep, type TestServer, until, within, withServer } from "./helpers.ts";
import { expectError, expectFrame, joinBytes, nextFrame, rawJson, textUser, utf8 } from "./raw.ts";

// ---------------------------------------------------------------------------------------------
// Message size

Deno.test("a message over 4096 bytes gets too_large and goes nowhere; 4096 bytes pass", () =>
  withServer(async (server) => {
    assert.equal(server.router.limits.maxMessageBytes, 4096);
    const alice = await server.user("alice");
    const bob = await server.user("bob");

    const exact = "a".repeat(4096);
    await alice.send("bob", exact);
    assert.equal((await bob.nextOf("message")).text, exact);
    const euros = "€".repeat(1365); // 4095 bytes
    await alice.send("bob", euros);
    assert.equal((await bob.nextOf("message")).text, euros);

    await assert.rejects(
      alice.send("bob", "a".repeat(4097)),
      /too_large: The message is 4097 bytes; the limit is 4096\./,
    );
    // The limit is in bytes, not characters: 1366 euro signs are 4098 bytes.
    await assert.rejects(alice.send("all", "€".repeat(1366)), /too_large: .* 4098 bytes/);

    await bob.quit();
    await assert.rejects(alice.send("bob", "b".repeat(5000)), /too_large/);
    assert.equal(await server.store.pendingCount("bob"), 0, "nothing stored");

    const t = await textUser(server, "tess");
    await t.write("@alice " + "c".repeat(4097));
    await t.waitFor("! The message is 4097 bytes; the limit is 4096.");
    await t.write("@alice small");
    await t.waitFor("(delivered to alice)");
    const got = await alice.nextOf("message");
    assert.equal(got.text, "small", "only the small message arrived");
  }));

// ---------------------------------------------------------------------------------------------
// Rate limit

Deno.test("the per-connection rate limit answers rate_limited and delivers nothing more", () =>
  withServer(async (server) => {
    const rate = 2;
    const burst = 10;
    const started = performance.now();
    const alice = await server.user("alice"); // signing in costs 5 of the 10 tokens
    const bob = await server.user("bob");
    const carol = await server.user("carol");

    const received: string[] = [];
    bob.on((e) => e.type === "message" && received.push(e.text));
    const replies: ServerEvent[] = [];
    const all = Promise.withResolvers<void>();
    alice.on((e) => {
      if (e.type === "sent" || e.type === "error") replies.push(e);
      if (replies.length === 20) all.resolve();
    });
    for (let i = 0; i < 20; i++) alice.sendFrame({ type: "send", to: "bob", text: `m${i}` });
    await within(all.promise, 5000, "20 replies");
    const elapsed = (performance.now() - started) / 1000;
    await bob.ping(); // everything sent to bob before the pong has arrived

    const sent = replies.filter((e) => e.type === "sent").length;
    const limited = replies.filter((e) => e.type === "error");
    const allowed = burst - 5 + Math.floor(elapsed * rate);
    assert.ok(sent >= burst - 5, `the burst is honoured (${sent} sent)`);
    assert.ok(sent <= allowed, `${sent} sent, at most ${allowed} allowed`);
    assert.equal(received.length, sent, "the recipient got exactly the accepted messages");
    assert.deepEqual(received, Array.from({ length: sent }, (_, i) => `m${i}`));
    assert.equal(limited.length, 20 - sent);
    for (const e of limited) {
      assert.ok(e.type === "error");
      assert.equal(e.code, "rate_limited");
      assert.match(e.message, /^Slow down/);
      assert.ok(e.retryAfter !== undefined && e.retryAfter > 0, `retryAfter ${e.retryAfter}`);
    }
    assert.ok(server.router.stats.rateLimited >= limited.length);

    // Another connection is not affected, and the sender may go on after waiting.
    assert.equal((await carol.send("bob", "from carol")).status, "delivered");
    await sleep(1000 / rate + 50);
    assert.equal((await alice.send("bob", "later")).status, "delivered");
    await bob.ping();
    assert.deepEqual(received.slice(sent), ["from carol", "later"]);
  }, { limits: { ratePerSec: 2, rateBurst: 10 } }));

Deno.test("text mode: a flood is told to slow down, and junk lines cost tokens too", () =>
  withServer(async (server) => {
    const bob = await server.user("bob");
    const t = await textUser(server, "tom"); // 5 of 10 tokens left
    const received: string[] = [];
    bob.on((e) => e.type === "message" && received.push(e.text));
    await t.write(Array.from({ length: 8 }, (_, i) => `@bob t${i}`).join("\n"));
    await t.waitFor(
      /^! Slow down: too many commands; this one was dropped\. \(try again in 1 s\)$/,
    );
    // Overlong lines and bad UTF-8 are refused silently once the bucket is empty.
    await t.write("x".repeat(9000));
    await t.write(Uint8Array.of(0xff, 0x0a));
    await bob.ping();
    assert.ok(received.length <= 5, `${received.length} delivered`);
    assert.deepEqual(received, received.map((_, i) => `t${i}`));
    await sleep(600);
    await t.write("@bob after the pause");
    await t.waitFor("(delivered to bob)");
    assert.ok(!t.lines.some((l) => /Line longer|UTF-8/.test(l)), t.lines.join("\n"));
  }, { limits: { ratePerSec: 2, rateBurst: 10 } }));

Deno.test("a flood of junk costs tokens too: at most a burst of errors comes back", () =>
  withServer(async (server) => {
    const t = await rawJson(server); // the opening ping took 0.1 of 10 tokens
    const started = performance.now();
    const junk = ["[]", "not json", '{"type":"fly"}', '{"type":5}', "x".repeat(5000)];
    // 200 sealed frames of junk in one write.
    const sealed = [];
    for (let i = 0; i < 200; i++) sealed.push(await t.session.seal(junk[i % junk.length]));
    await t.writeRaw(sealed.join("\n"));
    await sleep(300);
    await t.write(JSON.stringify({ type: "ping", cid: "after" }));
    let errors = 0;
    while ((await nextFrame(t)).type === "error") errors++;
    const elapsed = (performance.now() - started) / 1000;
    const allowed = 10 + Math.ceil(elapsed * 2);
    assert.ok(errors <= allowed, `${errors} errors for 200 junk lines; at most ${allowed}`);
    assert.ok(errors >= 9, `the burst is answered (${errors})`);
  }, { limits: { ratePerSec: 2, rateBurst: 10 } }));

// ---------------------------------------------------------------------------------------------
// Login deadline

const LOGIN_TIMEOUT = 400;

Deno.test("text mode: not signed in by the deadline is disconnected with a reason", () =>
  withServer(async (server) => {
    const started = performance.now();
    const t = await server.text();
    await t.waitFor("Name:");
    await t.write("alice"); // the interactive sign-in starts, and is never finished
    await t.waitFor("Password for alice:");
    await t.waitFor("! Not signed in within");
    await t.waitFor("* Goodbye: login timeout");
    await t.waitClosed();
    const took = performance.now() - started;
    assert.ok(took >= LOGIN_TIMEOUT - 20 && took < LOGIN_TIMEOUT + 500, `${took} ms`);
    assert.equal(server.router.connectionCount, 0);
  }, { limits: { loginTimeoutMs: LOGIN_TIMEOUT } }));

Deno.test("JSON mode: not signed in by the deadline gets login_timeout and bye", () =>
  withServer(async (server) => {
    const started = performance.now();
    const t = await rawJson(server);
    await t.write(JSON.stringify({ type: "login", name: "nobody", password: PASSWORD }));
    await expectError(t, "no_such_user");
    await expectError(t, "login_timeout");
    await expectFrame(t, { type: "bye", reason: "login timeout" });
    await t.waitClosed();
    const took = performance.now() - started;
    assert.ok(took >= LOGIN_TIMEOUT - 20 && took < LOGIN_TIMEOUT + 500, `${took} ms`);
  }, { limits: { loginTimeoutMs: LOGIN_TIMEOUT } }));

Deno.test("a connection that never sends a byte is greeted, then disconnected", () =>
  withServer(async (server) => {
    const started = performance.now();
    const t = await server.text();
    await t.waitFor("(You have");
    await t.waitFor("! Not signed in in time; goodbye.");
    await t.waitClosed();
    const took = performance.now() - started;
    // The deadline runs from the connection's opening, the quiet wait for a first byte included.
    assert.ok(took >= LOGIN_TIMEOUT - 20 && took < LOGIN_TIMEOUT + 200, `${took} ms`);
    assert.equal(server.router.connectionCount, 0);
  }, { limits: { loginTimeoutMs: LOGIN_TIMEOUT }, sniffMs: 300 }));

Deno.test("the login deadline counts from the connection, not from its first byte", () =>
  withServer(async (server) => {
    const started = performance.now();
    const t = await server.text();
    await t.waitFor("Name:");
    await sleep(LOGIN_TIMEOUT - 150);
    await t.write(utf8.encode("a")); // one byte, late, and no line
    await t.waitClosed();
    const took = performance.now() - started;
    assert.ok(took < LOGIN_TIMEOUT + 200, `closed after ${took} ms, deadline ${LOGIN_TIMEOUT}`);
  }, { limits: { loginTimeoutMs: LOGIN_TIMEOUT } }));

Deno.test("a user who signed in in time stays past the deadline", () =>
  withServer(async (server) => {
    const alice = await server.user("alice");
    const t = await textUser(server, "tom");
    await sleep(LOGIN_TIMEOUT + 200);
    await alice.ping();
    await t.write("/who");
    await t.waitFor("Online (2)");
    assert.equal(alice.closeReason, undefined);
  }, { limits: { loginTimeoutMs: LOGIN_TIMEOUT } }));

// ---------------------------------------------------------------------------------------------
// Slow readers

Deno.test("a reader that never reads is dropped at its queue limit; the others are unaffected", () =>
  withServer(async (server) => {
    const alice = await server.user("alice");
    const bob = await server.user("bob");

    // "slow" signs in by hand, and then never reads again.
    const { conn: slow } = await stalledJsonUser(server, "slow");
    try {
      await alice.nextOf("presence", (p) => presenceNames(p).includes("slow"));

      const got: string[] = [];
      bob.on((e) => e.type === "message" && got.push(e.id));
      const ids: string[] = [];
      const text = "x".repeat(4000);
      // Broadcast until the server gives up on "slow" (kernel buffers absorb a few MB first).
      for (let round = 0; round < 200 && server.router.online.has("slow"); round++) {
        const batch = await Promise.all(
          Array.from({ length: 25 }, () => alice.send("all", text)),
        );
        ids.push(...batch.map((s) => s.id));
      }
      assert.ok(!server.router.online.has("slow"), `still online after ${ids.length} messages`);
      const offline = await alice.nextOf("presence", (p) => presenceNames(p).includes("slow"));
      assert.equal(offline.state, "offline");

      // The others go on as before: every broadcast reached bob, in order.
      const last = await alice.send("all", "after the slow one left");
      ids.push(last.id);
      assert.equal(last.recipients, 1);
      await bob.ping();
      assert.deepEqual(got, ids);
      assert.equal(server.router.connectionCount, 2);
    } finally {
      slow.close();
    }
  }, {
    // Well above one round of 25 broadcasts (~140 KB sealed, possibly queued in one turn), so a
    // reader that keeps up is never over it, while one that stops reading soon is.
    maxQueuedBytes: 1024 * 1024,
    limits: { ratePerSec: 100_000, rateBurst: 100_000 },
  }));

async function writeAll(conn: Deno.Conn, text: string) {
  const bytes = utf8.encode(text);
  let off = 0;
  while (off < bytes.length) off += await conn.write(bytes.subarray(off));
}

/** Reads one line, byte by byte, leaving the rest unread. */
async function readLine(conn: Deno.Conn): Promise<string> {
  const buf = new Uint8Array(1);
  const bytes: number[] = [];
  while (true) {
    const n = await conn.read(buf);
    if (n === null) throw new Error(`closed before a line: ${String.fromCharCode(...bytes)}`);
    if (buf[0] === 0x0a) return new TextDecoder().decode(Uint8Array.from(bytes));
    bytes.push(buf[0]);
  }
}

/**
 * Opens a JSON-mode connection by hand, runs the handshake and registers `name`, reading
 * nothing after the server_hello: a reader that has stopped. Returns the socket and the session
 * (to open what it did receive later).
 */
async function stalledJsonUser(server: TestServer, name: string) {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  const hs = await clientHandshake({ verifyIdentity: server.pin });
  await writeAll(conn, hs.hello + "\n");
  const session = await hs.finish(await readLine(conn));
  const register = JSON.stringify({ type: "register", name, password: PASSWORD });
  await writeAll(conn, (await session.seal(register)) + "\n");
  return { conn, session };
}

/** Reads a socket to its end; returns the complete lines (a cut-off last line is dropped). */
async function readToEnd(conn: Deno.Conn): Promise<string[]> {
  const chunks: Uint8Array[] = [];
  const buf = new Uint8Array(64 * 1024);
  try {
    for (let n = await conn.read(buf); n !== null; n = await conn.read(buf)) {
      chunks.push(buf.slice(0, n));
    }
  } catch { /* reset: what arrived is what counts */ }
  const text = new TextDecoder().decode(joinBytes(...chunks));
  return text.split("\n").slice(0, -1);
}

Deno.test("a reader that stops is dropped within the stall timeout and catches up from the store", () =>
  withServer(async (server) => {
    const alice = await server.user("alice");
    const bob = await server.user("bob");
    const { conn: slow, session } = await stalledJsonUser(server, "slow");
    try {
      await alice.nextOf("presence", (p) => presenceNames(p).includes("slow"));
      const sent: string[] = [];
      const broadcasts: string[] = [];
      const got: string[] = [];
      bob.on((e) => e.type === "message" && got.push(e.id));
      const text = "y".repeat(4000);
      for (let round = 0; round < 400 && server.router.online.has("slow"); round++) {
        const batch = await Promise.all(
          Array.from({ length: 20 }, () => alice.send("slow", text)),
        );
        sent.push(...batch.filter((s) => s.status === "delivered").map((s) => s.id));
        broadcasts.push((await alice.send("all", `round ${round}`)).id);
      }
      assert.ok(!server.router.online.has("slow"), `still online after ${sent.length} messages`);
      // Dropped for not reading (the byte limit is far away), and counted.
      const metrics = server.router.metrics.render();
      assert.match(metrics, /parley_slow_reader_disconnects_total\{transport="tcp"\} 1/);
      assert.match(metrics, /parley_limit_hits_total\{limit="too_slow"\} 1/);
      await bob.ping();
      assert.deepEqual(got, broadcasts, "bob got every broadcast, in order");

      // What the old socket still held, had the reader resumed...
      const received = new Set<string>();
      for (const line of await readToEnd(slow)) {
        try {
          for (const frame of await session.openFrames(line)) {
            const event = JSON.parse(frame);
            if (event.type === "message") received.add(event.id);
          }
        } catch {
          break; // the connection was cut mid-line: nothing after it is readable
        }
      }
      // ...and the rest waits in the store: together, every message, none lost.
      for (let i = 0; i < 200 && await server.store.pendingCount("slow") === 0; i++) {
        await sleep(10);
      }
      const again = await server.client();
      const welcome = await again.login("slow", PASSWORD);
      assert.ok(welcome.pending > 0, "the untaken messages were stored");
      const replayed = new Set<string>();
      while (replayed.size < welcome.pending) {
        replayed.add((await again.nextOf("message", (m) => m.offline === true)).id);
      }
      const missing = sent.filter((id) => !received.has(id) && !replayed.has(id));
      assert.deepEqual(missing, [], `${missing.length} of ${sent.length} messages lost`);
    } finally {
      slow.close();
    }
  }, {
    maxQueuedBytes: 256 * 1024 * 1024,
    limits: { ratePerSec: 100_000, rateBurst: 100_000, slowReaderMs: 300 },
  }));

Deno.test("a reader that stops is found by heartbeat, before its socket buffers fill", () =>
  withServer(async (server) => {
    const alice = await server.user("alice");
    const bob = await server.user("bob");
    const { conn: slow } = await stalledJsonUser(server, "slow");
    try {
      await alice.nextOf("presence", (p) => presenceNames(p).includes("slow"));
      // Three small messages: nowhere near filling a socket buffer.
      const sent = [];
      for (const text of ["one", "two", "three"]) sent.push((await alice.send("slow", text)).id);
      const started = performance.now();
      while (server.router.online.has("slow") && performance.now() - started < 10_000) {
        await bob.send("alice", "still here"); // bob keeps reading and answering: he stays
        await sleep(100);
      }
      assert.ok(!server.router.online.has("slow"), "the silent reader was dropped");
      assert.ok(server.router.online.has("bob"), "the reader who answers stays");
      assert.match(
        server.router.metrics.render(),
        /parley_slow_reader_disconnects_total\{transport="tcp"\} 1/,
      );
      // It never answered a heartbeat, so none of them counts as read: all wait in the store.
      for (let i = 0; i < 200 && await server.store.pendingCount("slow") < 3; i++) await sleep(10);
      const again = await server.client();
      const welcome = await again.login("slow", PASSWORD);
      assert.equal(welcome.pending, 3);
      const replayed = [];
      for (const _ of sent) replayed.push((await again.nextOf("message")).id);
      assert.deepEqual(replayed, sent);
    } finally {
      slow.close();
    }
  }, { limits: { slowReaderMs: 1000 } }));

/**
 * A JSON connection whose frames leave the server only when told (`release`), as when the
 * server itself is behind on sealing: records what it was sent and whether it was aborted.
 */
class HeldConnection implements Connection {
  readonly transport = "test";
  readonly dialect = "json" as const;
  readonly remoteAddr = "192.0.2.7";
  readonly frames: { type: string; seq?: number }[] = [];
  handedOver = 0;
  inputPending = 0;
  /** Bytes from the client wait unread in the server's receive queue (Connection.inputWaiting). */
  waiting = false;
  aborted: string | undefined;
  session!: ClientSession;
  send(frame: string) {
    this.frames.push(JSON.parse(frame));
    return this.frames.length - 1;
  }
  progress() {
    const { handedOver, inputPending } = this;
    return { accepted: handedOver, handedOver, inputPending, tooSlow: false };
  }
  release() {
    this.handedOver = this.frames.length;
  }
  inputWaiting() {
    return this.waiting;
  }
  flushed() {
    return Promise.resolve();
  }
  abort(why: string) {
    this.aborted = why;
    this.session.detach();
  }
  close() {
    this.session.detach();
  }
}

/**
 * "held" signed in on a HeldConnection, and "alice" signed in after it (a presence for "held"
 * to read), once the server has queued "held" a heartbeat.
 */
async function heldUserWithHeartbeat(server: TestServer) {
  const conn = new HeldConnection();
  conn.session = server.router.attach(conn);
  conn.session.receive(JSON.stringify({ type: "register", name: "held", password: PASSWORD }));
  await conn.session.idle();
  const alice = await server.user("alice");
  await until(() => conn.frames.some((f) => f.type === "heartbeat"), 3000, "a heartbeat");
  return { conn, alice };
}

Deno.test("a heartbeat is not counted against a reader while the server is behind", () =>
  withServer(async (server) => {
    const { conn, alice } = await heldUserWithHeartbeat(server);
    // Stuck in the server's own queue for more than a timeout: not the reader's fault.
    await sleep(400);
    assert.equal(conn.aborted, undefined);
    assert.ok(server.router.online.has("held"));
    // Out of the server, but the server has the client's input still to open (the answer may
    // be in it): not yet.
    conn.release();
    conn.inputPending = 1;
    await sleep(350);
    assert.equal(conn.aborted, undefined);
    // Nothing left to open, and no answer in it: the reader has had its time; dropped at the
    // next tick or two.
    conn.inputPending = 0;
    await until(() => conn.aborted !== undefined, 3000, "the drop");
    assert.match(conn.aborted!, /heartbeat \d+ unanswered for 300 ms/);
    assert.ok(!server.router.online.has("held"));
    await alice.send("held", "kept for later");
  }, { limits: { slowReaderMs: 300 } }));

Deno.test("a heartbeat stuck in the server still ends the connection after a hard limit", () =>
  withServer(async (server) => {
    const { conn } = await heldUserWithHeartbeat(server);
    // Never handed over, input always pending: still dropped, after HEARTBEAT_LIMIT timeouts
    // and the longest a lazy frame may wait (counted from when the heartbeat was queued).
    conn.inputPending = 1;
    const started = performance.now();
    await until(() => conn.aborted !== undefined, 8000, "the drop");
    const waited = performance.now() - started;
    const limit = HEARTBEAT_LIMIT * 300 + server.router.limits.lazyWaitMs;
    assert.ok(waited >= limit - 1000 && waited < limit + 2000, `dropped after ${waited} ms`);
    assert.ok(!server.router.online.has("held"));
  }, { limits: { slowReaderMs: 300 } }));

Deno.test("a heartbeat answer the server has not read yet is not counted against the reader", () =>
  withServer(async (server) => {
    const { conn } = await heldUserWithHeartbeat(server);
    // The heartbeat left; the client answered at once, but its bytes wait in the server's own
    // receive queue (the server is busy opening others' lines): past the timeout and past the
    // hard limit, it is the server that is behind.
    conn.release();
    conn.waiting = true;
    await sleep(HEARTBEAT_LIMIT * 300 + server.router.limits.lazyWaitMs + 1200);
    assert.equal(conn.aborted, undefined);
    assert.ok(server.router.online.has("held"));
    // The server read everything and no answer was in it: dropped.
    conn.waiting = false;
    await until(() => conn.aborted !== undefined, 3000, "the drop");
    assert.match(conn.aborted!, /heartbeat \d+ unanswered/);
  }, { limits: { slowReaderMs: 300 } }));

Deno.test("a heartbeat's answer is taken at once, while a slow command holds the queue", () =>
  withServer(async (server) => {
    const { conn } = await heldUserWithHeartbeat(server);
    conn.release();
    // A command that takes its time (a sign-in's key derivation, a send waiting for translation).
    let finish!: () => void;
    conn.session.enqueue(() => new Promise<void>((resolve) => finish = resolve));
    const beat = conn.frames.find((f) => f.type === "heartbeat")!;
    conn.session.receive(JSON.stringify({ type: "heartbeat", seq: beat.seq }));
    // Three timeouts: an answer waiting behind the slow command would have had the reader
    // dropped by now.
    await sleep(900);
    finish();
    assert.equal(conn.aborted, undefined);
    assert.ok(server.router.online.has("held"));
  }, { limits: { slowReaderMs: 300 } }));

Deno.test("the router's heartbeat grace is the longest the transports hold a lazy frame", () => {
  assert.equal(DEFAULT_LIMITS.lazyWaitMs, LAZY_MAX_WAIT_MS);
});

/** A HeldConnection that reads everything at once (it answers heartbeats) and counts rests. */
class QuietConnection extends HeldConnection {
  rests = 0;
  override send(frame: string) {
    const index = super.send(frame);
    this.release();
    const f = this.frames[index];
    if (f.type === "heartbeat") {
      queueMicrotask(() => this.session.receive(JSON.stringify({ type: "heartbeat", seq: f.seq })));
    }
    return index;
  }
  rest() {
    this.rests++;
    return true;
  }
}

/** "quiet" signed in on a QuietConnection. */
async function quietUser(server: TestServer): Promise<QuietConnection> {
  const conn = new QuietConnection();
  conn.session = server.router.attach(conn);
  conn.session.receive(JSON.stringify({ type: "register", name: "quiet", password: PASSWORD }));
  await conn.session.idle();
  return conn;
}

Deno.test("a quiet connection is told to rest, once; a busy one is not", () =>
  withServer(async (server) => {
    const conn = await quietUser(server);
    await until(() => conn.rests === 1, 4000, "a rest");
    assert.equal(server.router.stats.rests, 1);
    await sleep(1500);
    assert.equal(conn.rests, 1, "told once while it stays quiet");
    // A message every 150 ms keeps it from resting, however long that goes on.
    const alice = await server.user("alice");
    const before = conn.frames.length;
    for (let i = 0; i < 16; i++) {
      await alice.send("quiet", `m${i}`);
      await sleep(150);
    }
    assert.ok(conn.frames.length >= before + 16);
    assert.equal(conn.rests, 1);
    await until(() => conn.rests === 2, 4000, "a rest after the messages");
  }, { limits: { slowReaderMs: 300, restAfterMs: 1000 } }));

Deno.test("presence alone brings no heartbeat; a message does", () =>
  withServer(async (server) => {
    const conn = await quietUser(server);
    const beats = () => conn.frames.filter((f) => f.type === "heartbeat").length;
    // The welcome is worth a heartbeat (answered at once).
    await until(() => beats() === 1, 3000, "a heartbeat after the welcome");
    // Others coming and going: presence only, however long.
    const bob = await server.user("bob");
    bob.close();
    // Online and offline in one round of presence may come as the offline alone.
    await until(
      () => conn.frames.some((f) => f.type === "presence" && "state" in f && f.state === "offline"),
      3000,
      "presence",
    );
    await sleep(600);
    assert.equal(beats(), 1, "no heartbeat for presence");
    const alice = await server.user("alice");
    await alice.send("quiet", "hello");
    await until(() => beats() === 2, 3000, "a heartbeat after a message");
  }, { limits: { slowReaderMs: 300 } }));
