import assert from "node:assert/strict";
import { RelayBus, RelayHub } from "../lib/bus/relay_bus.ts";
import { type BusCluster, runBusConformance } from "./bus_conformance.ts";
import { runClusterScenarios } from "./cluster_scenarios.ts";

/** Nodes relayed by one hub over message channels, as the main thread relays its workers. */
function relayCluster(): Promise<BusCluster> {
  const hub = new RelayHub();
  const opened: { bus: RelayBus; ports: MessagePort[] }[] = [];
  return Promise.resolve({
    join: (node?: string) => {
      const { port1, port2 } = new MessageChannel();
      hub.attach(port2);
      port1.start();
      port2.start();
      const bus = new RelayBus({ port: port1, node });
      opened.push({ bus, ports: [port1, port2] });
      return Promise.resolve(bus);
    },
    close: async () => {
      for (const { bus, ports } of opened) {
        await bus.close();
        for (const port of ports) {
          hub.detach(port);
          port.close();
        }
      }
    },
  });
}

runBusConformance({ name: "relay", make: relayCluster });

// The routers of two nodes on the relay behave to their users as one server.
runClusterScenarios({ name: "relay", make: relayCluster });

/** A worker that joins the relay over its own scope and runs `body` (with `bus` in scope). */
function relayWorker(node: string, body: string): Worker {
  const source = `
    import { RelayBus } from ${
    JSON.stringify(new URL("../lib/bus/relay_bus.ts", import.meta.url).href)
  };
    const bus = new RelayBus({ port: self, node: ${JSON.stringify(node)} });
    ${body}
  `;
  return new Worker(`data:application/javascript,${encodeURIComponent(source)}`, {
    type: "module",
  });
}

Deno.test("the relay bus carries a burst between workers whole, while the reader is busy", async () => {
  // A BroadcastChannel between threads lost what overflowed its 256-message queue while the
  // reading thread was busy: a sign-in storm's `stored` hints among them.
  const count = 3000;
  const hub = new RelayHub();
  const reader = relayWorker(
    "reader",
    `let got = 0; let last = -1; let inOrder = true;
     bus.subscribe((m) => { got++; if (m.i !== last + 1) inOrder = false; last = m.i;
       if (got === ${count}) self.postMessage({ got, inOrder }); });
     self.postMessage("ready");
     self.onmessage = (e) => { if (e.data === "block") {
       const until = Date.now() + 300; while (Date.now() < until) {} } };`,
  );
  const writer = relayWorker(
    "writer",
    `self.onmessage = (e) => { if (e.data === "go") {
       for (let i = 0; i < ${count}; i++) bus.publish({ kind: "burst", i }); } };
     self.postMessage("ready");`,
  );
  const ready = (w: Worker) =>
    new Promise((resolve) => w.addEventListener("message", resolve, { once: true }));
  try {
    await Promise.all([ready(reader), ready(writer)]);
    hub.attach(reader);
    hub.attach(writer);
    const report = new Promise<{ got: number; inOrder: boolean }>((resolve) =>
      reader.addEventListener("message", (e) => {
        if (typeof e.data === "object" && "got" in e.data) resolve(e.data);
      })
    );
    reader.postMessage("block");
    writer.postMessage("go");
    assert.deepEqual(await report, { got: count, inOrder: true });
  } finally {
    hub.detach(reader);
    hub.detach(writer);
    reader.terminate();
    writer.terminate();
  }
});
