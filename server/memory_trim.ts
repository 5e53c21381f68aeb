/**
 * Gives freed native memory back to the operating system. glibc's malloc returns memory only
 * from the top of its heap, so a burst (a login storm, a traffic peak, thousands of connections
 * that come and go) leaves free chunks in the middle that stay resident: the bench saw an idle
 * server keep twice the memory its connections use. `malloc_trim(0)` releases those pages.
 *
 * It is a libc call, so it needs FFI access to libc, which `deno task start` grants for exactly
 * that file (`LIBC_FFI_FLAG`). Without it, or on a libc without `malloc_trim` (musl), the server
 * runs as before and only holds more memory after peaks.
 */
import { LIBCRYPTO_PATHS } from "../lib/crypto/_openssl.ts";
import type { Logger } from "../lib/log.ts";
import type { MetricsRegistry } from "../lib/metrics/mod.ts";

/**
 * Where glibc distributions keep libc: Debian and Ubuntu (merged /usr, and /lib without it),
 * Fedora and others (/usr/lib64), Arch (/usr/lib). The permission names exact files, not links.
 */
export const LIBC_PATHS = [
  "/usr/lib/x86_64-linux-gnu/libc.so.6",
  "/usr/lib/aarch64-linux-gnu/libc.so.6",
  "/lib/x86_64-linux-gnu/libc.so.6",
  "/lib/aarch64-linux-gnu/libc.so.6",
  "/usr/lib64/libc.so.6",
  "/usr/lib/libc.so.6",
];

/**
 * The permission flag that lets the server call libc and libcrypto (lib/crypto/_openssl.ts: its
 * AES-GCM seals), and nothing else, through FFI.
 */
export const LIBC_FFI_FLAG = `--allow-ffi=${[...LIBC_PATHS, ...LIBCRYPTO_PATHS].join(",")}`;

/** How often freed memory is handed back; a trim of a large heap costs about a millisecond. */
export const TRIM_INTERVAL_MS = 10_000;

export interface MemoryTrimmer {
  /** The libc that answers. */
  readonly libc: string;
  /** Trims now; returns the seconds it took. */
  trim(): number;
  stop(): void;
}

const TRIM_SYMBOLS = {
  malloc_trim: { parameters: ["usize"], result: "i32" },
  mallopt: { parameters: ["i32", "i32"], result: "i32" },
} as const;

/** `mallopt` parameters (malloc.h), and glibc's own defaults for both, kept fixed. */
const M_TRIM_THRESHOLD = -1;
const M_MMAP_THRESHOLD = -3;
const DEFAULT_THRESHOLD_BYTES = 128 * 1024;

/**
 * Keeps glibc's trim and mmap thresholds at their defaults. Left to adjust themselves, they rise
 * with the largest block above 128 KiB ever freed (up to 32 and 64 MiB): another thread's arena
 * then keeps a free top below twice that size for good, since `malloc_trim` gives back the free
 * pages inside an arena but not the top of a thread's. The blocking threads that run the
 * sign-ins' key derivations and handshakes kept 0.5-1.5 MiB each that way after a storm of 2,000
 * (docs/performance.md §19). Once set, glibc adjusts neither; the price is that every block above
 * 128 KiB is mapped and unmapped on its own, as glibc does until such a block is first freed.
 */
function fixThresholds(lib: Deno.DynamicLibrary<typeof TRIM_SYMBOLS>): void {
  lib.symbols.mallopt(M_TRIM_THRESHOLD, DEFAULT_THRESHOLD_BYTES);
  lib.symbols.mallopt(M_MMAP_THRESHOLD, DEFAULT_THRESHOLD_BYTES);
}

/**
 * Opens libc with `symbols` if this process may; undefined (and why) when it cannot. Other
 * modules that need a libc call (server/fd_limit.ts) open it here, under the same permission.
 */
export function openLibc<S extends Deno.ForeignLibraryInterface>(
  symbols: S,
): { lib: Deno.DynamicLibrary<S>; path: string } | { why: string } {
  if (Deno.build.os !== "linux") return { why: "not Linux" };
  const allowed = LIBC_PATHS.filter((path) =>
    Deno.permissions.querySync({ name: "ffi", path }).state === "granted"
  );
  if (allowed.length === 0) return { why: `no ${LIBC_FFI_FLAG.split("=")[0]} for libc` };
  for (const path of allowed) {
    try {
      return { lib: Deno.dlopen(path, symbols), path };
    } catch {
      // Not there (another architecture's path) or the symbols are not in it: try the next.
    }
  }
  return { why: "no glibc with " + Object.keys(symbols).join(", ") + " at " + allowed.join(", ") };
}

/**
 * Trims every `intervalMs` (the timer does not keep the process alive) and reports the time it
 * takes as `parley_memory_trim_seconds`. Returns undefined, after logging why at debug level,
 * when trimming is not possible here.
 */
export function startMemoryTrim(options: {
  logger: Logger;
  metrics?: MetricsRegistry;
  intervalMs?: number;
}): MemoryTrimmer | undefined {
  const opened = openLibc(TRIM_SYMBOLS);
  if ("why" in opened) {
    options.logger.debug("memory trim off", { why: opened.why });
    return undefined;
  }
  const { lib, path } = opened;
  fixThresholds(lib);
  const seconds = options.metrics?.histogram(
    "parley_memory_trim_seconds",
    "Time spent handing freed memory back to the operating system (malloc_trim).",
    [0.0001, 0.001, 0.01, 0.1],
  );
  let stopped = false;
  const trim = (): number => {
    if (stopped) return 0;
    const t0 = performance.now();
    lib.symbols.malloc_trim(0n);
    const took = (performance.now() - t0) / 1000;
    seconds?.observe(took);
    return took;
  };
  const timer = setInterval(trim, options.intervalMs ?? TRIM_INTERVAL_MS);
  Deno.unrefTimer(timer);
  return {
    libc: path,
    trim,
    stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      lib.close();
    },
  };
}
