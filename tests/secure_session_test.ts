/**
 * The encrypted session end to end (docs/security.md §5, §6): round trips over TCP and the
 * WebSocket, live connections closed by a flipped bit, a replay and a dropped frame, and a
 * capture of every byte through a relay that must show no message text, password or key.
 */
import assert from "node:assert/strict";
import { ParleyClient } from "../lib/client/client.ts";
import { connectTcp } from "../lib/client/mod.ts";
import { SecureChannel } from "../lib/client/secure_channel.ts";
import { WsChannel } from "../lib/client/ws_channel.ts";
import { WS_MAX_BATCH_BYTES } from "../server/ws.ts";
import { IDENTITY_FILE } from "../lib/crypto/key_files.ts";
import { decodeIdentityPem, sealedLineLength } from "../lib/crypto/mod.ts";
import { openSslAead } from "../lib/crypto/_openssl.ts";
import { PASSWORD, type SecureSocket, sleep, startServer, until } from "./helpers.ts";
import { expectError, expectFrame, rawJson, rawJsonUser } from "./raw.ts";
import { startWebServer, type WebServer } from "./web_helpers.ts";

/** A WebSocket to `server` in a secure session that pins the server's identity. */
async function secureWs(server: WebServer): Promise<SecureChannel> {
  const raw = await WsChannel.open(`ws://127.0.0.1:${server.httpPort}/ws`);
  return await SecureChannel.establish(raw, { verifyIdentity: server.pin });
}

Deno.test("secure session: a TCP round trip, sealed both ways", async () => {
  const server = await startServer();
  try {
    const alice = await rawJsonUser(server, "alice");
    const bob = await server.user("bob");
    await alice.write(JSON.stringify({ type: "send", to: "bob", text: "psst", cid: "c1" }));
    assert.equal(JSON.parse(await alice.waitFor('"type":"sent"')).cid, "c1");
    assert.equal((await bob.nextOf("message")).text, "psst");
    // Every line both ways after the server_hello was sealed base64url.
    for (const line of [...alice.sealedSent, ...alice.sealedReceived]) {
      assert.match(line, /^[A-Za-z0-9_-]+$/);
    }
    assert.ok(alice.sealedReceived.length >= 3);
  } finally {
    await server.close();
  }
});

Deno.test("secure session: a WebSocket round trip through SecureChannel", async () => {
  const server = await startWebServer();
  try {
    const bob = await server.user("bob");
    const channel = await secureWs(server);
    assert.equal(channel.fingerprint, server.identity.fingerprint);
    const ws = new ParleyClient(channel);
    await ws.register("wendy", PASSWORD);
    await ws.send("bob", "over the encrypted websocket");
    assert.equal((await bob.nextOf("message")).text, "over the encrypted websocket");
    ws.close();
    await ws.closed;
  } finally {
    await server.close();
  }
});

Deno.test("secure session: connections that rested (keys dropped) carry messages both ways", async () => {
  const server = await startWebServer({ limits: { restAfterMs: 300 } });
  try {
    const tcp = await server.user("alice");
    const ws = new ParleyClient(await secureWs(server));
    await ws.register("wendy", PASSWORD);
    // Both go quiet; each session drops its keys on the server (counted only when the
    // transport's session did drop them). Sessions sealing with OpenSSL never imported any:
    // they only go quiet for a few rest periods.
    if (openSslAead()) await sleep(1200);
    else await until(() => server.router.stats.rests >= 2, 5000, "both connections to rest");
    await tcp.send("wendy", "after the rest, over TCP");
    assert.equal((await ws.nextOf("message")).text, "after the rest, over TCP");
    await ws.send("alice", "after the rest, over the WebSocket");
    assert.equal((await tcp.nextOf("message")).text, "after the rest, over the WebSocket");
    ws.close();
    await ws.closed;
  } finally {
    await server.close();
  }
});

Deno.test("secure session: over a WebSocket no sealed message carries more than WS_MAX_BATCH_BYTES, however much waits", async () => {
  const server = await startWebServer({ limits: { rateBurst: 100 } });
  try {
    const alice = await server.user("alice");
    const first = new ParleyClient(await secureWs(server));
    await first.register("wendy", PASSWORD);
    first.close();
    await first.closed;
    // 40 messages of 1,500 characters wait for wendy: her catch-up is one job's worth of
    // frames (~70 KiB), which TCP would seal as one line.
    const text = (i: number) => `${i} ${"w".repeat(1500)}`;
    for (let i = 0; i < 40; i++) await alice.send("wendy", text(i));
    const raw = await WsChannel.open(`ws://127.0.0.1:${server.httpPort}/ws`);
    const lines: string[] = [];
    const start = raw.start.bind(raw);
    raw.start = (onFrame, onClose) => start((line) => (lines.push(line), onFrame(line)), onClose);
    const ws = new ParleyClient(await SecureChannel.establish(raw, { verifyIdentity: server.pin }));
    await ws.login("wendy", PASSWORD);
    const got: string[] = [];
    while (got.length < 40) got.push((await ws.nextOf("message")).text);
    assert.deepEqual(got, Array.from({ length: 40 }, (_, i) => text(i)));
    const longest = Math.max(...lines.map((l) => l.length));
    assert.ok(
      longest <= sealedLineLength(WS_MAX_BATCH_BYTES),
      `a sealed message of ${longest} characters`,
    );
    ws.close();
    await ws.closed;
  } finally {
    await server.close();
  }
});

/** Sends a sealed line altered by `change`, and checks the server closes with `code`. */
async function expectClosedWith(t: SecureSocket, line: string, code: string, pattern: RegExp) {
  await t.writeRaw(line);
  const err = await expectError(t, code);
  assert.match(err.message, pattern);
  await expectFrame(t, { type: "bye" });
  await t.waitClosed();
  assert.equal(t.failure, undefined, "the server's goodbye is sealed and opens");
}

Deno.test("secure session: a flipped bit on a live TCP connection closes it as tampered", async () => {
  const server = await startServer();
  try {
    const t = await rawJson(server);
    const sealed = await t.session.seal(JSON.stringify({ type: "ping", cid: "x" }));
    const bytes = [...sealed];
    bytes[5] = bytes[5] === "A" ? "B" : "A";
    await expectClosedWith(t, bytes.join(""), "tampered", /failed authentication/);
  } finally {
    await server.close();
  }
});

Deno.test("secure session: a replayed frame on a live TCP connection closes it as replayed", async () => {
  const server = await startServer();
  try {
    const t = await rawJson(server); // sent ping "open" as frame #0
    await expectClosedWith(t, t.sealedSent[0], "replayed", /replay of frame #0/);
  } finally {
    await server.close();
  }
});

Deno.test("secure session: a dropped frame on a live TCP connection closes it as out_of_order", async () => {
  const server = await startServer();
  try {
    const t = await rawJson(server);
    await t.session.seal(JSON.stringify({ type: "ping", cid: "dropped" })); // never sent
    const next = await t.session.seal(JSON.stringify({ type: "ping", cid: "next" }));
    await expectClosedWith(t, next, "out_of_order", /dropped or reordered/);
  } finally {
    await server.close();
  }
});

Deno.test("secure session: plaintext JSON after the handshake, or no hello, is refused", async () => {
  const server = await startServer();
  try {
    const t = await rawJson(server);
    await expectClosedWith(t, JSON.stringify({ type: "ping" }), "malformed_frame", /plaintext/);
    // A JSON-mode connection that does not start with a client_hello gets a plaintext error.
    const plain = await server.text();
    await plain.write(JSON.stringify({ type: "ping", cid: "p" }));
    const refusal = JSON.parse(await plain.waitFor(/^\{/));
    assert.equal(refusal.type, "error");
    assert.equal(refusal.code, "malformed_handshake");
    await plain.waitClosed();
  } finally {
    await server.close();
  }
});

/** A loopback TCP relay that records every byte both ways. */
function relay(target: number) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const captured: Uint8Array[] = [];
  const pipes: Promise<void>[] = [];
  const conns: Deno.Conn[] = [];
  const pipe = async (from: Deno.Conn, to: Deno.Conn) => {
    const buf = new Uint8Array(65536);
    try {
      while (true) {
        const n = await from.read(buf);
        if (n === null) break;
        captured.push(buf.slice(0, n));
        let off = 0;
        while (off < n) off += await to.write(buf.subarray(off, n));
      }
    } catch { /* closed */ }
    try {
      to.close();
    } catch { /* closed */ }
  };
  const accepting = (async () => {
    for await (const client of listener) {
      const upstream = await Deno.connect({ hostname: "127.0.0.1", port: target });
      conns.push(client, upstream);
      pipes.push(pipe(client, upstream), pipe(upstream, client));
    }
  })().catch(() => {});
  return {
    port: (listener.addr as Deno.NetAddr).port,
    /** Everything that crossed, both ways, as latin1 text (so any byte sequence can be found). */
    text: () => captured.map((c) => String.fromCharCode(...c)).join(""),
    async close() {
      listener.close();
      for (const c of conns) {
        try {
          c.close();
        } catch { /* closed */ }
      }
      await Promise.all(pipes);
      await accepting;
    },
  };
}

/** Every spelling of `bytes` an observer could search for. */
function spellings(bytes: Uint8Array): string[] {
  const b64 = btoa(String.fromCharCode(...bytes));
  const b64url = b64.replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
  return [String.fromCharCode(...bytes), b64.replace(/=+$/, ""), b64url, hex];
}

Deno.test("capture: TCP and WebSocket traffic shows no message text, password or key", async () => {
  const server = await startWebServer();
  const tcpRelay = relay(server.port);
  const wsRelay = relay(server.httpPort);
  try {
    const secret = "the eagle lands at midnight";
    const reply = "copy that, eagle";
    // A TCP client through the relay.
    const alice = await connectTcp({ port: tcpRelay.port, verifyIdentity: server.pin });
    await alice.register("alice", PASSWORD);
    // A WebSocket client through the other relay.
    const raw = await WsChannel.open(`ws://127.0.0.1:${wsRelay.port}/ws`);
    const bob = new ParleyClient(
      await SecureChannel.establish(raw, { verifyIdentity: server.pin }),
    );
    await bob.register("bob", PASSWORD);
    await alice.send("bob", secret);
    assert.equal((await bob.nextOf("message")).text, secret);
    await bob.send("alice", reply);
    assert.equal((await alice.nextOf("message", (m) => m.text === reply)).text, reply);
    alice.close();
    bob.close();
    await Promise.all([alice.closed, bob.closed]);

    const seed = decodeIdentityPem(await Deno.readTextFile(`${server.dataDir}/${IDENTITY_FILE}`));
    for (const [name, capture] of [["tcp", tcpRelay.text()], ["ws", wsRelay.text()]]) {
      assert.ok(capture.length > 500, `${name}: the relay saw the traffic`);
      assert.ok(capture.includes("server_hello"), `${name}: the handshake crossed the relay`);
      for (const plain of [secret, reply, PASSWORD, "eagle", '"type":"send"', '"login"']) {
        assert.ok(!capture.includes(plain), `${name}: '${plain}' crossed in the clear`);
      }
      for (const spelling of spellings(seed)) {
        assert.ok(!capture.includes(spelling), `${name}: the identity key crossed`);
      }
    }
  } finally {
    await tcpRelay.close();
    await wsRelay.close();
    await server.close();
  }
});
