/**
 * Blobs in PostgreSQL, for several nodes: whichever node a download reaches reads the bytes
 * another uploaded. Each blob is its sealed chunks (sealed_blob.ts: the same 64 KiB chunks,
 * bindings and random blob id as on disk) as rows of `blob_chunks`, streamed in and out a few at
 * a time, never whole in memory. `blobs` files a finished blob under its address; an upload
 * stages its chunks under its blob id in `blob_uploads` until then (docs/storage.md).
 */
import type postgres from "postgres";
import type { DataKey } from "../crypto/data_key.ts";
import { storageError } from "../store/postgres/errors.ts";
import {
  type BlobStore,
  checkAddress,
  type PutOptions,
  type PutResult,
  readUpload,
} from "./blob_store.ts";
import { BlobTamperedError, ChunkSealer, openChunk } from "./sealed_blob.ts";

/** Chunks read per query while streaming a blob out (512 KiB of plaintext). */
const CHUNKS_PER_READ = 8;
/** An upload under way marks itself alive every this many chunks (sweep spares it). */
const TOUCH_EVERY = 16;

export class PostgresBlobStore implements BlobStore {
  #sql: postgres.Sql;
  #key: DataKey;

  /** On the pool of the `PostgresStore` (its tables are made by the store's migrations). */
  constructor(sql: postgres.Sql, key: DataKey) {
    this.#sql = sql;
    this.#key = key;
  }

  async put<T>(
    body: ReadableStream<Uint8Array>,
    options: PutOptions,
    commit: (result: PutResult) => Promise<T>,
  ): Promise<T> {
    const sql = this.#sql;
    let staged: Uint8Array | undefined;
    let filed = false;
    try {
      const sealer = new ChunkSealer(this.#key, async (index, sealed) => {
        await sql`INSERT INTO blob_chunks (blob_id, idx, body)
          VALUES (${sealer.id}, ${index}, ${sealed})`;
        if (index % TOUCH_EVERY === TOUCH_EVERY - 1) {
          await sql`UPDATE blob_uploads SET touched_at = ${Date.now()}
            WHERE blob_id = ${sealer.id}`;
        }
      });
      staged = sealer.id;
      await sql`INSERT INTO blob_uploads (blob_id, touched_at) VALUES (${staged}, ${Date.now()})`;
      const result = await readUpload(this.#key, body, options, (bytes) => sealer.write(bytes));
      await sealer.finish();
      const out = await commit(result);
      const id = staged;
      await sql.begin(async (tx) => {
        const [row] = await tx`INSERT INTO blobs (address, blob_id, chunks, size)
          VALUES (${result.address}, ${id}, ${sealer.chunks}, ${result.size})
          ON CONFLICT (address) DO NOTHING RETURNING address`;
        // A blob of the same bytes is there already: this copy goes.
        if (!row) await tx`DELETE FROM blob_chunks WHERE blob_id = ${id}`;
        await tx`DELETE FROM blob_uploads WHERE blob_id = ${id}`;
      });
      filed = true;
      return out;
    } catch (err) {
      throw storageError(err);
    } finally {
      if (staged && !filed) await this.#drop(staged).catch(() => {});
    }
  }

  /** Deletes a staged upload's chunks. */
  async #drop(blobId: Uint8Array): Promise<void> {
    await this.#sql.begin(async (tx) => {
      await tx`DELETE FROM blob_chunks WHERE blob_id = ${blobId}`;
      await tx`DELETE FROM blob_uploads WHERE blob_id = ${blobId}`;
    });
  }

  async open(address: string): Promise<ReadableStream<Uint8Array>> {
    checkAddress(address);
    const sql = this.#sql;
    const key = this.#key;
    const [blob] = await sql`SELECT blob_id, chunks FROM blobs WHERE address = ${address}`
      .catch((err) => {
        throw storageError(err);
      });
    if (!blob) throw new Deno.errors.NotFound(`no blob ${address}`);
    const id = new Uint8Array(blob.blob_id as Uint8Array);
    const chunks = Number(blob.chunks);
    let next = 0;
    return new ReadableStream<Uint8Array>({
      async pull(controller) {
        try {
          const rows = await sql`SELECT idx, body FROM blob_chunks WHERE blob_id = ${id}
            AND idx >= ${next} AND idx < ${next + CHUNKS_PER_READ} ORDER BY idx`;
          const want = Math.min(CHUNKS_PER_READ, chunks - next);
          if (rows.length < want) throw new BlobTamperedError("A stored file is cut short.");
          for (const row of rows) {
            const index = Number(row.idx);
            if (index !== next) throw new BlobTamperedError("A stored file is cut short.");
            const plain = await openChunk(key, id, index, index === chunks - 1, row.body);
            if (plain.length > 0) controller.enqueue(plain);
            next++;
          }
          if (next === chunks) controller.close();
        } catch (err) {
          controller.error(err instanceof BlobTamperedError ? err : storageError(err));
        }
      },
    }, { highWaterMark: 0 });
  }

  async exists(address: string): Promise<boolean> {
    checkAddress(address);
    try {
      return (await this.#sql`SELECT 1 AS x FROM blobs WHERE address = ${address}`).length > 0;
    } catch (err) {
      throw storageError(err);
    }
  }

  async remove(address: string): Promise<void> {
    checkAddress(address);
    try {
      await this.#sql.begin(async (tx) => {
        const gone = await tx`DELETE FROM blobs WHERE address = ${address} RETURNING blob_id`;
        for (const row of gone) {
          await tx`DELETE FROM blob_chunks WHERE blob_id = ${row.blob_id as Uint8Array}`;
        }
      });
    } catch (err) {
      throw storageError(err);
    }
  }

  async sweep(olderThanMs: number, now = Date.now()): Promise<void> {
    const old = await this.#sql`SELECT blob_id FROM blob_uploads
      WHERE touched_at < ${now - olderThanMs}`.catch((err) => {
      throw storageError(err);
    });
    for (const row of old) await this.#drop(row.blob_id as Uint8Array);
  }
}
