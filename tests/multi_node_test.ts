/**
 * Two Parley nodes on one PostgreSQL and one Redis behind HAProxy, as docs/operations.md runs
 * them: real processes, real services. To their users they are one server, through a node's
 * SIGKILL, a Redis restart and a PostgreSQL restart.
 */
import assert from "node:assert/strict";
import { build } from "../build.ts";
import { connectTcp, type ParleyClient } from "../lib/client/mod.ts";
import { PASSWORD } from "./helpers.ts";
import { type ServerProcess, spawnServer } from "./process_helpers.ts";
import { postgresAvailable, type PostgresService, startPostgres } from "./services/postgres.ts";
import { redisMissing, type RedisServer, startRedis } from "./services/redis.ts";
import {
  haproxyBinary,
  type HaproxyService,
  PROXY_SOURCE,
  startHaproxy,
} from "./services/haproxy.ts";

/** Whether HAProxy can run here; under CI its absence is a failure (CI installs it). */
function haproxyAvailable(): boolean {
  if (haproxyBinary()) return true;
  const why = "HAProxy tests need Debian's haproxy";
  if (Deno.env.get("CI")) throw new Error(`${why}; CI must install it (.ci/run)`);
  console.warn(`skipped: ${why}; apt-get install haproxy to run them`);
  return false;
}

const ready = postgresAvailable() && redisMissing === undefined && haproxyAvailable();
/** Started as the module loads, outside any test, so its process is no test's leak. */
const pg: PostgresService | undefined = ready ? await startPostgres() : undefined;

/** One service: its store, its bus, its nodes and the balancer in front. */
interface Service {
  url: string;
  redis: RedisServer;
  dirs: string[];
  nodes: ServerProcess[];
  proxy: HaproxyService;
  /** Starts node `i` again (after a kill) with the same settings. */
  restart(i: number): Promise<ServerProcess>;
  close(): Promise<void>;
}

async function startService(): Promise<Service> {
  await build({ ifStale: true, quiet: true });
  const url = pg!.url(await pg!.createDatabase("parley_multi"));
  const redis = await startRedis();
  const dirs = await Promise.all(
    ["a", "b"].map((n) => Deno.makeTempDir({ prefix: `parley-node-${n}-` })),
  );
  const args = (i: number) => [
    "--store",
    url,
    "--bus",
    redis.url,
    "--trusted-proxies",
    PROXY_SOURCE,
    // Node b uses node a's identity and data key: one server to every client.
    ...(i === 0 ? [] : [
      "--identity-file",
      `${dirs[0]}/identity_ed25519.pem`,
      "--data-key-file",
      `${dirs[0]}/data.key`,
    ]),
  ];
  const nodes = [await spawnServer(dirs[0], args(0))];
  nodes.push(await spawnServer(dirs[1], args(1)));
  const proxy = await startHaproxy(
    nodes.map((n, i) => ({ name: `node${i}`, tcpPort: n.tcpPort, httpPort: n.httpPort! })),
  );
  const service: Service = {
    url,
    redis,
    dirs,
    nodes,
    proxy: proxy!,
    async restart(i) {
      nodes[i] = await spawnServer(dirs[i], args(i));
      return nodes[i];
    },
    async close() {
      await service.proxy.stop();
      await Promise.all(nodes.map((n) => n.stop("SIGTERM")));
      await redis.close();
      for (const d of dirs) await Deno.remove(d, { recursive: true }).catch(() => {});
    },
  };
  return service;
}

/** A signed-in user on `port` (a node's own port, or the balancer's). */
async function user(
  port: number,
  node: ServerProcess,
  name: string,
  options: { register?: boolean; device?: string } = {},
): Promise<ParleyClient> {
  const client = await connectTcp({ port, verifyIdentity: node.pin });
  if (options.register ?? true) await client.register(name, PASSWORD, undefined, options.device);
  else await client.login(name, PASSWORD, undefined, options.device);
  return client;
}

async function closeAll(...clients: ParleyClient[]) {
  for (const c of clients) c.close();
  await Promise.all(clients.map((c) => c.closed));
}

async function until<T>(
  what: string,
  probe: () => T | undefined | Promise<T | undefined>,
  ms = 15_000,
) {
  const deadline = Date.now() + ms;
  while (true) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * A test on a service of its own (two nodes, HAProxy, Redis, a database); the clients it pushes
 * to `clients` are closed, then the service, whatever happens.
 */
function serviceTest(name: string, fn: (s: Service, clients: ParleyClient[]) => Promise<void>) {
  Deno.test({
    name,
    ignore: !ready,
    // Service processes and their pipes outlive a test's own resources by design.
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      const s = await startService();
      const clients: ParleyClient[] = [];
      try {
        await fn(s, clients);
      } finally {
        await closeAll(...clients);
        await s.close();
      }
    },
  });
}

serviceTest(
  "two nodes behind HAProxy are one server: private, room, broadcast, presence, typing, devices",
  async (s, clients) => {
    const [a, b] = s.nodes;
    // Each user on a node of their own, by its port; carol on both at once (two devices).
    const alice = await user(a.tcpPort, a, "alice");
    const bob = await user(b.tcpPort, b, "bob");
    const carolA = await user(a.tcpPort, a, "carol", { device: "carol-laptop" });
    const carolB = await user(b.tcpPort, b, "carol", { register: false, device: "carol-phone" });
    clients.push(alice, bob, carolA, carolB);

    // Presence across nodes: bob (on b) sees alice (on a) online, and carol once.
    const who = await bob.who();
    const names = who.users.filter((u) => u.state === "online").map((u) => u.name).toSorted();
    assert.deepEqual(names, ["alice", "bob", "carol"]);
    assert.equal(who.online, 3);

    // Private, from a to b and back.
    assert.equal((await alice.send("bob", "hello from a", "p1")).status, "delivered");
    assert.equal((await bob.nextOf("message", (m) => m.text === "hello from a")).from, "alice");
    await bob.send("alice", "hello from b", "p2");
    await alice.nextOf("message", (m) => m.text === "hello from b");

    // Typing crosses nodes.
    alice.typing("bob");
    await bob.nextOf("presence", (p) => p.user === "alice" && p.state === "typing");

    // A room with members on both nodes.
    await alice.join("#ops", "public", true);
    await bob.join("#ops");
    await carolB.join("#ops");
    await alice.send("#ops", "standup in 5", "r1");
    await bob.nextOf("message", (m) => m.text === "standup in 5");

    // Carol's two devices, one per node, each get every message once.
    await bob.send("carol", "for both your devices", "c1");
    for (const device of [carolA, carolB]) {
      await device.nextOf("message", (m) => m.text === "for both your devices");
      await device.nextOf("message", (m) => m.text === "standup in 5");
    }

    // A broadcast reaches everyone on every node.
    const sent = await alice.send("all", "all hands", "b1");
    assert.equal(sent.recipients, 2, "bob and carol, counted once for two devices");
    for (const c of [bob, carolA, carolB]) {
      await c.nextOf("message", (m) => m.text === "all hands");
    }

    // Nothing came twice to any device.
    await new Promise((r) => setTimeout(r, 500));
    for (const c of [alice, bob, carolA, carolB]) {
      const texts = c.buffered.filter((e) => e.type === "message").map((e) =>
        (e as { id: string }).id
      );
      assert.equal(new Set(texts).size, texts.length, "no message twice on one device");
    }

    // Through the balancer: a new user lands on either node and reaches everyone.
    const dave = await user(s.proxy.tcpPort, a, "dave");
    clients.push(dave);
    await dave.send("alice", "via haproxy", "d1");
    await alice.nextOf("message", (m) => m.text === "via haproxy");
    const page = await fetch(`http://127.0.0.1:${s.proxy.httpPort}/healthz`);
    assert.equal(page.status, 200);
    const health = await page.json();
    assert.equal(health.bus.connected, true, JSON.stringify(health));
  },
);

serviceTest(
  "a node killed: its users go offline on the other within 10 s, and get every message back through HAProxy",
  async (s, clients) => {
    const [a, b] = s.nodes;
    const alice = await user(a.tcpPort, a, "alice");
    const bob = await user(b.tcpPort, b, "bob");
    clients.push(alice, bob);
    // Acknowledged on a before it dies.
    assert.equal((await alice.send("bob", "before the crash", "k0")).status, "delivered");
    await bob.nextOf("message", (m) => m.text === "before the crash");

    const killedAt = Date.now();
    assert.equal((await a.stop("SIGKILL")).signal, "SIGKILL");
    await bob.nextOf("presence", (p) => p.user === "alice" && p.state === "offline", 10_000);
    assert.ok(Date.now() - killedAt <= 10_000);

    // Sent to alice while she has nowhere to be: kept.
    const ids: string[] = [];
    for (let i = 1; i <= 5; i++) {
      const r = await bob.send("alice", `while you were away ${i}`, `w${i}`);
      assert.equal(r.status, "stored");
      ids.push(r.id);
    }

    // Alice comes back through the balancer, which sends her to the surviving node.
    const back = await until("alice back through haproxy", async () => {
      try {
        return await user(s.proxy.tcpPort, b, "alice", { register: false });
      } catch {
        return undefined;
      }
    });
    clients.push(back);
    const texts = [];
    for (let i = 0; i < 5; i++) texts.push((await back.nextOf("message")).text);
    assert.deepEqual(texts, [1, 2, 3, 4, 5].map((i) => `while you were away ${i}`));
    const history = await back.history("@bob");
    assert.ok(history.messages.some((m) => m.text === "before the crash"));
    await bob.nextOf("presence", (p) => p.user === "alice" && p.state === "online");
  },
);

serviceTest(
  "Redis restarted: no acknowledged message is lost, and presence recovers",
  async (s, clients) => {
    const [a, b] = s.nodes;
    const alice = await user(a.tcpPort, a, "alice");
    const bob = await user(b.tcpPort, b, "bob", { device: "bob-laptop" });
    clients.push(alice, bob);
    await bob.nextOf("presence", (p) => p.user === "alice" && p.state === "online").catch(
      () => {},
    );

    await s.redis.stop();
    const acknowledged: string[] = [];
    for (let i = 1; i <= 3; i++) {
      const r = await alice.send("bob", `during the outage ${i}`, `o${i}`);
      assert.ok(["delivered", "stored"].includes(r.status), JSON.stringify(r));
      acknowledged.push(`during the outage ${i}`);
    }
    await s.redis.start();

    // Presence recovers: both nodes hear each other again.
    await until("alice online for bob again", async () => {
      const who = await bob.who();
      return who.users.some((u) => u.name === "alice" && u.state === "online") ? true : undefined;
    });
    const after = await alice.send("bob", "after the outage", "o4");
    assert.ok(["delivered", "stored"].includes(after.status));
    acknowledged.push("after the outage");

    // Every acknowledged message reaches bob: live, or at the latest on his next catch-up.
    bob.close();
    await bob.closed;
    const again = await user(b.tcpPort, b, "bob", { register: false, device: "bob-laptop" });
    clients.push(again);
    const seen = new Set<string>();
    for (const e of bob.buffered) if (e.type === "message") seen.add(e.text);
    await until("every acknowledged message at bob", () => {
      for (const e of again.buffered) if (e.type === "message") seen.add(e.text);
      return acknowledged.every((t) => seen.has(t)) ? true : undefined;
    });
  },
);

serviceTest(
  "PostgreSQL restarted: sends fail clearly meanwhile, and nothing acknowledged is lost",
  async (s, clients) => {
    const [a, b] = s.nodes;
    const alice = await user(a.tcpPort, a, "alice");
    const bob = await user(b.tcpPort, b, "bob");
    clients.push(alice, bob);
    assert.equal((await alice.send("bob", "before", "g0")).status, "delivered");

    await pg!.stop();
    const refused = await alice.send("bob", "while the database is away", "g1").then(
      (r) => ({ ok: true as const, r }),
      (err) => ({ ok: false as const, err }),
    );
    if (refused.ok) {
      // Acknowledged only if committed: then it must survive like any other.
      assert.fail(`acknowledged without a store: ${JSON.stringify(refused.r)}`);
    }
    assert.match(String(refused.err), /storage_unavailable|store/i);
    const health = await fetch(`http://127.0.0.1:${a.httpPort}/healthz`);
    assert.equal(health.status, 503);
    await health.body?.cancel();

    await pg!.start();
    // The same client id again: stored once.
    const retried = await until("a send through once PostgreSQL is back", async () => {
      try {
        return await alice.send("bob", "while the database is away", "g1");
      } catch {
        return undefined;
      }
    });
    assert.equal(retried.status, "delivered");
    const history = await bob.history("@alice");
    assert.deepEqual(
      history.messages.map((m) => m.text),
      ["before", "while the database is away"],
    );
  },
);
