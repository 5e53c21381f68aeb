/**
 * Rows as every store backend reads them back: one mapping from column names to records, so
 * SQLite and PostgreSQL cannot drift apart in what a record carries.
 */
import { nameKey } from "../accounts/names.ts";
import { privateConv } from "./conv.ts";
import type {
  AppendResult,
  ClientIdRecord,
  LogMessage,
  NewLogMessage,
  ResumeTokenRecord,
  StoredMessage,
  WebLoginRecord,
} from "./store.ts";

/** A row of the columns the stores' tables use (`user_key`, `expires_at`, …). */
type Row = Record<string, unknown>;

/** A `web_sessions` row as the browser login it records. */
export function webLoginOf(row: Row): WebLoginRecord {
  return {
    tokenHash: String(row.token_hash),
    userKey: String(row.user_key),
    createdAt: Number(row.created_at),
    expiresAt: Number(row.expires_at),
  };
}

/** A `resume_tokens` row as the device's resume token it records. */
export function resumeTokenOf(row: Row): ResumeTokenRecord {
  return {
    userKey: String(row.user_key),
    device: String(row.device),
    tokenHash: String(row.token_hash),
    createdAt: Number(row.created_at),
    expiresAt: Number(row.expires_at),
  };
}

/** A log entry as a message waiting for `toKey` (`Store.pending`): no seq, its file kept. */
export function pendingOf(m: LogMessage, toKey: string): StoredMessage {
  const stored: StoredMessage = { id: m.id, from: m.from, to: m.to, toKey, text: m.text, ts: m.ts };
  if (m.file) stored.file = m.file;
  return m.lang === undefined ? stored : { ...stored, lang: m.lang };
}

/** A message kept for an offline recipient (`Store.storeOffline`) as the log entry holding it. */
export function offlineEntry(message: StoredMessage): NewLogMessage {
  const senderKey = nameKey(message.from);
  return {
    id: message.id,
    conv: privateConv(senderKey, message.toKey),
    senderKey,
    from: message.from,
    to: message.to,
    text: message.text,
    ts: message.ts,
    ...(message.lang === undefined ? {} : { lang: message.lang }),
  };
}

/** What `Store.storeOffline` answers for an append: the record of a resend, else nothing. */
export function offlineOutcome(
  result: AppendResult & { to: string },
): ClientIdRecord | undefined {
  return result.duplicate
    ? { id: result.id, to: result.to, status: "stored", recipients: 0 }
    : undefined;
}
