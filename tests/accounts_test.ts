/**
 * Accounts under bad input: invalid and reserved names, names that differ only in case, short
 * passwords, wrong credentials, and the login throttle per name and per address.
 */
import { ADDRESS_FREE_FAILURES, NAME_FREE_FAILURES } from "../lib/accounts/throttle.ts";
import assert from "node:assert/strict";
import { connectTcp, type ParleyClient, ServerError } from "../lib/client/mod.ts";
import type { ClientSession, Connection } from "../lib/router/mod.ts";
import { WELCOME_LISTED_ONLINE } from "../lib/router/router.ts";
import { PASSWORD, type TestServer, withServer } from "./helpers.ts";
import { TEXT_PASSWORD } from "./raw.ts";

/** Sign-in frames cost 5 tokens; these tests are about accounts, not the rate limit. */
const NO_RATE_LIMIT = { limits: { ratePerSec: 10_000, rateBurst: 10_000 } };

/** Resolves with the error code the promise rejects with (and checks it is a ServerError). */
async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof ServerError, String(err));
    return err.code;
  }
  throw new Error("expected an error");
}

async function errorOf(p: Promise<unknown>): Promise<ServerError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof ServerError, String(err));
    return err;
  }
  throw new Error("expected an error");
}

Deno.test("invalid names get bad_name with a reason; the connection can try again", () =>
  withServer(async (server) => {
    const c = await server.client();
    for (
      const name of [
        "two words",
        "x".repeat(33),
        "-dash",
        ".dot",
        "émile",
        "a/b",
        "tab\there",
        "nul\0",
        "<script>",
        "@bob",
        "#room",
      ]
    ) {
      const err = await errorOf(c.register(name, PASSWORD));
      assert.equal(err.code, "bad_name", JSON.stringify(name));
      assert.match(err.message, /Names (are|cannot)/);
    }
    // Too long for the field itself (over 64 characters): bad_argument.
    assert.equal(await codeOf(c.register("y".repeat(65), PASSWORD)), "bad_argument");
    assert.equal(await codeOf(c.register("", PASSWORD)), "bad_argument");
    assert.equal((await c.register("x".repeat(32), PASSWORD)).user, "x".repeat(32));
  }, NO_RATE_LIMIT));

Deno.test("reserved names, in any case, get bad_name", () =>
  withServer(async (server) => {
    const c = await server.client();
    for (const name of ["all", "ALL", "All", "everyone", "Admin", "server", "who"]) {
      const err = await errorOf(c.register(name, PASSWORD));
      assert.equal(err.code, "bad_name", name);
      assert.match(err.message, new RegExp(`'${name}' is reserved`));
    }
    assert.equal(await server.store.getUser("all"), undefined);

    // Text mode's interactive sign-in registers new names, and refuses reserved ones alike.
    const t = await server.text();
    await t.waitFor("Name:");
    await t.write("ALL");
    await t.write(TEXT_PASSWORD);
    await t.write("");
    await t.waitFor("! 'ALL' is reserved; pick another name.");
    await t.waitFor("Name:");
  }, NO_RATE_LIMIT));

Deno.test("names are unique without regard to case: Alice then alice is name_taken", () =>
  withServer(async (server) => {
    const alice = await server.user("Alice");
    const c = await server.client();
    const err = await errorOf(c.register("alice", PASSWORD));
    assert.equal(err.code, "name_taken");
    assert.match(err.message, /'Alice' is already registered/);
    assert.equal(await codeOf(c.register("ALICE", "another password")), "name_taken");

    // Logging in under any case is the one account, shown as registered.
    const w = await c.login("aLiCe", PASSWORD);
    assert.equal(w.user, "Alice");
    assert.equal(w.created, false);
    assert.equal((await alice.send("ALICE", "to myself")).to, "Alice");

    const t = await server.text();
    await t.waitFor("Name:");
    await t.write(`/register ALICE ${TEXT_PASSWORD}`);
    await t.waitFor("! 'Alice' is already registered.");
    await t.waitFor("Name:");
  }, NO_RATE_LIMIT));

Deno.test("two connections racing to register bob and BOB: exactly one wins", () =>
  withServer(async (server) => {
    for (let round = 0; round < 5; round++) {
      const name = `racer${round}`;
      const [a, b] = await Promise.all([server.client(), server.client()]);
      const results = await Promise.allSettled([
        a.register(name, PASSWORD),
        b.register(name.toUpperCase(), PASSWORD),
      ]);
      const won = results.filter((r) => r.status === "fulfilled");
      const lost = results.filter((r) => r.status === "rejected");
      assert.equal(won.length, 1, `round ${round}`);
      assert.equal((lost[0].reason as ServerError).code, "name_taken");
    }
  }, NO_RATE_LIMIT));

Deno.test("passwords shorter than 8 characters are refused at registration", () =>
  withServer(async (server) => {
    const c = await server.client();
    for (const password of ["short", "1234567", "ééééééé", "       "]) {
      const err = await errorOf(c.register("ann", password));
      assert.equal(err.code, "bad_argument", password);
      assert.match(err.message, /at least 8 characters/);
    }
    assert.equal(await server.store.getUser("ann"), undefined, "nothing was created");
    // Characters, not bytes: eight emoji are eight characters.
    assert.equal((await c.register("ann", "🙂".repeat(8))).user, "ann");
  }, NO_RATE_LIMIT));

Deno.test("a wrong password gets bad_credentials, an unknown name no_such_user; both count", () =>
  withServer(async (server) => {
    await server.user("alice");
    const c = await server.client();
    const wrong = await errorOf(c.login("alice", "not the password"));
    const unknown = await errorOf(c.login("nobody", PASSWORD));
    assert.equal(wrong.code, "bad_credentials");
    assert.equal(wrong.message, "bad_credentials: Wrong password.");
    // Names are no secret (registration says whether one is taken): the client can tell a
    // mistyped name from a wrong password, and offer to register only a name nobody has.
    assert.equal(unknown.code, "no_such_user");
    assert.equal(unknown.message, "no_such_user: There is no account named 'nobody'.");
    // A name that cannot exist is not echoed (it may hold control characters).
    const odd = await errorOf(c.login("\u001b[2Jnobody", PASSWORD));
    assert.equal(odd.message, "no_such_user: There is no account with that name.");
    // Both count against the throttle: finding names this way is as slow as guessing passwords.
    for (let i = 0; i < NAME_FREE_FAILURES; i++) await errorOf(c.login("nobody", PASSWORD));
    assert.equal(await codeOf(c.login("nobody", PASSWORD)), "throttled");
    assert.equal((await c.login("alice", PASSWORD)).user, "alice");
  }, NO_RATE_LIMIT));

Deno.test("repeated failed logins get throttled with retryAfter; the lockout ends", () =>
  withServer(async (server) => {
    await server.user("alice");
    const c = await server.client();
    for (let i = 0; i < 6; i++) {
      assert.equal(await codeOf(c.login("alice", `wrong ${i}`)), "bad_credentials", `try ${i}`);
    }
    // Locked now: even the right password is not tried.
    const err = await errorOf(c.login("alice", PASSWORD));
    assert.equal(err.code, "throttled");
    assert.match(err.message, /Too many failed sign-ins/);
    assert.ok(err.retryAfter !== undefined && err.retryAfter > 0 && err.retryAfter <= 1);

    // Text mode says how long to wait, and asks for a name again.
    const t = await server.text();
    await t.waitFor("Name:");
    await t.write(`/login alice ${TEXT_PASSWORD}`);
    await t.waitFor("! Too many failed sign-ins; wait before trying again. (try again in 1 s)");
    await t.waitFor("Name:");

    await new Promise((r) => setTimeout(r, err.retryAfter! * 1000 + 50));
    assert.equal((await c.login("alice", PASSWORD)).user, "alice");
  }, NO_RATE_LIMIT));

Deno.test("parallel wrong logins get no more password checks than one after another", () =>
  withServer(async (server) => {
    await server.user("victim");
    // Fifty connections from one address, all sending a wrong password at the same moment.
    const sockets = await Promise.all(Array.from({ length: 50 }, () => server.text()));
    await Promise.all(sockets.map((t) => t.waitFor("Name:")));
    const started = performance.now();
    await Promise.all(sockets.map((t) => t.write("/login victim wrong-password")));
    const answers = await Promise.all(sockets.map((t) => t.waitFor(/^! /, 60_000)));
    const seconds = (performance.now() - started) / 1000;
    const checked = answers.filter((a) => a === "! Wrong password.").length;
    const throttled = answers.filter((a) => a.startsWith("! Too many failed sign-ins")).length;
    assert.equal(checked + throttled, sockets.length, answers.join("\n"));
    // One after another the schedule allows the free failures, one more that starts the
    // lock-out, then one after each lock-out (1 s, 2 s, 4 s...) that passed meanwhile.
    const allowed = NAME_FREE_FAILURES + 1 + Math.floor(Math.log2(seconds + 1));
    assert.ok(
      checked <= allowed,
      `${checked} passwords checked in ${seconds.toFixed(1)} s; the schedule allows ${allowed}`,
    );
    for (const t of sockets) t.close();

    // Once the lock-out is over, the right password works.
    const c = await server.client();
    for (let attempt = 0;; attempt++) {
      try {
        assert.equal((await c.login("victim", PASSWORD)).user, "victim");
        break;
      } catch (err) {
        if (!(err instanceof ServerError) || err.code !== "throttled" || attempt > 3) throw err;
        await new Promise((r) => setTimeout(r, err.retryAfter! * 1000 + 50));
      }
    }
  }, {
    // A hash slow enough that the attempts overlap, as they do at the real cost.
    kdfIterations: 50_000,
    limits: { ...NO_RATE_LIMIT.limits, maxConnectionsPerIp: 100, newConnectionsPerMinute: 1000 },
  }));

// ---------------------------------------------------------------------------------------------
// Per name and per address. TCP tests all come from 127.0.0.1, so these attach connections
// with other addresses to the router directly, the way a transport does.

/** A connection from `remoteAddr` that records JSON frames, attached to the router. */
class FakeConnection implements Connection {
  readonly transport = "test";
  readonly dialect = "json" as const;
  readonly frames: Record<string, unknown>[] = [];
  session!: ClientSession;
  constructor(readonly remoteAddr: string) {}
  send(frame: string) {
    this.frames.push(JSON.parse(frame));
    return this.frames.length - 1;
  }
  progress() {
    const taken = this.frames.length;
    return { accepted: taken, handedOver: taken, inputPending: 0, tooSlow: false };
  }
  flushed() {
    return Promise.resolve();
  }
  abort() {}
  close() {
    this.session.detach();
  }
}

function attachFrom(server: TestServer, remoteAddr: string) {
  const conn = new FakeConnection(remoteAddr);
  conn.session = server.router.attach(conn);
  return {
    /** Sends a sign-in frame and returns the reply's type or error code. */
    async login(name: string, password: string, type = "login"): Promise<string> {
      conn.session.receive(JSON.stringify({ type, name, password }));
      await conn.session.idle();
      const reply = conn.frames.at(-1)!;
      return reply.type === "error" ? String(reply.code) : String(reply.type);
    },
    close: () => conn.close(),
  };
}

Deno.test("the login throttle locks a name tried from many addresses", () =>
  withServer(async (server) => {
    await server.user("alice");
    await server.user("bob");
    const opened: { close(): void }[] = [];
    const from = (addr: string) => {
      const c = attachFrom(server, addr);
      opened.push(c);
      return c;
    };
    try {
      // Six addresses, one wrong password each: no address is locked, the name is.
      for (let i = 1; i <= 6; i++) {
        assert.equal(await from(`10.0.0.${i}`).login("alice", "wrong password"), "bad_credentials");
      }
      const fresh = from("10.0.0.99");
      assert.equal(await fresh.login("alice", PASSWORD), "throttled");
      assert.equal(await fresh.login("ALICE", PASSWORD), "throttled", "the name, in any case");
      assert.equal(await fresh.login("bob", PASSWORD), "welcome", "other names are not locked");
    } finally {
      for (const c of opened) c.close();
    }
  }, NO_RATE_LIMIT));

Deno.test("the login throttle locks an address that tries many names", () =>
  withServer(async (server) => {
    await server.user("carol");
    const sprayer = attachFrom(server, "192.0.2.7");
    const elsewhere = attachFrom(server, "198.51.100.1");
    try {
      // Many people may share an address (a NAT, every nc user on loopback): a few typos by
      // different people do not lock it...
      for (let i = 0; i < NAME_FREE_FAILURES + 1; i++) {
        assert.equal(await sprayer.login(`typo${i}`, "password1"), "no_such_user");
      }
      const sameAddress = attachFrom(server, "192.0.2.7");
      assert.equal(await sameAddress.login("carol", PASSWORD), "welcome");
      sameAddress.close();
      // ...but spraying many names does.
      for (let i = NAME_FREE_FAILURES + 1; i < ADDRESS_FREE_FAILURES + 1; i++) {
        assert.equal(await sprayer.login(`guess${i}`, "password1"), "no_such_user");
      }
      assert.equal(await sprayer.login("carol", PASSWORD), "throttled");
      assert.equal(await sprayer.login("newname", PASSWORD, "register"), "throttled");
      assert.equal(await elsewhere.login("carol", PASSWORD), "welcome", "other addresses log in");
    } finally {
      sprayer.close();
      elsewhere.close();
    }
  }, NO_RATE_LIMIT));

Deno.test("throttled clients get nowhere with fresh connections either", () =>
  withServer(async (server) => {
    await server.user("dave");
    const clients: ParleyClient[] = [];
    try {
      for (let i = 0; i < 6; i++) {
        const c = await connectTcp({ port: server.port, verifyIdentity: server.pin });
        clients.push(c);
        assert.equal(await codeOf(c.login("dave", "wrong password")), "bad_credentials");
      }
      const c = await connectTcp({ port: server.port, verifyIdentity: server.pin });
      clients.push(c);
      assert.equal(await codeOf(c.login("dave", PASSWORD)), "throttled");
    } finally {
      for (const c of clients) c.close();
      await Promise.all(clients.map((c) => c.closed));
    }
  }));

Deno.test("the welcome lists a few who are online, plus the user's own partners; who lists more", () =>
  withServer(async (server) => {
    // More online besides the two below than the welcome lists.
    const n = WELCOME_LISTED_ONLINE + 10;
    const others: ParleyClient[] = [];
    for (let i = 0; i < n; i++) others.push(await server.user(`u${String(i).padStart(3, "0")}`));
    // zed sorts after all of them: listed only as mia's conversation partner.
    const zed = await server.user("zed");
    const first = await server.client();
    await first.register("mia", PASSWORD, undefined, "mia-laptop");
    await first.send("zed", "hi");
    first.close();
    await first.closed;
    const mia = await server.client();
    const welcome = await mia.login("mia", PASSWORD, undefined, "mia-laptop");
    const online = welcome.users.filter((u) => u.state === "online").map((u) => u.name);
    assert.equal(welcome.online, n + 2);
    // The list is made once mia is online: she is among the first by name, as any user is.
    assert.equal(online.length, WELCOME_LISTED_ONLINE + 1, "the first by name (mia too), and zed");
    assert.deepEqual(online.slice(0, 2), ["mia", "u000"]);
    assert.ok(online.includes("zed"));
    // `who` lists them all.
    const who = await mia.who();
    assert.equal(who.users.filter((u) => u.state === "online").length, n + 2);
    // Without a device (no conversations sent with the welcome), just the first by name, mia
    // (online already) among them.
    const bare = await server.client();
    const plain = await bare.login("mia", PASSWORD);
    const listed = plain.users.filter((u) => u.state === "online").map((u) => u.name);
    assert.deepEqual(listed.slice(0, 2), ["mia", "u000"]);
    assert.equal(listed.length, WELCOME_LISTED_ONLINE);
    for (const c of [...others, zed, mia, bare]) c.close();
  }, { limits: { rateBurst: 1000 } }));
