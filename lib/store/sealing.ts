/**
 * How a store seals what it keeps at rest (docs/security.md §9), shared by every backend so a
 * future Postgres store seals and binds records exactly as SQLite does. The store is given a
 * {@linkcode DataKey}; the {@linkcode Store} interface itself stays plaintext and crypto-free.
 */
import type { DataKey } from "../crypto/data_key.ts";
import { isCryptoError } from "../crypto/errors.ts";
import type {
  CachedTranslation,
  FileRecord,
  LogMessage,
  StoredMessage,
  TranslationSource,
} from "./store.ts";

/** Name of the meta entry holding the data key's check value. */
export const DATA_KEY_CHECK = "data_key_check";

/** What a sealed offline message body is bound to: its id, sender, recipient and time. */
export function offlineBinding(m: Pick<StoredMessage, "id" | "from" | "toKey" | "ts">): string[] {
  return ["offline", m.id, m.from, m.toKey, String(m.ts)];
}

/** Seals the body of an offline message for its row. */
export function sealOfflineBody(
  key: DataKey,
  m: Pick<StoredMessage, "id" | "from" | "toKey" | "ts">,
  body: string | Uint8Array,
): Promise<Uint8Array> {
  return key.seal(body, offlineBinding(m));
}

/**
 * Opens the body of an offline message; undefined when it does not open (modified, moved to
 * another row, sealed under another key, or never sealed). The caller logs the id and skips it.
 */
export function openOfflineBody(
  key: DataKey,
  m: Pick<StoredMessage, "id" | "from" | "toKey" | "ts">,
  sealed: Uint8Array,
): Promise<string | undefined> {
  return openBody(key, sealed, offlineBinding(m));
}

/** Opens a sealed body bound to `binding`; undefined when it does not open for that binding. */
async function openBody(
  key: DataKey,
  sealed: Uint8Array,
  binding: string[],
): Promise<string | undefined> {
  try {
    return await key.openText(sealed, binding);
  } catch (err) {
    if (isCryptoError(err, "record_tampered")) return undefined;
    throw err;
  }
}

/**
 * The key a cached translation is filed under: a keyed hash (HMAC under the data key) of the
 * provider, target, source language and text, never the text itself nor a plain hash of it.
 */
export function translationLookup(
  key: DataKey,
  provider: string,
  target: string,
  source: TranslationSource,
): Promise<string> {
  return key.lookupKey(["translation", provider, target, source.lang ?? "", source.text]);
}

/** What a sealed cached translation is bound to: its provider, target and lookup key. */
export function translationBinding(provider: string, target: string, lookup: string): string[] {
  return ["translation", provider, target, lookup];
}

/**
 * Seals a cached translation for the row filed under `lookup`: the body is JSON
 * `{"t": text, "d"?: detected source language}`, so the detected language is sealed too.
 */
export function sealTranslation(
  key: DataKey,
  provider: string,
  target: string,
  lookup: string,
  translation: CachedTranslation,
): Promise<Uint8Array> {
  const body: { t: string; d?: string } = { t: translation.text };
  if (translation.detectedSource !== undefined) body.d = translation.detectedSource;
  return key.seal(JSON.stringify(body), translationBinding(provider, target, lookup));
}

/**
 * Opens a cached translation; undefined when it does not open (modified, moved to another row,
 * sealed under another key) or is not a translation body. The caller treats that as a miss.
 */
export async function openTranslation(
  key: DataKey,
  provider: string,
  target: string,
  lookup: string,
  sealed: Uint8Array,
): Promise<CachedTranslation | undefined> {
  let json: string;
  try {
    json = await key.openText(sealed, translationBinding(provider, target, lookup));
  } catch (err) {
    if (isCryptoError(err, "record_tampered")) return undefined;
    throw err;
  }
  let body: unknown;
  try {
    body = JSON.parse(json);
  } catch {
    return undefined;
  }
  if (typeof body !== "object" || body === null) return undefined;
  const { t, d } = body as { t?: unknown; d?: unknown };
  if (typeof t !== "string" || (d !== undefined && typeof d !== "string")) return undefined;
  return d === undefined ? { text: t } : { text: t, detectedSource: d };
}

/** The part of a log message its sealed body is bound to; `fileId` when it shares a file. */
type MessageRow = Pick<LogMessage, "id" | "conv" | "senderKey" | "ts"> & { fileId?: string };

/**
 * What a sealed body in the message log is bound to: its id, conversation, sender and time, and
 * the file it shares (so a file id cannot be moved to another message).
 */
export function messageBinding(m: MessageRow): string[] {
  const binding = ["message", m.id, m.conv, m.senderKey, String(m.ts)];
  if (m.fileId !== undefined) binding.push("file", m.fileId);
  return binding;
}

/** Seals the body of a message of the log for its row. */
export function sealMessageBody(
  key: DataKey,
  m: MessageRow,
  body: string | Uint8Array,
): Promise<Uint8Array> {
  return key.seal(body, messageBinding(m));
}

/**
 * Opens the body of a message of the log; undefined when it does not open (modified, moved to
 * another row, sealed under another key). The caller logs the id and skips it.
 */
export function openMessageBody(
  key: DataKey,
  m: MessageRow,
  sealed: Uint8Array,
): Promise<string | undefined> {
  return openBody(key, sealed, messageBinding(m));
}

/** The part of a file record its sealed name and type are bound to. */
type FileRow = Pick<FileRecord, "id" | "ownerKey" | "address" | "size">;

/** What a file's sealed name and type are bound to: its id, owner, blob and size. */
export function fileBinding(f: FileRow): string[] {
  return ["file", f.id, f.ownerKey, f.address, String(f.size)];
}

/** What of a file record is sealed: `{"n": name, "t": type, "w"?: width, "h"?: height}`. */
export function sealFileMeta(key: DataKey, f: FileRecord): Promise<Uint8Array> {
  const body: { n: string; t: string; w?: number; h?: number } = { n: f.name, t: f.type };
  if (f.width !== undefined && f.height !== undefined) {
    body.w = f.width;
    body.h = f.height;
  }
  return key.seal(JSON.stringify(body), fileBinding(f));
}

/** Opens a file's sealed name and type; undefined when it does not open for its row. */
export async function openFileMeta(
  key: DataKey,
  f: FileRow,
  sealed: Uint8Array,
): Promise<Pick<FileRecord, "name" | "type" | "width" | "height"> | undefined> {
  const json = await openBody(key, sealed, fileBinding(f));
  if (json === undefined) return undefined;
  try {
    const { n, t, w, h } = JSON.parse(json);
    if (typeof n !== "string" || typeof t !== "string") return undefined;
    return typeof w === "number" && typeof h === "number"
      ? { name: n, type: t, width: w, height: h }
      : { name: n, type: t };
  } catch {
    return undefined;
  }
}
