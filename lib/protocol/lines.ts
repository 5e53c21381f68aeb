import { concatBytes } from "../bytes.ts";

/**
 * Splits a byte stream into lines, refusing lines longer than a limit. An overlong line is
 * discarded up to its newline and reported once as `{ overlong: true }`, so the connection can
 * go on with the next line.
 */

/** Longest line accepted, in bytes, not counting the newline. */
export const DEFAULT_MAX_LINE_BYTES = 8192;

export type SplitLine = { line: Uint8Array; overlong?: undefined } | { overlong: true };

export class LineSplitter {
  #max: number;
  /** The unfinished line's pieces; undefined when none (an idle connection keeps no array). */
  #parts: Uint8Array[] | undefined;
  #size = 0;
  #discarding = false;

  constructor(maxLineBytes: number = DEFAULT_MAX_LINE_BYTES) {
    this.#max = maxLineBytes;
  }

  /** Feeds a chunk and returns the complete lines it finished, in order. */
  push(chunk: Uint8Array): SplitLine[] {
    const out: SplitLine[] = [];
    let start = 0;
    while (start < chunk.length) {
      const nl = chunk.indexOf(10, start);
      const end = nl === -1 ? chunk.length : nl;
      if (!this.#discarding) {
        if (this.#size + (end - start) > this.#max + 1) { // +1 allows a trailing CR
          this.#discarding = true;
          this.#parts = undefined;
          this.#size = 0;
          out.push({ overlong: true });
        } else if (end > start) {
          (this.#parts ??= []).push(chunk.subarray(start, end));
          this.#size += end - start;
        }
      }
      if (nl === -1) break;
      if (!this.#discarding) out.push(this.#take());
      this.#discarding = false;
      start = nl + 1;
    }
    // Keep no reference into the caller's buffer, which it may reuse.
    if (this.#parts && this.#parts.at(-1)!.buffer === chunk.buffer) {
      this.#parts = [concat(this.#parts, this.#size, true)];
    }
    return out;
  }

  /**
   * The input ended cleanly: the unfinished line, if any, is the last line (the end of input ends
   * it as a newline would, so `printf 'a\nb' | nc` sends two lines). Undefined when nothing waits,
   * or when the bytes waiting are the rest of an overlong line (already reported).
   */
  end(): SplitLine | undefined {
    const discarding = this.#discarding;
    this.#discarding = false;
    if (discarding || this.#size === 0) {
      this.#parts = undefined;
      this.#size = 0;
      return undefined;
    }
    return this.#take();
  }

  /** Bytes of an unfinished line, waiting for its newline. */
  get buffered(): number {
    return this.#size;
  }

  #take(): SplitLine {
    let line = concat(this.#parts ?? [], this.#size);
    this.#parts = undefined;
    this.#size = 0;
    if (line.length && line[line.length - 1] === 13) line = line.subarray(0, line.length - 1);
    return line.length > this.#max ? { overlong: true } : { line };
  }
}

function concat(parts: Uint8Array[], size: number, copy = false): Uint8Array {
  if (parts.length === 0) return new Uint8Array();
  if (parts.length === 1) return copy ? parts[0].slice() : parts[0];
  return concatBytes(parts, size);
}

const strictDecoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

/** Decodes a line as strict UTF-8; undefined when it is not valid UTF-8. */
export function decodeUtf8(line: Uint8Array): string | undefined {
  try {
    return strictDecoder.decode(line);
  } catch {
    return undefined;
  }
}
