/**
 * How a store seals what it keeps at rest (docs/security.md §9), shared by every backend so a
 * future Postgres store seals and binds records exactly as SQLite does. The store is given a
 * {@linkcode DataKey}; the {@linkcode Store} interface itself stays plaintext and crypto-free.
 */
import type { DataKey } from "../crypto/data_key.ts";
import { isCryptoError } from "../crypto/errors.ts";
import type { StoredMessage } from "./store.ts";

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
export async function openOfflineBody(
  key: DataKey,
  m: Pick<StoredMessage, "id" | "from" | "toKey" | "ts">,
  sealed: Uint8Array,
): Promise<string | undefined> {
  try {
    return await key.openText(sealed, offlineBinding(m));
  } catch (err) {
    if (isCryptoError(err, "record_tampered")) return undefined;
    throw err;
  }
}
