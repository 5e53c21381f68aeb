/**
 * The PostgreSQL schema (docs/storage.md, "PostgreSQL") and its migrations. Migrations run at
 * every start-up in one transaction under an advisory lock, so nodes that start at once take
 * turns: the first applies what is missing, the others find it done. The data key check is
 * stored (first start) or verified in the same transaction.
 */
import type postgres from "postgres";
import type { DataKey } from "../../crypto/data_key.ts";
import { DATA_KEY_CHECK } from "../sealing.ts";

/** Advisory lock keys of Parley in its database (two 32-bit halves: "Parl", purpose). */
export const LOCK_NAMESPACE = 0x5061726c;
/** Held by the transaction that migrates. */
export const MIGRATION_LOCK = 1;
/** Held by every write transaction: one writer at a time across the nodes (see `writer.ts`). */
export const WRITE_LOCK = 2;

/** The meta row that holds the schema version (how many migrations ran). */
const SCHEMA_VERSION = "schema_version";

/** Keys and names compare as bytes, as in SQLite (BINARY): ranges and orders match. */
const K = `text COLLATE "C" NOT NULL`;

/** Each entry moves the schema one version up; never edit one that has shipped, add another. */
const MIGRATIONS: readonly string[] = [
  `
CREATE TABLE users (
  key ${K} PRIMARY KEY,
  name text NOT NULL,
  password_hash text NOT NULL,
  lang text NOT NULL,
  created_at bigint NOT NULL
);
CREATE TABLE client_ids (
  sender_key ${K},
  cid ${K},
  id text NOT NULL,
  to_name text NOT NULL,
  created_at bigint NOT NULL,
  seq bigint NOT NULL,
  PRIMARY KEY (sender_key, cid)
);
CREATE INDEX client_ids_by_age ON client_ids (created_at);
CREATE TABLE web_sessions (
  token_hash ${K} PRIMARY KEY,
  user_key ${K},
  created_at bigint NOT NULL,
  expires_at bigint NOT NULL
);
CREATE INDEX web_sessions_by_expiry ON web_sessions (expires_at);
CREATE TABLE resume_tokens (
  user_key ${K},
  device ${K},
  token_hash text NOT NULL,
  created_at bigint NOT NULL,
  expires_at bigint NOT NULL,
  PRIMARY KEY (user_key, device)
);
CREATE INDEX resume_tokens_by_expiry ON resume_tokens (expires_at);
CREATE TABLE translations (
  provider ${K},
  target ${K},
  lookup ${K},
  body bytea NOT NULL,
  saved_at bigint NOT NULL,
  PRIMARY KEY (provider, target, lookup)
);
CREATE INDEX translations_by_age ON translations (saved_at);
CREATE TABLE log_seq (
  one boolean PRIMARY KEY DEFAULT true CHECK (one),
  seq bigint NOT NULL
);
INSERT INTO log_seq (seq) VALUES (0);
CREATE TABLE messages (
  seq bigint PRIMARY KEY,
  id ${K} UNIQUE,
  conv ${K},
  sender_key ${K},
  from_name text NOT NULL,
  to_name text NOT NULL,
  body bytea NOT NULL,
  lang text,
  ts bigint NOT NULL
);
CREATE INDEX messages_by_conv ON messages (conv, seq, sender_key);
CREATE TABLE conversations (
  user_key ${K},
  conv ${K},
  peer_key ${K},
  last_seq bigint NOT NULL,
  last_ts bigint NOT NULL,
  PRIMARY KEY (user_key, conv)
);
CREATE TABLE rooms (
  key ${K} PRIMARY KEY,
  name text NOT NULL,
  topic text NOT NULL,
  visibility text NOT NULL,
  created_at bigint NOT NULL,
  last_seq bigint NOT NULL DEFAULT 0,
  last_ts bigint NOT NULL DEFAULT 0
);
CREATE TABLE room_members (
  room ${K},
  user_key ${K},
  role text NOT NULL,
  joined_seq bigint NOT NULL,
  joined_at bigint NOT NULL,
  PRIMARY KEY (room, user_key)
);
CREATE INDEX room_members_by_user ON room_members (user_key, room);
CREATE TABLE room_invites (
  room ${K},
  user_key ${K},
  by_key ${K},
  created_at bigint NOT NULL,
  PRIMARY KEY (room, user_key)
);
CREATE INDEX room_invites_by_user ON room_invites (user_key, room);
CREATE TABLE devices (
  user_key ${K},
  device_id ${K},
  cursor_seq bigint NOT NULL,
  created_at bigint NOT NULL,
  last_seen bigint NOT NULL,
  PRIMARY KEY (user_key, device_id)
);
CREATE TABLE delivered (
  user_key ${K} PRIMARY KEY,
  seq bigint NOT NULL
);
CREATE TABLE acked_ahead (
  user_key ${K},
  seq bigint NOT NULL,
  PRIMARY KEY (user_key, seq)
);
CREATE TABLE read_markers (
  user_key ${K},
  conv ${K},
  seq bigint NOT NULL,
  PRIMARY KEY (user_key, conv)
);
CREATE INDEX read_markers_by_conv ON read_markers (conv, seq);
CREATE TABLE receipts_off (
  user_key ${K} PRIMARY KEY
);
`,
];

/** The schema version this code writes. */
export const SCHEMA_LATEST = MIGRATIONS.length;

/** The database was written by a newer Parley, or by something else. */
export class SchemaError extends Error {
  override name = "SchemaError";
}

/**
 * Brings the schema up to date and stores or verifies the data key check, in one transaction
 * under {@linkcode MIGRATION_LOCK}. Returns how many migrations this call applied.
 * @throws {CryptoError} `wrong_data_key` when the database was sealed under another key.
 * @throws {SchemaError} when the database is of a newer schema than this code knows.
 */
export async function migrate(sql: postgres.Sql, key: DataKey): Promise<number> {
  return await sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(${LOCK_NAMESPACE}, ${MIGRATION_LOCK})`;
    await tx`CREATE TABLE IF NOT EXISTS meta (key text COLLATE "C" PRIMARY KEY, value text NOT NULL)`;
    const meta = async (name: string) =>
      (await tx`SELECT value FROM meta WHERE key = ${name}`)[0]?.value as string | undefined;
    const check = await meta(DATA_KEY_CHECK);
    // Before anything changes: a node with another key leaves the database as it was.
    if (check !== undefined) key.verifyKeyCheck(check);
    const version = Number(await meta(SCHEMA_VERSION) ?? 0);
    if (!Number.isSafeInteger(version) || version > SCHEMA_LATEST) {
      throw new SchemaError(
        `the database has Parley schema version ${version}, newer than this Parley's ` +
          `(${SCHEMA_LATEST}): run the newer Parley, or restore a backup from before it`,
      );
    }
    for (let v = version; v < SCHEMA_LATEST; v++) await tx.unsafe(MIGRATIONS[v]);
    await tx`INSERT INTO meta (key, value) VALUES (${SCHEMA_VERSION}, ${String(SCHEMA_LATEST)})
      ON CONFLICT (key) DO UPDATE SET value = excluded.value`;
    if (check === undefined) {
      await tx`INSERT INTO meta (key, value) VALUES (${DATA_KEY_CHECK}, ${key.keyCheck()})`;
    }
    return SCHEMA_LATEST - version;
  });
}
