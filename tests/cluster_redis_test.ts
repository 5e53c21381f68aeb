/** Two nodes over a real Redis: the same scenarios as in-process, and a Redis restart. */
import assert from "node:assert/strict";
import { until } from "./helpers.ts";
import { received, runClusterScenarios, signIn, startTwoNodes } from "./cluster_scenarios.ts";
import { redisCluster, redisMissing } from "./services/redis.ts";

runClusterScenarios({ name: "redis", make: redisCluster, skip: redisMissing });

Deno.test({
  name:
    "two nodes (redis): Redis restarted mid-test: no acknowledged message lost, presence recovers",
  ignore: redisMissing !== undefined,
  fn: async () => {
    const cluster = await redisCluster();
    const nodes = await startTwoNodes(cluster, { heartbeatMs: 200 });
    try {
      const alice = await signIn(nodes.a, "alice", "a1");
      const bob = await signIn(nodes.b, "bob", "b1");
      await alice.next("presence", (f) => f.user === "bob" && f.state === "online");

      await cluster.redis.stop();
      await until(() => !nodes.a.router.cluster.bus!.status().connected, 10_000, "bus down");
      // Each node serves its own users meanwhile; what crosses nodes is stored and acknowledged.
      const seqs: number[] = [];
      for (const text of ["one", "two", "three"]) {
        await alice.send({ type: "send", to: "bob", text });
        const sent = await alice.next("sent");
        assert.equal(typeof sent.seq, "number");
        seqs.push(sent.seq as number);
      }
      // Several heartbeat TTLs without a bus: the nodes cannot tell, so bob stays online here.
      await new Promise((r) => setTimeout(r, 1000));
      assert.equal(received(alice, "presence", (f) => f.state === "offline").length, 0);
      const health = nodes.a.router.cluster.health();
      assert.ok(health.enabled && !health.connected && health.error, JSON.stringify(health));
      assert.match(nodes.a.router.metrics.render(), /^parley_bus_connected 0$/m);

      await cluster.redis.start();
      await until(
        () =>
          nodes.a.router.cluster.bus!.status().connected &&
          nodes.b.router.cluster.bus!.status().connected,
        10_000,
        "bus up again",
      );
      // Presence recovers: a user who signs in on b now is seen on a.
      const carol = await signIn(nodes.b, "carol", "c1");
      await alice.next("presence", (f) => f.user === "carol" && f.state === "online");
      await alice.send({ type: "who" });
      const who = await alice.next("who");
      assert.equal(who.online, 3);

      // Nothing acknowledged is lost: bob's device catches up on what the bus never said.
      await bob.close();
      const again = await signIn(nodes.b, "bob", "b1", true);
      const live = received(bob, "message", (f) => seqs.includes(f.seq as number));
      const caught = received(again, "message", (f) => seqs.includes(f.seq as number));
      assert.deepEqual(
        [...live, ...caught].map((f) => f.text).sort(),
        ["one", "three", "two"],
      );
      // And live delivery across nodes works again.
      await alice.send({ type: "send", to: "bob", text: "after" });
      await again.next("message", (f) => f.text === "after");
      for (const peer of [again, carol, alice]) await peer.close();
    } finally {
      await nodes.close();
      await cluster.close();
    }
  },
});
