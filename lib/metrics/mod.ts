export { Counter, Gauge, Histogram, MetricsRegistry } from "./registry.ts";
export { registerProcessMetrics } from "./process.ts";
