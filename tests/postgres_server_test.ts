/**
 * Parley as a real process on a real PostgreSQL (tests/services/postgres.ts): `--store
 * postgres://…`, several nodes on one database with one identity and one data key, and a
 * PostgreSQL restarted under a running server.
 */
import assert from "node:assert/strict";
import { build } from "../build.ts";
import {
  connectTcp,
  type ParleyClient,
  type ReconnectEvent,
  ReconnectingClient,
  ServerError,
  TcpChannel,
} from "../lib/client/mod.ts";
import { ERROR_CODES } from "../lib/errors.ts";
import { encodeIdentityPem, generateIdentitySeed } from "../lib/crypto/identity.ts";
import { PASSWORD } from "./helpers.ts";
import { apiLogin } from "./web_helpers.ts";
import { runServerToExit, type ServerProcess, spawnServer } from "./process_helpers.ts";
import { postgresAvailable, type PostgresService, startPostgres } from "./services/postgres.ts";

/** In every URL: trust authentication ignores it, and no log line may show it. */
const SECRET = "hunter2-not-for-logs";

/** Started as the module loads (outside any test, so its process is no test's leak). */
const pg: PostgresService | undefined = postgresAvailable() ? await startPostgres() : undefined;

/** The URL of a new database, with a password in it. */
async function newDatabase(): Promise<string> {
  const name = await pg!.createDatabase("parley_server");
  return pg!.url(name).replace("postgres@", `postgres:${SECRET}@`);
}

async function health(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${url}/healthz`);
  return { status: res.status, body: await res.json() };
}

async function user(server: ServerProcess, name: string, register = true) {
  const client = await connectTcp({ port: server.tcpPort, verifyIdentity: server.pin });
  if (register) await client.register(name, PASSWORD);
  else await client.login(name, PASSWORD);
  return client;
}

async function closeAll(...clients: ParleyClient[]) {
  for (const c of clients) c.close();
  await Promise.all(clients.map((c) => c.closed));
}

const texts = (page: { messages: { text: string }[] }) => page.messages.map((m) => m.text);

Deno.test({
  name: "a server on PostgreSQL: two users talk, and after a restart the history is there",
  ignore: !pg,
  async fn() {
    const url = await newDatabase();
    const dataDir = await Deno.makeTempDir({ prefix: "parley-pg-node-" });
    let server = await spawnServer(dataDir, ["--log-level", "info", "--store", url]);
    try {
      const alice = await user(server, "alice");
      const bob = await user(server, "bob");
      assert.equal((await alice.send("bob", "hello bob", "c1")).status, "delivered");
      assert.equal((await bob.nextOf("message")).text, "hello bob");
      assert.equal((await bob.send("alice", "hi alice", "c2")).status, "delivered");
      assert.equal((await alice.nextOf("message")).text, "hi alice");
      await closeAll(alice, bob);
      const fingerprint = server.fingerprint;
      assert.equal((await server.stop("SIGTERM")).code, 0);
      assert.ok(!server.output().includes(SECRET), server.output());
      assert.match(server.output(), /store=postgres:\/\/postgres:\*\*\*@127\.0\.0\.1/);
      // No SQLite file: the data directory holds the lock, the identity and the data key.
      assert.deepEqual(
        [...Deno.readDirSync(dataDir)].map((e) => e.name).toSorted(),
        ["data.key", "identity_ed25519.pem", "parley.lock"],
      );

      server = await spawnServer(dataDir, ["--store", url]);
      assert.equal(server.fingerprint, fingerprint);
      const again = await user(server, "alice", false);
      assert.deepEqual(texts(await again.history("@bob")), ["hello bob", "hi alice"]);
      await closeAll(again);
    } finally {
      await server.stop("SIGTERM");
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});

Deno.test({
  name: "nodes on one PostgreSQL: one identity and data key for all; another key is refused",
  ignore: !pg,
  async fn() {
    const url = await newDatabase();
    const dirs = await Promise.all(
      ["a", "b", "c"].map((n) => Deno.makeTempDir({ prefix: `parley-pg-${n}-` })),
    );
    const a = await spawnServer(dirs[0], ["--store", url]);
    let b: ServerProcess | undefined;
    try {
      // Node b on the same machine, its own data directory, a's identity and key by file.
      b = await spawnServer(dirs[1], [
        "--store",
        url,
        "--identity-file",
        `${dirs[0]}/identity_ed25519.pem`,
        "--data-key-file",
        `${dirs[0]}/data.key`,
      ]);
      assert.equal(b.fingerprint, a.fingerprint, "a client pinned to one node accepts the other");
      assert.deepEqual([...Deno.readDirSync(dirs[1])].map((e) => e.name), ["parley.lock"]);
      const alice = await user(a, "alice");
      const bob = await user(b, "bob");
      await bob.quit();
      // Stored through node a, read through node b: one store.
      assert.equal((await alice.send("bob", "through a", "c1")).status, "stored");
      const back = await user(b, "bob", false);
      assert.deepEqual(texts(await back.history("@alice")), ["through a"]);
      await closeAll(alice, back);

      // Node c without the key: it stops and says where the key should be.
      const keyless = await runServerToExit(dirs[2], ["--store", url]);
      assert.equal(keyless.code, 1, keyless.output);
      assert.match(keyless.output, /The store holds sealed messages, but there is no data key/);
      assert.deepEqual([...Deno.readDirSync(dirs[2])].map((e) => e.name), ["parley.lock"]);
      // Node c with another key: it stops, says why, and the database is untouched.
      const other = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))));
      const refused = await runServerToExit(dirs[2], ["--store", url], {
        env: { PARLEY_DATA_KEY: other },
      });
      assert.equal(refused.code, 1, refused.output);
      assert.match(refused.output, /not the key this store was sealed with/);
      assert.match(
        refused.output,
        /every node that shares a PostgreSQL database must use the same data key/,
      );
      assert.ok(!refused.output.includes(SECRET), refused.output);
      // Node c with the key but without the identity: it stops, and makes no identity of its own.
      const key = ["--data-key-file", `${dirs[0]}/data.key`];
      const anonymous = await runServerToExit(dirs[2], ["--store", url, ...key]);
      assert.equal(anonymous.code, 1, anonymous.output);
      assert.match(anonymous.output, /the nodes on this database present the identity SHA256:/);
      assert.match(anonymous.output, /give every node the same identity file \(--identity-file/);
      assert.deepEqual([...Deno.readDirSync(dirs[2])].map((e) => e.name), ["parley.lock"]);
      // Node c with an identity of its own: refused too.
      await Deno.writeTextFile(`${dirs[2]}/own.pem`, encodeIdentityPem(generateIdentitySeed()), {
        mode: 0o600,
      });
      const foreign = await runServerToExit(dirs[2], [
        "--store",
        url,
        ...key,
        "--identity-file",
        `${dirs[2]}/own.pem`,
      ]);
      assert.equal(foreign.code, 1, foreign.output);
      assert.match(foreign.output, /own\.pem is the identity SHA256:\S+, but the nodes on this/);
      assert.ok(foreign.output.includes(`present ${a.fingerprint}:`), foreign.output);
      const still = await user(a, "alice", false);
      assert.deepEqual(texts(await still.history("@bob")), ["through a"]);
      await closeAll(still);
      // An unreachable PostgreSQL stops the start too, with the address and no password.
      const nowhere = url.replace(`:${pg!.port}/`, ":1/");
      const down = await runServerToExit(dirs[2], ["--store", nowhere]);
      assert.equal(down.code, 1, down.output);
      assert.match(
        down.output,
        /cannot open the store postgres:\/\/postgres:\*\*\*@.*PostgreSQL cannot be reached/,
      );
      assert.ok(!down.output.includes(SECRET), down.output);
    } finally {
      await b?.stop("SIGTERM");
      await a.stop("SIGTERM");
      for (const dir of dirs) await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "PostgreSQL restarted under a running server: sends fail as storage_unavailable, none lost",
  ignore: !pg,
  // The cluster's processes are restarted within the test.
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    // The HTTP listener (and so /healthz) needs the browser assets.
    await build({ ifStale: true, quiet: true });
    const url = await newDatabase();
    const dataDir = await Deno.makeTempDir({ prefix: "parley-pg-node-" });
    const server = await spawnServer(dataDir, ["--log-level", "info", "--store", url]);
    const clients: ParleyClient[] = [];
    // Parley's own client, which keeps a message the server could not store and retries it.
    const dave = new ReconnectingClient({
      pingIntervalMs: 0,
      sendRetry: { initialDelayMs: 100, maxDelayMs: 300 },
      dial: () => TcpChannel.connect({ port: server.tcpPort, verifyIdentity: server.pin }),
    });
    const retrying: ReconnectEvent[] = [];
    dave.on((e) => e.type === "retrying" && retrying.push(e));
    let postgresUp = true;
    try {
      assert.ok(server.httpUrl, `no HTTP listener:\n${server.output()}`);
      const alice = await user(server, "alice");
      const bob = await user(server, "bob");
      clients.push(alice);
      await dave.connect({ name: "dave", password: PASSWORD }, { register: true });
      await bob.quit();
      assert.equal((await alice.send("bob", "before", "c0")).status, "stored");
      assert.equal((await health(server.httpUrl)).status, 200);

      await pg!.stop();
      postgresUp = false;
      for (const [text, cid] of [["during", "c1"], ["during too", "c2"]]) {
        const refused = await alice.send("bob", text, cid).then(
          () => assert.fail("a send was acknowledged while PostgreSQL was down"),
          (err) => err,
        );
        assert.ok(refused instanceof ServerError, String(refused));
        assert.equal(refused.code, "storage_unavailable");
        assert.ok(refused.message.endsWith(ERROR_CODES.storage_unavailable), refused.message);
      }
      // A browser sign-in needs the store too: refused for now, with the same code.
      const browser = await apiLogin(server.httpUrl, { name: "alice", password: PASSWORD });
      assert.equal(browser.res.status, 503);
      assert.equal((browser.body.error as Record<string, unknown>).code, "storage_unavailable");
      assert.equal(browser.cookie, undefined);
      const kept = dave.send("bob", "kept for later");
      while (retrying.length < 2) await new Promise((r) => setTimeout(r, 50));
      const down = await health(server.httpUrl);
      assert.equal(down.status, 503);
      const store = down.body.store as Record<string, unknown>;
      assert.equal(store.ok, false);
      assert.equal(store.reachable, false);
      assert.equal(store.error, ERROR_CODES.storage_unavailable);
      assert.equal(typeof store.since, "string");
      assert.ok(Date.parse(store.since as string) <= Date.now());
      const metrics = await (await fetch(`${server.httpUrl}/metrics`)).text();
      assert.match(metrics, /^parley_store_reachable 0$/m);

      await pg!.start();
      postgresUp = true;
      // The same connection, the same cid: stored once.
      assert.equal((await alice.send("bob", "during", "c1")).status, "stored");
      assert.equal((await kept).status, "stored");
      const up = await health(server.httpUrl);
      assert.equal(up.status, 200, JSON.stringify(up.body));
      const after = await (await fetch(`${server.httpUrl}/metrics`)).text();
      assert.match(after, /^parley_store_reachable 1$/m);

      const back = await user(server, "bob", false);
      clients.push(back);
      const got = [];
      for (let i = 0; i < 3; i++) got.push((await back.nextOf("message")).text);
      assert.deepEqual(got.toSorted(), ["before", "during", "kept for later"]);

      const log = server.output();
      assert.equal(log.match(/database cannot be reached/g)?.length, 1, log);
      assert.equal(log.match(/database answers again/g)?.length, 1, log);
      assert.ok(!log.includes(SECRET), log);
    } finally {
      if (!postgresUp) await pg!.start();
      await dave.quit();
      await closeAll(...clients);
      await server.stop("SIGTERM");
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});

if (pg) {
  Deno.test({
    name: "postgres server tests: (stops the test PostgreSQL)",
    sanitizeOps: false,
    sanitizeResources: false,
    fn: () => pg.close(),
  });
}
