/**
 * The persistence interface. SQLite is the default implementation; every implementation runs the
 * shared conformance suite in tests/store_conformance.ts.
 *
 * The interface deals in plaintext and knows nothing of transports or keys. Encryption at rest is
 * the implementation's job (docs/security.md §9): it is given the data key when opened, keeps the
 * key's check value and refuses another key, and seals message bodies with the helpers of
 * `./sealing.ts`, so every backend seals and binds records the same way.
 *
 * Every method that writes rejects with a `ParleyError` `storage_full` when the write did
 * not fit on the disk (nothing of it is kept), and works again as soon as there is room: the
 * caller may retry the same call.
 */

/** A registered account. */
export interface UserRecord {
  /** The name as registered (display form). */
  name: string;
  /** The case-insensitive unique key. */
  key: string;
  passwordHash: string;
  lang: string;
  createdAt: number;
}

/** A private message waiting for an offline recipient. */
export interface StoredMessage {
  id: string;
  /** Display name of the sender. */
  from: string;
  /** Display name of the recipient. */
  to: string;
  /** Key of the recipient, which the message is filed under. */
  toKey: string;
  text: string;
  ts: number;
  /**
   * The sender's language when they sent it: the source language for translating the message
   * into the recipient's language at delivery. Undefined for messages stored before translation.
   */
  lang?: string;
}

/** The text a translation is made from: what the cache is keyed by (with provider and target). */
export interface TranslationSource {
  text: string;
  /** The source language the provider was told, if any (part of the key). */
  lang?: string;
}

/** A translation as the cache keeps it. */
export interface CachedTranslation {
  text: string;
  /** The source language the provider detected, when it said. */
  detectedSource?: string;
}

/** What a client id resolved to the first time it was used. */
export interface ClientIdRecord {
  id: string;
  status: "delivered" | "stored";
  to: string;
  recipients: number;
}

/**
 * A browser sign-in. Filed under the SHA-256 hash of its token: the token itself lives only in
 * the browser's cookie, so a copy of the database cannot be used to sign in.
 */
export interface WebSessionRecord {
  /** Hex SHA-256 of the token. */
  tokenHash: string;
  userKey: string;
  createdAt: number;
  /** Milliseconds since the epoch after which the session is void. */
  expiresAt: number;
}

export interface Store {
  /**
   * Creates an account.
   * @throws {ParleyError} `name_taken` when the key exists.
   */
  createUser(user: UserRecord): Promise<void>;
  /** Looks an account up by key. */
  getUser(key: string): Promise<UserRecord | undefined>;
  /** Up to `limit` accounts, ordered by key. */
  listUsers(limit: number): Promise<UserRecord[]>;
  /**
   * Up to `limit` accounts whose key starts with `prefix` (a key: lower case; "" matches all),
   * ordered by key, starting after the key `after` when given: one page of a name search. A
   * range over the key, so its cost follows the page, not the number of accounts.
   */
  searchUsers(prefix: string, after: string | undefined, limit: number): Promise<UserRecord[]>;
  /** Changes an account's preferred language. */
  setLang(key: string, lang: string): Promise<void>;
  /**
   * Replaces an account's password hash (a stronger hash of the same password, made at
   * sign-in); the hash names its own parameters (lib/accounts/password.ts).
   */
  setPasswordHash(key: string, passwordHash: string): Promise<void>;
  /**
   * Durably stores a message for an offline recipient. When `cid` was already used by the
   * sender, stores nothing and returns the earlier outcome; otherwise returns undefined. The
   * promise resolves only after the write is committed.
   */
  storeOffline(
    message: StoredMessage,
    cid?: { senderKey: string; cid: string },
  ): Promise<ClientIdRecord | undefined>;
  /** Messages waiting for `toKey`, oldest first. */
  pending(toKey: string, limit?: number): Promise<StoredMessage[]>;
  /** Counts messages waiting for `toKey`. */
  pendingCount(toKey: string): Promise<number>;
  /** Removes acknowledged messages of `toKey`; returns how many were removed. */
  ack(toKey: string, ids: string[]): Promise<number>;
  /** The outcome of a stored message's client id, if the sender used it before. */
  lookupClientId(senderKey: string, cid: string): Promise<ClientIdRecord | undefined>;
  /** Saves a browser sign-in; also forgets sessions that have expired. */
  createWebSession(session: WebSessionRecord): Promise<void>;
  /** The browser sign-in filed under `tokenHash`; undefined when unknown or expired. */
  getWebSession(tokenHash: string): Promise<WebSessionRecord | undefined>;
  /** Ends a browser sign-in (logout); returns whether it existed. */
  deleteWebSession(tokenHash: string): Promise<boolean>;
  /**
   * Cached translations of `sources` by `provider` into `target`, in the same order; undefined
   * where there is none. Keys are keyed hashes (HMAC with the data key), never the text, and the
   * translations are sealed like message bodies: a copy of the database shows neither.
   */
  getTranslations(
    provider: string,
    target: string,
    sources: readonly TranslationSource[],
  ): Promise<(CachedTranslation | undefined)[]>;
  /**
   * Saves translations (replacing any for the same source); committed when the promise resolves.
   * The cache is bounded: the store forgets the least recently saved entries beyond its limit.
   */
  putTranslations(
    provider: string,
    target: string,
    entries: readonly { source: TranslationSource; translation: CachedTranslation }[],
  ): Promise<void>;
  /**
   * Answers when the store can be read and written (it commits a small write): for /healthz.
   * Cheap whatever the size of the store.
   * @throws {ParleyError} `storage_full` when a write would not fit; something else when the
   * store cannot be read, or is closed.
   */
  check(): Promise<void>;
  /** Flushes and closes; further calls fail. */
  close(): Promise<void>;
}
