/**
 * Sealing for an encrypted session (docs/security.md §6): a link's outbound frames, in order,
 * once per connection, batched per turn. The router never sees any of it: it hands plaintext
 * frames to the link (server/link.ts).
 */
import type { SecureSession } from "../lib/crypto/mod.ts";
import {
  afterWrites,
  quietMs,
  scheduleFlush,
  scheduleLazyFlush,
  sealBegins,
  sealSoon,
} from "./turn.ts";

/** Plaintext bytes per sealed batch; clients accept up to `sealedLineLength(1 MiB)`. */
export const MAX_BATCH_BYTES = 1 << 20;

/**
 * Where a FrameSealer's lines go: the link itself, so that a connection holds no closures
 * for it (at 10,000 connections every closure is half a megabyte).
 */
export interface SealedLines {
  /**
   * A sealed line, in the order its frames were pushed, with how many frames it carries and
   * whether it is the first of its flush (a backlog is judged once per flush: one flush may hold
   * several lines at once).
   */
  sealedLine(line: string, frames: number, first: boolean): void;
  /** Sealing failed: the session cannot go on. */
  sealFailed(err: unknown): void;
  /**
   * Whether the socket is still writing what it was given: then frames wait for the end of the
   * turn and go together, as they do behind a seal in flight. Absent: never busy.
   */
  readonly writeBusy?: boolean;
}

/**
 * Seals the frames one connection sends, as a group commit (see `turn.ts`): with nothing in
 * flight, a frame is sealed at the end of the current job; frames pushed while a seal is in
 * flight or the socket is busy go out at the end of the turn as one sealed batch (`sealFrames`)
 * to `out.sealedLine`.
 */
export class FrameSealer {
  #session: SecureSession;
  #out: SealedLines;
  /** Frames waiting to be sealed; undefined when none (a quiet connection keeps no array). */
  #batch: string[] | undefined;
  /** The seal in flight, if any. */
  #chain: Promise<void> | undefined;
  #sealing = false;
  /** Whether the batch holds a frame that is not lazy. */
  #urgent = false;
  /** When the last seal began (performance.now()). */
  #lastSeal = -Infinity;
  #maxBatchBytes: number;
  #maxLazyBatchBytes: number;

  /**
   * `maxBatchBytes` bounds the plaintext of one sealed line (a frame longer than that still
   * goes, alone): a transport whose socket keeps a buffer as large as the largest message it
   * ever sent (Deno's WebSocket) asks for small lines. `maxLazyBatchBytes` bounds a line of lazy
   * frames alone, which nobody waits on: such a transport asks for smaller ones still.
   */
  constructor(
    session: SecureSession,
    out: SealedLines,
    maxBatchBytes = MAX_BATCH_BYTES,
    maxLazyBatchBytes = maxBatchBytes,
  ) {
    this.#session = session;
    this.#out = out;
    this.#maxBatchBytes = Math.min(maxBatchBytes, MAX_BATCH_BYTES);
    this.#maxLazyBatchBytes = Math.min(maxLazyBatchBytes, this.#maxBatchBytes);
  }

  /**
   * Queues one plaintext frame (a JSON object without newline). A `lazy` frame (presence) may
   * wait for a later flush (`scheduleLazyFlush`); the others go at the end of this job when
   * nothing is in flight, else at the end of this turn, and take whatever waits with them, in
   * order.
   */
  push(frame: string, lazy = false): void {
    const first = (this.#batch ??= []).push(frame) === 1;
    // Scheduled when the batch starts and when it first turns urgent, not for every frame.
    if (!lazy && !this.#urgent) {
      this.#urgent = true;
      // At once only when nothing is in flight, and, where a seal is a costly WebCrypto call,
      // the connection was quiet for a turn.
      if (
        this.#sealing || this.#out.writeBusy ||
        (!this.#session.sealsInline && performance.now() - this.#lastSeal < quietMs())
      ) this.#schedule();
      else sealSoon(this);
    } else if (first) this.#schedule();
  }

  #schedule(): void {
    if (this.#sealing || !this.#batch) return;
    // Each keeps one entry per connection: scheduling twice in the same round is harmless.
    if (!this.#urgent) scheduleLazyFlush(this);
    else if (this.#session.sealsInline) afterWrites(this);
    else scheduleFlush(this);
  }

  /** For `afterWrites`: a seal in flight, or the socket still writing. */
  get waiting(): boolean {
    return this.#sealing || (this.#out.writeBusy ?? false);
  }

  /**
   * Seals everything queued so far. One seal at a time per connection: frames that arrive while
   * one is in flight wait and go together in the next, so the busier the server, the more each
   * (costly) seal carries.
   */
  flush(): void {
    const frames = this.#batch;
    if (this.#sealing || !frames) return;
    this.#batch = undefined;
    const max = this.#urgent ? this.#maxBatchBytes : this.#maxLazyBatchBytes;
    this.#urgent = false;
    if (this.#session.sealsInline) return this.#sealNow(frames, max);
    this.#sealing = true;
    this.#lastSeal = performance.now();
    sealBegins(this.#lastSeal);
    this.#chain = (async () => {
      const batches = groups(frames, max);
      const sealed = await Promise.all(batches.map((g) => this.#session.sealFrames(g)));
      sealed.forEach((line, i) => this.#out.sealedLine(line, batches[i].length, i === 0));
    })().catch((err) => this.#out.sealFailed(err)).finally(() => {
      this.#sealing = false;
      this.#chain = undefined; // not kept while the connection is quiet
      this.#schedule();
    });
  }

  /** Seals and writes `frames` now (OpenSSL): nothing is ever in flight. */
  #sealNow(frames: string[], max: number): void {
    try {
      // One frame (most flushes: a fan-out's) is one line, whatever its size.
      if (frames.length === 1) {
        return this.#out.sealedLine(this.#session.sealFramesNow(frames), 1, true);
      }
      const batches = groups(frames, max);
      for (let i = 0; i < batches.length; i++) {
        this.#out.sealedLine(this.#session.sealFramesNow(batches[i]), batches[i].length, i === 0);
      }
    } catch (err) {
      this.#out.sealFailed(err);
    }
  }

  /** Opens a sealed line from the peer, with the same session: its frames, in order. */
  open(line: string): Promise<string[]> {
    return this.#session.openFrames(line);
  }

  /**
   * The connection went quiet: its session drops its imported keys until the next frame.
   * Returns whether it dropped any.
   */
  rest(): boolean {
    return this.#session.rest();
  }

  /** Resolves when every frame pushed so far has been sealed and written. */
  async settled(): Promise<void> {
    // Whoever waits (a goodbye, a close) does not wait for the turn to end.
    while (this.#sealing || this.#batch) {
      this.flush();
      await this.#chain;
    }
  }
}

/**
 * Splits frames into batches of at most `max` bytes of UTF-8 (with their `\n`s). Counted at 3
 * bytes a character, which costs nothing; a batch that count would close is counted closely
 * (`utf8Bound`) before it is: with a small limit (a WebSocket's), frames that fit still share a
 * line.
 */
function groups(frames: string[], max: number): string[][] {
  const out: string[][] = [];
  let current: string[] = [];
  let size = 0;
  let close = false;
  for (const f of frames) {
    let bytes = close ? utf8Bound(f) + 1 : f.length * 3 + 1;
    if (current.length && !close && size + bytes > max) {
      size = 0;
      for (const c of current) size += utf8Bound(c) + 1;
      bytes = utf8Bound(f) + 1;
      close = true;
    }
    if (current.length && size + bytes > max) {
      out.push(current);
      current = [];
      size = 0;
      close = false;
      bytes = f.length * 3 + 1;
    }
    current.push(f);
    size += bytes;
  }
  if (current.length) out.push(current);
  return out;
}

/**
 * UTF-8 bytes of `text`, never fewer: exact, but 3 for each half of a surrogate pair (which takes
 * 4 for both), as for a lone one (which is sealed as U+FFFD).
 */
export function utf8Bound(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    n += c < 0x80 ? 1 : c < 0x800 ? 2 : 3;
  }
  return n;
}
