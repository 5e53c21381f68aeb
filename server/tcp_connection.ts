import { concatBytes } from "../lib/bytes.ts";
import type { Dialect } from "../lib/protocol/types.ts";
import type { Connection, ReaderProgress } from "../lib/router/mod.ts";
import type { SecureSession } from "../lib/crypto/mod.ts";
import { FrameSealer, type SealedLines } from "./secure_transport.ts";
import { type Watched, writeWatch } from "./write_watch.ts";

const utf8 = new TextEncoder();

/** Writes all of `bytes`; false when the socket failed. */
export async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<boolean> {
  try {
    let off = 0;
    while (off < bytes.length) off += await conn.write(bytes.subarray(off));
    return true;
  } catch {
    return false;
  }
}

/** Closes the socket, whether or not it is closed already. */
export function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch { /* already closed */ }
}

/** What a TcpConnection needs to judge its reader; one object per server. */
export interface WriteLimits {
  /** Bytes that may wait behind a write the socket has not finished. */
  maxQueued: number;
  /** A write that makes no progress for this long means the reader stopped reading. */
  slowMs: number;
  onTooSlow: (remoteAddr: string, why: string) => void;
}

/** Bytes waiting to be written, and how many frames they complete. */
interface Pending {
  bytes: Uint8Array;
  frames: number;
}

/**
 * The write side of one TCP connection. Frames queued in the same turn of the event loop go out
 * in one write. A reader that stops reading (a write makes no progress for `slowMs`), or lets
 * more than `maxQueued` bytes pile up behind an unfinished write, is disconnected as too slow:
 * it never holds up anyone else, and its backlog never grows the server's memory without bound.
 */
export class TcpConnection implements Connection, Watched, SealedLines {
  readonly transport = "tcp";
  readonly dialect: Dialect;
  readonly remoteAddr: string;
  closing = false;
  tooSlow = false;
  /** Sealed lines read and waiting to be opened (see ReaderProgress.inputPending). */
  inputPending = 0;
  #conn: Deno.Conn;
  #queue: Pending[] = [];
  #queued = 0;
  #limits: WriteLimits;
  #writing: Promise<void> | undefined;
  #inWrite = false;
  #closed = false;
  #sealer: FrameSealer | undefined;
  #sent = 0;
  #accepted = 0;
  /** When the write in flight started (the write watch's clock); undefined when none is. */
  #writeSince: number | undefined;

  constructor(
    conn: Deno.Conn,
    dialect: Dialect,
    remoteAddr: string,
    limits: WriteLimits,
    secure?: SecureSession,
  ) {
    this.#conn = conn;
    this.dialect = dialect;
    this.remoteAddr = remoteAddr;
    this.#limits = limits;
    if (secure) {
      this.#sealer = new FrameSealer(secure, this);
    }
  }

  /** Frames leave the server's queues when the socket takes them: one count serves both. */
  progress(): ReaderProgress {
    const accepted = this.#accepted;
    return {
      accepted,
      handedOver: accepted,
      inputPending: this.inputPending,
      tooSlow: this.tooSlow,
    };
  }

  rest(): boolean {
    return this.#sealer?.rest() ?? false;
  }

  send(frame: string, lazy = false): number {
    const index = this.#sent++;
    if (this.#closed) return index;
    // In JSON mode every frame is sealed (in order, batched per turn) before it is queued.
    if (this.#sealer) this.#sealer.push(frame, lazy);
    else this.#queueBytes(utf8.encode(frame + "\n"), 1, true);
    return index;
  }

  /** For the FrameSealer. */
  sealedLine(line: string, frames: number, first: boolean): void {
    this.#queueBytes(utf8.encode(line + "\n"), frames, first);
  }

  /** For the FrameSealer. */
  sealFailed(): void {
    this.#hangUp();
  }

  #queueBytes(bytes: Uint8Array, frames: number, first: boolean): void {
    if (this.#closed) return;
    // A burst queued at once (one flush, however many lines) is fine; a backlog behind a write
    // the reader is not taking is not.
    if (first && this.#inWrite && this.#queued > this.#limits.maxQueued) {
      return this.#tooSlow(`more than ${this.#limits.maxQueued} bytes waiting`);
    }
    this.#queue.push({ bytes, frames });
    this.#queued += bytes.length;
    this.#writing ??= this.#drain();
  }

  async flushed(): Promise<void> {
    await this.#sealer?.settled();
    await this.#writing;
  }

  abort(why: string): void {
    this.#tooSlow(why);
  }

  close(_reason: string): void {
    if (this.closing) return;
    this.closing = true;
    const flushing = this.flushed();
    // A peer that does not read cannot hold the socket open for long.
    const deadline = setTimeout(() => this.#hangUp(), 2000);
    flushing.finally(() => {
      clearTimeout(deadline);
      this.#hangUp();
    });
  }

  /** After the read side ended: hang up now, unless a close is already flushing its goodbye. */
  async dispose(): Promise<void> {
    if (!this.closing) {
      this.closing = true;
      this.#hangUp();
    }
    await this.flushed().catch(() => {});
  }

  async #drain(): Promise<void> {
    // Let the current turn finish queueing, then write everything in one go.
    await Promise.resolve();
    try {
      while (this.#queue.length && !this.#closed) {
        const batch = this.#queue;
        const chunk = batch.length === 1
          ? batch[0].bytes
          : concatBytes(batch.map((p) => p.bytes), this.#queued);
        const frames = batch.reduce((n, p) => n + p.frames, 0);
        this.#queue = [];
        this.#queued = 0;
        this.#inWrite = true;
        let off = 0;
        writeWatch.add(this);
        while (off < chunk.length) {
          this.#writeSince = writeWatch.now;
          off += await this.#conn.write(chunk.subarray(off));
        }
        this.#inWrite = false;
        this.#accepted += frames;
      }
    } catch {
      this.#hangUp();
    } finally {
      this.#inWrite = false;
      this.#writeSince = undefined;
      writeWatch.delete(this);
      this.#writing = undefined;
    }
  }

  /** For the write watch: a write that has made no progress for too long means a stalled reader. */
  check(now: number): void {
    if (this.#writeSince !== undefined && now - this.#writeSince > this.#limits.slowMs) {
      this.#tooSlow(`no write progress for ${this.#limits.slowMs} ms`);
    }
  }

  /** Drops what waits and hangs up; the session stores what must not be lost. */
  #tooSlow(why: string): void {
    if (this.#closed) return;
    this.tooSlow = true;
    this.closing = true;
    this.#queue = [];
    this.#queued = 0;
    this.#limits.onTooSlow(this.remoteAddr, why);
    this.#hangUp();
  }

  #hangUp() {
    if (this.#closed) return;
    this.#closed = true;
    closeQuietly(this.#conn);
  }
}
