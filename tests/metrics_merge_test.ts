import assert from "node:assert/strict";
import { mergeExpositions } from "../lib/metrics/merge.ts";
import { MetricsRegistry } from "../lib/metrics/registry.ts";

Deno.test("mergeExpositions: each family once, every sample labelled with its part", () => {
  const registry = (sent: number, open: number) => {
    const r = new MetricsRegistry();
    r.counter("parley_messages_total", "Messages sent.").inc(undefined, sent);
    r.gauge("parley_connections", "Connections open.", () => [
      { labels: { transport: "tcp" }, value: open },
    ]);
    r.histogram("parley_store_seconds", "Store latency.", [0.01]).observe(0.002, { op: "x" });
    return r.render();
  };
  const merged = mergeExpositions([
    { labels: { worker: "1" }, text: registry(3, 5) },
    { labels: { worker: "2" }, text: registry(4, 6) },
  ]);
  const lines = merged.trimEnd().split("\n");
  for (const name of ["parley_messages_total", "parley_connections", "parley_store_seconds"]) {
    assert.equal(lines.filter((l) => l.startsWith(`# HELP ${name} `)).length, 1, name);
    assert.equal(lines.filter((l) => l.startsWith(`# TYPE ${name} `)).length, 1, name);
  }
  assert.ok(lines.includes('parley_messages_total{worker="1"} 3'), merged);
  assert.ok(lines.includes('parley_messages_total{worker="2"} 4'), merged);
  assert.ok(lines.includes('parley_connections{worker="2",transport="tcp"} 6'), merged);
  assert.ok(lines.includes('parley_store_seconds_bucket{worker="1",op="x",le="0.01"} 1'), merged);
  // A family's samples follow its own HELP and TYPE, from both parts.
  const at = lines.indexOf("# TYPE parley_messages_total counter");
  assert.deepEqual(lines.slice(at + 1, at + 3), [
    'parley_messages_total{worker="1"} 3',
    'parley_messages_total{worker="2"} 4',
  ]);
});
