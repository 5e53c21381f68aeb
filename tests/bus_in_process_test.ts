import { InProcessBusHub } from "../lib/bus/mod.ts";
import { runBusConformance } from "./bus_conformance.ts";

runBusConformance({
  name: "in-process",
  make: () => {
    const hub = new InProcessBusHub();
    const joined: { close(): Promise<void> }[] = [];
    return Promise.resolve({
      join: (node?: string) => {
        const bus = hub.join(node);
        joined.push(bus);
        return Promise.resolve(bus);
      },
      close: async () => {
        for (const bus of joined) await bus.close();
      },
    });
  },
});
