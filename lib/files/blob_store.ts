/**
 * The sealed, content-addressed file store in the data directory: `<dir>/ab/cdef…` (hex), where
 * the address is a keyed hash (HMAC under the data key) of the file's SHA-256, so the same bytes
 * are kept once per key and a copy of the directory reveals neither the content nor a hash
 * anyone could compare with a known file. Uploads stream through a temporary file in `<dir>/tmp`.
 */
import { createHash } from "node:crypto";
import type { DataKey } from "../crypto/data_key.ts";
import { ParleyError } from "../errors.ts";
import { openSealedBlob, SealedBlobWriter } from "./sealed_blob.ts";

/** A limit hit while streaming: the caller says which. */
export class StreamLimitError extends Error {
  override name = "StreamLimitError";
  constructor(readonly received: number) {
    super(`stopped after ${received} bytes`);
  }
}

/** What a stored upload came to. */
export interface PutResult {
  address: string;
  size: number;
  /** The file's first bytes (up to `headBytes`), for finding an image's size. */
  head: Uint8Array;
}

/** Options of {@linkcode BlobStore.put}. */
export interface PutOptions {
  /** More bytes than this stops the upload with a {@linkcode StreamLimitError}. */
  maxBytes: number;
  /** How many of the first bytes to keep for the caller. */
  headBytes: number;
  /** Stops the upload when no byte comes for this long. */
  stallMs: number;
}

/** `storage_full` for an error that says the disk is full (ENOSPC); undefined for another. */
function diskFull(err: unknown): ParleyError | undefined {
  if (!(err instanceof Error) || !/os error 28|No space left/i.test(err.message)) return undefined;
  return new ParleyError("storage_full", "The server's disk is full; try again later.", {
    cause: err,
  });
}

function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function base64UrlToHex(text: string): string {
  const bin = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
  return toHex(Uint8Array.from(bin, (c) => c.charCodeAt(0)));
}

export class BlobStore {
  readonly dir: string;
  #key: DataKey;
  /** Commits and removals one at a time: a blob being shared again is never deleted under it. */
  #lock: Promise<unknown> = Promise.resolve();

  constructor(dir: string, key: DataKey) {
    this.dir = dir;
    this.#key = key;
  }

  /** The path of a blob. */
  pathOf(address: string): string {
    if (!/^[0-9a-f]{64}$/.test(address)) throw new Error(`not a blob address: ${address}`);
    return `${this.dir}/${address.slice(0, 2)}/${address.slice(2)}`;
  }

  /** Runs `work` with no other commit or removal under way. */
  exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#lock.then(work, work);
    this.#lock = run.catch(() => {});
    return run;
  }

  /**
   * Seals `body` into a temporary file as it comes, then files it under its address (or drops
   * it when that blob exists already), inside `commit`, which runs exclusively and may record
   * the file: a concurrent removal cannot take the blob away between the two.
   * @throws {StreamLimitError} past `maxBytes`; {@linkcode ParleyError} `storage_full` when the
   * disk is full; the stream's own error when the upload broke off. Nothing is left behind.
   */
  async put<T>(
    body: ReadableStream<Uint8Array>,
    options: PutOptions,
    commit: (result: PutResult) => Promise<T>,
  ): Promise<T> {
    const tmp = await this.#temporary().catch((err) => {
      throw diskFull(err) ?? err;
    });
    let kept = false;
    try {
      const file = await Deno.open(tmp, { write: true, truncate: true });
      const hash = createHash("sha256");
      const head = new Uint8Array(options.headBytes);
      let size = 0;
      try {
        const writer = new SealedBlobWriter(this.#key, file);
        const reader = body.getReader();
        try {
          while (true) {
            const { done, value } = await stalled(reader.read(), options.stallMs);
            if (done) break;
            if (size + value.length > options.maxBytes) {
              throw new StreamLimitError(size + value.length);
            }
            if (size < head.length) {
              head.set(value.subarray(0, head.length - size), size);
            }
            size += value.length;
            hash.update(value);
            await writer.write(value);
          }
        } catch (err) {
          await reader.cancel().catch(() => {});
          throw err;
        }
        await writer.finish();
      } finally {
        file.close();
      }
      const digest = new Uint8Array(hash.digest());
      const address = base64UrlToHex(await this.#key.lookupKey(["file", toHex(digest)]));
      return await this.exclusive(async () => {
        const path = this.pathOf(address);
        if (await exists(path)) {
          await Deno.remove(tmp);
        } else {
          await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
          await Deno.rename(tmp, path);
        }
        kept = true;
        return await commit({ address, size, head: head.slice(0, Math.min(size, head.length)) });
      });
    } catch (err) {
      throw diskFull(err) ?? err;
    } finally {
      if (!kept) await Deno.remove(tmp).catch(() => {});
    }
  }

  /** A new temporary file for an upload, in `<dir>/tmp`. */
  async #temporary(): Promise<string> {
    await Deno.mkdir(`${this.dir}/tmp`, { recursive: true });
    return await Deno.makeTempFile({ dir: `${this.dir}/tmp`, prefix: "up-" });
  }

  /** The plaintext of a blob, streamed; NotFound when it is gone. */
  open(address: string): Promise<ReadableStream<Uint8Array>> {
    return openSealedBlob(this.#key, this.pathOf(address));
  }

  /** Deletes blobs (already unreferenced); one missing already is fine. */
  remove(addresses: readonly string[]): Promise<void> {
    return this.exclusive(async () => {
      for (const address of addresses) {
        await Deno.remove(this.pathOf(address)).catch((err) => {
          if (!(err instanceof Deno.errors.NotFound)) throw err;
        });
      }
    });
  }

  /**
   * Removes temporary files left by uploads a crash cut short: those untouched for `olderThanMs`
   * (an upload under way writes to its file all the time, even in another process).
   */
  async sweepTemporary(olderThanMs: number, now = Date.now()): Promise<void> {
    try {
      for await (const entry of Deno.readDir(`${this.dir}/tmp`)) {
        const path = `${this.dir}/tmp/${entry.name}`;
        const info = await Deno.stat(path).catch(() => undefined);
        if (info?.mtime && now - info.mtime.getTime() > olderThanMs) {
          await Deno.remove(path).catch(() => {});
        }
      }
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

/** Rejects when `read` takes longer than `ms`: an upload that stopped sending. */
function stalled<T>(read: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    read,
    new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new ParleyError("bad_argument", "The upload stopped sending; try again.")),
        ms,
      );
    }),
  ]).finally(() => clearTimeout(timer));
}
