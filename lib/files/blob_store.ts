/**
 * Where shared files' bytes live: the {@linkcode BlobStore} interface, content-addressed and
 * sealed, and its data-directory implementation {@linkcode DirBlobStore}: `<dir>/ab/cdef…`
 * (hex). The address is a keyed hash (HMAC under the data key) of the file's SHA-256, so the
 * same bytes are kept once per key and a copy of the store reveals neither the content nor a
 * hash anyone could compare with a known file. On PostgreSQL the blobs live in the database
 * (postgres_blob_store.ts), so every node has them. tests/blob_store_conformance.ts runs both.
 */
import { createHash } from "node:crypto";
import type { DataKey } from "../crypto/data_key.ts";
import { ParleyError } from "../errors.ts";
import { openSealedBlob, SealedBlobWriter } from "./sealed_blob.ts";
import { pathExists } from "../path_exists.ts";

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
export function diskFull(err: unknown): ParleyError | undefined {
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

/**
 * A store of sealed blobs by address. Removing a blob that a record refers to is the caller's
 * to avoid: `Store.pruneFiles` hands out only unreferenced addresses, and `put` files a blob only
 * after its `commit` recorded it (docs/storage.md, "Files on several nodes").
 */
export interface BlobStore {
  /**
   * Seals `body` into a staging place as it comes, runs `commit` with its address (which records
   * the file: from then on no prune removes that address), then files the staged blob under the
   * address, or drops it when a blob is there already. Nothing staged is left behind.
   * @throws {StreamLimitError} past `maxBytes`; {@linkcode ParleyError} `storage_full` when the
   * store is full; the stream's own error when the upload broke off; what `commit` threw.
   */
  put<T>(
    body: ReadableStream<Uint8Array>,
    options: PutOptions,
    commit: (result: PutResult) => Promise<T>,
  ): Promise<T>;
  /**
   * The plaintext of a blob, streamed; it errors with `BlobTamperedError` at a chunk that does
   * not open. @throws {Deno.errors.NotFound} when there is no such blob.
   */
  open(address: string): Promise<ReadableStream<Uint8Array>>;
  /** Whether a blob is stored under `address`. */
  exists(address: string): Promise<boolean>;
  /** Deletes a blob; one missing already is fine. */
  remove(address: string): Promise<void>;
  /** Drops what uploads a crash cut short left staged, untouched for `olderThanMs`. */
  sweep(olderThanMs: number, now?: number): Promise<void>;
}

/** Checks an address: 64 hex digits. */
export function checkAddress(address: string): string {
  if (!/^[0-9a-f]{64}$/.test(address)) throw new Error(`not a blob address: ${address}`);
  return address;
}

/**
 * Reads an upload to its end, handing each piece to `write` (which seals it), within the
 * limits of `options`; returns what `put` tells its `commit`. Shared by every blob store.
 */
export async function readUpload(
  key: DataKey,
  body: ReadableStream<Uint8Array>,
  options: PutOptions,
  write: (bytes: Uint8Array) => Promise<void>,
): Promise<PutResult> {
  const hash = createHash("sha256");
  const head = new Uint8Array(options.headBytes);
  let size = 0;
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
      await write(value);
    }
  } catch (err) {
    await reader.cancel().catch(() => {});
    throw err;
  }
  const digest = new Uint8Array(hash.digest());
  const address = base64UrlToHex(await key.lookupKey(["file", toHex(digest)]));
  return { address, size, head: head.slice(0, Math.min(size, head.length)) };
}

/** Blobs as files in a directory (the data directory's `files/`): the default, with SQLite. */
export class DirBlobStore implements BlobStore {
  readonly dir: string;
  #key: DataKey;

  constructor(dir: string, key: DataKey) {
    this.dir = dir;
    this.#key = key;
  }

  /** The path of a blob. */
  pathOf(address: string): string {
    checkAddress(address);
    return `${this.dir}/${address.slice(0, 2)}/${address.slice(2)}`;
  }

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
      let result: PutResult;
      try {
        const writer = new SealedBlobWriter(this.#key, file);
        result = await readUpload(this.#key, body, options, (bytes) => writer.write(bytes));
        await writer.finish();
      } finally {
        file.close();
      }
      const out = await commit(result);
      const path = this.pathOf(result.address);
      if (!await pathExists(path)) {
        await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
        // Atomic: a reader sees the old file or this one, both whole (the same bytes).
        await Deno.rename(tmp, path);
        kept = true;
      }
      return out;
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

  open(address: string): Promise<ReadableStream<Uint8Array>> {
    return openSealedBlob(this.#key, this.pathOf(address));
  }

  exists(address: string): Promise<boolean> {
    return pathExists(this.pathOf(address));
  }

  async remove(address: string): Promise<void> {
    await Deno.remove(this.pathOf(address)).catch((err) => {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    });
  }

  /**
   * Removes temporary files left by uploads a crash cut short: those untouched for `olderThanMs`
   * (an upload under way writes to its file all the time, even in another process).
   */
  async sweep(olderThanMs: number, now = Date.now()): Promise<void> {
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
