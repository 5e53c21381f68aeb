import { DatabaseSync, type StatementSync } from "node:sqlite";
import type { DataKey } from "../crypto/data_key.ts";
import { ParleyError } from "../errors.ts";
import { createLogger, type Logger } from "../log.ts";
import { nameKey } from "../accounts/names.ts";
import { type ConvTarget, parseConv, peerOf, privateConv, roomConv } from "./conv.ts";
import {
  checkDeviceId,
  checkSeq,
  deviceRow,
  FILE_INDEX,
  fileRow,
  fileTokenRow,
  LOG_SCHEMA,
  LOG_VERSION,
  type LogRow,
  logRow,
  logStatements,
  memberRow,
  noSuchRoom,
  PRUNE_CHUNK,
  roomRow,
  type Row,
} from "./sqlite_log.ts";
import {
  DATA_KEY_CHECK,
  openMessageBody,
  openOfflineBody,
  openTranslation,
  sealFileMeta,
  sealMessageBody,
  sealOfflineBody,
  sealTranslation,
  translationLookup,
} from "./sealing.ts";
import {
  type AppendResult,
  BLOB_REMOVAL_LEASE_MS,
  type CachedTranslation,
  type ClientIdRecord,
  type ConversationSummary,
  type DeviceRecord,
  type FileRecord,
  type FileTokenRecord,
  type LogMessage,
  type NewLogMessage,
  type ResumeTokenRecord,
  type RoomInvite,
  type RoomMember,
  type RoomRecord,
  type RoomRole,
  type Store,
  type StoredMessage,
  type SyncPage,
  type TranslationSource,
  UNREAD_CAP,
  type UserRecord,
  type WebLoginRecord,
} from "./store.ts";
import { offlineEntry, offlineOutcome, pendingOf, resumeTokenOf, webLoginOf } from "./records.ts";

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
  ts INTEGER NOT NULL,
  lang TEXT
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
CREATE TABLE IF NOT EXISTS resume_tokens (
  user_key TEXT NOT NULL,
  device TEXT NOT NULL,
  token_hash TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (user_key, device)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS resume_tokens_by_expiry ON resume_tokens (expires_at);
CREATE TABLE IF NOT EXISTS translations (
  provider TEXT NOT NULL,
  target TEXT NOT NULL,
  lookup TEXT NOT NULL,
  body BLOB NOT NULL,
  saved_at INTEGER NOT NULL,
  PRIMARY KEY (provider, target, lookup)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS translations_by_age ON translations (saved_at);
CREATE TABLE IF NOT EXISTS meta (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;
${LOG_SCHEMA}`;

/** The meta row `check()` rewrites to learn whether a commit would go through. */
const WRITE_PROBE = "write_probe";

/** SQLite's words for SQLITE_FULL: `node:sqlite` gives only the message, not the result code. */
const DISK_FULL = "database or disk is full";

/** How long a stored message's client id is remembered for deduplication. */
const CLIENT_ID_TTL_MS = 7 * 24 * 3600 * 1000;

/** Default bound of the translation cache, in entries. */
const DEFAULT_MAX_TRANSLATIONS = 100_000;

/**
 * The most work one group-commit transaction takes, in stored messages plus acknowledged ids (a
 * single call larger than this still goes, alone), so a transaction stays short under any load.
 */
const MAX_BATCH_WEIGHT = 1000;

/**
 * A write waiting for the next group commit: queued in call order when the call is made, ready
 * once its input is prepared (sealed), run inside the batch's transaction.
 */
interface QueuedWrite {
  /** Whether it can run: its input is prepared, or preparing it failed (`failed`). */
  ready: boolean;
  /** Why it failed before the transaction; it is rejected without running. */
  failed?: { error: unknown };
  /** How much it adds to a batch (see {@linkcode MAX_BATCH_WEIGHT}). */
  weight: number;
  /** The write itself: synchronous, inside the batch transaction, within its own savepoint. */
  run: () => unknown;
  /** Called only after COMMIT returned. */
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

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
  /**
   * How many cached translations the store keeps; beyond it the least recently saved are
   * forgotten. @default 100_000
   */
  maxTranslations?: number;
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
 *
 * Offline messages and acks are group-committed: each call is queued in call order (its body
 * sealed meanwhile), and a flush runs everything queued and ready in one transaction, each call
 * in its own savepoint, then settles each call's promise only after COMMIT returned. Calls made
 * while a flush runs (it blocks the event loop: `node:sqlite` is synchronous) go into the next
 * one, so under load one fsync covers many messages; a lone call is flushed at once.
 */
export class SqliteStore implements Store {
  #db: DatabaseSync;
  #q: Record<string, StatementSync>;
  /** No new calls: set by `close()` (and by a refused key). */
  #closed = false;
  /** The database handle is closed: after `close()` has let every queued write finish. */
  #dbClosed = false;
  #key: DataKey;
  #logger: Logger;
  #ready: Promise<void>;
  /** Ids of records that did not open, by recipient key: skipped, reported once, left in place. */
  #unreadable = new Map<string, Set<string>>();
  #maxTranslations: number;
  /**
   * Entries in the translation cache as this process knows it: counted at open, kept up to date
   * by its own writes (so the bound costs no count per put). Approximate only if another process
   * writes the same file's cache meanwhile; recounted when a prune finds fewer rows than thought.
   */
  #translationCount = 0;
  /** Whether an unreadable cached translation was reported (once per store: it is only a miss). */
  #reportedUnreadableTranslation = false;
  /** Writes waiting for a group commit, in call order. */
  #writes: QueuedWrite[] = [];
  #flushScheduled = false;
  /** Settled when `#writes` runs empty, for `close()`. */
  #drained?: PromiseWithResolvers<void>;

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
    const max = options.maxTranslations ?? DEFAULT_MAX_TRANSLATIONS;
    if (!Number.isSafeInteger(max) || max < 0) {
      throw new RangeError(`maxTranslations must be a whole number ≥ 0; it is ${max}.`);
    }
    this.#maxTranslations = max;
    this.#db = new DatabaseSync(options.path);
    this.#db.exec("PRAGMA journal_mode = WAL");
    this.#db.exec("PRAGMA synchronous = FULL");
    this.#db.exec("PRAGMA busy_timeout = 5000");
    // Deleted and overwritten content is zeroed, not left in free pages.
    this.#db.exec("PRAGMA secure_delete = ON");
    this.#db.exec(SCHEMA);
    this.#addColumns();
    this.#db.exec(FILE_INDEX);
    const p = (sql: string) => this.#db.prepare(sql);
    this.#q = {
      insertUser: p(
        "INSERT INTO users (key, name, password_hash, lang, created_at) VALUES (?, ?, ?, ?, ?)",
      ),
      getUser: p("SELECT key, name, password_hash, lang, created_at FROM users WHERE key = ?"),
      listUsers: p(
        "SELECT key, name, password_hash, lang, created_at FROM users ORDER BY key LIMIT ?",
      ),
      // A range on the primary key: SQLite walks the index from the first match and stops after
      // the page, where LIKE would read every row.
      searchUsers: p(
        "SELECT key, name, password_hash, lang, created_at FROM users WHERE key >= ? AND key < ? ORDER BY key LIMIT ?",
      ),
      setLang: p("UPDATE users SET lang = ? WHERE key = ?"),
      setPasswordHash: p("UPDATE users SET password_hash = ? WHERE key = ?"),
      insertCid: p(
        "INSERT INTO client_ids (sender_key, cid, id, to_name, created_at, seq) VALUES (?, ?, ?, ?, ?, ?)",
      ),
      getCid: p("SELECT id, to_name, seq FROM client_ids WHERE sender_key = ? AND cid = ?"),
      pruneCids: p("DELETE FROM client_ids WHERE created_at < ?"),
      ...logStatements(p),
      insertWebSession: p(
        "INSERT INTO web_sessions (token_hash, user_key, created_at, expires_at) VALUES (?, ?, ?, ?)",
      ),
      getWebLogin: p(
        "SELECT token_hash, user_key, created_at, expires_at FROM web_sessions WHERE token_hash = ? AND expires_at > ?",
      ),
      deleteWebLogin: p("DELETE FROM web_sessions WHERE token_hash = ?"),
      pruneWebSessions: p("DELETE FROM web_sessions WHERE expires_at <= ?"),
      putResumeToken: p(
        "INSERT OR REPLACE INTO resume_tokens (user_key, device, token_hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
      ),
      getResumeToken: p(
        "SELECT user_key, device, token_hash, created_at, expires_at FROM resume_tokens WHERE user_key = ? AND device = ? AND expires_at > ?",
      ),
      touchResumeToken: p(
        "UPDATE resume_tokens SET expires_at = ? WHERE user_key = ? AND device = ? AND expires_at > ?",
      ),
      deleteResumeToken: p("DELETE FROM resume_tokens WHERE user_key = ? AND device = ?"),
      deleteResumeTokens: p("DELETE FROM resume_tokens WHERE user_key = ?"),
      pruneResumeTokens: p("DELETE FROM resume_tokens WHERE expires_at <= ?"),
      savepoint: p("SAVEPOINT parley_write"),
      release: p("RELEASE parley_write"),
      rollbackTo: p("ROLLBACK TO parley_write"),
      getMeta: p("SELECT value FROM meta WHERE key = ?"),
      setMeta: p("INSERT INTO meta (key, value) VALUES (?, ?)"),
      putMeta: p("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)"),
      allMessages: p("SELECT seq, id, from_name, to_key, body, ts FROM offline_messages"),
      sealBody: p("UPDATE offline_messages SET body = ? WHERE seq = ?"),
      getTranslation: p(
        "SELECT body FROM translations WHERE provider = ? AND target = ? AND lookup = ?",
      ),
      hasTranslation: p(
        "SELECT 1 AS x FROM translations WHERE provider = ? AND target = ? AND lookup = ?",
      ),
      putTranslation: p(
        "INSERT OR REPLACE INTO translations (provider, target, lookup, body, saved_at) VALUES (?, ?, ?, ?, ?)",
      ),
      countTranslations: p("SELECT count(*) AS n FROM translations"),
      lastSavedAt: p("SELECT max(saved_at) AS t FROM translations"),
      pruneTranslations: p(
        "DELETE FROM translations WHERE (provider, target, lookup) IN " +
          "(SELECT provider, target, lookup FROM translations ORDER BY saved_at LIMIT ?)",
      ),
    };
    this.#q.pruneCids.run(Date.now() - CLIENT_ID_TTL_MS);
    this.#translationCount = this.#countTranslations();
    const check = this.#meta(DATA_KEY_CHECK);
    if (check !== undefined) {
      try {
        this.#key.verifyKeyCheck(check);
      } catch (err) {
        this.#closed = true;
        this.#dbClosed = true;
        this.#db.close();
        throw err;
      }
      this.#ready = this.#userVersion() >= LOG_VERSION ? Promise.resolve() : this.#migrateLog();
    } else {
      this.#ready = this.#migrate().then(() => this.#migrateLog());
    }
    this.#ready.catch(() => {}); // reported by open() and by every method that waits for it
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

  /**
   * Adds the columns that later versions added to existing tables (`CREATE TABLE IF NOT EXISTS`
   * leaves an existing table as it is): `offline_messages.lang`, `client_ids.seq`,
   * `messages.call`, `messages.file_id`.
   */
  #addColumns() {
    const has = (table: string, column: string) =>
      (this.#db.prepare(`PRAGMA table_info(${table})`).all() as { name: string }[])
        .some((c) => c.name === column);
    const added = [
      ["offline_messages", "lang", "TEXT"],
      ["client_ids", "seq", "INTEGER"],
      ["messages", "call", "TEXT"],
      ["messages", "file_id", "TEXT"],
    ];
    for (const [table, column, type] of added) {
      if (has(table, column)) continue;
      try {
        this.#db.exec(`ALTER TABLE ${table} ADD COLUMN ${column} ${type}`);
      } catch (err) {
        // Another process may have added it meanwhile.
        if (!has(table, column)) throw err;
      }
    }
  }

  /**
   * Upgrades the data of a store written before the message log (`user_version` 0): each
   * pending offline message moves into the log, re-sealed for its new row, in seq order, so it
   * is still delivered (nobody's delivered point has moved yet) and now also in history. A body
   * that does not open stays in `offline_messages` for the operator, reported. One transaction:
   * a crash leaves the store as it was, and the next open does it again.
   */
  async #migrateLog(): Promise<void> {
    if (this.#userVersion() >= LOG_VERSION) return;
    this.#db.exec("BEGIN IMMEDIATE");
    let moved = 0;
    try {
      // Another process may have got here first.
      if (this.#userVersion() >= LOG_VERSION) {
        this.#db.exec("ROLLBACK");
        return;
      }
      const rows = this.#q.allOffline.all() as Record<string, string | number | Uint8Array>[];
      for (const r of rows) {
        const old = {
          id: String(r.id),
          from: String(r.from_name),
          toKey: String(r.to_key),
          ts: Number(r.ts),
        };
        const text = await openOfflineBody(this.#key, old, toBytes(r.body));
        if (text === undefined) {
          // Not in the log, so not counted against anyone's pending messages.
          this.#logger.error(
            "a stored message failed to open with the data key; left in offline_messages",
            { id: old.id, to: old.toKey, key: this.#key.keyId },
          );
          continue;
        }
        const senderKey = nameKey(old.from);
        const m: NewLogMessage = {
          id: old.id,
          conv: privateConv(senderKey, old.toKey),
          senderKey,
          from: old.from,
          to: String(r.to_name),
          text,
          ts: old.ts,
          ...(r.lang == null ? {} : { lang: String(r.lang) }),
        };
        const body = await sealMessageBody(this.#key, m, text);
        this.#insertLog(m, body, parseConv(m.conv));
        this.#q.deleteOffline.run(Number(r.seq));
        moved++;
      }
      // Client ids remembered for those messages answer with their place in the log.
      this.#q.cidSeqs.run();
      this.#db.exec(`PRAGMA user_version = ${LOG_VERSION}`);
      this.#db.exec("COMMIT");
    } catch (err) {
      if (this.#db.isTransaction) this.#db.exec("ROLLBACK");
      throw err;
    }
    if (moved > 0) {
      this.#db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
      this.#logger.info(`moved ${moved} pending message(s) into the message log`);
    }
  }

  #userVersion(): number {
    return Number(
      (this.#db.prepare("PRAGMA user_version").get() as { user_version: number })
        .user_version,
    );
  }

  #countTranslations(): number {
    return Number((this.#q.countTranslations.get() as { n: number }).n);
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
      throw storageError(err);
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

  async searchUsers(
    prefix: string,
    after: string | undefined,
    limit: number,
  ): Promise<UserRecord[]> {
    await this.#open();
    // Keys compare as UTF-8 bytes (BINARY collation): every key starting with `prefix` sorts
    // below `prefix` followed by the highest code point, and the first key after `after` is at
    // or above `after` followed by NUL (no key holds one).
    const from = after !== undefined && after >= prefix ? `${after}\0` : prefix;
    const rows = this.#q.searchUsers.all(from, `${prefix}\u{10FFFF}`, limit) as Record<
      string,
      string | number
    >[];
    return rows.map(toUser);
  }

  async setLang(key: string, lang: string): Promise<void> {
    await this.#open();
    writing(() => this.#q.setLang.run(lang, key));
  }

  async setPasswordHash(key: string, passwordHash: string): Promise<void> {
    await this.#open();
    writing(() => this.#q.setPasswordHash.run(passwordHash, key));
  }

  async storeOffline(
    message: StoredMessage,
    cid?: { senderKey: string; cid: string },
  ): Promise<ClientIdRecord | undefined> {
    return offlineOutcome(await this.#append(offlineEntry(message), cid));
  }

  async pending(toKey: string, limit = 10_000): Promise<StoredMessage[]> {
    await this.#open();
    const from = this.#delivered(toKey);
    const ahead = this.#ackedAhead(toKey);
    const out: StoredMessage[] = [];
    let after = from;
    // A record that does not open is skipped, so read on until `limit` good ones or the end.
    while (out.length < limit) {
      this.#assertOpen();
      const want = limit - out.length;
      const rows = this.#after(toKey, after, want, false);
      for (const r of rows.rows) {
        after = r.seq;
        if (ahead.has(r.seq)) continue;
        const m = await this.#openRow(r, toKey);
        if (!m) continue;
        out.push(pendingOf(m, toKey));
      }
      if (!rows.more) break;
    }
    return out;
  }

  async pendingCount(toKey: string): Promise<number> {
    await this.#open();
    const from = this.#delivered(toKey);
    let n = 0;
    for (const c of this.#convsOf(toKey, from)) {
      n += Number((this.#q.countOthers.get(c.conv, c.from, toKey) as { n: number }).n);
    }
    const ahead = this.#ackedAhead(toKey).size;
    return Math.max(0, n - ahead - (this.#unreadable.get(toKey)?.size ?? 0));
  }

  async ack(toKey: string, ids: string[]): Promise<number> {
    this.#assertOpen();
    if (ids.length === 0) {
      await this.#ready;
      return 0;
    }
    const list = [...ids];
    return await this.#enqueue(list.length, this.#ready, () => {
      const from = this.#delivered(toKey);
      const ahead = this.#ackedAhead(toKey);
      let waiting = 0;
      for (const id of list) {
        const row = this.#q.messageById.get(id) as Row | undefined;
        if (!row) continue;
        const seq = Number(row.seq);
        if (seq <= from || ahead.has(seq) || String(row.sender_key) === toKey) continue;
        if (!this.#inConv(toKey, String(row.conv), seq)) continue;
        this.#q.ackAhead.run(toKey, seq);
        ahead.add(seq);
        waiting++;
      }
      // The delivered point moves over what is acknowledged without a gap; a message
      // acknowledged ahead of an earlier one waits in `acked_ahead` until the gap closes.
      let upTo = from;
      walk: while (true) {
        const page = this.#after(toKey, upTo, 100, false);
        for (const r of page.rows) {
          if (!ahead.has(r.seq)) break walk;
          upTo = r.seq;
        }
        if (!page.more) break;
      }
      if (upTo > from) this.#advanceDelivered(toKey, upTo);
      return waiting;
    }) as number;
  }

  async appendMessage(message: NewLogMessage, cid?: string): Promise<AppendResult> {
    const { to: _, ...result } = await this.#append(
      message,
      cid === undefined ? undefined : { senderKey: message.senderKey, cid },
    );
    return result;
  }

  /** Appends; a repeated `cid` (scoped to its sender) answers with the first outcome. */
  async #append(
    message: NewLogMessage,
    cid: { senderKey: string; cid: string } | undefined,
  ): Promise<AppendResult & { to: string }> {
    this.#assertOpen();
    const m: NewLogMessage = { ...message };
    const target = parseConv(m.conv);
    if (target.kind === "private" && !target.users.includes(m.senderKey)) {
      throw new ParleyError("bad_argument", "The sender is not in that conversation.");
    }
    let body: Uint8Array;
    // Sealed before the transaction: nothing awaits while it holds the write lock.
    const fileId = m.file?.id;
    const sealed = this.#ready.then(async () => {
      body = await sealMessageBody(this.#key, { ...m, fileId }, m.text);
    });
    return await this.#enqueue(1, sealed, () => {
      if (cid !== undefined) {
        // Sees the earlier calls of the same batch too: they are in this transaction.
        const seen = this.#cid(cid.senderKey, cid.cid);
        if (seen) return { seq: seen.seq, id: seen.id, to: seen.to, duplicate: true };
      }
      if (target.kind === "room") {
        if (!this.#q.getRoom.get(target.room)) throw noSuchRoom(target.room);
        if (!this.#q.getMember.get(target.room, m.senderKey)) {
          throw new ParleyError("not_a_member", `You are not in #${target.room}; /join it first.`);
        }
      }
      if (fileId !== undefined) {
        if (!this.#q.getFile.get(fileId)) {
          throw new ParleyError("no_such_file", "That file is gone; upload it again.");
        }
        this.#q.markFileSent.run(fileId);
      }
      const seq = this.#insertLog(m, body, target);
      if (cid !== undefined) {
        this.#q.insertCid.run(cid.senderKey, cid.cid, m.id, m.to, Date.now(), seq);
      }
      return { seq, id: m.id, to: m.to, duplicate: false };
    }) as AppendResult & { to: string };
  }

  async history(conv: string, beforeSeq: number | undefined, limit: number): Promise<LogMessage[]> {
    await this.#open();
    parseConv(conv);
    const out: LogMessage[] = [];
    let before = beforeSeq ?? Number.MAX_SAFE_INTEGER;
    // Newest first from the index, so a page costs its size; skipped records are read past.
    while (out.length < limit) {
      this.#assertOpen();
      const want = limit - out.length;
      const rows = (this.#q.historyPage.all(conv, before, want) as Row[]).map(logRow);
      for (const r of rows) {
        before = r.seq;
        const m = await this.#openRow(r, conv);
        if (m) out.push(m);
      }
      if (rows.length < want) break;
    }
    return out.reverse();
  }

  async since(userKey: string, afterSeq: number, limit: number): Promise<SyncPage> {
    await this.#open();
    const messages: LogMessage[] = [];
    let after = afterSeq;
    let more = true;
    while (more && messages.length < limit) {
      this.#assertOpen();
      const page = this.#after(userKey, after, limit - messages.length, true);
      more = page.more;
      for (const r of page.rows) {
        after = r.seq;
        const m = await this.#openRow(r, userKey);
        if (m) messages.push(m);
      }
    }
    return { messages, more };
  }

  async conversations(userKey: string): Promise<ConversationSummary[]> {
    await this.#open();
    const out: ConversationSummary[] = [];
    for (const c of this.#convsOf(userKey, 0)) {
      const marker = this.#marker(userKey, c.conv);
      const unread = Number(
        (this.#q.countUnread.get(c.conv, Math.max(marker, c.from), userKey, UNREAD_CAP) as {
          n: number;
        }).n,
      );
      out.push({
        conv: c.conv,
        with: c.with,
        lastSeq: c.lastSeq,
        lastTs: c.lastTs,
        readSeq: marker,
        unread,
      });
    }
    return out.sort((a, b) => b.lastSeq - a.lastSeq || (a.conv < b.conv ? -1 : 1));
  }

  async lastSeq(): Promise<number> {
    await this.#open();
    return this.#lastSeq();
  }

  async openDevice(userKey: string, deviceId: string): Promise<DeviceRecord> {
    this.#assertOpen();
    checkDeviceId(deviceId);
    return await this.#enqueue(1, this.#ready, () => {
      const now = Date.now();
      this.#q.insertDevice.run(userKey, deviceId, this.#delivered(userKey), now, now);
      this.#q.touchDevice.run(now, userKey, deviceId);
      return deviceRow(this.#q.getDevice.get(userKey, deviceId) as Row);
    }) as DeviceRecord;
  }

  async ackDevice(userKey: string, deviceId: string, seq: number): Promise<number> {
    this.#assertOpen();
    checkSeq(seq);
    return await this.#enqueue(1, this.#ready, () => {
      const row = this.#q.getDevice.get(userKey, deviceId) as Row | undefined;
      if (!row) throw new ParleyError("bad_argument", `No device '${deviceId}' is open.`);
      // Never past the end of the log: a cursor ahead would skip messages still to come.
      const to = Math.min(seq, this.#lastSeq());
      const cursor = Math.max(Number(row.cursor_seq), to);
      this.#q.setCursor.run(cursor, Date.now(), userKey, deviceId);
      if (cursor > this.#delivered(userKey)) this.#advanceDelivered(userKey, cursor);
      return cursor;
    }) as number;
  }

  async devices(userKey: string): Promise<DeviceRecord[]> {
    await this.#open();
    return (this.#q.devicesOf.all(userKey) as Row[]).map(deviceRow);
  }

  async forgetDevice(userKey: string, deviceId: string): Promise<boolean> {
    this.#assertOpen();
    return await this.#enqueue(
      1,
      this.#ready,
      () => Number(this.#q.deleteDevice.run(userKey, deviceId).changes) > 0,
    ) as boolean;
  }

  async deliveredSeq(userKey: string): Promise<number> {
    await this.#open();
    return this.#delivered(userKey);
  }

  async markRead(userKey: string, conv: string, seq: number): Promise<number> {
    this.#assertOpen();
    checkSeq(seq);
    const target = parseConv(conv);
    return await this.#enqueue(1, this.#ready, () => {
      if (target.kind === "room") {
        if (!this.#q.getMember.get(target.room, userKey)) {
          throw new ParleyError("not_a_member", `You are not in #${target.room}.`);
        }
      } else if (!target.users.includes(userKey)) {
        throw new ParleyError("bad_argument", "That is not one of your conversations.");
      }
      // Never past the conversation's newest message: later ones are not read yet.
      const last = Number((this.#q.convLast.get(conv) as { s: number | null }).s ?? 0);
      this.#q.markRead.run(userKey, conv, Math.min(seq, last));
      return this.#marker(userKey, conv);
    }) as number;
  }

  async readMarker(userKey: string, conv: string): Promise<number> {
    await this.#open();
    return this.#marker(userKey, conv);
  }

  async readCount(conv: string, seq: number): Promise<number> {
    await this.#open();
    const row = this.#q.messageBySeq.get(seq) as Row | undefined;
    if (!row || String(row.conv) !== conv) return 0;
    return Number((this.#q.readCount.get(conv, seq, String(row.sender_key)) as { n: number }).n);
  }

  async setReceipts(userKey: string, on: boolean): Promise<void> {
    this.#assertOpen();
    await this.#enqueue(1, this.#ready, () => {
      if (on) this.#q.setReceiptsOn.run(userKey);
      else this.#q.setReceiptsOff.run(userKey);
    });
  }

  async receiptsOn(userKey: string): Promise<boolean> {
    await this.#open();
    return this.#q.receiptsOff.get(userKey) === undefined;
  }

  async pruneHistory(olderThanTs: number): Promise<number> {
    this.#assertOpen();
    let removed = 0;
    // A chunk per transaction, so a large prune never holds the write lock for long.
    while (true) {
      const n = await this.#enqueue(PRUNE_CHUNK, this.#ready, () => {
        const rows = this.#q.oldest.all(PRUNE_CHUNK) as { seq: number; ts: number }[];
        let upTo = 0;
        for (const r of rows) {
          if (Number(r.ts) >= olderThanTs) break;
          upTo = Number(r.seq);
        }
        return upTo ? Number(this.#q.pruneUpTo.run(upTo).changes) : 0;
      }) as number;
      removed += n;
      if (n < PRUNE_CHUNK) return removed;
    }
  }

  async createRoom(room: Omit<RoomRecord, "members">, owner: string): Promise<RoomRecord> {
    this.#assertOpen();
    const r = { ...room };
    return await this.#enqueue(1, this.#ready, () => {
      if (this.#q.getRoom.get(r.key)) {
        throw new ParleyError("room_taken", `There is a room named #${r.key} already.`);
      }
      this.#q.insertRoom.run(r.key, r.name, r.topic, r.visibility, r.createdAt);
      this.#q.insertMember.run(r.key, owner, "owner", this.#lastSeq(), Date.now());
      return { ...r, members: 1 };
    }) as RoomRecord;
  }

  async getRoom(key: string): Promise<RoomRecord | undefined> {
    await this.#open();
    const row = this.#q.getRoom.get(key) as Row | undefined;
    return row && roomRow(row);
  }

  async listRooms(
    userKey: string,
    after: string | undefined,
    limit: number,
  ): Promise<RoomRecord[]> {
    await this.#open();
    return (this.#q.listRooms.all(after ?? "", userKey, userKey, limit) as Row[]).map(roomRow);
  }

  async roomsOf(userKey: string): Promise<string[]> {
    await this.#open();
    return (this.#q.roomsOf.all(userKey) as Row[]).map((r) => String(r.room));
  }

  async joinRoom(
    roomKey: string,
    userKey: string,
  ): Promise<{ member: RoomMember; already: boolean }> {
    this.#assertOpen();
    return await this.#enqueue(1, this.#ready, () => {
      const room = this.#q.getRoom.get(roomKey) as Row | undefined;
      if (!room) throw noSuchRoom(roomKey);
      const existing = this.#q.getMember.get(roomKey, userKey) as Row | undefined;
      if (existing) return { member: memberRow(existing), already: true };
      if (room.visibility === "invite" && !this.#q.getInvite.get(roomKey, userKey)) {
        throw new ParleyError(
          "not_invited",
          `#${room.name} is invite-only; ask its owner for an invitation.`,
        );
      }
      this.#q.deleteInvite.run(roomKey, userKey);
      this.#q.insertMember.run(roomKey, userKey, "member", this.#lastSeq(), Date.now());
      return {
        member: memberRow(this.#q.getMember.get(roomKey, userKey) as Row),
        already: false,
      };
    }) as { member: RoomMember; already: boolean };
  }

  async leaveRoom(roomKey: string, userKey: string): Promise<boolean> {
    this.#assertOpen();
    return await this.#enqueue(1, this.#ready, () => {
      const member = this.#q.getMember.get(roomKey, userKey) as Row | undefined;
      if (!member) return false;
      this.#q.deleteMember.run(roomKey, userKey);
      this.#q.deleteMarker.run(userKey, roomConv(roomKey));
      if (member.role === "owner" && !this.#q.roomOwner.get(roomKey)) {
        // The longest-standing member takes over; an empty room keeps its name and history.
        this.#q.promoteEldest.run(roomKey, roomKey);
      }
      return true;
    }) as boolean;
  }

  async members(roomKey: string): Promise<RoomMember[]> {
    await this.#open();
    return (this.#q.membersOf.all(roomKey) as Row[]).map(memberRow);
  }

  async member(roomKey: string, userKey: string): Promise<RoomMember | undefined> {
    await this.#open();
    const row = this.#q.getMember.get(roomKey, userKey) as Row | undefined;
    return row && memberRow(row);
  }

  async setTopic(roomKey: string, topic: string): Promise<void> {
    this.#assertOpen();
    await this.#enqueue(1, this.#ready, () => {
      if (Number(this.#q.setTopic.run(topic, roomKey).changes) === 0) throw noSuchRoom(roomKey);
    });
  }

  async invite(roomKey: string, userKey: string, by: string): Promise<boolean> {
    this.#assertOpen();
    return await this.#enqueue(1, this.#ready, () => {
      if (!this.#q.getRoom.get(roomKey)) throw noSuchRoom(roomKey);
      if (this.#q.getMember.get(roomKey, userKey)) return false;
      this.#q.insertInvite.run(roomKey, userKey, by, Date.now());
      return true;
    }) as boolean;
  }

  async invited(roomKey: string, userKey: string): Promise<boolean> {
    await this.#open();
    return this.#q.getInvite.get(roomKey, userKey) !== undefined;
  }

  async invitesOf(userKey: string): Promise<RoomInvite[]> {
    await this.#open();
    return (this.#q.invitesOf.all(userKey) as Row[]).map((r) => ({
      room: String(r.room),
      byKey: String(r.by_key),
      createdAt: Number(r.created_at),
    }));
  }

  async dropInvite(roomKey: string, userKey: string): Promise<boolean> {
    this.#assertOpen();
    return await this.#enqueue(1, this.#ready, () => {
      return Number(this.#q.deleteInvite.run(roomKey, userKey).changes) > 0;
    }) as boolean;
  }

  async setRole(roomKey: string, userKey: string, role: RoomRole): Promise<void> {
    this.#assertOpen();
    await this.#enqueue(1, this.#ready, () => {
      const member = this.#q.getMember.get(roomKey, userKey) as Row | undefined;
      if (!member) {
        throw new ParleyError("not_a_member", `${userKey} is not in #${roomKey}.`);
      }
      if (role === "owner") {
        this.#q.demoteOwners.run(roomKey);
      } else if (member.role === "owner") {
        throw new ParleyError(
          "bad_argument",
          "A room keeps an owner: hand ownership to another member instead.",
        );
      }
      this.#q.setRole.run(role, roomKey, userKey);
    });
  }

  /**
   * Inserts a sealed message into the log with what follows from it (the conversation rows of
   * a private one, the room's newest message); returns its seq. Inside a transaction.
   */
  #insertLog(m: NewLogMessage, body: Uint8Array, target: ConvTarget): number {
    const seq = Number(
      this.#q.insertLog.run(
        m.id,
        m.conv,
        m.senderKey,
        m.from,
        m.to,
        body,
        m.lang ?? null,
        m.ts,
        m.call === undefined ? null : JSON.stringify(m.call),
        m.file?.id ?? null,
      ).lastInsertRowid,
    );
    if (target.kind === "room") {
      this.#q.roomActivity.run(seq, m.ts, target.room);
    } else {
      const [a, b] = target.users;
      this.#q.convActivity.run(a, m.conv, b, seq, m.ts);
      if (a !== b) this.#q.convActivity.run(b, m.conv, a, seq, m.ts);
    }
    return seq;
  }

  /**
   * The user's conversations with news past `after`: private ones, and rooms (from when they
   * joined). `from` is where their messages for the user start.
   */
  #convsOf(userKey: string, after: number) {
    const out: { conv: string; with: string; from: number; lastSeq: number; lastTs: number }[] = [];
    for (const r of this.#q.privateConvs.all(userKey, after) as Row[]) {
      out.push({
        conv: String(r.conv),
        with: String(r.peer_key),
        from: after,
        lastSeq: Number(r.last_seq),
        lastTs: Number(r.last_ts),
      });
    }
    for (const r of this.#q.roomConvs.all(userKey, after) as Row[]) {
      out.push({
        conv: roomConv(String(r.room)),
        with: String(r.room),
        from: Math.max(after, Number(r.joined_seq)),
        lastSeq: Number(r.last_seq),
        lastTs: Number(r.last_ts),
      });
    }
    return out;
  }

  /**
   * Rows of the user's conversations past `after`, in seq order, at most `limit`: a range of the
   * (conv, seq, sender_key) index per conversation (the index alone, no row read), merged; then
   * only the chosen rows are read. `own` includes what the user sent.
   */
  #after(userKey: string, after: number, limit: number, own: boolean) {
    const seqs: number[] = [];
    for (const c of this.#convsOf(userKey, after)) {
      const page = (own
        ? this.#q.convSeqsAfter.all(c.conv, c.from, limit + 1)
        : this.#q.convSeqsAfterOthers.all(c.conv, c.from, userKey, limit + 1)) as Row[];
      for (const r of page) {
        seqs.push(Number(r.seq));
      }
    }
    seqs.sort((a, b) => a - b);
    const rows = seqs.slice(0, limit).map((seq) => logRow(this.#q.logBySeq.get(seq) as Row));
    return { rows, more: seqs.length > limit };
  }

  /** Whether message `seq` of `conv` is one the user gets (their private one, or their room's). */
  #inConv(userKey: string, conv: string, seq: number): boolean {
    const target = parseConv(conv);
    if (target.kind === "private") return peerOf(conv, userKey) !== undefined;
    const member = this.#q.getMember.get(target.room, userKey) as Row | undefined;
    return member !== undefined && seq > Number(member.joined_seq);
  }

  /** Opens a row's body; undefined (reported once, under `readerKey`) when it does not open. */
  async #openRow(r: LogRow, readerKey: string): Promise<LogMessage | undefined> {
    const text = await openMessageBody(this.#key, r, r.body);
    const file = r.fileId === undefined ? undefined : await this.#fileRecord(r.fileId);
    if (text === undefined || (r.fileId !== undefined && !file)) {
      this.#reportUnreadable(readerKey, r.id);
      return undefined;
    }
    const { body: _, lang, fileId: __, ...m } = r;
    const message: LogMessage = lang === undefined ? { ...m, text } : { ...m, text, lang };
    if (file) {
      const { address: _a, ownerKey: _o, createdAt: _c, ...meta } = file;
      message.file = meta;
    }
    return message;
  }

  /** A file's record with its name and type opened; undefined when missing or unreadable. */
  async #fileRecord(id: string): Promise<FileRecord | undefined> {
    const row = this.#q.getFile.get(id) as Row | undefined;
    if (!row) return undefined;
    const file = await fileRow(this.#key, row);
    if (!file) {
      this.#logger.error("a file record does not open with the data key; it is skipped", { id });
    }
    return file;
  }

  async putFile(file: FileRecord): Promise<boolean> {
    this.#assertOpen();
    const f = { ...file };
    let meta: Uint8Array;
    const sealed = this.#ready.then(async () => {
      meta = await sealFileMeta(this.#key, f);
    });
    return await this.#enqueue(1, sealed, () => {
      const removal = this.#q.removalSince.get(f.address) as Row | undefined;
      if (removal) {
        if (Number(removal.since) > Date.now() - BLOB_REMOVAL_LEASE_MS) return false;
        this.#q.dropRemoval.run(f.address); // its remover died: the blob is this record's now
      }
      this.#q.insertFile.run(f.id, f.address, f.ownerKey, f.size, meta, f.createdAt);
      return true;
    }) as boolean;
  }

  async getFile(id: string): Promise<FileRecord | undefined> {
    await this.#open();
    return await this.#fileRecord(id);
  }

  async fileUsage(ownerKey: string): Promise<number> {
    await this.#open();
    return Number((this.#q.fileUsage.get(ownerKey) as { n: number }).n);
  }

  async fileConvs(id: string): Promise<string[]> {
    await this.#open();
    return (this.#q.fileConvs.all(id) as Row[]).map((r) => String(r.conv));
  }

  async pruneFiles(unsentBefore: number): Promise<string[]> {
    this.#assertOpen();
    return await this.#enqueue(1, this.#ready, () => {
      const now = Date.now();
      const addresses = new Set(
        (this.#q.pruneFiles.all(unsentBefore) as Row[]).map((r) => String(r.address)),
      );
      for (const r of this.#q.staleRemovals.all(now - BLOB_REMOVAL_LEASE_MS) as Row[]) {
        addresses.add(String(r.address));
      }
      const gone = [...addresses].filter((a) => !this.#q.addressUsed.get(a));
      for (const a of gone) this.#q.markRemoval.run(a, now);
      return gone;
    }) as string[];
  }

  async blobsRemoved(addresses: readonly string[]): Promise<void> {
    this.#assertOpen();
    const list = [...addresses];
    await this.#enqueue(list.length, this.#ready, () => {
      for (const a of list) this.#q.dropRemoval.run(a);
    });
  }

  async saveFileToken(record: FileTokenRecord): Promise<void> {
    await this.#open();
    writing(() => {
      this.#q.pruneFileTokens.run(Date.now());
      this.#q.insertFileToken.run(
        record.tokenHash,
        record.purpose,
        record.userKey,
        record.fileId ?? null,
        record.expiresAt,
      );
    });
  }

  async takeFileToken(tokenHash: string): Promise<FileTokenRecord | undefined> {
    await this.#open();
    const row = writing(() => this.#q.takeFileToken.get(tokenHash) as Row | undefined);
    return fileTokenRow(row, Date.now());
  }

  /** Moves the user's delivered point up to `seq` (inside a transaction). */
  #advanceDelivered(userKey: string, seq: number): void {
    this.#q.setDelivered.run(userKey, seq);
    this.#q.dropAckedAhead.run(userKey, seq);
  }

  /** Seqs past the delivered point the user acknowledged out of order. */
  #ackedAhead(userKey: string): Set<number> {
    return new Set((this.#q.ackedAhead.all(userKey) as Row[]).map((r) => Number(r.seq)));
  }

  #delivered(userKey: string): number {
    const row = this.#q.getDelivered.get(userKey) as { seq: number } | undefined;
    return row ? Number(row.seq) : 0;
  }

  #marker(userKey: string, conv: string): number {
    const row = this.#q.getMarker.get(userKey, conv) as { seq: number } | undefined;
    return row ? Number(row.seq) : 0;
  }

  #lastSeq(): number {
    const row = this.#q.lastSeq.get() as { seq: number } | undefined;
    return row ? Number(row.seq) : 0;
  }

  async lookupClientId(senderKey: string, cid: string): Promise<ClientIdRecord | undefined> {
    await this.#open();
    const seen = this.#cid(senderKey, cid);
    if (!seen) return undefined;
    const { seq: _, ...record } = seen;
    return record;
  }

  async createWebLogin(session: WebLoginRecord): Promise<void> {
    await this.#open();
    writing(() => {
      this.#q.pruneWebSessions.run(Date.now());
      this.#q.insertWebSession.run(
        session.tokenHash,
        session.userKey,
        session.createdAt,
        session.expiresAt,
      );
    });
  }

  async getWebLogin(tokenHash: string): Promise<WebLoginRecord | undefined> {
    await this.#open();
    const row = this.#q.getWebLogin.get(tokenHash, Date.now()) as
      | Record<string, string | number>
      | undefined;
    return row ? webLoginOf(row) : undefined;
  }

  async deleteWebLogin(tokenHash: string): Promise<boolean> {
    await this.#open();
    return writing(() => Number(this.#q.deleteWebLogin.run(tokenHash).changes) > 0);
  }

  async saveResumeToken(record: ResumeTokenRecord): Promise<void> {
    await this.#open();
    writing(() => {
      this.#q.pruneResumeTokens.run(Date.now());
      this.#q.putResumeToken.run(
        record.userKey,
        record.device,
        record.tokenHash,
        record.createdAt,
        record.expiresAt,
      );
    });
  }

  async getResumeToken(userKey: string, device: string): Promise<ResumeTokenRecord | undefined> {
    await this.#open();
    const row = this.#q.getResumeToken.get(userKey, device, Date.now()) as
      | Record<string, string | number>
      | undefined;
    return row ? resumeTokenOf(row) : undefined;
  }

  async touchResumeToken(userKey: string, device: string, expiresAt: number): Promise<boolean> {
    this.#assertOpen();
    // In the group commit: every resume touches its token, and a restart brings thousands at
    // once. Alone, each was a transaction of its own with its fsync, on the event loop (~2.4 ms
    // each, 14% of the server's busy time in a 2,000-client restart).
    return await this.#enqueue(
      1,
      this.#ready,
      () =>
        Number(this.#q.touchResumeToken.run(expiresAt, userKey, device, Date.now()).changes) > 0,
    ) as boolean;
  }

  async deleteResumeTokens(userKey: string, device?: string): Promise<number> {
    await this.#open();
    return writing(() =>
      Number(
        (device === undefined
          ? this.#q.deleteResumeTokens.run(userKey)
          : this.#q.deleteResumeToken.run(userKey, device)).changes,
      )
    );
  }

  async getTranslations(
    provider: string,
    target: string,
    sources: readonly TranslationSource[],
  ): Promise<(CachedTranslation | undefined)[]> {
    await this.#open();
    const lookups = await Promise.all(
      sources.map((source) => translationLookup(this.#key, provider, target, source)),
    );
    this.#assertOpen();
    // All rows are read before anything awaits again: point lookups on the primary key.
    const bodies = lookups.map((lookup) => {
      const row = this.#q.getTranslation.get(provider, target, lookup) as
        | { body: Uint8Array }
        | undefined;
      return row ? toBytes(row.body) : undefined;
    });
    return await Promise.all(bodies.map(async (body, i) => {
      if (!body) return undefined;
      const translation = await openTranslation(this.#key, provider, target, lookups[i], body);
      if (!translation) this.#reportUnreadableTranslation(provider, target);
      return translation;
    }));
  }

  async putTranslations(
    provider: string,
    target: string,
    entries: readonly { source: TranslationSource; translation: CachedTranslation }[],
  ): Promise<void> {
    await this.#open();
    if (entries.length === 0) return;
    let rows: { lookup: string; body: Uint8Array }[] = [];
    // Keyed and sealed before the transaction: nothing awaits while it holds the write lock.
    const sealed = (async () => {
      rows = await Promise.all(entries.map(async ({ source, translation }) => {
        const lookup = await translationLookup(this.#key, provider, target, source);
        const body = await sealTranslation(this.#key, provider, target, lookup, translation);
        return { lookup, body };
      }));
    })();
    // In the group commit with the messages: one fsync for all that is written at once.
    await this.#enqueue(entries.length, sealed, () => {
      // Strictly after every earlier put (of any process, before any restart, whatever the
      // clock did), so the newest entries are never taken for the oldest.
      const last = (this.#q.lastSavedAt.get() as { t: number | null }).t;
      const savedAt = Math.max(Date.now(), last === null ? 0 : Number(last) + 1);
      let added = 0;
      for (const { lookup, body } of rows) {
        if (!this.#q.hasTranslation.get(provider, target, lookup)) added++;
        this.#q.putTranslation.run(provider, target, lookup, body, savedAt);
      }
      let count = this.#translationCount + added;
      if (count > this.#maxTranslations) {
        // The least recently saved go, down to the bound (through the saved_at index).
        const excess = count - this.#maxTranslations;
        const pruned = Number(this.#q.pruneTranslations.run(excess).changes);
        count = pruned === excess ? this.#maxTranslations : this.#countTranslations();
      }
      // Approximate should the whole transaction fail; recounted at the next open.
      this.#translationCount = count;
    });
  }

  async check(): Promise<void> {
    await this.#open();
    this.#assertOpen();
    // A point read of the meta table: cheap whatever the size of the store.
    const check = this.#meta(DATA_KEY_CHECK);
    if (check === undefined) {
      throw new ParleyError("internal", "The store has lost its data key check value.");
    }
    this.#key.verifyKeyCheck(check);
    // And a write: reads go on from a full disk, so only a commit tells whether one would fail.
    // One small row, in the group commit with whatever else is being written.
    await this.#enqueue(1, Promise.resolve(), () => this.#q.putMeta.run(WRITE_PROBE, Date.now()));
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#ready.catch(() => {});
    // Every write already called for is committed (or fails) first.
    await this.#idle();
    if (!this.#dbClosed) {
      this.#dbClosed = true;
      this.#db.close();
    }
  }

  /**
   * Queues a write for the next group commit. `prepared` settles when its input is ready (or
   * failed: then the call rejects with that, without running). The promise settles after the
   * COMMIT of the transaction that ran it.
   */
  #enqueue(weight: number, prepared: Promise<void>, run: () => unknown): Promise<unknown> {
    const { promise, resolve, reject } = Promise.withResolvers<unknown>();
    const write: QueuedWrite = { ready: false, weight, run, resolve, reject };
    this.#writes.push(write);
    const settled = () => {
      write.ready = true;
      // The queue goes in call order: a flush takes the ready writes at its head.
      if (this.#writes[0]?.ready) this.#scheduleFlush();
    };
    prepared.then(settled, (error) => {
      write.failed = { error };
      settled();
    });
    return promise;
  }

  #scheduleFlush() {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    // After the current task's other continuations: what became ready with it joins the batch.
    queueMicrotask(() => {
      this.#flushScheduled = false;
      this.#flush();
    });
  }

  /** Runs the ready writes at the head of the queue (up to the bound) in one transaction. */
  #flush() {
    let count = 0;
    let weight = 0;
    for (const w of this.#writes) {
      if (!w.ready || (count > 0 && weight + w.weight > MAX_BATCH_WEIGHT)) break;
      count++;
      weight += w.weight;
    }
    if (count > 0) this.#commit(this.#writes.splice(0, count));
    if (this.#writes[0]?.ready) this.#scheduleFlush();
    else if (this.#writes.length === 0 && this.#drained) {
      this.#drained.resolve();
      this.#drained = undefined;
    }
  }

  /**
   * Runs `batch` in one transaction, each write in a savepoint so that one failing rolls back
   * only itself; settles every write after COMMIT returned, or rejects them all when the
   * transaction as a whole failed (nothing of it was committed).
   */
  #commit(batch: QueuedWrite[]) {
    const outcomes: ({ value: unknown } | { error: unknown })[] = batch.map((w) =>
      w.failed ?? { value: undefined }
    );
    const runnable = batch.some((w) => !w.failed);
    if (runnable && this.#dbClosed) {
      // Not reached: close() waits for the queue to drain. Kept so no caller waits forever.
      const error = new ParleyError("internal", "The store is closed.");
      batch.forEach((w, i) => outcomes[i] = w.failed ?? { error });
    } else if (runnable) {
      try {
        this.#db.exec("BEGIN IMMEDIATE");
        batch.forEach((w, i) => {
          if (w.failed) return;
          this.#q.savepoint.run();
          try {
            outcomes[i] = { value: w.run() };
            this.#q.release.run();
          } catch (error) {
            // Some errors (disk full, I/O) end the whole transaction: then the batch fails.
            if (!this.#db.isTransaction) throw error;
            this.#q.rollbackTo.run();
            this.#q.release.run();
            outcomes[i] = { error };
          }
        });
        this.#db.exec("COMMIT");
      } catch (error) {
        if (this.#db.isTransaction) {
          try {
            this.#db.exec("ROLLBACK");
          } catch {
            // The transaction is gone either way; the error below is the one to report.
          }
        }
        batch.forEach((w, i) => outcomes[i] = w.failed ?? { error });
      }
    }
    batch.forEach((w, i) => {
      const outcome = outcomes[i];
      if ("error" in outcome) w.reject(storageError(outcome.error));
      else w.resolve(outcome.value);
    });
  }

  /** Settles once no write is queued. */
  #idle(): Promise<void> {
    if (this.#writes.length === 0) return Promise.resolve();
    this.#drained ??= Promise.withResolvers<void>();
    return this.#drained.promise;
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

  #reportUnreadableTranslation(provider: string, target: string) {
    if (this.#reportedUnreadableTranslation) return;
    this.#reportedUnreadableTranslation = true;
    this.#logger.warn(
      "a cached translation failed to open with the data key; treated as a miss (reported once)",
      { provider, target, key: this.#key.keyId },
    );
  }

  #cid(senderKey: string, cid: string): (ClientIdRecord & { seq: number }) | undefined {
    const row = this.#q.getCid.get(senderKey, cid) as Row | undefined;
    if (!row) return undefined;
    return {
      id: String(row.id),
      to: String(row.to_name),
      status: "stored",
      recipients: 0,
      seq: Number(row.seq ?? 0),
    };
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

/**
 * A write refused for want of space, as the client sees it: `storage_full` with SQLite's error
 * as the cause (for the log); any other error as it is.
 */
function storageError(err: unknown): unknown {
  return err instanceof Error && err.message.includes(DISK_FULL)
    ? new ParleyError("storage_full", undefined, { cause: err })
    : err;
}

/** Runs a single-statement write, with a full disk reported as `storage_full`. */
function writing<T>(run: () => T): T {
  try {
    return run();
  } catch (err) {
    throw storageError(err);
  }
}
