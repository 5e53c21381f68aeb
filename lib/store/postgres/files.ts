/**
 * File records on PostgreSQL (lib/files/): names and types sealed like bodies (sealing.ts), the
 * same queries as `SqliteStore`'s. Writes run in the group commit, so a prune and an append that
 * refers to a file never interleave.
 */
import { ParleyError } from "../../errors.ts";
import { sealFileMeta } from "../sealing.ts";
import { fileRow, fileTokenRow } from "../sqlite_log.ts";
import {
  BLOB_REMOVAL_LEASE_MS,
  type FileMeta,
  type FileRecord,
  type FileTokenRecord,
} from "../store.ts";
import type { PgContext, Q } from "./context.ts";

/** A file's record with its name and type opened; undefined when missing or unreadable. */
export async function fileRecord(
  ctx: PgContext,
  q: Q,
  id: string,
): Promise<FileRecord | undefined> {
  const [row] = await q`SELECT id, address, owner_key, size, meta, created_at FROM files
    WHERE id = ${id}`;
  if (!row) return undefined;
  const file = await fileRow(ctx.key, row);
  if (!file) {
    ctx.logger.error("a file record does not open with the data key; it is skipped", { id });
  }
  return file;
}

/** What a message says of its file: the record without where it lives and whose it is. */
export function fileMetaOf(file: FileRecord): FileMeta {
  const { address: _a, ownerKey: _o, createdAt: _c, ...meta } = file;
  return meta;
}

/**
 * Inside an append's transaction: the file a message shares must exist, and is marked sent so
 * that pruning unsent uploads leaves it alone.
 * @throws {ParleyError} `no_such_file`.
 */
export async function markSent(q: Q, id: string): Promise<void> {
  const done = await q`UPDATE files SET sent = true WHERE id = ${id}`;
  if (done.count === 0) {
    throw new ParleyError("no_such_file", "That file is gone; upload it again.");
  }
}

export async function putFile(ctx: PgContext, file: FileRecord): Promise<boolean> {
  ctx.assertOpen();
  const f = { ...file };
  let meta: Uint8Array;
  const sealed = (async () => {
    meta = await sealFileMeta(ctx.key, f);
  })();
  return await ctx.write(1, async (q) => {
    // Under the write lock, like the prune that marks removals: one sees the other's commit.
    const [removal] = await q`SELECT since FROM blob_removals WHERE address = ${f.address}`;
    if (removal) {
      if (Number(removal.since) > Date.now() - BLOB_REMOVAL_LEASE_MS) return false;
      await q`DELETE FROM blob_removals WHERE address = ${f.address}`; // its remover died
    }
    await q`INSERT INTO files (id, address, owner_key, size, meta, created_at)
      VALUES (${f.id}, ${f.address}, ${f.ownerKey}, ${f.size}, ${meta}, ${f.createdAt})`;
    return true;
  }, sealed);
}

export function getFile(ctx: PgContext, id: string): Promise<FileRecord | undefined> {
  return ctx.read((q) => fileRecord(ctx, q, id));
}

export function fileUsage(ctx: PgContext, ownerKey: string): Promise<number> {
  return ctx.read(async (q) => {
    const [row] = await q`SELECT coalesce(sum(size), 0) AS n FROM files
      WHERE owner_key = ${ownerKey}`;
    return Number(row.n);
  });
}

export function fileConvs(ctx: PgContext, id: string): Promise<string[]> {
  return ctx.read(async (q) =>
    (await q`SELECT DISTINCT conv FROM messages WHERE file_id = ${id} ORDER BY conv`)
      .map((r) => String(r.conv))
  );
}

export function pruneFiles(ctx: PgContext, unsentBefore: number): Promise<string[]> {
  ctx.assertOpen();
  return ctx.write(1, async (q) => {
    const now = Date.now();
    const gone = await q`DELETE FROM files WHERE (sent OR created_at < ${unsentBefore})
      AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.file_id = files.id) RETURNING address`;
    const stale = await q`SELECT address FROM blob_removals
      WHERE since < ${now - BLOB_REMOVAL_LEASE_MS}`;
    const addresses = [...new Set([...gone, ...stale].map((r) => String(r.address)))];
    if (addresses.length === 0) return [];
    const used = await q`SELECT DISTINCT address FROM files
      WHERE address = ANY(${addresses}::text[])`;
    const kept = new Set(used.map((r) => String(r.address)));
    const removed = addresses.filter((a) => !kept.has(a));
    await q`INSERT INTO blob_removals (address, since)
      SELECT unnest(${removed}::text[]), ${now}
      ON CONFLICT (address) DO UPDATE SET since = excluded.since`;
    return removed;
  });
}

export async function blobsRemoved(ctx: PgContext, addresses: readonly string[]): Promise<void> {
  ctx.assertOpen();
  const list = [...addresses];
  await ctx.write(list.length, async (q) => {
    await q`DELETE FROM blob_removals WHERE address = ANY(${list}::text[])`;
  });
}

export async function saveFileToken(ctx: PgContext, t: FileTokenRecord): Promise<void> {
  await ctx.read(async (q) => {
    await q`DELETE FROM file_tokens WHERE expires_at <= ${Date.now()}`;
    await q`INSERT INTO file_tokens (token_hash, purpose, user_key, file_id, expires_at)
      VALUES (${t.tokenHash}, ${t.purpose}, ${t.userKey}, ${t.fileId ?? null}, ${t.expiresAt})`;
  });
}

/** One statement: of two nodes taking the same token at once, one gets the row. */
export async function takeFileToken(
  ctx: PgContext,
  tokenHash: string,
): Promise<FileTokenRecord | undefined> {
  const [row] = await ctx.read((q) =>
    q`DELETE FROM file_tokens WHERE token_hash = ${tokenHash}
      RETURNING token_hash, purpose, user_key, file_id, expires_at`
  );
  return fileTokenRow(row, Date.now());
}
