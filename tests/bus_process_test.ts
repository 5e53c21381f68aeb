/** `--bus` as an operator uses it: a real server process, a real Redis, /healthz. */
import assert from "node:assert/strict";
import { build } from "../build.ts";
import { runServerToExit, spawnServer } from "./process_helpers.ts";
import { redisMissing, startRedis } from "./services/redis.ts";

Deno.test("--bus refuses an address that is not Redis, without repeating its password", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "parley-bus-" });
  try {
    for (
      const [value, says] of [
        ["http://user:hunter2@example.org", "must be a redis:// or rediss:// URL"],
        ["redis://:hunter2@", "is not a URL"],
        ["redis:///0", "names no host"],
        ["not a url :hunter2@x", "is not a URL"],
        ["redis://:hunter2@127.0.0.1:6379?chanel=x", "takes no 'chanel' parameter"],
      ]
    ) {
      const { code, output } = await runServerToExit(dataDir, ["--bus", value]);
      assert.notEqual(code, 0, output);
      assert.match(output, new RegExp(`--bus ${says.replace(/[?()]/g, "\\$&")}`), output);
      assert.doesNotMatch(output, /hunter2/, output);
    }
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

async function health(url: string): Promise<Record<string, unknown>> {
  const res = await fetch(`${url}/healthz`);
  assert.equal(res.status, 200, "a bus down does not fail the health check");
  return (await res.json()).bus;
}

async function until<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + 15_000;
  while (true) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

Deno.test({
  name:
    "PARLEY_BUS: the node connects with a password it never logs; /healthz shows the bus down since when, and up again",
  ignore: redisMissing !== undefined,
  async fn() {
    // The HTTP listener (and so /healthz) needs the browser assets.
    await build({ ifStale: true, quiet: true });
    const redis = await startRedis({ password: "hunter2" });
    const dataDir = await Deno.makeTempDir({ prefix: "parley-bus-" });
    // From the environment, as an operator keeps a password out of `ps`.
    const server = await spawnServer(dataDir, ["--log-level", "info"], {
      env: { PARLEY_BUS: redis.url },
    });
    try {
      assert.ok(server.httpUrl, server.output());
      const up = await until("connected", async () => {
        const bus = await health(server.httpUrl!);
        return bus.connected ? bus : undefined;
      });
      assert.equal(up.enabled, true);
      assert.equal(typeof up.node, "string");
      assert.match(
        server.output(),
        /bus: redis redis:\/\/:\*\*\*@127\.0\.0\.1:\d+ channel parley/,
      );

      await redis.stop();
      const down = await until("disconnected", async () => {
        const bus = await health(server.httpUrl!);
        return bus.connected ? undefined : bus;
      });
      assert.ok(Date.parse(down.since as string) <= Date.now());
      assert.equal(typeof down.error, "string");

      await redis.start();
      await until("connected again", async () => {
        const bus = await health(server.httpUrl!);
        return bus.connected ? bus : undefined;
      });
      assert.doesNotMatch(server.output(), /hunter2/);
    } finally {
      await server.stop("SIGTERM");
      await redis.close();
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});
