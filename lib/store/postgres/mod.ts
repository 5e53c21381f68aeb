/**
 * The Store on PostgreSQL (npm `postgres`), for several Parley nodes sharing one database
 * (docs/storage.md, "PostgreSQL"). Same semantics as `SqliteStore` everywhere, the conformance
 * suite says so: bodies sealed with the data key (whose check value is in `meta`: a node with
 * another key refuses to start), group-committed writes settled only after COMMIT, one global
 * `seq` that readers never see out of order.
 */
import postgres from "postgres";
import type { DataKey } from "../../crypto/data_key.ts";
import { ParleyError } from "../../errors.ts";
import { createLogger, type Logger } from "../../log.ts";
import { DATA_KEY_CHECK } from "../sealing.ts";
import type {
  AppendResult,
  CachedTranslation,
  ClientIdRecord,
  ConversationSummary,
  DeviceRecord,
  LogMessage,
  NewLogMessage,
  ResumeTokenRecord,
  RoomInvite,
  RoomMember,
  RoomRecord,
  RoomRole,
  Store,
  StoredMessage,
  SyncPage,
  TranslationSource,
  UserRecord,
  WebLoginRecord,
} from "../store.ts";
import * as accounts from "./accounts.ts";
import { asQ, type PgContext, type Q } from "./context.ts";
import { storageError } from "./errors.ts";
import * as log from "./log.ts";
import * as rooms from "./rooms.ts";
import { migrate } from "./schema.ts";
import * as translations from "./translations.ts";
import { closedError, GroupWriter } from "./writer.ts";

export { checkPostgresUrl, isPostgresUrl, redactUrl } from "./url.ts";
export { SchemaError } from "./schema.ts";

/** Default bound of the translation cache, in entries (as SQLite's). */
const DEFAULT_MAX_TRANSLATIONS = 100_000;

/** The meta row `check()` rewrites to learn whether a commit goes through. */
const WRITE_PROBE = "write_probe";

/** The meta row holding the fingerprint of the identity every node presents. */
const SERVER_IDENTITY = "server_identity";

export interface PostgresStoreOptions {
  /** `postgres://user:password@host:port/database` (never logged with its password). */
  url: string;
  /** The at-rest key (docs/security.md §9): the same on every node. */
  dataKey: DataKey;
  /** @default errors to stderr */
  logger?: Logger;
  /** @default 100_000 */
  maxTranslations?: number;
  /** Connections this node keeps to PostgreSQL at most. @default 10 */
  maxConnections?: number;
}

/** The pool of a URL, with settings every Parley connection shares. */
function connect(url: string, max: number): postgres.Sql {
  return postgres(url, {
    max,
    // CREATE ... IF NOT EXISTS and the like say things nobody needs to read.
    onnotice: () => {},
    connect_timeout: 10,
    idle_timeout: 60,
    // Seconds before a connection that failed is tried again. The client's default grows to 20 s
    // while PostgreSQL is away: every call made meanwhile would wait that long to fail, and the
    // first after PostgreSQL came back up to 20 s to succeed. Capped at 1 s, a refused send
    // fails fast (the client resends it) and service resumes within a second.
    backoff: (retries: number) => Math.min(0.1 * retries, 1),
    connection: { application_name: "parley" },
  });
}

/**
 * Open it with {@linkcode PostgresStore.open}: it connects, migrates (under an advisory lock, so
 * nodes starting at once are safe) and verifies the data key before it returns.
 */
export class PostgresStore implements Store {
  readonly #sql: postgres.Sql;
  readonly #ctx: PgContext;
  readonly #writer: GroupWriter;
  readonly #translations: translations.TranslationCount;
  readonly #unreadable = new Map<string, Set<string>>();
  #closed = false;

  /**
   * The data key check value the database at `url` holds, without changing anything; undefined
   * when it has none yet (a new database). Read it before loading the key: a store with a
   * check value must never get a freshly made key.
   */
  static async storedKeyCheck(url: string): Promise<string | undefined> {
    const sql = connect(url, 1);
    try {
      const [table] = await sql`SELECT to_regclass('meta') IS NOT NULL AS present`;
      if (!table.present) return undefined;
      const [row] = await sql`SELECT value FROM meta WHERE key = ${DATA_KEY_CHECK}`;
      return row ? String(row.value) : undefined;
    } catch (err) {
      throw storageError(err);
    } finally {
      await sql.end({ timeout: 5 });
    }
  }

  /**
   * Connects, brings the schema up to date and stores or verifies the key check.
   * @throws {CryptoError} `wrong_data_key` when the database was sealed under another key.
   * @throws {ParleyError} `storage_unavailable` when PostgreSQL cannot be reached.
   * @throws {SchemaError} when the database is of a newer Parley.
   */
  static async open(options: PostgresStoreOptions): Promise<PostgresStore> {
    const max = options.maxTranslations ?? DEFAULT_MAX_TRANSLATIONS;
    if (!Number.isSafeInteger(max) || max < 0) {
      throw new RangeError(`maxTranslations must be a whole number ≥ 0; it is ${max}.`);
    }
    const sql = connect(options.url, options.maxConnections ?? 10);
    try {
      await migrate(sql, options.dataKey);
      await accounts.pruneClientIds(asQ(sql));
      const count = await translations.countTranslations(asQ(sql));
      return new PostgresStore(sql, options, { max, count, reported: false });
    } catch (err) {
      await sql.end({ timeout: 5 });
      throw storageError(err);
    }
  }

  private constructor(
    sql: postgres.Sql,
    options: PostgresStoreOptions,
    count: translations.TranslationCount,
  ) {
    this.#sql = sql;
    this.#translations = count;
    const logger = options.logger ?? createLogger("error");
    this.#writer = new GroupWriter(sql);
    const q = asQ(sql);
    this.#ctx = {
      key: options.dataKey,
      logger,
      read: async <T>(fn: (q: Q) => Promise<T>): Promise<T> => {
        this.#assertOpen();
        try {
          return await fn(q);
        } catch (err) {
          throw storageError(err);
        }
      },
      write: <T>(weight: number, run: (tx: Q) => Promise<T>, prepared?: Promise<void>) => {
        this.#assertOpen();
        return this.#writer.enqueue(weight, prepared ?? Promise.resolve(), run);
      },
      assertOpen: () => this.#assertOpen(),
      reportUnreadable: (readerKey, id) => {
        let ids = this.#unreadable.get(readerKey);
        if (!ids) this.#unreadable.set(readerKey, ids = new Set());
        if (ids.has(id)) return;
        ids.add(id);
        logger.error(
          "a stored message failed to open with the data key; skipped and left in the store",
          { id, to: readerKey, key: options.dataKey.keyId },
        );
      },
    };
  }

  /**
   * The fingerprint of the server identity the nodes of this database present; undefined until
   * a node claimed one with {@linkcode PostgresStore.claimIdentity}.
   */
  async identity(): Promise<string | undefined> {
    const [row] = await this.#ctx.read((q) =>
      q`SELECT value FROM meta WHERE key = ${SERVER_IDENTITY}`
    );
    return row ? String(row.value) : undefined;
  }

  /**
   * Records `fingerprint` as the identity of every node, unless one is recorded already (nodes
   * starting at once: the first wins). Returns the one recorded: a node whose own differs must
   * not serve, or clients that pinned the others would refuse it.
   */
  async claimIdentity(fingerprint: string): Promise<string> {
    return await this.#ctx.read(async (q) => {
      await q`INSERT INTO meta (key, value) VALUES (${SERVER_IDENTITY}, ${fingerprint})
        ON CONFLICT (key) DO NOTHING`;
      const [row] = await q`SELECT value FROM meta WHERE key = ${SERVER_IDENTITY}`;
      return String(row.value);
    });
  }

  createUser(user: UserRecord): Promise<void> {
    return accounts.createUser(this.#ctx, user);
  }
  getUser(key: string): Promise<UserRecord | undefined> {
    return accounts.getUser(this.#ctx, key);
  }
  listUsers(limit: number): Promise<UserRecord[]> {
    return accounts.listUsers(this.#ctx, limit);
  }
  searchUsers(prefix: string, after: string | undefined, limit: number): Promise<UserRecord[]> {
    return accounts.searchUsers(this.#ctx, prefix, after, limit);
  }
  setLang(key: string, lang: string): Promise<void> {
    return accounts.setLang(this.#ctx, key, lang);
  }
  setPasswordHash(key: string, passwordHash: string): Promise<void> {
    return accounts.setPasswordHash(this.#ctx, key, passwordHash);
  }
  async storeOffline(
    message: StoredMessage,
    cid?: { senderKey: string; cid: string },
  ): Promise<ClientIdRecord | undefined> {
    return await log.storeOffline(this.#ctx, message, cid);
  }
  async pending(toKey: string, limit = 10_000): Promise<StoredMessage[]> {
    return await log.pending(this.#ctx, toKey, limit);
  }
  async pendingCount(toKey: string): Promise<number> {
    return await log.pendingCount(this.#ctx, toKey, this.#unreadable.get(toKey)?.size ?? 0);
  }
  ack(toKey: string, ids: string[]): Promise<number> {
    return log.ack(this.#ctx, toKey, ids);
  }
  lookupClientId(senderKey: string, cid: string): Promise<ClientIdRecord | undefined> {
    return accounts.lookupClientId(this.#ctx, senderKey, cid);
  }
  createWebLogin(session: WebLoginRecord): Promise<void> {
    return accounts.createWebLogin(this.#ctx, session);
  }
  getWebLogin(tokenHash: string): Promise<WebLoginRecord | undefined> {
    return accounts.getWebLogin(this.#ctx, tokenHash);
  }
  deleteWebLogin(tokenHash: string): Promise<boolean> {
    return accounts.deleteWebLogin(this.#ctx, tokenHash);
  }
  saveResumeToken(record: ResumeTokenRecord): Promise<void> {
    return accounts.saveResumeToken(this.#ctx, record);
  }
  getResumeToken(userKey: string, device: string): Promise<ResumeTokenRecord | undefined> {
    return accounts.getResumeToken(this.#ctx, userKey, device);
  }
  touchResumeToken(userKey: string, device: string, expiresAt: number): Promise<boolean> {
    return accounts.touchResumeToken(this.#ctx, userKey, device, expiresAt);
  }
  deleteResumeTokens(userKey: string, device?: string): Promise<number> {
    return accounts.deleteResumeTokens(this.#ctx, userKey, device);
  }
  getTranslations(
    provider: string,
    target: string,
    sources: readonly TranslationSource[],
  ): Promise<(CachedTranslation | undefined)[]> {
    return translations.getTranslations(this.#ctx, this.#translations, provider, target, sources);
  }
  putTranslations(
    provider: string,
    target: string,
    entries: readonly { source: TranslationSource; translation: CachedTranslation }[],
  ): Promise<void> {
    return translations.putTranslations(this.#ctx, this.#translations, provider, target, entries);
  }
  async appendMessage(message: NewLogMessage, cid?: string): Promise<AppendResult> {
    const { to: _, ...result } = await log.append(
      this.#ctx,
      message,
      cid === undefined ? undefined : { senderKey: message.senderKey, cid },
    );
    return result;
  }
  async history(conv: string, beforeSeq: number | undefined, limit: number): Promise<LogMessage[]> {
    return await log.history(this.#ctx, conv, beforeSeq, limit);
  }
  since(userKey: string, afterSeq: number, limit: number): Promise<SyncPage> {
    return log.since(this.#ctx, userKey, afterSeq, limit);
  }
  conversations(userKey: string): Promise<ConversationSummary[]> {
    return log.conversations(this.#ctx, userKey);
  }
  lastSeq(): Promise<number> {
    return log.lastSeq(this.#ctx);
  }
  async openDevice(userKey: string, deviceId: string): Promise<DeviceRecord> {
    return await log.openDevice(this.#ctx, userKey, deviceId);
  }
  async ackDevice(userKey: string, deviceId: string, seq: number): Promise<number> {
    return await log.ackDevice(this.#ctx, userKey, deviceId, seq);
  }
  devices(userKey: string): Promise<DeviceRecord[]> {
    return log.devices(this.#ctx, userKey);
  }
  async forgetDevice(userKey: string, deviceId: string): Promise<boolean> {
    return await log.forgetDevice(this.#ctx, userKey, deviceId);
  }
  deliveredSeq(userKey: string): Promise<number> {
    return log.deliveredSeq(this.#ctx, userKey);
  }
  async markRead(userKey: string, conv: string, seq: number): Promise<number> {
    return await log.markRead(this.#ctx, userKey, conv, seq);
  }
  readMarker(userKey: string, conv: string): Promise<number> {
    return log.readMarker(this.#ctx, userKey, conv);
  }
  readCount(conv: string, seq: number): Promise<number> {
    return log.readCount(this.#ctx, conv, seq);
  }
  setReceipts(userKey: string, on: boolean): Promise<void> {
    return log.setReceipts(this.#ctx, userKey, on);
  }
  receiptsOn(userKey: string): Promise<boolean> {
    return log.receiptsOn(this.#ctx, userKey);
  }
  pruneHistory(olderThanTs: number): Promise<number> {
    return log.pruneHistory(this.#ctx, olderThanTs);
  }
  async createRoom(room: Omit<RoomRecord, "members">, owner: string): Promise<RoomRecord> {
    return await rooms.createRoom(this.#ctx, room, owner);
  }
  getRoom(key: string): Promise<RoomRecord | undefined> {
    return rooms.getRoom(this.#ctx, key);
  }
  listRooms(userKey: string, after: string | undefined, limit: number): Promise<RoomRecord[]> {
    return rooms.listRooms(this.#ctx, userKey, after, limit);
  }
  roomsOf(userKey: string): Promise<string[]> {
    return rooms.roomsOf(this.#ctx, userKey);
  }
  async joinRoom(
    roomKey: string,
    userKey: string,
  ): Promise<{ member: RoomMember; already: boolean }> {
    return await rooms.joinRoom(this.#ctx, roomKey, userKey);
  }
  async leaveRoom(roomKey: string, userKey: string): Promise<boolean> {
    return await rooms.leaveRoom(this.#ctx, roomKey, userKey);
  }
  members(roomKey: string): Promise<RoomMember[]> {
    return rooms.members(this.#ctx, roomKey);
  }
  member(roomKey: string, userKey: string): Promise<RoomMember | undefined> {
    return rooms.member(this.#ctx, roomKey, userKey);
  }
  setTopic(roomKey: string, topic: string): Promise<void> {
    return rooms.setTopic(this.#ctx, roomKey, topic);
  }
  async invite(roomKey: string, userKey: string, by: string): Promise<boolean> {
    return await rooms.invite(this.#ctx, roomKey, userKey, by);
  }
  invited(roomKey: string, userKey: string): Promise<boolean> {
    return rooms.invited(this.#ctx, roomKey, userKey);
  }
  invitesOf(userKey: string): Promise<RoomInvite[]> {
    return rooms.invitesOf(this.#ctx, userKey);
  }
  async dropInvite(roomKey: string, userKey: string): Promise<boolean> {
    return await rooms.dropInvite(this.#ctx, roomKey, userKey);
  }
  setRole(roomKey: string, userKey: string, role: RoomRole): Promise<void> {
    return rooms.setRole(this.#ctx, roomKey, userKey, role);
  }

  async check(): Promise<void> {
    const [row] = await this.#ctx.read((q) =>
      q`SELECT value FROM meta WHERE key = ${DATA_KEY_CHECK}`
    );
    if (!row) throw new ParleyError("internal", "The store has lost its data key check value.");
    this.#ctx.key.verifyKeyCheck(String(row.value));
    // And a write, in the group commit: only a commit tells whether one would go through.
    await this.#ctx.write(1, async (q) => {
      await q`INSERT INTO meta (key, value) VALUES (${WRITE_PROBE}, ${String(Date.now())})
        ON CONFLICT (key) DO UPDATE SET value = excluded.value`;
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // Every write already called for is committed (or fails) first.
    await this.#writer.idle();
    await this.#sql.end({ timeout: 5 });
  }

  #assertOpen() {
    if (this.#closed) throw closedError();
  }
}
