export { Counter, Gauge, Histogram, MetricsRegistry } from "./registry.ts";
