import assert from "node:assert/strict";
import { runBusConformance } from "./bus_conformance.ts";
import { RedisBus } from "../lib/bus/redis.ts";
import { redisCluster, redisMissing, startRedis } from "./services/redis.ts";

runBusConformance({ name: "redis", make: redisCluster, skip: redisMissing });

Deno.test({
  name: "redis bus: reconnects by itself after a Redis restart, and says so meanwhile",
  ignore: redisMissing !== undefined,
  fn: async () => {
    const cluster = await redisCluster();
    try {
      const [a, b] = [await cluster.join("a"), await cluster.join("b")];
      const got: string[] = [];
      b.subscribe((m) => got.push(m.kind));
      const changes: boolean[] = [];
      a.onStatus((s) => changes.push(s.connected));
      await cluster.redis.stop();
      await until(() => !a.status().connected && !b.status().connected, "down");
      assert.ok(a.status().error);
      a.publish({ kind: "lost" }); // dropped, not queued, not thrown
      await cluster.redis.start();
      await until(() => a.status().connected && b.status().connected, "up again");
      a.publish({ kind: "after" });
      await until(() => got.includes("after"), "a message after the restart");
      assert.deepEqual(got, ["after"]);
      assert.deepEqual(changes, [false, true]);
    } finally {
      await cluster.close();
    }
  },
});

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

Deno.test({
  name: "redis bus: a node started while Redis is down joins when it comes up; close never hangs",
  ignore: redisMissing !== undefined,
  fn: async () => {
    const redis = await startRedis();
    await redis.stop();
    const a = new RedisBus({ url: `${redis.url}?channel=late`, node: "a" });
    const never = new RedisBus({ url: `${redis.url}?channel=late`, node: "never" });
    try {
      assert.equal(a.status().connected, false);
      // Closed before it ever connected: settles at once.
      await never.close();
      await redis.start();
      await a.ready();
      assert.equal(a.status().connected, true);
      const b = new RedisBus({ url: `${redis.url}?channel=late`, node: "b" });
      await b.ready();
      const got: string[] = [];
      b.subscribe((m) => got.push(m.kind));
      a.publish({ kind: "hello" });
      await until(() => got.includes("hello"), "hello");
      await b.close();
    } finally {
      await a.close();
      await redis.close();
    }
  },
});
