/**
 * A real `redis-server` for the tests: on a free loopback port, in a temporary directory, with
 * no persistence; it can be stopped and started again on the same port (a Redis restart).
 * Tests that need it skip, saying why, when `redis-server` is not installed, except under CI
 * (`CI` set), where its absence is a failure: CI installs it (.ci/run).
 */

import { RedisBus } from "../../lib/bus/redis.ts";
import type { BusCluster } from "../bus_conformance.ts";

/** Why Redis tests cannot run here, or undefined when they can. */
export const redisMissing: string | undefined = findRedis();

function findRedis(): string | undefined {
  try {
    const out = new Deno.Command("redis-server", { args: ["--version"], stdout: "null" })
      .outputSync();
    if (out.success) return undefined;
  } catch {
    // not installed
  }
  const why = "redis-server is not installed (Debian: apt-get install redis-server)";
  if (Deno.env.get("CI")) throw new Error(`${why}; CI must run the Redis tests`);
  console.warn(`Redis tests skipped: ${why}`);
  return why;
}

export interface RedisServer {
  /** `redis://127.0.0.1:<port>`. */
  url: string;
  port: number;
  /** Whether the server is running now. */
  readonly running: boolean;
  /** Stops it (SIGTERM, waits for the exit); a no-op when stopped. */
  stop(): Promise<void>;
  /** Starts it again on the same port; waits until it answers. */
  start(): Promise<void>;
  /** Stops it and removes its directory. */
  close(): Promise<void>;
}

/** Starts a `redis-server` of its own (requiring `password` if given); `close` when done. */
export async function startRedis(options: { password?: string } = {}): Promise<RedisServer> {
  const dir = await Deno.makeTempDir({ prefix: "parley-redis-" });
  const port = freePort();
  const { password } = options;
  let child: Deno.ChildProcess | undefined;
  const server: RedisServer = {
    url: `redis://${password ? `:${password}@` : ""}127.0.0.1:${port}`,
    port,
    get running() {
      return child !== undefined;
    },
    async start() {
      if (child) return;
      child = new Deno.Command("redis-server", {
        args: [
          "--port",
          String(port),
          "--bind",
          "127.0.0.1",
          "--dir",
          dir,
          "--save",
          "",
          "--appendonly",
          "no",
          "--daemonize",
          "no",
          ...(password ? ["--requirepass", password] : []),
        ],
        stdout: "null",
        stderr: "null",
      }).spawn();
      await answering(port);
    },
    async stop() {
      const running = child;
      if (!running) return;
      child = undefined;
      running.kill("SIGTERM");
      await running.status;
    },
    async close() {
      await server.stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
  await server.start();
  return server;
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** Waits until the server answers PING. */
async function answering(port: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (true) {
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      try {
        await conn.write(new TextEncoder().encode("PING\r\n"));
        const buf = new Uint8Array(16);
        const n = await conn.read(buf);
        // A server with a password answers NOAUTH: it is up all the same.
        const reply = n ? new TextDecoder().decode(buf.subarray(0, n)) : "";
        if (reply.startsWith("+PONG") || reply.startsWith("-NOAUTH")) return;
      } finally {
        conn.close();
      }
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`redis-server did not answer on port ${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Nodes joined to a fresh channel of a Redis server of the test's own. */
export async function redisCluster(): Promise<BusCluster & { redis: RedisServer }> {
  const redis = await startRedis();
  const channel = `test-${crypto.randomUUID().slice(0, 8)}`;
  const joined: RedisBus[] = [];
  return {
    redis,
    async join(node?: string) {
      const bus = new RedisBus({ url: `${redis.url}?channel=${channel}`, node });
      joined.push(bus);
      await bus.ready();
      return bus;
    },
    async close() {
      for (const bus of joined) await bus.close();
      await redis.close();
    },
  };
}
