import { DatabaseSync, type StatementSync } from "node:sqlite";
import type { DataKey } from "../crypto/data_key.ts";
import { ParleyError } from "../errors.ts";
import { createLogger, type Logger } from "../log.ts";
import { DATA_KEY_CHECK, openOfflineBody, sealOfflineBody } from "./sealing.ts";
import type {
  ClientIdRecord,
  Store,
  StoredMessage,
  UserRecord,
  WebSessionRecord,
} from "./store.ts";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS users (
  key TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  password_hash TEXT NOT NULL,
  lang TEXT NOT NULL,
  created_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS offline_messages (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  to_key TEXT NOT NULL,
  from_name TEXT NOT NULL,
  to_name TEXT NOT NULL,
  body BLOB NOT NULL,
  ts INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS offline_by_recipient ON offline_messages (to_key, seq);
CREATE TABLE IF NOT EXISTS client_ids (
  sender_key TEXT NOT NULL,
  cid TEXT NOT NULL,
  id TEXT NOT NULL,
  to_name TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (sender_key, cid)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS client_ids_by_age ON client_ids (created_at);
CREATE TABLE IF NOT EXISTS web_sessions (
  token_hash TEXT PRIMARY KEY,
  user_key TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS web_sessions_by_expiry ON web_sessions (expires_at);
CREATE TABLE IF NOT EXISTS meta (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;
`;

/** How long a stored message's client id is remembered for deduplication. */
const CLIENT_ID_TTL_MS = 7 * 24 * 3600 * 1000;

export interface SqliteStoreOptions {
  /** Path of the database file, or `:memory:`. */
  path: string;
  /**
   * The at-rest key that seals message bodies (docs/security.md §9). The store keeps its check
   * value and refuses another key.
   */
  dataKey: DataKey;
  /** Where unreadable records are reported. @default errors to stderr */
  logger?: Logger;
}

/**
 * The embedded store on `node:sqlite`: WAL journal with `synchronous=FULL`, so a write that
 * returned is on disk and survives a crash of the process or the machine. Message bodies are
 * sealed with the data key (AES-256-GCM, bound to their row); `secure_delete` overwrites what is
 * deleted.
 *
 * Open it with {@linkcode SqliteStore.open}, which also finishes the one-time migration of a store
 * from before encryption. The constructor checks the key synchronously and throws
 * {@linkcode CryptoError} `wrong_data_key` for another key; every method waits for the migration.
 */
export class SqliteStore implements Store {
  #db: DatabaseSync;
  #q: Record<string, StatementSync>;
  #closed = false;
  #key: DataKey;
  #logger: Logger;
  #ready: Promise<void>;
  /** Ids of records that did not open, by recipient key: skipped, reported once, left in place. */
  #unreadable = new Map<string, Set<string>>();

  /**
   * The data key check value stored in the database at `path`, without changing anything;
   * undefined when there is no database yet, or it was made before encryption. Read it before
   * loading the key: a store with a check value must never get a freshly made key.
   */
  static storedKeyCheck(path: string): string | undefined {
    if (path === ":memory:") return undefined;
    try {
      if (!Deno.statSync(path).isFile) return undefined;
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return undefined;
      throw err;
    }
    const db = new DatabaseSync(path);
    try {
      db.exec("PRAGMA busy_timeout = 5000");
      const table = db.prepare(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'",
      ).get();
      if (!table) return undefined;
      const row = db.prepare("SELECT value FROM meta WHERE key = ?").get(DATA_KEY_CHECK) as
        | { value: string }
        | undefined;
      return row ? String(row.value) : undefined;
    } finally {
      db.close();
    }
  }

  /**
   * Opens the store and waits until it is ready: the key is verified, or (for a new store, or one
   * from before encryption) every plaintext body is sealed and the key check stored, in one
   * transaction.
   * @throws {CryptoError} `wrong_data_key` when the store was sealed under another key.
   */
  static async open(options: SqliteStoreOptions): Promise<SqliteStore> {
    const store = new SqliteStore(options);
    try {
      await store.#ready;
    } catch (err) {
      await store.close();
      throw err;
    }
    return store;
  }

  constructor(options: SqliteStoreOptions) {
    this.#key = options.dataKey;
    this.#logger = options.logger ?? createLogger("error");
    this.#db = new DatabaseSync(options.path);
    this.#db.exec("PRAGMA journal_mode = WAL");
    this.#db.exec("PRAGMA synchronous = FULL");
    this.#db.exec("PRAGMA busy_timeout = 5000");
    // Deleted and overwritten content is zeroed, not left in free pages.
    this.#db.exec("PRAGMA secure_delete = ON");
    this.#db.exec(SCHEMA);
    const p = (sql: string) => this.#db.prepare(sql);
    this.#q = {
      insertUser: p(
        "INSERT INTO users (key, name, password_hash, lang, created_at) VALUES (?, ?, ?, ?, ?)",
      ),
      getUser: p("SELECT key, name, password_hash, lang, created_at FROM users WHERE key = ?"),
      listUsers: p(
        "SELECT key, name, password_hash, lang, created_at FROM users ORDER BY key LIMIT ?",
      ),
      setLang: p("UPDATE users SET lang = ? WHERE key = ?"),
      insertMessage: p(
        "INSERT INTO offline_messages (id, to_key, from_name, to_name, body, ts) VALUES (?, ?, ?, ?, ?, ?)",
      ),
      insertCid: p(
        "INSERT INTO client_ids (sender_key, cid, id, to_name, created_at) VALUES (?, ?, ?, ?, ?)",
      ),
      getCid: p("SELECT id, to_name FROM client_ids WHERE sender_key = ? AND cid = ?"),
      pruneCids: p("DELETE FROM client_ids WHERE created_at < ?"),
      pending: p(
        "SELECT seq, id, from_name, to_name, to_key, body, ts FROM offline_messages WHERE to_key = ? AND seq > ? ORDER BY seq LIMIT ?",
      ),
      pendingCount: p("SELECT count(*) AS n FROM offline_messages WHERE to_key = ?"),
      ack: p("DELETE FROM offline_messages WHERE to_key = ? AND id = ?"),
      insertWebSession: p(
        "INSERT INTO web_sessions (token_hash, user_key, created_at, expires_at) VALUES (?, ?, ?, ?)",
      ),
      getWebSession: p(
        "SELECT token_hash, user_key, created_at, expires_at FROM web_sessions WHERE token_hash = ? AND expires_at > ?",
      ),
      deleteWebSession: p("DELETE FROM web_sessions WHERE token_hash = ?"),
      pruneWebSessions: p("DELETE FROM web_sessions WHERE expires_at <= ?"),
      getMeta: p("SELECT value FROM meta WHERE key = ?"),
      setMeta: p("INSERT INTO meta (key, value) VALUES (?, ?)"),
      allMessages: p("SELECT seq, id, from_name, to_key, body, ts FROM offline_messages"),
      sealBody: p("UPDATE offline_messages SET body = ? WHERE seq = ?"),
    };
    this.#q.pruneCids.run(Date.now() - CLIENT_ID_TTL_MS);
    const check = this.#meta(DATA_KEY_CHECK);
    if (check !== undefined) {
      try {
        this.#key.verifyKeyCheck(check);
      } catch (err) {
        this.#closed = true;
        this.#db.close();
        throw err;
      }
      this.#ready = Promise.resolve();
    } else {
      this.#ready = this.#migrate();
      this.#ready.catch(() => {}); // reported by open() and by every method that waits for it
    }
  }

  /**
   * First open with a key: seals every plaintext body left by a store from before encryption and
   * stores the key check, all in one transaction; then truncates the WAL so the plaintext pages
   * do not linger in it.
   */
  async #migrate(): Promise<void> {
    this.#db.exec("BEGIN IMMEDIATE");
    let sealed = 0;
    try {
      const check = this.#meta(DATA_KEY_CHECK);
      if (check !== undefined) {
        // Another process got here first.
        this.#key.verifyKeyCheck(check);
        this.#db.exec("ROLLBACK");
        return;
      }
      const rows = this.#q.allMessages.all() as Record<string, string | number | Uint8Array>[];
      for (const r of rows) {
        const body = await sealOfflineBody(this.#key, {
          id: String(r.id),
          from: String(r.from_name),
          toKey: String(r.to_key),
          ts: Number(r.ts),
        }, toBytes(r.body));
        this.#q.sealBody.run(body, r.seq as number);
        sealed++;
      }
      this.#q.setMeta.run(DATA_KEY_CHECK, this.#key.keyCheck());
      this.#db.exec("COMMIT");
    } catch (err) {
      if (this.#db.isTransaction) this.#db.exec("ROLLBACK");
      throw err;
    }
    if (sealed > 0) {
      this.#db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
      this.#logger.info(`sealed ${sealed} stored message(s) with the data key`, {
        key: this.#key.keyId,
      });
    }
  }

  #meta(key: string): string | undefined {
    const row = this.#q.getMeta.get(key) as { value: string } | undefined;
    return row ? String(row.value) : undefined;
  }

  async createUser(user: UserRecord): Promise<void> {
    await this.#open();
    try {
      this.#q.insertUser.run(user.key, user.name, user.passwordHash, user.lang, user.createdAt);
    } catch (err) {
      if (String((err as Error).message).includes("UNIQUE")) {
        throw new ParleyError("name_taken", `'${user.name}' is already registered.`);
      }
      throw err;
    }
  }

  async getUser(key: string): Promise<UserRecord | undefined> {
    await this.#open();
    const row = this.#q.getUser.get(key) as Record<string, string | number> | undefined;
    return row ? toUser(row) : undefined;
  }

  async listUsers(limit: number): Promise<UserRecord[]> {
    await this.#open();
    const rows = this.#q.listUsers.all(limit) as Record<string, string | number>[];
    return rows.map(toUser);
  }

  async setLang(key: string, lang: string): Promise<void> {
    await this.#open();
    this.#q.setLang.run(lang, key);
  }

  async storeOffline(
    m: StoredMessage,
    cid?: { senderKey: string; cid: string },
  ): Promise<ClientIdRecord | undefined> {
    await this.#open();
    // Sealed before the transaction: nothing awaits while it holds the write lock.
    const body = await sealOfflineBody(this.#key, m, m.text);
    this.#assertOpen();
    this.#db.exec("BEGIN IMMEDIATE");
    try {
      if (cid) {
        const seen = this.#cid(cid.senderKey, cid.cid);
        if (seen) {
          this.#db.exec("ROLLBACK");
          return seen;
        }
        this.#q.insertCid.run(cid.senderKey, cid.cid, m.id, m.to, Date.now());
      }
      this.#q.insertMessage.run(m.id, m.toKey, m.from, m.to, body, m.ts);
      this.#db.exec("COMMIT");
    } catch (err) {
      this.#db.exec("ROLLBACK");
      throw err;
    }
    return undefined;
  }

  async pending(toKey: string, limit = 10_000): Promise<StoredMessage[]> {
    await this.#open();
    const out: StoredMessage[] = [];
    let after = 0;
    // A record that does not open is skipped, so read on until `limit` good ones or the end.
    while (out.length < limit) {
      this.#assertOpen();
      const want = limit - out.length;
      const rows = this.#q.pending.all(toKey, after, want) as Record<
        string,
        string | number | Uint8Array
      >[];
      for (const r of rows) {
        after = Number(r.seq);
        const m = {
          id: String(r.id),
          from: String(r.from_name),
          to: String(r.to_name),
          toKey: String(r.to_key),
          ts: Number(r.ts),
        };
        // Bytes, not TEXT: SQLite's text functions stop at NUL, and bodies are sealed.
        const text = await openOfflineBody(this.#key, m, toBytes(r.body));
        if (text === undefined) {
          this.#reportUnreadable(m.toKey, m.id);
          continue;
        }
        out.push({ ...m, text });
      }
      if (rows.length < want) break;
    }
    return out;
  }

  async pendingCount(toKey: string): Promise<number> {
    await this.#open();
    const row = this.#q.pendingCount.get(toKey) as { n: number };
    return Math.max(0, Number(row.n) - (this.#unreadable.get(toKey)?.size ?? 0));
  }

  async ack(toKey: string, ids: string[]): Promise<number> {
    await this.#open();
    let removed = 0;
    this.#db.exec("BEGIN IMMEDIATE");
    try {
      for (const id of ids) removed += Number(this.#q.ack.run(toKey, id).changes);
      this.#db.exec("COMMIT");
    } catch (err) {
      this.#db.exec("ROLLBACK");
      throw err;
    }
    return removed;
  }

  async lookupClientId(senderKey: string, cid: string): Promise<ClientIdRecord | undefined> {
    await this.#open();
    return this.#cid(senderKey, cid);
  }

  async createWebSession(session: WebSessionRecord): Promise<void> {
    await this.#open();
    this.#q.pruneWebSessions.run(Date.now());
    this.#q.insertWebSession.run(
      session.tokenHash,
      session.userKey,
      session.createdAt,
      session.expiresAt,
    );
  }

  async getWebSession(tokenHash: string): Promise<WebSessionRecord | undefined> {
    await this.#open();
    const row = this.#q.getWebSession.get(tokenHash, Date.now()) as
      | Record<string, string | number>
      | undefined;
    return row
      ? {
        tokenHash: String(row.token_hash),
        userKey: String(row.user_key),
        createdAt: Number(row.created_at),
        expiresAt: Number(row.expires_at),
      }
      : undefined;
  }

  async deleteWebSession(tokenHash: string): Promise<boolean> {
    await this.#open();
    return Number(this.#q.deleteWebSession.run(tokenHash).changes) > 0;
  }

  async close(): Promise<void> {
    await this.#ready.catch(() => {});
    if (!this.#closed) {
      this.#closed = true;
      this.#db.close();
    }
  }

  #reportUnreadable(toKey: string, id: string) {
    let ids = this.#unreadable.get(toKey);
    if (!ids) this.#unreadable.set(toKey, ids = new Set());
    if (ids.has(id)) return;
    ids.add(id);
    this.#logger.error(
      "a stored message failed to open with the data key; skipped and left in the store",
      { id, to: toKey, key: this.#key.keyId },
    );
  }

  #cid(senderKey: string, cid: string): ClientIdRecord | undefined {
    const row = this.#q.getCid.get(senderKey, cid) as Record<string, string> | undefined;
    if (!row) return undefined;
    return { id: String(row.id), to: String(row.to_name), status: "stored", recipients: 0 };
  }

  /** Throws when closed; the promise settles once the store is ready (see the constructor). */
  #open(): Promise<void> {
    this.#assertOpen();
    return this.#ready;
  }

  #assertOpen() {
    if (this.#closed) throw new ParleyError("internal", "The store is closed.");
  }
}

function toBytes(value: unknown): Uint8Array {
  if (value instanceof Uint8Array) return value;
  // A body written as TEXT by hand or by an old tool.
  return new TextEncoder().encode(String(value));
}

function toUser(row: Record<string, string | number>): UserRecord {
  return {
    key: String(row.key),
    name: String(row.name),
    passwordHash: String(row.password_hash),
    lang: String(row.lang),
    createdAt: Number(row.created_at),
  };
}
