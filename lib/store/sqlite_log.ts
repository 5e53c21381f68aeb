/**
 * The SQLite side of the message log, rooms, devices and read state (docs/storage.md): tables,
 * statements and row decoding, used by `SqliteStore`. The tables are created with `IF NOT
 * EXISTS` at every open like the rest of the schema; moving data from an older layout is a step
 * of `PRAGMA user_version` (see `SqliteStore`).
 */
import type { StatementSync } from "node:sqlite";
import { ParleyError } from "../errors.ts";
import type { CallEntry } from "../protocol/types.ts";
import type { DataKey } from "../crypto/data_key.ts";
import { openFileMeta } from "./sealing.ts";
import type {
  DeviceRecord,
  FileRecord,
  FileTokenRecord,
  LogMessage,
  RoomMember,
  RoomRecord,
} from "./store.ts";

/**
 * The data layout version this code writes: 1 = the message log (pending offline messages moved
 * into it). A store at 0 was written by a release before the log.
 */
export const LOG_VERSION = 1;

export const LOG_SCHEMA = `
CREATE TABLE IF NOT EXISTS messages (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  conv TEXT NOT NULL,
  sender_key TEXT NOT NULL,
  from_name TEXT NOT NULL,
  to_name TEXT NOT NULL,
  body BLOB NOT NULL,
  lang TEXT,
  ts INTEGER NOT NULL,
  call TEXT,
  file_id TEXT
);
CREATE INDEX IF NOT EXISTS messages_by_conv ON messages (conv, seq, sender_key);
CREATE TABLE IF NOT EXISTS files (
  id TEXT PRIMARY KEY,
  address TEXT NOT NULL,
  owner_key TEXT NOT NULL,
  size INTEGER NOT NULL,
  meta BLOB NOT NULL,
  created_at INTEGER NOT NULL,
  sent INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS files_by_owner ON files (owner_key);
CREATE INDEX IF NOT EXISTS files_by_address ON files (address);
CREATE TABLE IF NOT EXISTS blob_removals (
  address TEXT PRIMARY KEY,
  since INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS file_tokens (
  token_hash TEXT PRIMARY KEY,
  purpose TEXT NOT NULL,
  user_key TEXT NOT NULL,
  file_id TEXT,
  expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS file_tokens_by_expiry ON file_tokens (expires_at);
CREATE TABLE IF NOT EXISTS conversations (
  user_key TEXT NOT NULL,
  conv TEXT NOT NULL,
  peer_key TEXT NOT NULL,
  last_seq INTEGER NOT NULL,
  last_ts INTEGER NOT NULL,
  PRIMARY KEY (user_key, conv)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rooms (
  key TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  topic TEXT NOT NULL,
  visibility TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  last_seq INTEGER NOT NULL DEFAULT 0,
  last_ts INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS room_members (
  room TEXT NOT NULL,
  user_key TEXT NOT NULL,
  role TEXT NOT NULL,
  joined_seq INTEGER NOT NULL,
  joined_at INTEGER NOT NULL,
  PRIMARY KEY (room, user_key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS room_members_by_user ON room_members (user_key, room);
CREATE TABLE IF NOT EXISTS room_invites (
  room TEXT NOT NULL,
  user_key TEXT NOT NULL,
  by_key TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (room, user_key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS room_invites_by_user ON room_invites (user_key, room);
CREATE TABLE IF NOT EXISTS devices (
  user_key TEXT NOT NULL,
  device_id TEXT NOT NULL,
  cursor_seq INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  last_seen INTEGER NOT NULL,
  PRIMARY KEY (user_key, device_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS delivered (
  user_key TEXT PRIMARY KEY,
  seq INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS acked_ahead (
  user_key TEXT NOT NULL,
  seq INTEGER NOT NULL,
  PRIMARY KEY (user_key, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS read_markers (
  user_key TEXT NOT NULL,
  conv TEXT NOT NULL,
  seq INTEGER NOT NULL,
  PRIMARY KEY (user_key, conv)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS read_markers_by_conv ON read_markers (conv, seq);
CREATE TABLE IF NOT EXISTS receipts_off (
  user_key TEXT PRIMARY KEY
) WITHOUT ROWID;
`;

/**
 * Made after the columns are added (a store from before files gets `messages.file_id` then):
 * which messages share a file, for access checks and for forgetting unreferenced files.
 */
export const FILE_INDEX =
  "CREATE INDEX IF NOT EXISTS messages_by_file ON messages (file_id) WHERE file_id IS NOT NULL";

/** Messages pruned per transaction. */
export const PRUNE_CHUNK = 1000;

/** The columns a log row is read with ({@linkcode logRow} decodes them). */
export const LOG_COLUMNS =
  "seq, id, conv, sender_key, from_name, to_name, body, lang, ts, call, file_id";

const ROOM_COLUMNS = "key, name, topic, visibility, created_at, " +
  "(SELECT count(*) FROM room_members m WHERE m.room = rooms.key) AS members";

/** The prepared statements of the log, by name. */
export function logStatements(p: (sql: string) => StatementSync): Record<string, StatementSync> {
  return {
    insertLog: p(
      "INSERT INTO messages (id, conv, sender_key, from_name, to_name, body, lang, ts, call, " +
        "file_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    ),
    insertFile: p(
      "INSERT INTO files (id, address, owner_key, size, meta, created_at) VALUES (?, ?, ?, ?, ?, ?)",
    ),
    getFile: p("SELECT id, address, owner_key, size, meta, created_at FROM files WHERE id = ?"),
    markFileSent: p("UPDATE files SET sent = 1 WHERE id = ?"),
    fileUsage: p("SELECT coalesce(sum(size), 0) AS n FROM files WHERE owner_key = ?"),
    fileConvs: p("SELECT DISTINCT conv FROM messages WHERE file_id = ? ORDER BY conv"),
    pruneFiles: p(
      "DELETE FROM files WHERE (sent = 1 OR created_at < ?) AND " +
        "NOT EXISTS (SELECT 1 FROM messages m WHERE m.file_id = files.id) RETURNING address",
    ),
    addressUsed: p("SELECT 1 AS x FROM files WHERE address = ? LIMIT 1"),
    removalSince: p("SELECT since FROM blob_removals WHERE address = ?"),
    markRemoval: p(
      "INSERT INTO blob_removals (address, since) VALUES (?, ?) " +
        "ON CONFLICT (address) DO UPDATE SET since = excluded.since",
    ),
    staleRemovals: p("SELECT address FROM blob_removals WHERE since < ?"),
    dropRemoval: p("DELETE FROM blob_removals WHERE address = ?"),
    insertFileToken: p(
      "INSERT INTO file_tokens (token_hash, purpose, user_key, file_id, expires_at) " +
        "VALUES (?, ?, ?, ?, ?)",
    ),
    pruneFileTokens: p("DELETE FROM file_tokens WHERE expires_at <= ?"),
    takeFileToken: p(
      "DELETE FROM file_tokens WHERE token_hash = ? " +
        "RETURNING token_hash, purpose, user_key, file_id, expires_at",
    ),
    convActivity: p(
      "INSERT INTO conversations (user_key, conv, peer_key, last_seq, last_ts) VALUES (?, ?, ?, ?, ?) " +
        "ON CONFLICT (user_key, conv) DO UPDATE SET last_seq = excluded.last_seq, last_ts = excluded.last_ts",
    ),
    roomActivity: p("UPDATE rooms SET last_seq = ?, last_ts = ? WHERE key = ?"),
    messageById: p("SELECT seq, conv, sender_key FROM messages WHERE id = ?"),
    messageBySeq: p("SELECT conv, sender_key FROM messages WHERE seq = ?"),
    // The newest first from the (conv, seq) index: a page costs its size, however long the log.
    historyPage: p(
      `SELECT ${LOG_COLUMNS} FROM messages WHERE conv = ? AND seq < ? ORDER BY seq DESC LIMIT ?`,
    ),
    convSeqsAfter: p("SELECT seq FROM messages WHERE conv = ? AND seq > ? ORDER BY seq LIMIT ?"),
    convSeqsAfterOthers: p(
      "SELECT seq FROM messages WHERE conv = ? AND seq > ? AND sender_key != ? ORDER BY seq LIMIT ?",
    ),
    logBySeq: p(`SELECT ${LOG_COLUMNS} FROM messages WHERE seq = ?`),
    // Counted in the covering (conv, seq, sender_key) index, never the table; capped.
    countUnread: p(
      "SELECT count(*) AS n FROM (SELECT 1 FROM messages WHERE conv = ? AND seq > ? AND sender_key != ? LIMIT ?)",
    ),
    countOthers: p(
      "SELECT count(*) AS n FROM messages WHERE conv = ? AND seq > ? AND sender_key != ?",
    ),
    convLast: p("SELECT max(seq) AS s FROM messages WHERE conv = ?"),
    lastSeq: p("SELECT seq FROM sqlite_sequence WHERE name = 'messages'"),
    privateConvs: p(
      "SELECT conv, peer_key, last_seq, last_ts FROM conversations WHERE user_key = ? AND last_seq > ?",
    ),
    roomConvs: p(
      "SELECT m.room, m.joined_seq, r.last_seq, r.last_ts FROM room_members m JOIN rooms r ON r.key = m.room " +
        "WHERE m.user_key = ? AND r.last_seq > ?",
    ),
    oldest: p("SELECT seq, ts FROM messages ORDER BY seq LIMIT ?"),
    pruneUpTo: p("DELETE FROM messages WHERE seq <= ?"),
    allOffline: p(
      "SELECT seq, id, from_name, to_name, to_key, body, ts, lang FROM offline_messages ORDER BY seq",
    ),
    deleteOffline: p("DELETE FROM offline_messages WHERE seq = ?"),
    cidSeqs: p(
      "UPDATE client_ids SET seq = (SELECT seq FROM messages WHERE messages.id = client_ids.id) WHERE seq IS NULL",
    ),
    getDelivered: p("SELECT seq FROM delivered WHERE user_key = ?"),
    setDelivered: p(
      "INSERT INTO delivered (user_key, seq) VALUES (?, ?) " +
        "ON CONFLICT (user_key) DO UPDATE SET seq = max(seq, excluded.seq)",
    ),
    ackAhead: p("INSERT OR IGNORE INTO acked_ahead (user_key, seq) VALUES (?, ?)"),
    ackedAhead: p("SELECT seq FROM acked_ahead WHERE user_key = ? ORDER BY seq"),
    dropAckedAhead: p("DELETE FROM acked_ahead WHERE user_key = ? AND seq <= ?"),
    insertDevice: p(
      "INSERT OR IGNORE INTO devices (user_key, device_id, cursor_seq, created_at, last_seen) VALUES (?, ?, ?, ?, ?)",
    ),
    touchDevice: p("UPDATE devices SET last_seen = ? WHERE user_key = ? AND device_id = ?"),
    getDevice: p(
      "SELECT user_key, device_id, cursor_seq, created_at, last_seen FROM devices WHERE user_key = ? AND device_id = ?",
    ),
    setCursor: p(
      "UPDATE devices SET cursor_seq = ?, last_seen = ? WHERE user_key = ? AND device_id = ?",
    ),
    devicesOf: p(
      "SELECT user_key, device_id, cursor_seq, created_at, last_seen FROM devices WHERE user_key = ? ORDER BY last_seen DESC, device_id",
    ),
    deleteDevice: p("DELETE FROM devices WHERE user_key = ? AND device_id = ?"),
    getMarker: p("SELECT seq FROM read_markers WHERE user_key = ? AND conv = ?"),
    markRead: p(
      "INSERT INTO read_markers (user_key, conv, seq) VALUES (?, ?, ?) " +
        "ON CONFLICT (user_key, conv) DO UPDATE SET seq = max(seq, excluded.seq)",
    ),
    deleteMarker: p("DELETE FROM read_markers WHERE user_key = ? AND conv = ?"),
    readCount: p(
      "SELECT count(*) AS n FROM read_markers WHERE conv = ? AND seq >= ? AND user_key != ? " +
        "AND user_key NOT IN (SELECT user_key FROM receipts_off)",
    ),
    receiptsOff: p("SELECT 1 AS off FROM receipts_off WHERE user_key = ?"),
    setReceiptsOff: p("INSERT OR IGNORE INTO receipts_off (user_key) VALUES (?)"),
    setReceiptsOn: p("DELETE FROM receipts_off WHERE user_key = ?"),
    insertRoom: p(
      "INSERT INTO rooms (key, name, topic, visibility, created_at) VALUES (?, ?, ?, ?, ?)",
    ),
    getRoom: p(`SELECT ${ROOM_COLUMNS} FROM rooms WHERE key = ?`),
    listRooms: p(
      `SELECT ${ROOM_COLUMNS} FROM rooms WHERE key > ? AND (visibility = 'public' OR ` +
        "EXISTS (SELECT 1 FROM room_members m WHERE m.room = rooms.key AND m.user_key = ?) OR " +
        "EXISTS (SELECT 1 FROM room_invites i WHERE i.room = rooms.key AND i.user_key = ?)) " +
        "ORDER BY key LIMIT ?",
    ),
    setTopic: p("UPDATE rooms SET topic = ? WHERE key = ?"),
    roomsOf: p("SELECT room FROM room_members WHERE user_key = ? ORDER BY room"),
    insertMember: p(
      "INSERT INTO room_members (room, user_key, role, joined_seq, joined_at) VALUES (?, ?, ?, ?, ?)",
    ),
    getMember: p(
      "SELECT user_key, role, joined_seq FROM room_members WHERE room = ? AND user_key = ?",
    ),
    membersOf: p(
      "SELECT user_key, role, joined_seq FROM room_members WHERE room = ? ORDER BY user_key",
    ),
    deleteMember: p("DELETE FROM room_members WHERE room = ? AND user_key = ?"),
    roomOwner: p("SELECT user_key FROM room_members WHERE room = ? AND role = 'owner'"),
    promoteEldest: p(
      "UPDATE room_members SET role = 'owner' WHERE room = ? AND user_key = " +
        "(SELECT user_key FROM room_members WHERE room = ? ORDER BY joined_seq, joined_at, user_key LIMIT 1)",
    ),
    demoteOwners: p("UPDATE room_members SET role = 'member' WHERE room = ? AND role = 'owner'"),
    setRole: p("UPDATE room_members SET role = ? WHERE room = ? AND user_key = ?"),
    insertInvite: p(
      "INSERT OR REPLACE INTO room_invites (room, user_key, by_key, created_at) VALUES (?, ?, ?, ?)",
    ),
    getInvite: p("SELECT 1 AS x FROM room_invites WHERE room = ? AND user_key = ?"),
    deleteInvite: p("DELETE FROM room_invites WHERE room = ? AND user_key = ?"),
    invitesOf: p(
      "SELECT room, by_key, created_at FROM room_invites WHERE user_key = ? " +
        "ORDER BY created_at, room",
    ),
  };
}

/** A row as node:sqlite returns it. */
export type Row = Record<string, string | number | Uint8Array | null>;

/** A message row before its body is opened (and its file looked up). */
export type LogRow = Omit<LogMessage, "text" | "file"> & { body: Uint8Array; fileId?: string };

export function logRow(r: Row): LogRow {
  const row: LogRow = {
    seq: Number(r.seq),
    id: String(r.id),
    conv: String(r.conv),
    senderKey: String(r.sender_key),
    from: String(r.from_name),
    to: String(r.to_name),
    ts: Number(r.ts),
    body: r.body instanceof Uint8Array ? r.body : new TextEncoder().encode(String(r.body)),
  };
  if (r.lang != null) row.lang = String(r.lang);
  if (typeof r.call === "string") row.call = callEntryOf(r.call);
  if (r.file_id != null) row.fileId = String(r.file_id);
  return row;
}

/**
 * A call's entry as its column keeps it (JSON of {@linkcode CallEntry}: the kind of call, how
 * it went, how long; metadata in the clear like the time, the words are in the sealed body).
 */
export function callEntryOf(json: string): CallEntry | undefined {
  try {
    const v = JSON.parse(json);
    if (v.media !== "audio" && v.media !== "video") return undefined;
    if (!["missed", "declined", "ended"].includes(v.outcome)) return undefined;
    const entry: CallEntry = { media: v.media, outcome: v.outcome };
    if (Number.isSafeInteger(v.duration) && v.duration >= 0) entry.duration = v.duration;
    return entry;
  } catch {
    return undefined;
  }
}

/**
 * A `files` row as a record, its name and type opened; undefined when they do not open for
 * the row (the caller reports it).
 */
export async function fileRow(key: DataKey, r: Row): Promise<FileRecord | undefined> {
  const base = {
    id: String(r.id),
    address: String(r.address),
    ownerKey: String(r.owner_key),
    size: Number(r.size),
  };
  const meta = await openFileMeta(key, base, r.meta as Uint8Array);
  return meta && { ...base, ...meta, createdAt: Number(r.created_at) };
}

/** A `file_tokens` row as a record; undefined when it has expired by `now`. */
export function fileTokenRow(r: Row | undefined, now: number): FileTokenRecord | undefined {
  if (!r || Number(r.expires_at) <= now) return undefined;
  const record: FileTokenRecord = {
    tokenHash: String(r.token_hash),
    purpose: r.purpose === "upload" ? "upload" : "download",
    userKey: String(r.user_key),
    expiresAt: Number(r.expires_at),
  };
  if (r.file_id != null) record.fileId = String(r.file_id);
  return record;
}

export function roomRow(r: Row): RoomRecord {
  return {
    key: String(r.key),
    name: String(r.name),
    topic: String(r.topic),
    visibility: r.visibility === "invite" ? "invite" : "public",
    createdAt: Number(r.created_at),
    members: Number(r.members),
  };
}

export function memberRow(r: Row): RoomMember {
  return {
    userKey: String(r.user_key),
    role: r.role === "owner" ? "owner" : "member",
    joinedSeq: Number(r.joined_seq),
  };
}

export function deviceRow(r: Row): DeviceRecord {
  return {
    userKey: String(r.user_key),
    deviceId: String(r.device_id),
    cursor: Number(r.cursor_seq),
    createdAt: Number(r.created_at),
    lastSeen: Number(r.last_seen),
  };
}

export function noSuchRoom(key: string): ParleyError {
  return new ParleyError("no_such_room", `There is no room named #${key}. /join #${key} makes it.`);
}

/** The longest device id accepted (clients choose them; a UUID is 36). */
export const MAX_DEVICE_ID = 64;

/** @throws {ParleyError} `bad_argument` for an empty, long or non-printable device id. */
export function checkDeviceId(id: string): void {
  if (!/^[\x21-\x7e]{1,64}$/.test(id)) {
    throw new ParleyError(
      "bad_argument",
      `A device id is 1-${MAX_DEVICE_ID} printable ASCII characters without spaces.`,
    );
  }
}

/** @throws {ParleyError} `bad_argument` unless `seq` is a whole number ≥ 0. */
export function checkSeq(seq: number): void {
  if (!Number.isSafeInteger(seq) || seq < 0) {
    throw new ParleyError("bad_argument", "A message seq is a whole number ≥ 0.");
  }
}
