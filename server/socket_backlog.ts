/**
 * What the kernel holds for each TCP connection: the bytes of its send queue the peer has not
 * acknowledged (`tx_queue` in /proc/net/tcp and tcp6, Send-Q in `ss`) and the bytes the peer
 * sent that the server has not read yet (`rx_queue`, Recv-Q).
 *
 * Why the slow-reader checks ask: a write the server's runtime has not seen finish, or a
 * heartbeat answer it has not read, is not always a reader that stopped reading. In a sign-in
 * storm the bench saw writes to 98 of 2,000 healthy readers stay unfinished for 5 s while their
 * sockets were empty on both ends (the kernel had sent everything and the reader had read it
 * all), and heartbeat answers wait unread in the server's own receive queues while it opened
 * other clients' lines: the server was behind, not the reader. A reader that stops reading
 * leaves bytes in our send queue (its receive window closes); one whose socket holds nothing of
 * ours, or whose answer is waiting for us to read it, is holding nothing up.
 *
 * Deno lets a process read /proc/net only with --allow-all; otherwise the table is read through
 * libc (open/read), under the FFI permission `deno task start` grants for libc
 * (server/memory_trim.ts). Without either, nothing is known and the checks judge as before.
 */
import { openLibc } from "./memory_trim.ts";

/** What the kernel holds for one connection, in bytes. */
export interface Backlog {
  /** Sent and not acknowledged, or not sent for the peer's closed window. */
  unsent: number;
  /** Received and not read by the server. */
  unread: number;
}

/** Backlogs by `localPort:remotePort` (the largest, should two peers share the pair of ports). */
export type BacklogTable = Map<string, Backlog>;

const TABLES = ["/proc/net/tcp", "/proc/net/tcp6"];

/** The key of a connection in a BacklogTable. */
export function backlogKey(localPort: number, remotePort: number): string {
  return `${localPort}:${remotePort}`;
}

/**
 * Reads the queues of every TCP socket of this machine's network namespace; undefined where
 * that cannot be known (not Linux, no permission). A few ms at 10,000 sockets: the checks read
 * it only when they are about to drop someone, and share one reading (see `BacklogView`).
 */
export function readBacklogs(read: (path: string) => string | undefined = readProc):
  | BacklogTable
  | undefined {
  if (Deno.build.os !== "linux") return undefined;
  const out: BacklogTable = new Map();
  let found = 0;
  for (const path of TABLES) {
    const text = read(path);
    if (text === undefined) continue;
    found++;
    parseBacklogs(text, out);
  }
  return found ? out : undefined;
}

/**
 * Adds the lines of one /proc/net/tcp-style table to `out`. Read with indexOf, not split: at
 * 10,000 sockets a split per line was most of the cost of a reading.
 */
export function parseBacklogs(text: string, out: BacklogTable): void {
  // "  12: 0100007F:9C41 0100007F:D3A2 01 00001234:00000000 ...": after "N: ", the local and
  // remote address:port, the state and tx:rx, one space apart.
  let at = 0;
  while (at < text.length) {
    let end = text.indexOf("\n", at);
    if (end < 0) end = text.length;
    const start = text.indexOf(": ", at);
    const line = start >= 0 && start < end ? text.slice(start + 2, end) : "";
    at = end + 1;
    const s1 = line.indexOf(" ");
    const s2 = line.indexOf(" ", s1 + 1);
    const s3 = line.indexOf(" ", s2 + 1);
    const s4 = line.indexOf(" ", s3 + 1);
    if (s1 < 0 || s2 < 0 || s3 < 0 || s4 < 0) continue;
    const local = line.lastIndexOf(":", s1);
    const remote = line.lastIndexOf(":", s2);
    const colon = line.indexOf(":", s3);
    if (local < 0 || remote <= s1 || colon < 0 || colon > s4) continue;
    const key = backlogKey(
      parseInt(line.slice(local + 1, s1), 16),
      parseInt(line.slice(remote + 1, s2), 16),
    );
    const unsent = parseInt(line.slice(s3 + 1, colon), 16);
    const unread = parseInt(line.slice(colon + 1, s4), 16);
    if (Number.isNaN(unsent) || Number.isNaN(unread)) continue;
    const had = out.get(key);
    out.set(key, {
      unsent: Math.max(had?.unsent ?? 0, unsent),
      unread: Math.max(had?.unread ?? 0, unread),
    });
  }
}

/**
 * One reading of the table shared by every check within `maxAgeMs`: the checks that judge many
 * connections read it once, and only if one of them asks. A second old is fresh enough: it only
 * spares readers that were not holding anything up a second ago.
 */
export class BacklogView {
  #table: BacklogTable | undefined;
  #at = -Infinity;
  #maxAgeMs: number;
  #read: () => BacklogTable | undefined;

  constructor(maxAgeMs = 1000, read: () => BacklogTable | undefined = readBacklogs) {
    this.#maxAgeMs = maxAgeMs;
    this.#read = read;
  }

  /** What the kernel holds for the connection between the two ports; undefined if unknown. */
  of(localPort: number, remotePort: number): Backlog | undefined {
    const now = performance.now();
    if (now - this.#at > this.#maxAgeMs) {
      this.#table = this.#read();
      this.#at = performance.now();
    }
    return this.#table?.get(backlogKey(localPort, remotePort));
  }
}

/** The process's one view. */
export const kernelBacklogs: BacklogView = new BacklogView();

const PROC_SYMBOLS = {
  open: { parameters: ["buffer", "i32"], result: "i32" },
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  close: { parameters: ["i32"], result: "i32" },
} as const;

let libc: ReturnType<typeof openLibc<typeof PROC_SYMBOLS>> | undefined;
/** Deno refused to read /proc/net once: it will again (a refusal costs an error and its stack). */
let denoRefuses = false;
let buf = new Uint8Array(64 * 1024);

/** A /proc file's text: through Deno when it allows, else through libc; undefined when neither. */
function readProc(path: string): string | undefined {
  if (!denoRefuses) {
    try {
      return Deno.readTextFileSync(path);
    } catch (err) {
      // Deno asks for --allow-all to read /proc/net: libc, if this process may call it.
      if (!(err instanceof Deno.errors.NotFound)) denoRefuses = true;
      else return undefined;
    }
  }
  libc ??= openLibc(PROC_SYMBOLS);
  if ("why" in libc) return undefined;
  const { open, read, close } = libc.lib.symbols;
  const fd = open(utf8.encode(path + "\0"), 0 /* O_RDONLY */);
  if (fd < 0) return undefined;
  try {
    let used = 0;
    while (true) {
      if (used === buf.length) {
        const bigger = new Uint8Array(buf.length * 2);
        bigger.set(buf);
        buf = bigger;
      }
      const n = Number(read(fd, buf.subarray(used), BigInt(buf.length - used)));
      if (n < 0) return undefined;
      if (n === 0) break;
      used += n;
    }
    return latin1.decode(buf.subarray(0, used));
  } finally {
    close(fd);
  }
}

const utf8 = new TextEncoder();
/** The table is ASCII; chunk boundaries cannot split a character. */
const latin1 = new TextDecoder("latin1");
