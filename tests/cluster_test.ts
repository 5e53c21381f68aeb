import { InProcessBusHub } from "../lib/bus/mod.ts";
import type { BusCluster } from "./bus_conformance.ts";
import { runClusterScenarios } from "./cluster_scenarios.ts";

/** Nodes in this process on one in-process hub. */
function hubCluster(): Promise<BusCluster> {
  const hub = new InProcessBusHub();
  return Promise.resolve({
    join: (node?: string) => Promise.resolve(hub.join(node)),
    close: () => Promise.resolve(),
  });
}

runClusterScenarios({ name: "in-process", make: hubCluster });
