/**
 * Connection admission (lib/router/admission.ts): at most `maxConnections` in all,
 * `maxConnectionsPerIp` from one address and `newConnectionsPerMinute` new ones per address,
 * shared by TCP (text and JSON) and the WebSocket. A refused TCP client reads one line saying
 * why (an `error` object when it spoke JSON first, a `!` line otherwise); a refused WebSocket
 * gets the same `error` as a message, then close 1008 with the code as reason. Each refusal is
 * counted in /metrics.
 */
import assert from "node:assert/strict";
import { ParleyClient } from "../lib/client/client.ts";
import { SecureChannel } from "../lib/client/secure_channel.ts";
import { clientHandshake, isCryptoError } from "../lib/crypto/mod.ts";
import { Admission, isRefusal, type Refusal, type Ticket } from "../lib/router/admission.ts";
import type { Limits } from "../lib/router/mod.ts";
import { WsChannel } from "../lib/client/ws_channel.ts";
import { PASSWORD, sleep, textAccepted, textRefused, within } from "./helpers.ts";
import { startWebServer, type WebServer } from "./web_helpers.ts";

/** Waits (bounded) until `check` holds; fails with `what` otherwise. */
async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  while (!await check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await sleep(10);
  }
}

type ErrorFrame = {
  type: string;
  code: string;
  message: string;
  retryAfter?: number;
};

/** Runs `fn` against a fresh web server (TCP + HTTP on one router) with `limits`. */
async function withWebServer(
  limits: Partial<Limits>,
  fn: (server: WebServer, ws: WsClients) => Promise<void>,
): Promise<void> {
  const server = await startWebServer({ limits });
  const ws = new WsClients(server);
  try {
    await fn(server, ws);
  } finally {
    await ws.closeAll();
    await server.close();
  }
}

/** WebSocket clients of one test, closed at its end. */
class WsClients {
  #server: WebServer;
  #open = new Set<ParleyClient>();

  constructor(server: WebServer) {
    this.#server = server;
  }

  get url(): string {
    return `ws://127.0.0.1:${this.#server.httpPort}/ws`;
  }

  /** An accepted WebSocket: the browser's path (WsChannel + SecureChannel), handshake done. */
  async open(): Promise<ParleyClient> {
    const raw = await WsChannel.open(this.url);
    const channel = await SecureChannel.establish(raw, { verifyIdentity: this.#server.pin });
    const client = new ParleyClient(channel);
    this.#open.add(client);
    return client;
  }

  /** Closes `client` and waits for its close. */
  async close(client: ParleyClient): Promise<void> {
    client.close();
    await client.closed;
    this.#open.delete(client);
  }

  /**
   * A WebSocket from Deno's own client, expected to be refused: every message it got and the
   * close event.
   */
  async refused(): Promise<{ messages: string[]; code: number; reason: string }> {
    const socket = new WebSocket(this.url);
    const messages: string[] = [];
    socket.onmessage = (e) => messages.push(String(e.data));
    const closed = new Promise<CloseEvent>((resolve) => socket.onclose = resolve);
    const event = await within(closed, 5000, "the refused WebSocket's close");
    return { messages, code: event.code, reason: event.reason };
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.#open].map((c) => this.close(c)));
  }
}

/**
 * A refused TCP connection in JSON mode: it speaks first, with a real `client_hello`, and reads
 * the plaintext `error` line the server sends instead of a `server_hello`, then EOF.
 */
async function jsonRefused(server: WebServer): Promise<ErrorFrame> {
  // The keys first, so the hello follows the connect at once (the server sniffs for sniffMs).
  const hs = await clientHandshake({ verifyIdentity: server.pin });
  const t = await server.text();
  await t.write(hs.hello);
  const line = await t.nextLine();
  await t.waitClosed();
  assert.ok(line !== null, "an error line before the close");
  const frame = JSON.parse(line);
  // And the client's own handshake reads it as the server's refusal, with its message.
  await assert.rejects(hs.finish(line), (err) => {
    assert.ok(isCryptoError(err));
    assert.equal(err.code, "server_refused");
    assert.ok(err.message.includes(frame.message), err.message);
    return true;
  });
  return frame;
}

/**
 * The value of `parley_limit_hits_total{limit="<code>"}` (0 when absent), as /metrics renders
 * it. Read from the registry rather than over HTTP: an HTTP connection holds a place like any
 * other, so fetching /metrics would itself be refused by the limits these tests fill up.
 */
function limitHits(server: WebServer, limit: string): number {
  const text = server.router.metrics.render();
  const m = text.match(new RegExp(`^parley_limit_hits_total\\{limit="${limit}"\\} (\\d+)$`, "m"));
  return m ? Number(m[1]) : 0;
}

function assertRefusal(frame: ErrorFrame, code: string, message: RegExp) {
  assert.equal(frame.type, "error");
  assert.equal(frame.code, code);
  assert.match(frame.message, message);
}

// ---------------------------------------------------------------------------------------------
// Through the real server

const PER_IP = /^Too many connections from your address: at most 3 at once\.$/;

Deno.test("admission: a fourth connection from one address is refused on every transport", () =>
  withWebServer({ maxConnectionsPerIp: 3 }, async (server, ws) => {
    // Three accepted, one of each kind: the limit is shared by TCP and the WebSocket.
    const text = await textAccepted(server);
    const json = await server.client();
    await json.register("alice", PASSWORD);
    const web = await ws.open();
    await web.register("wendy", PASSWORD);
    assert.equal(server.router.admission.open, 3);

    // A person with nc reads why, then the server hangs up.
    const line = await textRefused(server);
    assert.match(line, /^! Too many connections from your address: at most 3 at once\.$/);

    // A program that speaks JSON first reads an error object in place of the server_hello.
    const frame = await jsonRefused(server);
    assertRefusal(frame, "too_many_connections", PER_IP);
    assert.equal(frame.retryAfter, undefined);

    // A WebSocket gets the error as a message, then close 1008 with the code as reason.
    const refused = await ws.refused();
    assert.equal(refused.messages.length, 1, refused.messages.join("\n"));
    assertRefusal(JSON.parse(refused.messages[0]), "too_many_connections", PER_IP);
    assert.equal(refused.code, 1008);
    assert.equal(refused.reason, "too_many_connections");

    // The accepted ones were not disturbed.
    await json.ping();
    await web.ping();
    assert.equal(server.router.admission.open, 3);

    // A WebSocket that leaves frees a place a TCP connection takes...
    await ws.close(web);
    await until(() => server.router.admission.open === 2, "the WebSocket's place is released");
    const text2 = await textAccepted(server);
    assert.match(await textRefused(server), /^! Too many connections/);
    // ...and a TCP connection that leaves frees one a WebSocket takes.
    await text.closeAndWait();
    await until(() => server.router.admission.open === 2, "the text socket's place is released");
    const web2 = await ws.open();
    await web2.login("wendy", PASSWORD);
    assert.equal((await ws.refused()).reason, "too_many_connections");
    await json.quit();
    await until(() => server.router.admission.open === 2, "the JSON client's place is released");
    const json2 = await server.client();
    await json2.login("alice", PASSWORD);
    text2.close();

    assert.equal(limitHits(server, "too_many_connections"), 5);
    assert.equal(limitHits(server, "server_full"), 0);
    assert.equal(limitHits(server, "connecting_too_fast"), 0);
  }));

Deno.test("admission: the terminal client's TcpChannel rejects with the refusal's message", () =>
  withWebServer({ maxConnectionsPerIp: 1 }, async (server) => {
    const alice = await server.user("alice");
    // TcpChannel.connect (lib/client/tcp_channel.ts), through server.client().
    await assert.rejects(server.client(), (err) => {
      assert.ok(isCryptoError(err), `a CryptoError, got ${err}`);
      assert.equal(err.code, "server_refused");
      assert.equal(
        err.message,
        "The server refused the secure handshake (too_many_connections): " +
          "Too many connections from your address: at most 1 at once.",
      );
      return true;
    });
    await alice.ping();
    assert.equal(limitHits(server, "too_many_connections"), 1);
  }));

Deno.test("admission: the browser's WsChannel + SecureChannel rejects with the refusal's message", () =>
  withWebServer({ maxConnectionsPerIp: 1 }, async (server, ws) => {
    const alice = await server.user("alice");
    // islands/chat_session.ts dials like this, and shows the error's message as the reason.
    const raw = await WsChannel.open(ws.url);
    await assert.rejects(SecureChannel.establish(raw, { verifyIdentity: server.pin }), (err) => {
      assert.ok(isCryptoError(err), `a CryptoError, got ${err}`);
      assert.equal(err.code, "server_refused");
      assert.match(err.message, /Too many connections from your address: at most 1 at once\./);
      return true;
    });
    await alice.ping();
    assert.equal(limitHits(server, "too_many_connections"), 1);
  }));

Deno.test("admission: the sixth new connection in a minute is refused with a retry time", () =>
  withWebServer({ newConnectionsPerMinute: 5 }, async (server, ws) => {
    // Five new connections in quick succession, of every kind; some leave at once (a reconnect
    // loop): leaving does not give the place in the minute back.
    const a = await textAccepted(server);
    await a.closeAndWait();
    const b = await server.client();
    b.close();
    await b.closed;
    const c = await ws.open();
    await ws.close(c);
    const d = await server.user("dora");
    const e = await textAccepted(server);

    const frame = await jsonRefused(server);
    assertRefusal(
      frame,
      "connecting_too_fast",
      /^Too many new connections from your address \(at most 5 a minute\); try again in \d+ s\.$/,
    );
    // Five a minute is one per 12 s.
    assert.equal(typeof frame.retryAfter, "number");
    assert.ok(frame.retryAfter! >= 1 && frame.retryAfter! <= 12, `retryAfter ${frame.retryAfter}`);
    assert.ok(frame.message.includes(`try again in ${frame.retryAfter} s`), frame.message);

    assert.match(
      await textRefused(server),
      /^! Too many new connections from your address \(at most 5 a minute\); try again in \d+ s\.$/,
    );
    const refused = await ws.refused();
    assert.equal(refused.code, 1008);
    assert.equal(refused.reason, "connecting_too_fast");
    const wsFrame: ErrorFrame = JSON.parse(refused.messages[0]);
    assertRefusal(wsFrame, "connecting_too_fast", /try again in \d+ s/);
    assert.ok(wsFrame.retryAfter! >= 1 && wsFrame.retryAfter! <= 12);
    await assert.rejects(server.client(), /connecting_too_fast/);

    // Connections already open carry on.
    await d.ping();
    e.close();
    assert.equal(limitHits(server, "connecting_too_fast"), 4);
    assert.equal(limitHits(server, "too_many_connections"), 0);
  }));

Deno.test("admission: a full server refuses every new connection with server_full", () =>
  withWebServer({ maxConnections: 2 }, async (server, ws) => {
    const alice = await server.user("alice");
    const web = await ws.open();
    const full =
      /^The server has as many connections as it accepts; try again later\. \(2 connections\)$/;

    assert.match(await textRefused(server), new RegExp(`^! ${full.source.slice(1)}`));
    const frame = await jsonRefused(server);
    assertRefusal(frame, "server_full", full);
    assert.equal(frame.retryAfter, 30);
    const refused = await ws.refused();
    assert.equal(refused.code, 1008);
    assert.equal(refused.reason, "server_full");
    const wsFrame: ErrorFrame = JSON.parse(refused.messages[0]);
    assertRefusal(wsFrame, "server_full", full);
    assert.equal(wsFrame.retryAfter, 30);
    await assert.rejects(server.client(), /server_full/);

    // A place freed is a place taken.
    await ws.close(web);
    await until(() => server.router.admission.open === 1, "the WebSocket's place is released");
    const bob = await server.user("bob");
    await alice.send("bob", "room for two");
    assert.equal((await bob.nextOf("message")).text, "room for two");

    assert.equal(limitHits(server, "server_full"), 4);
    assert.equal(limitHits(server, "too_many_connections"), 0);
  }));

/** Sends an upgrade request without Sec-WebSocket-Key (malformed); returns the status code. */
async function malformedUpgrade(server: WebServer): Promise<number> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.httpPort });
  try {
    const request = [
      "GET /ws HTTP/1.1",
      `Host: 127.0.0.1:${server.httpPort}`,
      "Upgrade: websocket",
      "Connection: Upgrade",
      "Sec-WebSocket-Version: 13",
      "",
      "",
    ].join("\r\n");
    await conn.write(new TextEncoder().encode(request));
    const buf = new Uint8Array(4096);
    const n = await within(conn.read(buf), 5000, "the answer to a malformed upgrade");
    return Number(new TextDecoder().decode(buf.subarray(0, n ?? 0)).split(" ")[1]);
  } finally {
    conn.close();
  }
}

Deno.test("admission: a malformed WebSocket upgrade does not keep its place", () =>
  withWebServer({ maxConnectionsPerIp: 2 }, async (server, ws) => {
    for (let i = 0; i < 3; i++) {
      const status = await malformedUpgrade(server);
      assert.ok(status >= 400, `refused, with ${status}`);
    }
    // Nothing was opened, so nothing may stay counted: else a few bad requests lock an address
    // out for good, and enough of them fill the server (server_full for everyone).
    await until(
      () => server.router.admission.open === 0,
      `the malformed upgrades' places are released (open: ${server.router.admission.open})`,
    );
    await ws.open();
    await ws.open();
    assert.equal((await ws.refused()).reason, "too_many_connections");
  }));

// ---------------------------------------------------------------------------------------------
// Admission itself

function admitted(result: Ticket | Refusal): Ticket {
  assert.ok(!isRefusal(result), `refused: ${JSON.stringify(result)}`);
  return result;
}

function refused(result: Ticket | Refusal, code: Refusal["code"]): Refusal {
  assert.ok(isRefusal(result), "admitted, expected a refusal");
  assert.equal(result.code, code);
  return result;
}

const roomy = { maxConnections: 1000, maxConnectionsPerIp: 1000, newConnectionsPerMinute: 6000 };

Deno.test("Admission: tickets up to the per-address limit; a release frees one place, once", () => {
  const refusals: Refusal[] = [];
  const admission = new Admission(
    { ...roomy, maxConnectionsPerIp: 2 },
    (r) => refusals.push(r),
  );
  assert.equal(admission.open, 0);
  const t1 = admitted(admission.admit("10.0.0.1"));
  const t2 = admitted(admission.admit("10.0.0.1"));
  assert.equal(admission.open, 2);
  const r = refused(admission.admit("10.0.0.1"), "too_many_connections");
  assert.equal(r.message, "Too many connections from your address: at most 2 at once.");
  assert.equal(r.retryAfter, undefined);
  assert.deepEqual(refusals, [r]);
  assert.equal(admission.open, 2, "a refusal holds no place");

  t1.release();
  assert.equal(admission.open, 1);
  // Releasing again changes nothing: the address still has one open, so one more place only.
  t1.release();
  t1.release();
  assert.equal(admission.open, 1);
  const t3 = admitted(admission.admit("10.0.0.1"));
  refused(admission.admit("10.0.0.1"), "too_many_connections");
  assert.equal(admission.open, 2);
  assert.equal(refusals.length, 2);

  t2.release();
  t3.release();
  t3.release();
  assert.equal(admission.open, 0);
  const t4 = admitted(admission.admit("10.0.0.1"));
  const t5 = admitted(admission.admit("10.0.0.1"));
  refused(admission.admit("10.0.0.1"), "too_many_connections");
  t4.release();
  t5.release();
  assert.equal(admission.open, 0);
});

Deno.test("Admission: one address at its limits leaves the others unaffected", () => {
  const admission = new Admission({ ...roomy, maxConnectionsPerIp: 1, newConnectionsPerMinute: 3 });
  const a = admitted(admission.admit("10.0.0.1"));
  refused(admission.admit("10.0.0.1"), "too_many_connections");
  const b = admitted(admission.admit("10.0.0.2"));
  const v6 = admitted(admission.admit("::1"));
  assert.equal(admission.open, 3);
  a.release();
  b.release();
  v6.release();

  // 10.0.0.1 used one of its three new connections (the refusal took none): two more, then it
  // is too fast.
  admitted(admission.admit("10.0.0.1")).release();
  admitted(admission.admit("10.0.0.1")).release();
  const fast = refused(admission.admit("10.0.0.1"), "connecting_too_fast");
  // Three a minute is one every 20 s.
  assert.ok(fast.retryAfter! >= 1 && fast.retryAfter! <= 20, `retryAfter ${fast.retryAfter}`);
  assert.equal(
    fast.message,
    `Too many new connections from your address (at most 3 a minute); try again in ${fast.retryAfter} s.`,
  );
  // 10.0.0.2 has used one; it has two left.
  admitted(admission.admit("10.0.0.2")).release();
  admitted(admission.admit("10.0.0.2")).release();
  refused(admission.admit("10.0.0.2"), "connecting_too_fast");
  // A new address starts with a full minute.
  for (let i = 0; i < 3; i++) admitted(admission.admit("10.0.0.3")).release();
  assert.equal(admission.open, 0);
});

Deno.test("Admission: the total limit counts every address and comes first", () => {
  const refusals: string[] = [];
  const admission = new Admission(
    { maxConnections: 3, maxConnectionsPerIp: 2, newConnectionsPerMinute: 600 },
    (r) => refusals.push(r.code),
  );
  const held = [
    admitted(admission.admit("10.0.0.1")),
    admitted(admission.admit("10.0.0.1")),
    admitted(admission.admit("10.0.0.2")),
  ];
  assert.equal(admission.open, 3);
  const full = refused(admission.admit("10.0.0.3"), "server_full");
  assert.equal(full.retryAfter, 30);
  assert.match(full.message, /\(3 connections\)$/);
  // Over both limits: server_full is what it says.
  refused(admission.admit("10.0.0.1"), "server_full");
  held[2].release();
  // Room in all, but 10.0.0.1 is at its own limit.
  refused(admission.admit("10.0.0.1"), "too_many_connections");
  const t = admitted(admission.admit("10.0.0.3"));
  refused(admission.admit("10.0.0.4"), "server_full");
  assert.deepEqual(refusals, ["server_full", "server_full", "too_many_connections", "server_full"]);
  for (const h of [...held, t]) h.release();
  assert.equal(admission.open, 0);
});

Deno.test("Admission: a refusal does not spend the address's new-connection allowance", () => {
  const admission = new Admission({ ...roomy, maxConnectionsPerIp: 1, newConnectionsPerMinute: 2 });
  const first = admitted(admission.admit("10.0.0.1"));
  for (let i = 0; i < 10; i++) refused(admission.admit("10.0.0.1"), "too_many_connections");
  first.release();
  const second = admitted(admission.admit("10.0.0.1"));
  second.release();
  refused(admission.admit("10.0.0.1"), "connecting_too_fast");
  // Nor does a connecting_too_fast refusal.
  refused(admission.admit("10.0.0.1"), "connecting_too_fast");
});

Deno.test("Admission: the allowance refills over the minute", async () => {
  // 600 a minute is one every 100 ms.
  const admission = new Admission({ ...roomy, newConnectionsPerMinute: 600 });
  for (let i = 0; i < 600; i++) admitted(admission.admit("10.0.0.1")).release();
  const fast = refused(admission.admit("10.0.0.1"), "connecting_too_fast");
  assert.equal(fast.retryAfter, 1, "a fraction of a second rounds up to 1 s");
  await sleep(250);
  admitted(admission.admit("10.0.0.1")).release();
});
