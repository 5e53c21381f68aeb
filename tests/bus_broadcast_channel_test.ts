import assert from "node:assert/strict";
import { BroadcastChannelBus } from "../lib/bus/broadcast_channel.ts";
import { type BusCluster, runBusConformance } from "./bus_conformance.ts";
import { runClusterScenarios } from "./cluster_scenarios.ts";

/** A channel name no other cluster of this run shares. */
const freshChannel = () => `parley-bus-test-${crypto.randomUUID()}`;

/** Nodes on one fresh channel; closing the cluster closes every node's end. */
function channelCluster(): Promise<BusCluster> {
  const channel = freshChannel();
  const joined: BroadcastChannelBus[] = [];
  return Promise.resolve({
    join: (node?: string) => {
      const bus = new BroadcastChannelBus({ channel, node });
      joined.push(bus);
      return Promise.resolve(bus);
    },
    close: async () => {
      for (const bus of joined) await bus.close();
    },
  });
}

runBusConformance({ name: "broadcast-channel", make: channelCluster });

// The routers of two nodes on the channel behave to their users as one server.
runClusterScenarios({ name: "broadcast-channel", make: channelCluster });

Deno.test("the broadcast-channel bus carries messages between the workers of a process", async () => {
  const channel = freshChannel();
  const here = new BroadcastChannelBus({ channel, node: "main" });
  const got = Promise.withResolvers<{ message: unknown; from: string }>();
  here.subscribe((message, from) => got.resolve({ message, from }));
  // The worker joins the channel, echoes the first message it hears, then ends.
  const source = `
    import { BroadcastChannelBus } from ${
    JSON.stringify(
      new URL("../lib/bus/broadcast_channel.ts", import.meta.url).href,
    )
  };
    const bus = new BroadcastChannelBus({ channel: ${JSON.stringify(channel)}, node: "worker" });
    bus.subscribe((m) => {
      bus.publish({ kind: "echo", of: m });
      bus.close().then(() => self.close());
    });
    self.postMessage("joined");
  `;
  const url = `data:application/typescript,${encodeURIComponent(source)}`;
  const worker = new Worker(url, { type: "module" });
  try {
    await new Promise((resolve) => (worker.onmessage = resolve));
    here.publish({ kind: "ping", n: 1 });
    assert.deepEqual(await got.promise, {
      message: { kind: "echo", of: { kind: "ping", n: 1 } },
      from: "worker",
    });
  } finally {
    worker.terminate();
    await here.close();
  }
});
