/**
 * Where a server's RSS grew between two `--memory-dump` steps of the bench (or SMAPS_DIR steps
 * of bench/idle_steps.ts): `/proc/<pid>/smaps` by kind of mapping (the V8 heap's 256 KiB pages,
 * glibc's main arena `[heap]`, other threads' arenas, files), and glibc's `malloc_info` arena by
 * arena (its size, what is free in it, what is in use), per connection.
 *
 *   deno run -A bench/memory_diff.ts DIR/parley-closed DIR/parley-warm COUNT
 *   (reads <step>.smaps and, when there, <step>.malloc.xml)
 */

interface Mapping {
  sizeKiB: number;
  name: string;
  perm: string;
  rssKiB: number;
}

function mappings(smaps: string): Mapping[] {
  const out: Mapping[] = [];
  for (const line of smaps.split("\n")) {
    const head = line.match(/^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$/);
    if (head) {
      const size = (parseInt(head[2], 16) - parseInt(head[1], 16)) / 1024;
      out.push({ sizeKiB: size, perm: head[3], name: head[4].trim(), rssKiB: 0 });
      continue;
    }
    const rss = line.match(/^Rss:\s+(\d+) kB/);
    if (rss && out.length) out[out.length - 1].rssKiB = Number(rss[1]);
  }
  return out;
}

/** The kind of a mapping, as far as its size and name tell. */
function kindOf(m: Mapping): string {
  if (m.name.startsWith("[")) return m.name === "[heap]" ? "[heap]: malloc's main arena" : m.name;
  if (m.name.startsWith("/")) return `file ${m.name.split("/").at(-1)}`;
  if (m.perm.startsWith("---")) return "guard pages";
  if (m.sizeKiB === 256) return "256 KiB: V8 heap pages";
  if (m.sizeKiB >= 1024 && m.perm === "rw-p") return "large anonymous: thread arenas, big mallocs";
  return "other anonymous (stacks, small)";
}

function byKind(smaps: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of mappings(smaps)) out.set(kindOf(m), (out.get(kindOf(m)) ?? 0) + m.rssKiB);
  return out;
}

/** Each arena of `malloc_info`: its size, and what is free in it (bins and top), in bytes. */
function arenas(xml: string): Map<number, { size: number; free: number }> {
  const out = new Map<number, { size: number; free: number }>();
  for (const heap of xml.matchAll(/<heap nr="(\d+)">([\s\S]*?)<\/heap>/g)) {
    const body = heap[2];
    let free = 0;
    for (const t of body.matchAll(/<total type="(?:fast|rest)" count="\d+" size="(\d+)"/g)) {
      free += Number(t[1]);
    }
    const size = Number(body.match(/<system type="current" size="(\d+)"/)?.[1] ?? 0);
    out.set(Number(heap[1]), { size, free });
  }
  return out;
}

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(path);
  } catch {
    return undefined;
  }
}

if (import.meta.main) {
  const [before, after, countArg] = Deno.args;
  const count = Number(countArg);
  if (!before || !after || !(count > 0)) {
    console.error("usage: memory_diff.ts DIR/<target>-closed DIR/<target>-warm COUNT");
    Deno.exit(2);
  }
  const a = byKind(await Deno.readTextFile(`${before}.smaps`));
  const b = byKind(await Deno.readTextFile(`${after}.smaps`));
  const total = (m: Map<string, number>) => [...m.values()].reduce((s, v) => s + v, 0);
  console.log(`RSS per connection: ${((total(b) - total(a)) / count).toFixed(2)} KiB`);
  const kinds = [...new Set([...a.keys(), ...b.keys()])]
    .map((k) => ({ k, d: ((b.get(k) ?? 0) - (a.get(k) ?? 0)) / count }))
    .filter((r) => Math.abs(r.d) >= 0.01)
    .sort((p, q) => Math.abs(q.d) - Math.abs(p.d));
  for (const r of kinds) console.log(`${r.d.toFixed(2).padStart(8)} KiB  ${r.k}`);
  const xa = await readOptional(`${before}.malloc.xml`);
  const xb = await readOptional(`${after}.malloc.xml`);
  if (!xa || !xb) Deno.exit(0);
  console.log("malloc arenas (0 is the main thread's), KiB per connection:");
  const ma = arenas(xa);
  const mb = arenas(xb);
  for (const nr of [...new Set([...ma.keys(), ...mb.keys()])].sort((x, y) => x - y)) {
    const x = ma.get(nr) ?? { size: 0, free: 0 };
    const y = mb.get(nr) ?? { size: 0, free: 0 };
    const size = (y.size - x.size) / 1024 / count;
    const free = (y.free - x.free) / 1024 / count;
    if (Math.abs(size) < 0.01 && Math.abs(free) < 0.01) continue;
    console.log(
      `  arena ${nr}: size ${size.toFixed(2)}, free ${free.toFixed(2)}, in use ${
        (size - free).toFixed(2)
      } (now ${(y.size / 1048576).toFixed(1)} MiB, ${(y.free / 1048576).toFixed(1)} free)`,
    );
  }
}
