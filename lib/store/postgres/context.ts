/**
 * What the parts of `PostgresStore` share: the connection pool, the data key, how a read and a
 * write run, and the report of records that do not open. Each part (accounts, log, rooms,
 * translations) is a set of functions over it.
 */
import type postgres from "postgres";
import type { DataKey } from "../../crypto/data_key.ts";
import type { Logger } from "../../log.ts";
import { openMessageBody } from "../sealing.ts";
import type { LogRow } from "../sqlite_log.ts";
import type { LogMessage } from "../store.ts";
import type { Tx } from "./writer.ts";

/** Statements run on a transaction or on the pool alike. */
export type Q = Tx;

/** A row as the client library returns it (`bigint` columns come as strings). */
export type PgRow = Record<string, string | number | Uint8Array | null>;

export interface PgContext {
  key: DataKey;
  logger: Logger;
  /**
   * Runs reads (and single-statement writes that need no lock) on the pool, once the store is
   * ready; errors are mapped (`storage_unavailable`, `storage_full`).
   */
  read<T>(fn: (q: Q) => Promise<T>): Promise<T>;
  /**
   * Runs `run` in the next group commit (see writer.ts), after `prepared` (sealing) settles and
   * the store is ready. Resolves after COMMIT.
   */
  write<T>(weight: number, run: (tx: Tx) => Promise<T>, prepared?: Promise<void>): Promise<T>;
  /** Throws when the store is closed. */
  assertOpen(): void;
  /** Ids of records that did not open, by reader: skipped, reported once, left in place. */
  reportUnreadable(readerKey: string, id: string): void;
}

/** Opens a row's body; undefined (reported once, under `readerKey`) when it does not open. */
export async function openRow(
  ctx: PgContext,
  r: LogRow,
  readerKey: string,
): Promise<LogMessage | undefined> {
  const text = await openMessageBody(ctx.key, r, r.body);
  if (text === undefined) {
    ctx.reportUnreadable(readerKey, r.id);
    return undefined;
  }
  const { body: _, lang, ...m } = r;
  return lang === undefined ? { ...m, text } : { ...m, text, lang };
}

/** The pool as a statement runner (reads run outside any transaction). */
export function asQ(sql: postgres.Sql): Q {
  return sql as unknown as Q;
}
