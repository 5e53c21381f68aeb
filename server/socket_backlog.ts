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

/** Adds the lines of one /proc/net/tcp-style table to `out`. */
export function parseBacklogs(text: string, out: BacklogTable): void {
  for (const line of text.split("\n")) {
    // "  12: 0100007F:9C41 0100007F:D3A2 01 00001234:00000000 ..."
    const f = line.trim().split(/\s+/);
    if (f.length < 5 || !f[0].endsWith(":")) continue;
    const local = f[1].lastIndexOf(":");
    const remote = f[2].lastIndexOf(":");
    const colon = f[4].indexOf(":");
    if (local < 0 || remote < 0 || colon < 0) continue;
    const key = backlogKey(
      parseInt(f[1].slice(local + 1), 16),
      parseInt(f[2].slice(remote + 1), 16),
    );
    const unsent = parseInt(f[4].slice(0, colon), 16);
    const unread = parseInt(f[4].slice(colon + 1), 16);
    if (Number.isNaN(unsent) || Number.isNaN(unread)) continue;
    const had = out.get(key);
    out.set(key, {
      unsent: Math.max(had?.unsent ?? 0, unsent),
      unread: Math.max(had?.unread ?? 0, unread),
    });
  }
}

/**
 * One reading of the table shared by every check within `maxAgeMs`: a tick that judges many
 * connections reads it once, and only if one of them asks.
 */
export class BacklogView {
  #table: BacklogTable | undefined;
  #at = -Infinity;
  #maxAgeMs: number;
  #read: () => BacklogTable | undefined;

  constructor(maxAgeMs = 100, read: () => BacklogTable | undefined = readBacklogs) {
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

/** A /proc file's text: through Deno when it allows, else through libc; undefined when neither. */
function readProc(path: string): string | undefined {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    // Deno asks for --allow-all to read /proc/net: libc, if this process may call it.
  }
  libc ??= openLibc(PROC_SYMBOLS);
  if ("why" in libc) return undefined;
  const { open, read, close } = libc.lib.symbols;
  const fd = open(utf8.encode(path + "\0"), 0 /* O_RDONLY */);
  if (fd < 0) return undefined;
  try {
    const chunks: Uint8Array[] = [];
    const buf = new Uint8Array(256 * 1024);
    while (true) {
      const n = Number(read(fd, buf, BigInt(buf.length)));
      if (n < 0) return undefined;
      if (n === 0) break;
      chunks.push(buf.slice(0, n));
    }
    return chunks.map((c) => latin1.decode(c)).join("");
  } finally {
    close(fd);
  }
}

const utf8 = new TextEncoder();
/** The table is ASCII; chunk boundaries cannot split a character. */
const latin1 = new TextDecoder("latin1");
