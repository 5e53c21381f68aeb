/**
 * `--workers 2` on a real process and the embedded SQLite store: users whose connections landed
 * on different workers see one server, a crashed worker is restarted and its clients reconnect
 * and catch up, and SIGTERM says goodbye to every client of every worker.
 *
 * The kernel spreads connections over the workers by a hash of their addresses, so the test
 * finds where each landed: every worker's /healthz names it and counts its signed-in users.
 */
import assert from "node:assert/strict";
import { presenceNames } from "../lib/protocol/presence_summary.ts";
import {
  connectTcp,
  type ParleyClient,
  ReconnectingClient,
  TcpChannel,
} from "../lib/client/mod.ts";
import { PASSWORD, within } from "./helpers.ts";
import { makeCert } from "./certs.ts";
import { runServerToExit, type ServerProcess, spawnServer } from "./process_helpers.ts";

interface WorkerHealth {
  worker: { id: number; of: number };
  signedIn: number;
  status: string;
}

/** The body of a GET on a connection of its own (so the kernel picks a worker afresh). */
async function get(port: number, path: string): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(
      new TextEncoder().encode(
        `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`,
      ),
    );
    const text = new TextDecoder().decode(await new Response(conn.readable).arrayBuffer());
    return text.slice(text.indexOf("\r\n\r\n") + 4);
  } catch (err) {
    try {
      conn.close();
    } catch { /* closed by the response's end */ }
    throw err;
  }
}

/** One /healthz answer, from whichever worker the connection reached. */
async function healthz(port: number): Promise<WorkerHealth> {
  return JSON.parse(await get(port, "/healthz"));
}

/** Every worker's health, asking until each has answered; fails after `tries` connections. */
async function everyWorker(port: number, of: number, tries = 200): Promise<WorkerHealth[]> {
  const seen = new Map<number, WorkerHealth>();
  for (let i = 0; i < tries && seen.size < of; i++) {
    const h = await healthz(port);
    assert.equal(h.worker.of, of);
    seen.set(h.worker.id, h);
  }
  assert.equal(seen.size, of, `only workers ${[...seen.keys()]} answered /healthz`);
  return [...seen.values()].sort((a, b) => a.worker.id - b.worker.id);
}

/** Signed-in sessions by worker id, once they add up to `total` (sign-ins settle first). */
async function sessionsByWorker(port: number, total: number): Promise<number[]> {
  for (let i = 0; i < 100; i++) {
    const counts = (await everyWorker(port, 2)).map((h) => h.signedIn);
    if (counts[0] + counts[1] === total) return counts;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`the workers never counted ${total} signed-in sessions`);
}

/** The id (1 or 2) of the worker where a signed-in client is, given who else is where. */
async function placeOf(port: number, before: number[]): Promise<number> {
  const now = await sessionsByWorker(port, before[0] + before[1] + 1);
  return now[0] > before[0] ? 1 : 2;
}

Deno.test({
  name: "--workers 2: users on different workers see one server; a crashed worker restarts",
  // The reconnecting client keeps its timers until closed; the server is a child process.
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const dataDir = await Deno.makeTempDir({ prefix: "parley-workers-" });
    const server = await spawnServer(dataDir, ["--workers", "2"], {
      env: { PARLEY_TEST_HOOKS: "1" },
    });
    const clients: ParleyClient[] = [];
    const connect = async () => {
      const c = await connectTcp({ port: server.tcpPort, verifyIdentity: server.pin });
      clients.push(c);
      return c;
    };
    let carol: ReconnectingClient | undefined;
    try {
      const httpPort = server.httpPort;
      assert.ok(httpPort, `no HTTP listener (is the browser client built?):\n${server.output()}`);
      assert.match(server.output(), /workers=2/);

      // Alice signs in wherever she lands; Bob tries again until he lands on the other worker.
      const alice = await connect();
      await alice.register("alice", PASSWORD, "en", "laptop");
      const aliceAt = await placeOf(httpPort, [0, 0]);
      const bob = await landOn(3 - aliceAt, connect, { name: "bob", register: true }, httpPort, 1);

      // Whichever worker a scrape reaches, /metrics has both workers' figures.
      const metrics = await get(httpPort, "/metrics");
      assert.match(metrics, /^parley_workers\{state="answered"\} 2$/m);
      assert.match(metrics, /^parley_users_online\{worker="1"\} 1$/m);
      assert.match(metrics, /^parley_users_online\{worker="2"\} 1$/m);
      assert.equal(metrics.match(/^# HELP parley_users_online /gm)?.length, 1);

      // Presence, private, room and broadcast messages, and typing, across the workers.
      await alice.nextOf("presence", (e) => e.user === "bob" && e.state === "online");
      const toBob = await alice.send("bob", "hello bob");
      assert.equal(toBob.status, "delivered");
      assert.equal((await bob.nextOf("message", (m) => m.text === "hello bob")).from, "alice");
      await alice.join("#lobby", "public", true);
      await bob.join("#lobby");
      await alice.send("#lobby", "hello room");
      await bob.nextOf("message", (m) => m.text === "hello room");
      await bob.send("all", "hello everyone");
      await alice.nextOf("message", (m) => m.text === "hello everyone");
      alice.typing("bob");
      await bob.nextOf("presence", (e) => e.user === "alice" && e.state === "typing");

      // Carol reconnects by herself; she is put on worker 1, which the test hook crashes.
      carol = await reconnectingOn(1, server, httpPort);
      const carolOnline = await sessionsByWorker(httpPort, 3);
      const survivor = aliceAt === 2 ? alice : bob;
      const survivorName = aliceAt === 2 ? "alice" : "bob";
      await survivor.nextOf("presence", (e) => e.user === "carol" && e.state === "online");
      const carolGot: { from: string; text: string }[] = [];
      const reconnected = new Promise<void>((resolve) => {
        carol!.on((e) => {
          if (e.type === "message") carolGot.push({ from: e.from, text: e.text });
          if (e.type === "status" && e.state === "online" && e.reconnected) resolve();
        });
      });
      server.child.kill("SIGUSR2");
      // The main thread says goodbye for the dead worker: Carol is offline at once.
      // One round of presence may name her with the other user of that worker; and when her
      // client is back within the same round, the round tells only her last state (online). Either
      // way she is told of at once: without the goodbye the survivor would hear nothing of her
      // until the dead worker's users expired.
      await survivor.nextOf("presence", (e) => presenceNames(e).includes("carol"));
      // Acknowledged while Carol is away: every one must reach her when she is back.
      const texts = ["while", "you", "were", "away"];
      for (const text of texts) {
        const sent = await survivor.send("carol", text);
        assert.ok(sent.id, `"${text}" acknowledged`);
      }
      await reconnected;
      await waitFor(() => carolGot.length >= texts.length, "Carol's catch-up");
      assert.deepEqual(carolGot, texts.map((text) => ({ from: survivorName, text })));
      assert.match(server.output(), /worker 1 of 2 crashed; its clients reconnect/);
      // Both workers serve again (the restarted one answers /healthz too).
      await waitFor(() => /worker 1 of 2 restarted/.test(server.output()), "the restart");
      await everyWorker(httpPort, 2);
      assert.equal(carolOnline.reduce((a, b) => a + b), 3);

      // The user whose connection died with worker 1 signs in again there.
      const back = await landOn(
        1,
        connect,
        { name: aliceAt === 1 ? "alice" : "bob", register: false },
        httpPort,
        2,
      );

      // SIGTERM: every client of every worker hears goodbye, and the process exits 0.
      const byes = [survivor, back].map((c) => c.nextOf("bye", undefined, 15_000));
      server.child.kill("SIGTERM");
      for (const bye of byes) assert.equal((await bye).reason, "server shutting down");
      const status = await server.stop("SIGTERM");
      assert.equal(status.code, 0, server.output());
    } finally {
      carol?.close();
      for (const c of clients) c.close();
      await server.stop("SIGKILL");
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});

/**
 * Signs `name` in on new connections until one lands on worker `target`; `others` sessions are
 * signed in already.
 */
async function landOn(
  target: number,
  connect: () => Promise<ParleyClient>,
  who: { name: string; register: boolean },
  httpPort: number,
  others: number,
): Promise<ParleyClient> {
  for (let attempt = 0; attempt < 30; attempt++) {
    const before = await sessionsByWorker(httpPort, others);
    const c = await connect();
    if (who.register && attempt === 0) await c.register(who.name, PASSWORD, "en", "phone");
    else await c.login(who.name, PASSWORD, "en", "phone");
    if (await placeOf(httpPort, before) === target) return c;
    await c.quit();
  }
  throw new Error(`${who.name} never landed on worker ${target}`);
}

/** Carol, on a client that reconnects by itself, signed in on worker `target`. */
async function reconnectingOn(
  target: number,
  server: ServerProcess,
  httpPort: number,
): Promise<ReconnectingClient> {
  for (let attempt = 0; attempt < 30; attempt++) {
    const before = await sessionsByWorker(httpPort, 2);
    const carol = new ReconnectingClient({
      dial: () => TcpChannel.connect({ port: server.tcpPort, verifyIdentity: server.pin }),
      initialDelayMs: 50,
      maxDelayMs: 500,
      pingIntervalMs: 0,
    });
    await carol.connect({ name: "carol", password: PASSWORD, device: "tablet" }, {
      register: attempt === 0,
    });
    if (await placeOf(httpPort, before) === target) return carol;
    await carol.quit();
    await sessionsByWorker(httpPort, 2);
  }
  throw new Error(`carol never landed on worker ${target}`);
}

async function waitFor(condition: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

Deno.test("a second Parley with workers cannot join the ports of a running one", async () => {
  const first = await Deno.makeTempDir({ prefix: "parley-workers-a-" });
  const second = await Deno.makeTempDir({ prefix: "parley-workers-b-" });
  const server = await spawnServer(first, ["--workers", "2"]);
  try {
    // The kernel would let it join the SO_REUSEPORT group and take half the connections.
    const { code, output } = await runServerToExit(second, [
      "--workers",
      "2",
      "--tcp-port",
      String(server.tcpPort),
    ]);
    assert.equal(code, 1, output);
    assert.match(
      output,
      new RegExp(`cannot listen on 127\\.0\\.0\\.1:${server.tcpPort}: the port is`),
    );
    assert.match(output, /another Parley/);
  } finally {
    await server.stop("SIGTERM");
    await Deno.remove(first, { recursive: true });
    await Deno.remove(second, { recursive: true });
  }
});

Deno.test("--workers 2 with TLS: every worker serves TLS on the shared port", async () => {
  const cert = await makeCert("server");
  const dataDir = await Deno.makeTempDir({ prefix: "parley-workers-tls-" });
  // Reading the TLS files makes each worker's start-up wait: the start must not be lost then.
  const server = await within(
    spawnServer(dataDir, [
      "--workers",
      "2",
      "--tls-cert",
      cert.certPath,
      "--tls-key",
      cert.keyPath,
    ]),
    30_000,
    "a TLS server with two workers listening",
  );
  try {
    assert.match(server.output(), /workers=2/);
    assert.match(server.output(), /tcp 127\.0\.0\.1:\d+ \(TLS/);
    // New connections land on either worker; each answers a TLS sign-in.
    for (let i = 0; i < 4; i++) {
      const client = await connectTcp({
        port: server.tcpPort,
        verifyIdentity: server.pin,
        tls: { caCerts: [cert.cert] },
      });
      await client.register(`tls${i}`, PASSWORD, "en");
      client.close();
      await client.closed;
    }
  } finally {
    await server.stop("SIGTERM");
    await Deno.remove(dataDir, { recursive: true });
    await Deno.remove(cert.dir, { recursive: true }).catch(() => {});
  }
});

Deno.test({
  name: "--workers 2: --max-connections-per-ip holds for the process, not for each worker",
  // The server is a child process.
  sanitizeResources: false,
  fn: async () => {
    const dataDir = await Deno.makeTempDir({ prefix: "parley-workers-ip-" });
    const server = await spawnServer(dataDir, ["--workers", "2", "--max-connections-per-ip", "3"]);
    const admitted: ParleyClient[] = [];
    const refusals: string[] = [];
    try {
      // One at a time, each finishing its handshake before the next: the kernel spreads them
      // over the two workers (all ten on one would be a 1-in-512 chance), and each worker has
      // heard of the other's admissions before the next one arrives. Counted per worker, as
      // before, up to six would be admitted.
      for (let i = 0; i < 10; i++) {
        try {
          admitted.push(await connectTcp({ port: server.tcpPort, verifyIdentity: server.pin }));
        } catch (err) {
          refusals.push(String(err));
        }
      }
      assert.equal(admitted.length, 3, refusals.join("\n"));
      assert.equal(refusals.length, 7);
      for (const r of refusals) assert.match(r, /too_many_connections/);
      // The admitted ones work, and one that leaves frees a place for the next, wherever it lands.
      await admitted[0].register("ivy", PASSWORD);
      await admitted.shift()!.quit();
      admitted.push(await retryUntilAdmitted(server));
    } finally {
      for (const c of admitted) c.close();
      await server.stop("SIGTERM");
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});

/** A connection admitted once the place a client gave back is free on every worker. */
async function retryUntilAdmitted(server: ServerProcess): Promise<ParleyClient> {
  const deadline = Date.now() + 10_000;
  while (true) {
    try {
      return await connectTcp({ port: server.tcpPort, verifyIdentity: server.pin });
    } catch (err) {
      if (!/too_many_connections/.test(String(err)) || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}
