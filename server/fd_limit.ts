/**
 * Every open connection holds a file descriptor, so `--max-connections` can only be kept when
 * the process may open that many and some more (the store's files, connections being refused,
 * calls to the translator). Deno raises the soft `ulimit -n` to the hard one at start; when even
 * that is too low, Parley admits fewer connections, says so at start-up when the cut matters
 * (`fitConnections`), and refuses the rest with `server_full` rather than fail to accept.
 */

import { openLibc } from "./memory_trim.ts";

/** Descriptors kept apart from connections: refusals being answered, the store, the translator. */
export const FD_HEADROOM = 128;

/** Descriptors a server has open before its first connection, when /proc cannot tell. */
const TYPICAL_IN_USE = 32;

export interface FileLimit {
  soft: number;
  hard: number;
}

/**
 * The soft and hard limits on open files: from /proc/self/limits when given, or when Deno lets
 * the process read it (only with --allow-all); otherwise from libc's getrlimit, under the FFI
 * permission `deno task start` grants for libc. Undefined when neither can tell.
 */
export function openFileLimit(
  limits: string | undefined = readOrUndefined("/proc/self/limits"),
): FileLimit | undefined {
  if (limits === undefined) return getrlimit();
  const m = limits.match(/^Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/m);
  if (!m) return undefined;
  const value = (v: string) => v === "unlimited" ? Infinity : Number(v);
  return { soft: value(m[1]), hard: value(m[2]) };
}

/** RLIMIT_NOFILE on Linux (x86-64 and arm64 alike), and rlim_t's "unlimited". */
const RLIMIT_NOFILE = 7;
const RLIM_INFINITY = 0xffff_ffff_ffff_ffffn;

function getrlimit(): FileLimit | undefined {
  const opened = openLibc({ getrlimit: { parameters: ["i32", "buffer"], result: "i32" } } as const);
  if ("why" in opened) return undefined;
  try {
    const rlimit = new BigUint64Array(2);
    if (opened.lib.symbols.getrlimit(RLIMIT_NOFILE, rlimit) !== 0) return undefined;
    const value = (v: bigint) => v === RLIM_INFINITY ? Infinity : Number(v);
    return { soft: value(rlimit[0]), hard: value(rlimit[1]) };
  } finally {
    opened.lib.close();
  }
}

/** Descriptors this process has open now, or a typical count when /proc cannot tell. */
export function openFileCount(): number {
  try {
    let n = 0;
    for (const _ of Deno.readDirSync("/proc/self/fd")) n++;
    return n;
  } catch {
    return TYPICAL_IN_USE;
  }
}

/**
 * The connections this process can hold at most: `maxConnections`, or fewer when the open-file
 * limit `softLimit` cannot hold them besides the `inUse` descriptors and the headroom. With the
 * warning to log when the cut matters (`asked`: the operator set --max-connections), or else a
 * note for the debug log.
 */
export function fitConnections(
  maxConnections: number,
  softLimit: number,
  inUse: number,
  asked = false,
): { maxConnections: number; warning?: string; note?: string } {
  const room = Math.floor(softLimit - inUse - FD_HEADROOM);
  if (room >= maxConnections) return { maxConnections };
  const fitted = Math.max(1, room);
  const text = `the open-file limit (ulimit -n) is ${softLimit}: it holds ${fitted} connections, ` +
    `not --max-connections ${maxConnections} (each connection takes a descriptor, and ` +
    `${inUse + FD_HEADROOM} are kept for the server itself); more are refused as server_full. ` +
    `Raise it (ulimit -n ${maxConnections + inUse + FD_HEADROOM}, or LimitNOFILE= under ` +
    "systemd) or lower --max-connections";
  // A number the operator chose is one they plan on: any cut of it is worth a warning. The
  // default is a round ceiling nobody planned on; a limit that holds nearly as many (this
  // machine's 20,000 against the default 20,000, short only of the server's own descriptors) is
  // the operator's choice too, and a line about it at every start is noise. A limit that holds
  // far fewer (1024, 4096) is news: the server is much smaller than its default.
  return asked || fitted < maxConnections * SMALL_CUT
    ? { maxConnections: fitted, warning: text }
    : { maxConnections: fitted, note: text };
}

/** A default --max-connections cut to at least this share of itself is only noted (debug). */
const SMALL_CUT = 0.9;

function readOrUndefined(path: string): string | undefined {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return undefined;
  }
}
