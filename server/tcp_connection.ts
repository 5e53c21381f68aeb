/**
 * The TCP adapter: one socket's read side (bytes into lines, handed to its link) and write side
 * (lines out, judged for a reader that stops reading). It knows no protocol: the link
 * (server/link.ts) runs the secure session and talks to the router.
 */
import { concatBytes } from "../lib/bytes.ts";
import { sealedLineLength } from "../lib/crypto/mod.ts";
import { decodeUtf8, LineSplitter, type SplitLine } from "../lib/protocol/lines.ts";
import type { Dialect } from "../lib/protocol/types.ts";
import type { Ticket } from "../lib/router/admission.ts";
import type { LineTransport } from "./line_transport.ts";
import { LINE_TOO_LONG, type LineInput, Link, type LinkContext, NOT_TEXT } from "./link.ts";
import { TcpReader } from "./tcp_read.ts";
import { kernelBacklogs } from "./socket_backlog.ts";
import { type Watched, writeWatch } from "./write_watch.ts";

const utf8 = new TextEncoder();

/** Lines longer than this are not kept for the next reader: one connection's sealed batch is not shared. */
const SHARED_LINE_MAX = 16 * 1024;
let lastLine: string | undefined;
let lastBytes = new Uint8Array(0);

/**
 * `line` and its newline as UTF-8. A fan-out hands every text-mode reader the same string, one
 * after the other (the router encodes an event once per format and language), so the last line's
 * bytes are kept and shared: encoding it again for each reader was a sixth of a text-mode
 * delivery's CPU. The bytes are only read (queued, copied by `concatBytes`, written).
 */
export function encodeLine(line: string): Uint8Array {
  if (line === lastLine) return lastBytes;
  const bytes = utf8.encode(line + "\n");
  if (line.length <= SHARED_LINE_MAX) {
    lastLine = line;
    lastBytes = bytes;
  }
  return bytes;
}

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

/** What every connection of a TCP server shares: one object per server. */
export interface TcpShared extends LinkContext {
  writeLimits: WriteLimits;
}

/** How one connection starts, once its dialect is known. */
export interface TcpOpening {
  /** The peer's address without port. */
  remoteAddr: string;
  dialect: Dialect;
  /** performance.now() at accept: the sign-in deadline runs from here. */
  connectedAt: number;
  /** Text mode: the greeting was shown already. */
  greeted: boolean;
  /** The connection's admission place, given back when its reading ends. */
  ticket: Ticket;
}

/** Bytes waiting to be written, and how many frames they complete. */
interface Pending {
  bytes: Uint8Array;
  frames: number;
}

/**
 * One TCP connection. Its reads go line by line to its link; its writes queued in the same turn
 * of the event loop go out in one write. A reader that stops reading (a write makes no progress
 * for `slowMs`), or lets more than `maxQueued` bytes pile up behind an unfinished write, is
 * disconnected as too slow: it never holds up anyone else, and its backlog never grows the
 * server's memory without bound.
 */
export class TcpConnection extends TcpReader implements LineTransport, Watched {
  readonly transport = "tcp";
  readonly remoteAddr: string;
  closing = false;
  tooSlow = false;
  #shared: TcpShared;
  #ticket: Ticket;
  #splitter: LineSplitter;
  #link: Link;
  /** Bytes waiting for the write in flight; undefined when none (a quiet connection keeps no array). */
  #queue: Pending[] | undefined;
  #queued = 0;
  #writing: Promise<void> | undefined;
  #inWrite = false;
  #closed = false;
  #accepted = 0;
  /** When the write in flight started (the write watch's clock); undefined when none is. */
  #writeSince: number | undefined;

  constructor(conn: Deno.Conn, shared: TcpShared, opening: TcpOpening) {
    super(conn);
    this.#shared = shared;
    this.remoteAddr = opening.remoteAddr;
    this.#ticket = opening.ticket;
    const max = shared.maxLineBytes;
    this.#splitter = new LineSplitter(opening.dialect === "json" ? sealedLineLength(max) : max);
    // Last: a text-mode link attaches at once, and its greeting is written through this.
    this.#link = new Link(shared, this, opening);
  }

  /** Frames written to the socket: every frame numbered below this is out of the server's hands. */
  get accepted(): number {
    return this.#accepted;
  }

  get handedOver(): number {
    return this.#accepted;
  }

  get busy(): boolean {
    return this.#writing !== undefined;
  }

  /** The bytes just read, line by line to the link. */
  chunk(bytes: Uint8Array): boolean | Promise<boolean> {
    return this.#take(this.#splitter.push(bytes), 0);
  }

  /** Hands `lines` from `from` on to the link; waits while it opens one (JSON mode). */
  #take(lines: SplitLine[], from: number): boolean | Promise<boolean> {
    for (let i = from; i < lines.length; i++) {
      if (this.closing) return false;
      const going = this.#link.take(lineInput(lines[i]));
      if (going === false) return false;
      if (going !== true) return going.then((on) => on && this.#take(lines, i + 1));
    }
    return !this.closing;
  }

  /** The reading ended. Hangs up, unless a close is already flushing its goodbye. */
  async end(failure: unknown): Promise<void> {
    try {
      this.#logReadFailure(failure);
      // The peer's input ended cleanly (a half-close, as `printf ... | nc` makes): it may still
      // read the answers to what it sent, its last line too when no newline ended it.
      if (failure === undefined && !this.closing) {
        const last = this.#splitter.end();
        if (last) await this.#take([last], 0);
        if (!this.closing) await this.#link.inputEnded();
      }
      this.#link.ended();
      if (!this.closing) {
        this.closing = true;
        this.#hangUp();
      }
      await this.#link.flushed().catch(() => {});
    } finally {
      this.#ticket.release();
    }
  }

  /** A read that failed for a reason other than the peer or us hanging up goes to the debug log. */
  #logReadFailure(failure: unknown): void {
    if (
      failure === undefined || this.closing || failure instanceof Deno.errors.BadResource ||
      failure instanceof Deno.errors.ConnectionReset
    ) return;
    this.#shared.logger.debug("tcp read failed", { error: failure });
  }

  writeLine(line: string, frames: number, first: boolean): void {
    if (this.#closed) return;
    const bytes = encodeLine(line);
    // A burst queued at once (one flush, however many lines) is fine; a backlog behind a write
    // the reader is not taking is not.
    const limits = this.#shared.writeLimits;
    if (first && this.#inWrite && this.#queued > limits.maxQueued) {
      return this.#tooSlow(`more than ${limits.maxQueued} bytes waiting`);
    }
    (this.#queue ??= []).push({ bytes, frames });
    this.#queued += bytes.length;
    this.#writing ??= this.#drain();
  }

  async flushed(): Promise<void> {
    await this.#writing;
  }

  abort(why: string): void {
    this.#tooSlow(why);
  }

  hangUp(_why: string): void {
    this.#hangUp();
  }

  close(_reason: string, pending?: Promise<void>): void {
    if (this.closing) return;
    this.closing = true;
    const flushing = Promise.resolve(pending).then(() => this.flushed());
    // A peer that does not read cannot hold the socket open for long.
    const deadline = setTimeout(() => this.#hangUp(), 2000);
    flushing.finally(() => {
      clearTimeout(deadline);
      this.#hangUp();
    });
  }

  async #drain(): Promise<void> {
    // Let the current turn finish queueing, then write everything in one go.
    await Promise.resolve();
    try {
      let batch;
      while ((batch = this.#queue) && !this.#closed) {
        const chunk = batch.length === 1
          ? batch[0].bytes
          : concatBytes(batch.map((p) => p.bytes), this.#queued);
        const frames = batch.reduce((n, p) => n + p.frames, 0);
        this.#queue = undefined;
        this.#queued = 0;
        this.#inWrite = true;
        let off = 0;
        writeWatch.add(this);
        while (off < chunk.length) {
          this.#writeSince = writeWatch.now;
          off += await this.conn.write(chunk.subarray(off));
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

  /**
   * For the write watch: a write that has made no progress for too long means a stalled reader,
   * unless the kernel holds nothing for it: then everything written reached the reader, and it
   * is the server that has not seen its write finish yet (server/socket_backlog.ts). Its time
   * starts again; the byte cap still bounds what may wait meanwhile.
   */
  check(now: number): void {
    const slowMs = this.#shared.writeLimits.slowMs;
    if (this.#writeSince === undefined || now - this.#writeSince <= slowMs) return;
    if (this.#backlog()?.unsent === 0) {
      this.#writeSince = now;
      return;
    }
    this.#tooSlow(`no write progress for ${slowMs} ms`);
  }

  /**
   * The peer sent bytes the server has not read yet (the kernel's receive queue): a heartbeat
   * answer may be among them. False when the kernel cannot be asked.
   */
  inputWaiting(): boolean {
    return (this.#backlog()?.unread ?? 0) > 0;
  }

  #backlog() {
    const local = this.conn.localAddr as Deno.NetAddr;
    const remote = this.conn.remoteAddr as Deno.NetAddr;
    return kernelBacklogs.of(local.port, remote.port);
  }

  /** Drops what waits and hangs up; the session stores what must not be lost. */
  #tooSlow(why: string): void {
    if (this.#closed) return;
    this.tooSlow = true;
    this.closing = true;
    this.#queue = undefined;
    this.#queued = 0;
    this.#shared.writeLimits.onTooSlow(this.remoteAddr, why);
    this.#hangUp();
  }

  #hangUp() {
    if (this.#closed) return;
    this.#closed = true;
    closeQuietly(this.conn);
  }
}

/** A line as the link takes it: text, or why it is none. */
function lineInput(item: SplitLine): LineInput {
  if (item.overlong) return LINE_TOO_LONG;
  return decodeUtf8(item.line) ?? NOT_TEXT;
}
