import { DatabaseSync, type StatementSync } from "node:sqlite";
import { ParleyError } from "../errors.ts";
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
`;

const utf8 = new TextEncoder();
const utf8d = new TextDecoder();

/** How long a stored message's client id is remembered for deduplication. */
const CLIENT_ID_TTL_MS = 7 * 24 * 3600 * 1000;

export interface SqliteStoreOptions {
  /** Path of the database file, or `:memory:`. */
  path: string;
}

/**
 * The embedded store on `node:sqlite`: WAL journal with `synchronous=FULL`, so a write that
 * returned is on disk and survives a crash of the process or the machine.
 */
export class SqliteStore implements Store {
  #db: DatabaseSync;
  #q: Record<string, StatementSync>;
  #closed = false;

  constructor(options: SqliteStoreOptions) {
    this.#db = new DatabaseSync(options.path);
    this.#db.exec("PRAGMA journal_mode = WAL");
    this.#db.exec("PRAGMA synchronous = FULL");
    this.#db.exec("PRAGMA busy_timeout = 5000");
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
        "SELECT id, from_name, to_name, to_key, body, ts FROM offline_messages WHERE to_key = ? ORDER BY seq LIMIT ?",
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
    };
    this.#q.pruneCids.run(Date.now() - CLIENT_ID_TTL_MS);
  }

  createUser(user: UserRecord): Promise<void> {
    this.#open();
    try {
      this.#q.insertUser.run(user.key, user.name, user.passwordHash, user.lang, user.createdAt);
    } catch (err) {
      if (String((err as Error).message).includes("UNIQUE")) {
        return Promise.reject(
          new ParleyError("name_taken", `'${user.name}' is already registered.`),
        );
      }
      throw err;
    }
    return Promise.resolve();
  }

  getUser(key: string): Promise<UserRecord | undefined> {
    this.#open();
    const row = this.#q.getUser.get(key) as Record<string, string | number> | undefined;
    return Promise.resolve(row ? toUser(row) : undefined);
  }

  listUsers(limit: number): Promise<UserRecord[]> {
    this.#open();
    const rows = this.#q.listUsers.all(limit) as Record<string, string | number>[];
    return Promise.resolve(rows.map(toUser));
  }

  setLang(key: string, lang: string): Promise<void> {
    this.#open();
    this.#q.setLang.run(lang, key);
    return Promise.resolve();
  }

  storeOffline(
    m: StoredMessage,
    cid?: { senderKey: string; cid: string },
  ): Promise<ClientIdRecord | undefined> {
    this.#open();
    this.#db.exec("BEGIN IMMEDIATE");
    try {
      if (cid) {
        const seen = this.#cid(cid.senderKey, cid.cid);
        if (seen) {
          this.#db.exec("ROLLBACK");
          return Promise.resolve(seen);
        }
        this.#q.insertCid.run(cid.senderKey, cid.cid, m.id, m.to, Date.now());
      }
      this.#q.insertMessage.run(m.id, m.toKey, m.from, m.to, utf8.encode(m.text), m.ts);
      this.#db.exec("COMMIT");
    } catch (err) {
      this.#db.exec("ROLLBACK");
      throw err;
    }
    return Promise.resolve(undefined);
  }

  pending(toKey: string, limit = 10_000): Promise<StoredMessage[]> {
    this.#open();
    const rows = this.#q.pending.all(toKey, limit) as Record<
      string,
      string | number | Uint8Array
    >[];
    return Promise.resolve(rows.map((r) => ({
      id: String(r.id),
      from: String(r.from_name),
      to: String(r.to_name),
      toKey: String(r.to_key),
      // Bytes, not TEXT: SQLite's text functions stop at NUL, and bodies get sealed later.
      text: utf8d.decode(r.body as Uint8Array),
      ts: Number(r.ts),
    })));
  }

  pendingCount(toKey: string): Promise<number> {
    this.#open();
    const row = this.#q.pendingCount.get(toKey) as { n: number };
    return Promise.resolve(Number(row.n));
  }

  ack(toKey: string, ids: string[]): Promise<number> {
    this.#open();
    let removed = 0;
    this.#db.exec("BEGIN IMMEDIATE");
    try {
      for (const id of ids) removed += Number(this.#q.ack.run(toKey, id).changes);
      this.#db.exec("COMMIT");
    } catch (err) {
      this.#db.exec("ROLLBACK");
      throw err;
    }
    return Promise.resolve(removed);
  }

  lookupClientId(senderKey: string, cid: string): Promise<ClientIdRecord | undefined> {
    this.#open();
    return Promise.resolve(this.#cid(senderKey, cid));
  }

  createWebSession(session: WebSessionRecord): Promise<void> {
    this.#open();
    this.#q.pruneWebSessions.run(Date.now());
    this.#q.insertWebSession.run(
      session.tokenHash,
      session.userKey,
      session.createdAt,
      session.expiresAt,
    );
    return Promise.resolve();
  }

  getWebSession(tokenHash: string): Promise<WebSessionRecord | undefined> {
    this.#open();
    const row = this.#q.getWebSession.get(tokenHash, Date.now()) as
      | Record<string, string | number>
      | undefined;
    return Promise.resolve(
      row
        ? {
          tokenHash: String(row.token_hash),
          userKey: String(row.user_key),
          createdAt: Number(row.created_at),
          expiresAt: Number(row.expires_at),
        }
        : undefined,
    );
  }

  deleteWebSession(tokenHash: string): Promise<boolean> {
    this.#open();
    return Promise.resolve(Number(this.#q.deleteWebSession.run(tokenHash).changes) > 0);
  }

  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#db.close();
    }
    return Promise.resolve();
  }

  #cid(senderKey: string, cid: string): ClientIdRecord | undefined {
    const row = this.#q.getCid.get(senderKey, cid) as Record<string, string> | undefined;
    if (!row) return undefined;
    return { id: String(row.id), to: String(row.to_name), status: "stored", recipients: 0 };
  }

  #open() {
    if (this.#closed) throw new ParleyError("internal", "The store is closed.");
  }
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
