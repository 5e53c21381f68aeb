/**
 * What a number of connections hold in the JavaScript heap, from two V8 heap snapshots of the
 * same server (e.g. bench/idle_steps.ts with SNAP_DIR: every client closed, then the same users
 * signed in again): self sizes by kind and class name, the difference divided by `count`, the
 * largest first.
 *
 *   deno run -A bench/heap_diff.ts BEFORE.heapsnapshot AFTER.heapsnapshot COUNT [ROWS]
 */

interface Totals {
  byKey: Map<string, { count: number; bytes: number }>;
  bytes: number;
}

/** Self sizes of a snapshot's nodes by kind and name (strings and numbers by kind alone). */
export function heapTotals(json: string): Totals {
  const snapshot = JSON.parse(json);
  const meta = snapshot.snapshot.meta;
  const kinds: string[] = meta.node_types[0];
  const fields = meta.node_fields.length;
  const nodes: number[] = snapshot.nodes;
  const strings: string[] = snapshot.strings;
  const byKey = new Map<string, { count: number; bytes: number }>();
  let bytes = 0;
  for (let i = 0; i < nodes.length; i += fields) {
    const kind = kinds[nodes[i]];
    // A string's or number's name is its value: by kind alone, or every one is its own row.
    const name = /string|number/.test(kind) ? "" : strings[nodes[i + 1]].slice(0, 60);
    const key = `${kind}:${name}`;
    const row = byKey.get(key) ?? { count: 0, bytes: 0 };
    row.count++;
    row.bytes += nodes[i + 3];
    bytes += nodes[i + 3];
    byKey.set(key, row);
  }
  return { byKey, bytes };
}

if (import.meta.main) {
  const [before, after, countArg, rowsArg] = Deno.args;
  const count = Number(countArg);
  if (!before || !after || !(count > 0)) {
    console.error("usage: heap_diff.ts BEFORE.heapsnapshot AFTER.heapsnapshot COUNT [ROWS]");
    Deno.exit(2);
  }
  const a = heapTotals(await Deno.readTextFile(before));
  const b = heapTotals(await Deno.readTextFile(after));
  const none = { count: 0, bytes: 0 };
  const rows = [...new Set([...a.byKey.keys(), ...b.byKey.keys()])].map((key) => {
    const x = a.byKey.get(key) ?? none;
    const y = b.byKey.get(key) ?? none;
    return { key, count: (y.count - x.count) / count, bytes: (y.bytes - x.bytes) / count };
  }).sort((p, q) => Math.abs(q.bytes) - Math.abs(p.bytes));
  console.log(`self size per connection: ${((b.bytes - a.bytes) / count).toFixed(0)} B`);
  console.log("   B/conn  objects/conn  kind:name");
  for (const r of rows.slice(0, Number(rowsArg ?? 40))) {
    console.log(`${r.bytes.toFixed(0).padStart(9)} ${r.count.toFixed(2).padStart(13)}  ${r.key}`);
  }
}
