/**
 * A file's bytes sealed at rest, in chunks, so neither sealing nor opening ever holds a whole
 * file in memory (docs/security.md §9.4 specifies the format):
 *
 * `"PLF1"` ‖ blob id (16 random bytes) ‖ chunk…, each chunk `length (u32 BE)` ‖ a record sealed
 * by {@linkcode DataKey.seal} over at most {@linkcode CHUNK_BYTES} of plaintext, bound to
 * `["file-chunk", hex(blob id), index, "more" | "last"]`. The binding makes chunks impossible to
 * reorder, move to another blob, or drop from the end (the last chunk says it is the last; an
 * empty file is one empty last chunk).
 */
import type { DataKey } from "../crypto/data_key.ts";
import { isCryptoError } from "../crypto/errors.ts";

/** Plaintext bytes per sealed chunk. */
export const CHUNK_BYTES = 64 * 1024;
/** The first bytes of every sealed blob. */
export const BLOB_MAGIC = new TextEncoder().encode("PLF1");
const ID_BYTES = 16;
const HEADER_BYTES = BLOB_MAGIC.length + ID_BYTES;
/** What sealing adds to a chunk: length prefix, version, nonce, tag. */
export const CHUNK_OVERHEAD = 4 + 1 + 12 + 16;

/** A sealed blob that does not open: modified, truncated, or sealed under another key. */
export class BlobTamperedError extends Error {
  override name = "BlobTamperedError";
}

function chunkBinding(blobId: Uint8Array, index: number, last: boolean): string[] {
  const hex = Array.from(blobId, (b) => b.toString(16).padStart(2, "0")).join("");
  return ["file-chunk", hex, String(index), last ? "last" : "more"];
}

async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  let done = 0;
  while (done < bytes.length) done += await file.write(bytes.subarray(done));
}

/**
 * Seals bytes into chunks as they come, handing each sealed chunk to `emit` in order. Holds at
 * most one chunk of plaintext: a full chunk is sealed as "more" only once a byte after it
 * arrives, so the last one can say it is the last. Every blob store seals through it.
 */
export class ChunkSealer {
  readonly id = crypto.getRandomValues(new Uint8Array(ID_BYTES));
  #key: DataKey;
  #emit: (index: number, sealed: Uint8Array, last: boolean) => Promise<void>;
  #buffer = new Uint8Array(CHUNK_BYTES);
  #filled = 0;
  #index = 0;

  constructor(
    key: DataKey,
    emit: (index: number, sealed: Uint8Array, last: boolean) => Promise<void>,
  ) {
    this.#key = key;
    this.#emit = emit;
  }

  /** Chunks sealed so far. */
  get chunks(): number {
    return this.#index;
  }

  /** Adds plaintext bytes. */
  async write(bytes: Uint8Array): Promise<void> {
    let at = 0;
    while (at < bytes.length) {
      if (this.#filled === CHUNK_BYTES) await this.#seal(false);
      const take = Math.min(CHUNK_BYTES - this.#filled, bytes.length - at);
      this.#buffer.set(bytes.subarray(at, at + take), this.#filled);
      this.#filled += take;
      at += take;
    }
  }

  /** Seals what is left as the last chunk (an empty file is one empty last chunk). */
  async finish(): Promise<void> {
    await this.#seal(true);
  }

  async #seal(last: boolean): Promise<void> {
    const index = this.#index++;
    const sealed = await this.#key.seal(
      this.#buffer.subarray(0, this.#filled),
      chunkBinding(this.id, index, last),
    );
    this.#filled = 0;
    await this.#emit(index, sealed, last);
  }
}

/**
 * Opens chunk `index` of blob `blobId`.
 * @throws {BlobTamperedError} when it does not open there (changed, moved, or not the `last`).
 */
export async function openChunk(
  key: DataKey,
  blobId: Uint8Array,
  index: number,
  last: boolean,
  sealed: Uint8Array,
): Promise<Uint8Array> {
  try {
    return await key.open(sealed, chunkBinding(blobId, index, last));
  } catch (err) {
    if (isCryptoError(err, "record_tampered")) {
      throw new BlobTamperedError("A stored file does not open: damaged or cut short.");
    }
    throw err;
  }
}

/** Seals bytes into `file` as they come, in the on-disk format above. */
export class SealedBlobWriter {
  #file: Deno.FsFile;
  #sealer: ChunkSealer;
  #started = false;

  constructor(key: DataKey, file: Deno.FsFile) {
    this.#file = file;
    this.#sealer = new ChunkSealer(key, async (_index, sealed) => {
      // Two writes rather than one more 64 KiB copy per chunk: uploads churn enough memory.
      const length = new Uint8Array(4);
      new DataView(length.buffer).setUint32(0, sealed.length);
      await writeAll(this.#file, length);
      await writeAll(this.#file, sealed);
    });
  }

  /** Adds plaintext bytes. */
  async write(bytes: Uint8Array): Promise<void> {
    if (!this.#started) {
      this.#started = true;
      const header = new Uint8Array(HEADER_BYTES);
      header.set(BLOB_MAGIC);
      header.set(this.#sealer.id, BLOB_MAGIC.length);
      await writeAll(this.#file, header);
    }
    await this.#sealer.write(bytes);
  }

  /** Seals what is left as the last chunk and flushes the file to disk. */
  async finish(): Promise<void> {
    if (!this.#started) await this.write(new Uint8Array(0));
    await this.#sealer.finish();
    await this.#file.sync();
  }
}

/** Reads exactly `n` bytes at the file's position, or fewer at its end. */
async function readExactly(file: Deno.FsFile, n: number): Promise<Uint8Array> {
  const out = new Uint8Array(n);
  let got = 0;
  while (got < n) {
    const read = await file.read(out.subarray(got));
    if (read === null) break;
    got += read;
  }
  return got === n ? out : out.subarray(0, got);
}

/**
 * The plaintext of the sealed blob at `path`, a chunk at a time. The stream errors with
 * {@linkcode BlobTamperedError} at the first chunk that does not open (what came before it was
 * authentic), so a reader never takes a damaged or shortened file for a whole one.
 */
export async function openSealedBlob(
  key: DataKey,
  path: string,
): Promise<ReadableStream<Uint8Array>> {
  const file = await Deno.open(path, { read: true });
  let size: number, header: Uint8Array;
  try {
    size = (await file.stat()).size;
    header = await readExactly(file, HEADER_BYTES);
  } catch (err) {
    file.close();
    throw err;
  }
  const magicOk = header.length === HEADER_BYTES &&
    BLOB_MAGIC.every((b, i) => header[i] === b);
  if (!magicOk) {
    file.close();
    throw new BlobTamperedError("A stored file is not a sealed blob.");
  }
  const id = header.slice(BLOB_MAGIC.length);
  let offset = HEADER_BYTES;
  let index = 0;
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    file.close();
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const lengthBytes = await readExactly(file, 4);
        if (lengthBytes.length < 4) throw new BlobTamperedError("A stored file is cut short.");
        const length = new DataView(lengthBytes.buffer).getUint32(0);
        if (length > CHUNK_BYTES + CHUNK_OVERHEAD) {
          throw new BlobTamperedError("A stored file has a damaged chunk.");
        }
        const sealed = await readExactly(file, length);
        if (sealed.length < length) throw new BlobTamperedError("A stored file is cut short.");
        offset += 4 + length;
        const last = offset === size;
        const plain = await openChunk(key, id, index++, last, sealed);
        if (plain.length > 0) controller.enqueue(plain);
        if (last) {
          close();
          controller.close();
        }
      } catch (err) {
        close();
        controller.error(err);
      }
    },
    cancel: close,
  });
}

/** Bytes of a sealed blob holding `size` bytes of plaintext (for tests and estimates). */
export function sealedSize(size: number): number {
  const chunks = Math.max(1, Math.ceil(size / CHUNK_BYTES));
  return HEADER_BYTES + size + chunks * CHUNK_OVERHEAD;
}
