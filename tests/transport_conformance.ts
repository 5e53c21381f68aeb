/**
 * One suite for every way in: the same cases run over TCP JSON mode and over the WebSocket, each
 * through the client the product ships (lib/client: SecureChannel over a raw line channel, then
 * ParleyClient), against a real server (TCP and HTTP listeners on one router). A transport file
 * calls `runTransportSuite` with how to open a raw line channel to the server.
 */
import assert from "node:assert/strict";
import { ParleyClient, SecureChannel } from "../lib/client/mod.ts";
import { clientHandshake } from "../lib/crypto/mod.ts";
import type { LineChannel } from "../lib/client/secure_channel.ts";
import type { Limits } from "../lib/router/mod.ts";
import { passwordHashCount } from "../lib/accounts/password.ts";
import { PASSWORD, until, within } from "./helpers.ts";
import { pingOfSize } from "./raw.ts";
import { startWebServer, type WebServer } from "./web_helpers.ts";

export interface TransportUnderTest {
  /** `tcp`, `ws`: the prefix of every test's name. */
  name: string;
  /** Opens a raw line channel to `server` (not started: the handshake runs over it). */
  connect(server: WebServer): Promise<LineChannel>;
  /**
   * Opens a connection that begins the secure session but never finishes its `client_hello`;
   * `closed` resolves once the server has closed it.
   */
  stall(server: WebServer): Promise<{ closed: Promise<void> }>;
  /** Opens a raw connection that reads only when asked: a test can stop reading. */
  raw(server: WebServer): Promise<RawLines>;
}

/** Lines (TCP) or text messages (WebSocket), by hand. */
export interface RawLines {
  send(line: string): Promise<void>;
  /** Reads the next line; nothing is read unless this is called. */
  receive(): Promise<string>;
  close(): void;
}

/** A client over the transport, with the layers underneath for tests that write past it. */
interface Linked {
  raw: LineChannel;
  secure: SecureChannel;
  client: ParleyClient;
}

/** Registers the suite's tests for one transport. */
export function runTransportSuite(transport: TransportUnderTest): void {
  const { name } = transport;

  async function link(server: WebServer): Promise<Linked> {
    const raw = await transport.connect(server);
    const secure = await SecureChannel.establish(raw, { verifyIdentity: server.pin });
    return { raw, secure, client: new ParleyClient(secure) };
  }

  async function user(server: WebServer, who: string): Promise<Linked> {
    const linked = await link(server);
    await linked.client.register(who, PASSWORD);
    return linked;
  }

  function test(what: string, fn: (server: WebServer) => Promise<void>, limits?: Partial<Limits>) {
    Deno.test(`${name}: ${what}`, async () => {
      const server = await startWebServer({ limits });
      try {
        await fn(server);
      } finally {
        await server.close();
      }
    });
  }

  test("the handshake proves the server's identity; the client signs in", async (server) => {
    const { secure, client } = await link(server);
    assert.equal(secure.fingerprint, server.identity.fingerprint);
    assert.equal((await client.nextOf("hello")).type, "hello");
    const welcome = await client.register("alice", PASSWORD);
    assert.equal(welcome.user, "alice");
    assert.equal(server.router.connectionCount, 1);
    await client.quit();
  });

  test("a device resumes with its token: no password, no password hash", async (server) => {
    const first = await link(server);
    const welcome = await first.client.register("alice", PASSWORD, undefined, "laptop");
    const token = welcome.resume?.token;
    assert.match(token ?? "", /^[A-Za-z0-9_-]{43}$/, "a token comes with the welcome");
    assert.ok(welcome.resume!.expiresAt > Date.now());
    await first.client.quit();

    const hashes = passwordHashCount();
    const again = await link(server);
    const resumed = await again.client.resume("alice", token!, "laptop");
    assert.equal(resumed.user, "alice");
    assert.equal(resumed.device, "laptop", "the device catches up from its cursor");
    assert.equal(resumed.resume?.token, token, "the same token, its expiry moved on");
    assert.equal(passwordHashCount(), hashes, "no password was hashed");
    assert.equal(server.router.connectionCount, 1);
    await again.client.quit();
  });

  test("a private message goes from one user to another", async (server) => {
    const alice = await user(server, "alice");
    const bob = await user(server, "bob");
    const sent = await alice.client.send("bob", "hello over the wire");
    assert.equal(sent.recipients, 1);
    const got = await bob.client.nextOf("message");
    assert.equal(got.from, "alice");
    assert.equal(got.text, "hello over the wire");
    await alice.client.quit();
    await bob.client.quit();
  });

  test("a frame that is not a command gets an error; the session goes on", async (server) => {
    const { secure, client } = await user(server, "alice");
    secure.send("not json");
    assert.equal((await client.nextOf("error")).code, "bad_frame");
    assert.equal((await client.ping()).type, "pong");
    await client.quit();
  });

  test("a frame over the size limit ends the session, saying why", async (server) => {
    const { secure, client } = await user(server, "alice");
    // One byte over 8 KiB cannot be skipped: the frame counters would no longer match.
    secure.send(pingOfSize(8193, "over"));
    const err = await client.nextOf("error");
    assert.equal(err.code, "malformed_frame");
    assert.match(err.message, /longer than 10944 characters \(8192 bytes sealed\)/);
    assert.equal((await client.nextOf("bye")).type, "bye");
    await client.closed;
    await until(() => server.router.connectionCount === 0, 5000, "the session detached");
  });

  test("a sealed line that does not open ends the session, saying why", async (server) => {
    const { raw, client } = await user(server, "alice");
    raw.send("bm90IGEgc2VhbGVkIGxpbmU"); // base64url, but not sealed by this session
    const err = await client.nextOf("error");
    assert.equal(err.code, "tampered");
    assert.equal((await client.nextOf("bye")).type, "bye");
    await client.closed;
    await until(() => server.router.connectionCount === 0, 5000, "the session detached");
  });

  test(
    "a client that never finishes its handshake is closed at the sign-in deadline",
    async (server) => {
      const { closed } = await transport.stall(server);
      await within(closed, 5000, "the server closing a connection stalled in its handshake");
      assert.equal(server.router.connectionCount, 0, "it never reached the router");
    },
    { loginTimeoutMs: 300 },
  );

  test(
    "a reader that stops reading is dropped; what it missed waits in the store",
    async (server) => {
      const alice = await user(server, "alice");
      const raw = await transport.raw(server);
      try {
        const hs = await clientHandshake({ verifyIdentity: server.pin });
        await raw.send(hs.hello);
        const session = await hs.finish(await raw.receive());
        const register = JSON.stringify({ type: "register", name: "slow", password: PASSWORD });
        await raw.send(await session.seal(register));
        await until(() => server.router.online.has("slow"), 5000, "slow is signed in");
        // From here on it reads nothing: kernel buffers take a few MB, then the server gives up.
        const text = "y".repeat(4000);
        for (let round = 0; round < 400 && server.router.online.has("slow"); round++) {
          await Promise.all(Array.from({ length: 25 }, () => alice.client.send("slow", text)));
        }
        assert.ok(!server.router.online.has("slow"), "the stalled reader was dropped");
        assert.equal((await alice.client.ping()).type, "pong", "the sender was not held up");
      } finally {
        raw.close();
      }
      const again = await link(server);
      const welcome = await again.client.login("slow", PASSWORD);
      assert.ok(welcome.pending > 0, "the messages its socket never took were stored");
      await again.client.quit();
      await alice.client.quit();
    },
    { slowReaderMs: 300, ratePerSec: 100_000, rateBurst: 100_000 },
  );

  test("quit: the server says goodbye, then closes", async (server) => {
    const { client } = await user(server, "alice");
    const bye = client.nextOf("bye");
    client.sendFrame({ type: "quit" });
    assert.equal((await bye).type, "bye");
    const reason = await client.closed;
    assert.equal(typeof reason, "string");
    await until(() => server.router.connectionCount === 0, 5000, "the session detached");
  });

  test("the server's shutdown says goodbye to every session", async (server) => {
    const alice = await user(server, "alice");
    const bye = alice.client.nextOf("bye");
    await server.router.shutdown("server shutting down");
    assert.equal((await bye).reason, "server shutting down");
    await alice.client.closed;
  });
}
