import assert from "node:assert/strict";
import { LIBC_FFI_FLAG, LIBC_PATHS } from "../server/memory_trim.ts";
import { runScript } from "./process_helpers.ts";

const MIB = 1024 * 1024;

const glibc = Deno.build.os === "linux" &&
  (await new Deno.Command("ldd", { args: ["--version"], stdout: "piped", stderr: "piped" })
    .output().then((o) => /GLIBC|GNU libc/i.test(new TextDecoder().decode(o.stdout)))
    .catch(() => false)) &&
  LIBC_PATHS.some(exists);

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * What the trim child prints: its resident memory (bytes) at the start, with the buffers held, after they were
 * freed and collected, and after the trimmer's interval ran; and the trims the metric counted.
 */
interface TrimFigures {
  start: number;
  held: number;
  freed: number;
  trimmed: number;
  trims: number;
  stopped: number;
}

/**
 * In a process of its own (so no other test's garbage moves its RSS): fills ~60 MiB of native
 * buffers of 16 KiB (malloc'd, below glibc's mmap threshold, so freeing them does not unmap
 * them), keeps every 16th alive so the freed chunks sit in the middle of the heap where free()
 * never returns them, frees and collects the rest, then lets the trimmer run on its interval.
 */
const TRIM_CHILD = (memoryTrim: string, log: string, metrics: string) => `
import { startMemoryTrim } from "${memoryTrim}";
import { silentLogger } from "${log}";
import { MetricsRegistry } from "${metrics}";
const rss = () => Deno.memoryUsage().rss;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const start = rss();
let freedLater = [];
const kept = [];
for (let i = 0; i < 4000; i++) {
  const buffer = new Uint8Array(16 * 1024).fill(1); // touched, so resident
  (i % 16 === 15 ? kept : freedLater).push(buffer);
}
const held = rss();
freedLater = undefined;
for (let i = 0; i < 3; i++) {
  globalThis.gc();
  await sleep(50);
}
const freed = rss();
const metrics = new MetricsRegistry();
const trimmer = startMemoryTrim({ logger: silentLogger, metrics, intervalMs: 20 });
await sleep(300);
const trimmed = rss();
const trims = Number(metrics.render().match(/^parley_memory_trim_seconds_count (\\d+)$/m)?.[1]);
trimmer.stop();
const stopped = trimmer.trim(); // a stopped trimmer does nothing: its library is closed
console.log(JSON.stringify({ start, held, freed, trimmed, trims, stopped, kept: kept.length }));
`;

Deno.test({
  name: "memory trim: with FFI access to libc it hands memory back on its interval",
  ignore: !glibc,
  fn: async () => {
    const url = (path: string) => new URL(path, import.meta.url).href;
    const out = await runScript(
      TRIM_CHILD(
        url("../server/memory_trim.ts"),
        url("../lib/log.ts"),
        url("../lib/metrics/mod.ts"),
      ),
      { flags: [LIBC_FFI_FLAG, "--v8-flags=--expose-gc"] },
    );
    const f: TrimFigures = JSON.parse(out.stdout);
    const mib = (bytes: number) => `${(bytes / MIB).toFixed(1)} MiB`;
    const figures = `RSS ${mib(f.start)} at the start, ${mib(f.held)} with the buffers, ` +
      `${mib(f.freed)} once freed, ${mib(f.trimmed)} after the trims`;
    // Without a trim the freed buffers stay resident: otherwise this test shows nothing.
    assert.ok(f.freed - f.start > 32 * MIB, `the freed memory was not held (${figures})`);
    // Most of the ~56 MiB freed goes back; a generous margin for the allocator's own slack.
    assert.ok(f.freed - f.trimmed > 24 * MIB, `the trims handed back too little (${figures})`);
    assert.ok(f.trims >= 2, `trims counted: ${f.trims}`);
    assert.equal(f.stopped, 0);
  },
});

Deno.test("memory trim: without FFI permission the server runs without it", async () => {
  const mod = new URL("../server/memory_trim.ts", import.meta.url).href;
  const log = new URL("../lib/log.ts", import.meta.url).href;
  // `deno run` without --allow-ffi: no prompt (no TTY), no crash, no trimmer.
  const out = await runScript(
    `import { startMemoryTrim } from "${mod}"; import { silentLogger } from "${log}";\n` +
      `console.log(String(startMemoryTrim({ logger: silentLogger })));\n`,
  );
  assert.equal(out.stdout.trim(), "undefined");
});

/**
 * In a process of its own, with the trimmer on: frees one 8 MiB block, which glibc left to itself
 * takes as the new least size of a block it maps on its own and twice that as the free top an
 * arena may keep; then holds a 1 MiB block. With the thresholds kept at their defaults, that block
 * is mapped on its own (`mallinfo2`'s `hblkhd`), and an arena's top above 128 KiB is given back.
 */
const THRESHOLD_CHILD = (memoryTrim: string, log: string, libc: string) => `
import { startMemoryTrim } from "${memoryTrim}";
import { silentLogger } from "${log}";
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const trimmer = startMemoryTrim({ logger: silentLogger });
const libc = Deno.dlopen("${libc}", {
  mallinfo2: { parameters: [], result: { struct: ["usize","usize","usize","usize","usize","usize","usize","usize","usize","usize"] } },
});
const mapped = () => Number(new BigUint64Array(libc.symbols.mallinfo2().buffer)[4]);
let big = new Uint8Array(8 * 1024 * 1024).fill(1);
const withBig = mapped();
big = undefined;
for (let i = 0; i < 3; i++) {
  globalThis.gc();
  await sleep(50);
}
const before = mapped();
const block = new Uint8Array(1024 * 1024).fill(1);
const after = mapped();
trimmer.stop();
console.log(JSON.stringify({ withBig, before, after, kept: block.length }));
`;

Deno.test({
  name: "memory trim: glibc's thresholds stay at their defaults after a large block is freed",
  ignore: !glibc,
  fn: async () => {
    const url = (path: string) => new URL(path, import.meta.url).href;
    const libc = LIBC_PATHS.find(exists)!;
    const out = await runScript(
      THRESHOLD_CHILD(url("../server/memory_trim.ts"), url("../lib/log.ts"), libc),
      { flags: [LIBC_FFI_FLAG, "--v8-flags=--expose-gc"] },
    );
    const f: { withBig: number; before: number; after: number } = JSON.parse(out.stdout);
    const figures = `mapped on their own: ${f.withBig} B with the 8 MiB block, ` +
      `${f.before} B once it was freed, ${f.after} B with a 1 MiB block`;
    assert.ok(f.withBig - f.before >= 8 * MIB, `the 8 MiB block was not mapped (${figures})`);
    assert.ok(f.after - f.before >= MIB, `the 1 MiB block came from an arena (${figures})`);
  },
});
