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

import type { CallEntry } from "../protocol/types.ts";

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
  /** The file it shares, read back from the log (`storeOffline` takes none). */
  file?: FileMeta;
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
export interface WebLoginRecord {
  /** Hex SHA-256 of the token. */
  tokenHash: string;
  userKey: string;
  createdAt: number;
  /** Milliseconds since the epoch after which the session is void. */
  expiresAt: number;
}

/**
 * A JSON client's resume token (docs/security.md, "Resume tokens"): one per user and device,
 * filed with the SHA-256 hash of the token only, like a {@link WebLoginRecord}.
 */
export interface ResumeTokenRecord {
  userKey: string;
  /** The device id the token was issued to; it resumes only that device. */
  device: string;
  /** Hex SHA-256 of the token. */
  tokenHash: string;
  createdAt: number;
  /** Milliseconds since the epoch after which the token is void; moved on at each use. */
  expiresAt: number;
}

/**
 * A message in the log: every private and room message is committed once, under a global `seq`
 * that only grows (the sync cursor and the history page key; never reused, also after pruning).
 */
export interface LogMessage {
  seq: number;
  /** The server id (as in `message` events). */
  id: string;
  /** The conversation: `@a:b` for a private one (keys sorted), `#key` for a room (see conv.ts). */
  conv: string;
  senderKey: string;
  /** Display name of the sender. */
  from: string;
  /** Display name of the recipient (private), or `#Room` as the room is named (room). */
  to: string;
  text: string;
  ts: number;
  /** The sender's language when they sent it: the source language for translating on read. */
  lang?: string;
  /**
   * Present on the entry a call left (the sender is the caller): how it went. Kept as it is
   * (metadata, like `ts`); `text` says the same in words, sealed like any message body.
   */
  call?: CallEntry;
  /** The file it shares: given as `{ id }` (or more) to append, read back whole. */
  file?: FileMeta;
}

/** A message to append: the store gives it its `seq`. */
export type NewLogMessage = Omit<LogMessage, "seq" | "file"> & { file?: { id: string } };

/** What a message says of the file it shares (protocol `FileInfo`). */
export interface FileMeta {
  id: string;
  name: string;
  type: string;
  size: number;
  width?: number;
  height?: number;
}

/**
 * An uploaded file. Its bytes live in the file store (lib/files/), sealed, under `address`;
 * several records may share one address (the same bytes uploaded twice).
 */
export interface FileRecord extends FileMeta {
  /** The sealed blob's content address (a keyed hash, never a plain hash of the bytes). */
  address: string;
  /** Key of the user who uploaded it (their quota pays for it). */
  ownerKey: string;
  createdAt: number;
}

/**
 * A one-time token of the file endpoint (lib/files/tokens.ts), filed under the SHA-256 hash of
 * the token only, like a {@link WebLoginRecord}: kept in the store so that whichever node or
 * worker a request reaches honours it, and only once.
 */
export interface FileTokenRecord {
  /** Hex SHA-256 of the token. */
  tokenHash: string;
  purpose: "upload" | "download";
  userKey: string;
  /** The file a download token is for. */
  fileId?: string;
  /** Milliseconds since the epoch after which the token is void. */
  expiresAt: number;
}

/**
 * How long a blob's removal, once `pruneFiles` handed it out, holds back uploads of the same
 * bytes (`putFile` answers false meanwhile). A node that died before it removed the blob and
 * said so (`blobsRemoved`) holds them back no longer than this; the next prune takes it over.
 */
export const BLOB_REMOVAL_LEASE_MS = 10 * 60 * 1000;

/** What an append came to: the message's place in the log, or the earlier one of its `cid`. */
export interface AppendResult {
  seq: number;
  id: string;
  /** True when the sender had used the `cid` before: nothing was stored. */
  duplicate: boolean;
}

/** A page of catch-up: messages past a cursor, in `seq` order. */
export interface SyncPage {
  messages: LogMessage[];
  /** True when more lie past the last one: ask again from its `seq`. */
  more: boolean;
}

/** Who may join a room: anyone (`public`), or those invited (`invite`). */
export type RoomVisibility = "public" | "invite";

/** A room as stored. */
export interface RoomRecord {
  /** Case-insensitive unique key (the name's key, without `#`). */
  key: string;
  /** The name as created (display form, without `#`). */
  name: string;
  topic: string;
  visibility: RoomVisibility;
  createdAt: number;
  /** Members now. */
  members: number;
}

export type RoomRole = "owner" | "member";

/** A member of a room. */
export interface RoomMember {
  userKey: string;
  role: RoomRole;
  /** The last `seq` of the log when they joined: they get the room's messages after it. */
  joinedSeq: number;
}

/** An invitation a user holds. */
export interface RoomInvite {
  /** The room's key. */
  room: string;
  /** Key of who invited them. */
  byKey: string;
  createdAt: number;
}

/** One conversation of a user, for the conversation list and unread counts. */
export interface ConversationSummary {
  conv: string;
  /** The other user's key (private; the user's own for notes to self), or the room key. */
  with: string;
  /** Seq of the newest message (0: none yet). */
  lastSeq: number;
  /** When the newest message was sent (0: none yet). */
  lastTs: number;
  /** The user's read marker in it. */
  readSeq: number;
  /**
   * Messages past the read marker that others sent, counted from the log (up to
   * {@linkcode UNREAD_CAP}: a count at the cap means "at least").
   */
  unread: number;
}

/** The most unread messages counted per conversation ("999+" territory; keeps counting cheap). */
export const UNREAD_CAP = 10_000;

/** A device of a user and where it stands in the log. */
export interface DeviceRecord {
  userKey: string;
  /** Chosen by the client; scoped to the user. */
  deviceId: string;
  /** The last `seq` it acknowledged. */
  cursor: number;
  createdAt: number;
  lastSeen: number;
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
   * Durably stores a message for an offline recipient: appended to the message log (its private
   * conversation with the sender), past the recipient's delivered point. When `cid` was already used by the
   * sender, stores nothing and returns the earlier outcome; otherwise returns undefined. The
   * promise resolves only after the write is committed.
   */
  storeOffline(
    message: StoredMessage,
    cid?: { senderKey: string; cid: string },
  ): Promise<ClientIdRecord | undefined>;
  /**
   * Messages waiting for `toKey`, oldest first: what others sent in their conversations past
   * their delivered point (no device has it yet).
   */
  pending(toKey: string, limit?: number): Promise<StoredMessage[]>;
  /** Counts messages waiting for `toKey`. */
  pendingCount(toKey: string): Promise<number>;
  /**
   * Acknowledges messages of `toKey`: their delivered point moves up to the newest of `ids`
   * that was waiting (delivery is in order: acknowledging a message acknowledges those before
   * it). Returns how many of `ids` were waiting.
   */
  ack(toKey: string, ids: string[]): Promise<number>;
  /** The outcome of a stored message's client id, if the sender used it before. */
  lookupClientId(senderKey: string, cid: string): Promise<ClientIdRecord | undefined>;
  /** Saves a browser sign-in; also forgets sessions that have expired. */
  createWebLogin(session: WebLoginRecord): Promise<void>;
  /** The browser sign-in filed under `tokenHash`; undefined when unknown or expired. */
  getWebLogin(tokenHash: string): Promise<WebLoginRecord | undefined>;
  /** Ends a browser sign-in (logout); returns whether it existed. */
  deleteWebLogin(tokenHash: string): Promise<boolean>;
  /**
   * Saves the resume token of a user's device, replacing the one it had; also forgets tokens
   * that have expired.
   */
  saveResumeToken(record: ResumeTokenRecord): Promise<void>;
  /** The unexpired resume token of a user's device, or undefined. */
  getResumeToken(userKey: string, device: string): Promise<ResumeTokenRecord | undefined>;
  /** Moves the expiry of a device's token (a resume slides it); false when it is gone. */
  touchResumeToken(userKey: string, device: string, expiresAt: number): Promise<boolean>;
  /** Revokes the resume tokens of a user: of one device, or all. Returns how many there were. */
  deleteResumeTokens(userKey: string, device?: string): Promise<number>;
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
  // --- The message log (docs/storage.md): history, sync, read state. ---

  /**
   * Commits a message to the log and returns its `seq`. A room message must come from a member
   * (checked in the same transaction); a message with a `file` refers to that file from now on
   * (`no_such_file` when there is no such record). With `cid` (scoped to the sender), a repeat stores nothing
   * and returns the first outcome (`duplicate`). Resolves only after the commit.
   * @throws {ParleyError} `no_such_room`, `not_a_member` (room messages); `bad_argument` for a
   * conversation key that is neither private nor a room.
   */
  appendMessage(message: NewLogMessage, cid?: string): Promise<AppendResult>;
  /**
   * One page of a conversation's history: up to `limit` messages with `seq` below `beforeSeq`
   * (the newest when undefined), returned oldest first. The next page back starts before the
   * first one returned; an empty or short page means the start (or what retention kept).
   */
  history(conv: string, beforeSeq: number | undefined, limit: number): Promise<LogMessage[]>;
  /**
   * Catch-up: messages of all the user's conversations (private, and rooms since they joined)
   * with `seq` above `afterSeq`, oldest first, at most `limit`; their own messages included (a
   * device shows what the user sent elsewhere). Cost follows the user's conversations, not the
   * size of the log.
   */
  since(userKey: string, afterSeq: number, limit: number): Promise<SyncPage>;
  /** The user's conversations, newest activity first, with read markers and unread counts. */
  conversations(userKey: string): Promise<ConversationSummary[]>;
  /** The last `seq` given out (0 for an empty log). */
  lastSeq(): Promise<number>;
  /**
   * Registers a device of a user (or sees it again): a new one starts at the user's delivered
   * point ({@linkcode Store.deliveredSeq}), so what was sent while every device was away reaches
   * it. Returns the device with its cursor; updates `lastSeen`.
   */
  openDevice(userKey: string, deviceId: string): Promise<DeviceRecord>;
  /**
   * A device acknowledges the log up to `seq`: its cursor moves there (never back), and so does
   * the user's delivered point. Returns the cursor now.
   * @throws {ParleyError} `bad_argument` for a device never opened.
   */
  ackDevice(userKey: string, deviceId: string, seq: number): Promise<number>;
  /** The user's devices, most recently seen first. */
  devices(userKey: string): Promise<DeviceRecord[]>;
  /** Forgets a device (signed out for good); returns whether it existed. */
  forgetDevice(userKey: string, deviceId: string): Promise<boolean>;
  /**
   * The user's delivered point: every message up to it reached at least one of their devices (a
   * private message is "delivered" when its `seq` is at or below the recipient's).
   */
  deliveredSeq(userKey: string): Promise<number>;
  /**
   * Moves the user's read marker in `conv` to `seq` (never back: IRCv3 `draft/read-marker`).
   * Returns the marker now (which is what to tell the user's other devices).
   */
  markRead(userKey: string, conv: string, seq: number): Promise<number>;
  /** The user's read marker in `conv` (0: nothing read). */
  readMarker(userKey: string, conv: string): Promise<number>;
  /**
   * How many members of room `conv`, the sender of message `seq` aside, have read up to it;
   * members who turned read receipts off are not counted.
   */
  readCount(conv: string, seq: number): Promise<number>;
  /**
   * Whether the user tells others what they read (`/receipts on|off`); kept with the account.
   * Their read marker moves either way (their own unread counts need it).
   */
  setReceipts(userKey: string, on: boolean): Promise<void>;
  /** Whether the user sends read receipts (true until they turn them off). */
  receiptsOn(userKey: string): Promise<boolean>;
  /**
   * Retention: removes the oldest messages of the log while they are older than `olderThanTs`,
   * stopping at the first newer one (so history has no holes). Retention wins: a device whose
   * cursor is behind loses what was pruned. Returns how many were removed.
   */
  pruneHistory(olderThanTs: number): Promise<number>;

  // --- Files (lib/files/) ---

  /**
   * Saves an uploaded file's record (its name and type are sealed at rest like bodies). Returns
   * false, storing nothing, while the blob under its address is being removed (handed out by
   * {@linkcode Store.pruneFiles} and not yet {@linkcode Store.blobsRemoved}, within
   * {@linkcode BLOB_REMOVAL_LEASE_MS}): the caller tries again once it is gone, then puts the
   * blob back. Once it returned true, no prune removes that blob while the record lasts.
   */
  putFile(file: FileRecord): Promise<boolean>;
  /** A file's record by id. */
  getFile(id: string): Promise<FileRecord | undefined>;
  /** Bytes of the files `ownerKey` uploaded that are still kept: what their quota counts. */
  fileUsage(ownerKey: string): Promise<number>;
  /** The conversations whose messages share file `id` (those messages' readers may read it). */
  fileConvs(id: string): Promise<string[]>;
  /**
   * Forgets the files no message refers to any more (their messages were pruned), and those
   * never sent that were uploaded before `unsentBefore`. Returns the addresses no remaining
   * record uses, marked as being removed in the same transaction (so `putFile` holds back new
   * records of them), and those whose removal's lease ran out (a node died removing them): the
   * caller deletes those blobs, then calls {@linkcode Store.blobsRemoved}.
   */
  pruneFiles(unsentBefore: number): Promise<string[]>;
  /** The blobs of these addresses are gone: records of them may be made again. */
  blobsRemoved(addresses: readonly string[]): Promise<void>;
  /** Saves a file endpoint's one-time token; also forgets tokens that have expired. */
  saveFileToken(record: FileTokenRecord): Promise<void>;
  /**
   * Uses a one-time token up: deletes it and returns it, in one statement, so two requests (on
   * any nodes) cannot both have it. Undefined when unknown, used already or expired.
   */
  takeFileToken(tokenHash: string): Promise<FileTokenRecord | undefined>;

  // --- Rooms ---

  /**
   * Creates a room; `owner` becomes its first member, with the role owner.
   * @throws {ParleyError} `room_taken` when the key exists.
   */
  createRoom(
    room: Omit<RoomRecord, "members">,
    owner: string,
  ): Promise<RoomRecord>;
  /** A room by key (without `#`). */
  getRoom(key: string): Promise<RoomRecord | undefined>;
  /**
   * Rooms to list: every public room and those `userKey` is in, by key, at most `limit`, after
   * the key `after` when given (one page).
   */
  listRooms(userKey: string, after: string | undefined, limit: number): Promise<RoomRecord[]>;
  /** Keys of the rooms the user is in. */
  roomsOf(userKey: string): Promise<string[]>;
  /**
   * Joins a room (an invitation is used up). Returns the membership and whether the user was a
   * member already.
   * @throws {ParleyError} `no_such_room`; `not_invited` for an invite-only room without an
   * invitation.
   */
  joinRoom(roomKey: string, userKey: string): Promise<{ member: RoomMember; already: boolean }>;
  /**
   * Leaves a room (or is removed from it by its owner); their read marker there goes too. When the
   * owner leaves, the longest-standing member becomes owner. Returns whether they were a member.
   */
  leaveRoom(roomKey: string, userKey: string): Promise<boolean>;
  /** The members of a room, by key. */
  members(roomKey: string): Promise<RoomMember[]>;
  /** One member, if they are one. */
  member(roomKey: string, userKey: string): Promise<RoomMember | undefined>;
  /** @throws {ParleyError} `no_such_room`. */
  setTopic(roomKey: string, topic: string): Promise<void>;
  /**
   * Invites a user (kept until they join); returns false when they are a member already.
   * @throws {ParleyError} `no_such_room`.
   */
  invite(roomKey: string, userKey: string, by: string): Promise<boolean>;
  /** Whether the user holds an invitation to the room. */
  invited(roomKey: string, userKey: string): Promise<boolean>;
  /** The invitations the user holds (to rooms they are not in), oldest first. */
  invitesOf(userKey: string): Promise<RoomInvite[]>;
  /** Drops an invitation (declined); returns whether there was one. */
  dropInvite(roomKey: string, userKey: string): Promise<boolean>;
  /**
   * Gives a member a role; making someone owner hands ownership over (the old owner becomes a
   * member), in one transaction.
   * @throws {ParleyError} `not_a_member` when `userKey` is not in the room.
   */
  setRole(roomKey: string, userKey: string, role: RoomRole): Promise<void>;
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
