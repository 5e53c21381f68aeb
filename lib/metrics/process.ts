import { getHeapSpaceStatistics } from "node:v8";
import type { MetricsRegistry } from "./registry.ts";

/**
 * The process's memory, read at each scrape: resident set size (the standard
 * `process_resident_memory_bytes`), and the JavaScript heap and the memory outside it that
 * buffers hold, so an operator can tell a leak of objects from a native one.
 */
export function registerProcessMetrics(registry: MetricsRegistry): void {
  registry.gauge(
    "process_resident_memory_bytes",
    "Resident memory size in bytes.",
    () => Deno.memoryUsage().rss,
  );
  registry.gauge("parley_heap_bytes", "JavaScript heap, used and total, in bytes.", () => {
    const m = Deno.memoryUsage();
    return [
      { labels: { kind: "used" }, value: m.heapUsed },
      { labels: { kind: "total" }, value: m.heapTotal },
    ];
  });
  registry.gauge(
    "parley_heap_space_bytes",
    "JavaScript heap by V8 space (new, old, code, large objects...): used, and held from the system.",
    () =>
      getHeapSpaceStatistics().filter((s) => s.physical_space_size > 0).flatMap((s) => [
        { labels: { space: s.space_name, kind: "used" }, value: s.space_used_size },
        { labels: { space: s.space_name, kind: "physical" }, value: s.physical_space_size },
      ]),
  );
  registry.gauge(
    "parley_external_memory_bytes",
    "Memory held outside the JavaScript heap by buffers, in bytes.",
    () => Deno.memoryUsage().external,
  );
}
