import type { Command, ServerEvent } from "../protocol/types.ts";
import type { ClientEvent, DeviceWelcome, SeqMessage } from "./events.ts";

/**
 * A frame pipe to a Parley server: one JSON object per frame, either way. TCP and WebSocket
 * channels implement it (`tcp_channel.ts`; the browser's WebSocket); this file uses no Deno API so
 * the browser bundle can share it.
 */
export interface FrameChannel {
  send(frame: string): void;
  /** Calls `onFrame` for each frame and `onClose` once when the channel ends. */
  start(onFrame: (frame: string) => void, onClose: (reason: string) => void): void;
  close(): void;
}

/** An `error` event from the server, thrown by the client's request helpers. */
export class ServerError extends Error {
  readonly code: string;
  readonly retryAfter?: number;
  constructor(event: Extract<ServerEvent, { type: "error" }>) {
    super(`${event.code}: ${event.message}`);
    this.name = "ServerError";
    this.code = event.code;
    this.retryAfter = event.retryAfter;
  }
}

/** The commands of rooms, history, sync and receipts (docs/protocol.md). */
export type SyncCommandType =
  | "join"
  | "leave"
  | "rooms"
  | "topic"
  | "invite"
  | "kick"
  | "owner"
  | "members"
  | "history"
  | "read"
  | "receipts"
  | "conversations";

/** A command as a client writes it (the server fills defaults). */
type Outgoing = {
  type: Command["type"] | SyncCommandType;
  cid?: string;
  [field: string]: unknown;
};
type Waiter = {
  match: (e: ClientEvent) => boolean;
  resolve: (e: ClientEvent) => void;
  reject: (err: Error) => void;
};

/** The welcome, with the fields of a sign-in that named a device. */
export type Welcome = Extract<ServerEvent, { type: "welcome" }> & DeviceWelcome;

export interface ClientOptions {
  /**
   * Acknowledge stored (offline) messages automatically once listeners have seen them.
   * @default true
   */
  autoAck?: boolean;
  /** Milliseconds a request waits for its reply. @default 10000 */
  requestTimeoutMs?: number;
  /**
   * With a device session: milliseconds between acknowledgements of live messages by `seq`
   * (`ack upTo`), sent only while messages arrive.
   * @default 1000
   */
  ackIntervalMs?: number;
  /**
   * Keep events nobody waited for, so `next()` can find them later (tests). Long-lived clients
   * that only use `on()` turn this off.
   * @default true
   */
  buffer?: boolean;
}

// A random prefix per process: the server remembers client ids of stored messages for days, so
// two runs must never reuse one.
const cidPrefix = crypto.randomUUID().slice(0, 8);
let cidCounter = 0;

/**
 * The protocol client used by the terminal client, the tests, the bench and the browser island.
 * It correlates replies by client id, drops duplicate messages by server id, acknowledges stored
 * messages, and keeps every event in order for `next()`.
 */
export class ParleyClient {
  /** Set once the channel has ended, with the reason. */
  closeReason: string | undefined;
  /** The welcome of the current sign-in. */
  welcome: Welcome | undefined;
  readonly closed: Promise<string>;

  #channel: FrameChannel;
  #listeners = new Set<(e: ClientEvent) => void>();
  #buffer: ClientEvent[] = [];
  #waiters: Waiter[] = [];
  #seen = new Set<string>();
  #ackBatch: string[] = [];
  #autoAck: boolean;
  #timeout: number;
  #keep: boolean;
  #ackIntervalMs: number;
  /** The newest live `seq` received and not yet acknowledged (device sessions). */
  #liveSeq = 0;
  #ackedSeq = 0;
  #ackTimer: ReturnType<typeof setTimeout> | undefined;
  #resolveClosed!: (reason: string) => void;

  constructor(channel: FrameChannel, options: ClientOptions = {}) {
    this.#channel = channel;
    this.#autoAck = options.autoAck ?? true;
    this.#timeout = options.requestTimeoutMs ?? 10_000;
    this.#keep = options.buffer ?? true;
    this.#ackIntervalMs = options.ackIntervalMs ?? 1000;
    this.closed = new Promise((resolve) => this.#resolveClosed = resolve);
    channel.start((frame) => this.#onFrame(frame), (reason) => this.#onClose(reason));
  }

  /** Calls `listener` for every event from now on; returns an unsubscribe function. */
  on(listener: (e: ClientEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Writes a frame as is. */
  sendFrame(frame: Outgoing): void {
    this.#channel.send(JSON.stringify(frame));
  }

  /** Sends a frame with a fresh `cid` and resolves with the reply that carries it. */
  request<T extends ClientEvent["type"]>(
    frame: Outgoing,
    replyType: T,
  ): Promise<Extract<ClientEvent, { type: T }>> {
    const cid = frame.cid ?? `${cidPrefix}-${++cidCounter}`;
    const reply = this.next(
      (e) => "cid" in e && e.cid === cid && (e.type === replyType || e.type === "error"),
      this.#timeout,
      `no '${replyType}' reply to '${frame.type}'`,
    );
    this.sendFrame({ ...frame, cid });
    return reply.then((e) => {
      if (e.type === "error") throw new ServerError(e);
      return e as Extract<ClientEvent, { type: T }>;
    });
  }

  /**
   * Creates the account and signs in. With `device` (1-64 printable ASCII characters, kept by
   * the client across runs) the server keeps this device's cursor and sends what it missed.
   */
  async register(name: string, password: string, lang?: string, device?: string) {
    const welcome = await this.request(
      { type: "register", name, password, lang, device },
      "welcome",
    );
    return this.welcome = welcome as Welcome;
  }

  /** Signs in; `device` as in {@link register}. */
  async login(name: string, password: string, lang?: string, device?: string) {
    const welcome = await this.request({ type: "login", name, password, lang, device }, "welcome");
    return this.welcome = welcome as Welcome;
  }

  /**
   * Signs `device` in again with the resume token an earlier sign-in's welcome gave it
   * (`welcome.resume.token`): no password. Rejects with a {@link ServerError} `bad_token` when the
   * token is no longer valid; sign in with the password then.
   */
  async resume(name: string, token: string, device: string, lang?: string) {
    const welcome = await this.request({ type: "resume", name, token, device, lang }, "welcome");
    return this.welcome = welcome as Welcome;
  }

  /** Signs out: the server revokes the user's resume tokens and hangs up. */
  logout(): void {
    this.sendFrame({ type: "logout" });
  }

  /**
   * Sends a message (sharing the uploaded file `file`, when given); resolves with the server's
   * `sent` outcome. Reuse `cid` to resend safely.
   */
  send(to: string, text: string, cid?: string, file?: string) {
    return this.request({ type: "send", to, text, cid, ...(file ? { file } : {}) }, "sent");
  }

  /**
   * A one-time URL of the HTTP file endpoint: to upload a file, or to download file `id`
   * (docs/protocol.md, "Files").
   */
  fileToken(purpose: "upload" | "download", id?: string) {
    return this.request({ type: "file_token", purpose, ...(id ? { id } : {}) }, "file_token");
  }

  typing(to: string, active = true): void {
    this.sendFrame({ type: "typing", to, active });
  }

  who() {
    return this.request({ type: "who" }, "who");
  }

  /** One page of the accounts whose name starts with `query`; `cursor` is the last page's `next`. */
  searchUsers(query: string, cursor?: string, limit?: number) {
    return this.request({ type: "search_users", query, cursor, limit }, "users");
  }

  setLang(lang: string) {
    return this.request({ type: "lang", lang }, "lang");
  }

  ack(ids: string[]) {
    return this.request({ type: "ack", ids }, "acked");
  }

  /** Moves this device's cursor to `seq` (device sessions); resolves with the new cursor. */
  ackUpTo(seq: number) {
    this.#ackedSeq = Math.max(this.#ackedSeq, seq);
    return this.request({ type: "ack", upTo: seq }, "acked");
  }

  /**
   * Joins `room` (`#dev` or `dev`), creating it when nobody has that name; `visibility` applies
   * only to a new room. With `create`, only creates: a taken name is `room_taken`. The server
   * follows the `joined` reply with a `history` page.
   */
  join(room: string, visibility?: "public" | "invite", create?: boolean) {
    return this.request({ type: "join", room, visibility, create }, "joined");
  }

  leave(room: string) {
    return this.request({ type: "leave", room }, "left");
  }

  /** One page of the public rooms and the user's own, by name, after `after`. */
  rooms(after?: string, limit?: number) {
    return this.request({ type: "rooms", after, limit }, "rooms");
  }

  /** Sets the topic; the reply is the `room` change every member sees. */
  topic(room: string, text: string) {
    return this.request({ type: "topic", room, text }, "room");
  }

  invite(room: string, user: string) {
    return this.request({ type: "invite", room, user }, "invited");
  }

  /** Removes `user` from `room` (owners); the reply is the `room` change. */
  kick(room: string, user: string) {
    return this.request({ type: "kick", room, user }, "room");
  }

  /** Hands `room` over to `user` (owners); the reply is the `room` change. */
  owner(room: string, user: string) {
    return this.request({ type: "owner", room, user }, "room");
  }

  members(room: string) {
    return this.request({ type: "members", room }, "members");
  }

  /**
   * One page of a conversation (`@bob` or `#room`), oldest first, ending before `before` (a
   * `seq`; absent: the newest page).
   */
  history(withName: string, before?: number, limit?: number) {
    return this.request({ type: "history", with: withName, before, limit }, "history");
  }

  /** Moves the user's read marker of a conversation to `upTo` (a `seq`), on every device. */
  read(withName: string, upTo: number) {
    return this.request({ type: "read", with: withName, upTo }, "read");
  }

  /** Sends read receipts, or stops sending them. */
  receipts(on: boolean) {
    return this.request({ type: "receipts", on }, "receipts");
  }

  /** The user's conversations with their unread counts, newest first. */
  conversations() {
    return this.request({ type: "conversations" }, "conversations");
  }

  ping() {
    return this.request({ type: "ping" }, "pong");
  }

  /** Says goodbye and waits for the server to close. */
  async quit(): Promise<void> {
    if (this.closeReason === undefined) {
      try {
        this.sendFrame({ type: "quit" });
      } catch { /* already gone */ }
    }
    await Promise.race([this.closed, new Promise((r) => setTimeout(r, 2000))]);
    this.close();
  }

  close(): void {
    clearTimeout(this.#ackTimer);
    this.#channel.close();
  }

  /**
   * The first event, received or buffered and not yet taken by `next`, that matches; waits up
   * to `timeoutMs` for it.
   */
  next(
    match: (e: ClientEvent) => boolean = () => true,
    timeoutMs = this.#timeout,
    what = "no matching event",
  ): Promise<ClientEvent> {
    const i = this.#buffer.findIndex(match);
    if (i !== -1) return Promise.resolve(this.#buffer.splice(i, 1)[0]);
    if (this.closeReason !== undefined) {
      return Promise.reject(new Error(`connection closed (${this.closeReason}): ${what}`));
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        reject(new Error(`timed out after ${timeoutMs} ms: ${what}`));
      }, timeoutMs);
      const waiter: Waiter = {
        match,
        resolve: (e) => {
          clearTimeout(timer);
          resolve(e);
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      };
      this.#waiters.push(waiter);
    });
  }

  /** Waits for the next event of one type (and optional extra condition). */
  nextOf<T extends ClientEvent["type"]>(
    type: T,
    match: (e: Extract<ClientEvent, { type: T }>) => boolean = () => true,
    timeoutMs?: number,
  ): Promise<Extract<ClientEvent, { type: T }>> {
    return this.next(
      (e) => e.type === type && match(e as Extract<ClientEvent, { type: T }>),
      timeoutMs,
      `no '${type}' event`,
    ) as Promise<Extract<ClientEvent, { type: T }>>;
  }

  /** Events received and not yet taken by `next`, oldest first. */
  get buffered(): readonly ClientEvent[] {
    return this.#buffer;
  }

  #onFrame(frame: string): void {
    let event: ClientEvent;
    try {
      event = JSON.parse(frame);
    } catch {
      return; // Not ours to show: a text-mode greeting before the first JSON frame.
    }
    if (event.type === "message" && !this.#firstSighting(event)) return;
    // Proof that this client reads: the server drops one that stops answering.
    if (event.type === "heartbeat" && this.closeReason === undefined) {
      try {
        this.sendFrame({ type: "heartbeat", seq: event.seq });
      } catch { /* the channel closed meanwhile; its close event says so */ }
    }
    // Also the welcome a transport-signed connection gets unasked (the browser's cookie): its
    // `device` decides how catch-up and live messages are acknowledged, from the next frame on.
    if (event.type === "welcome") this.welcome = event as Welcome;
    for (const listener of this.#listeners) listener(event);
    const w = this.#waiters.find((w) => w.match(event));
    if (w) {
      this.#waiters = this.#waiters.filter((x) => x !== w);
      w.resolve(event);
    } else if (this.#keep) {
      this.#buffer.push(event);
      if (this.#buffer.length > 10_000) this.#buffer.shift();
    }
    if (!this.#autoAck) return;
    if (event.type === "message") this.#acknowledge(event);
    // A catch-up page was handed to the listeners: move the cursor, and the next page follows.
    else if (event.type === "synced" && this.welcome?.device !== undefined) {
      this.#ackedSeq = Math.max(this.#ackedSeq, event.seq);
      this.#sendAck({ type: "ack", upTo: event.seq });
    }
  }

  /** Acknowledges a message once listeners saw it: by id without a device, by `seq` with one. */
  #acknowledge(m: SeqMessage): void {
    if (m.offline) return this.#queueAck(m.id);
    // Catch-up pages are acknowledged by their `synced`; live messages a second at a time.
    if (m.catchup || m.seq === undefined || this.welcome?.device === undefined) return;
    this.#liveSeq = Math.max(this.#liveSeq, m.seq);
    this.#ackTimer ??= setTimeout(() => {
      this.#ackTimer = undefined;
      if (this.#liveSeq <= this.#ackedSeq) return;
      this.#ackedSeq = this.#liveSeq;
      this.#sendAck({ type: "ack", upTo: this.#liveSeq });
    }, this.#ackIntervalMs);
  }

  #sendAck(frame: Outgoing): void {
    if (this.closeReason !== undefined) return;
    try {
      this.sendFrame(frame);
    } catch { /* the channel closed meanwhile; the next sign-in catches up from the cursor */ }
  }

  #firstSighting(m: SeqMessage): boolean {
    if (this.#seen.has(m.id)) {
      // A redelivery after a crash or from a second batch: acknowledge, do not show twice.
      if (m.offline && this.#autoAck) this.#queueAck(m.id);
      return false;
    }
    this.#seen.add(m.id);
    if (this.#seen.size > 50_000) this.#seen.delete(this.#seen.values().next().value!);
    return true;
  }

  #queueAck(id: string): void {
    this.#ackBatch.push(id);
    if (this.#ackBatch.length > 1) return;
    queueMicrotask(() => {
      const ids = this.#ackBatch;
      this.#ackBatch = [];
      // A frame must fit in one line (8 KiB): a full replay batch of 500 ids does not.
      for (const chunk of ackChunks(ids)) {
        if (this.closeReason !== undefined) return;
        try {
          this.sendFrame({ type: "ack", ids: chunk });
        } catch {
          // Closed by its owner since the message came (its close event is still on its way):
          // what is not acknowledged comes again at the next sign-in.
          return;
        }
      }
    });
  }

  #onClose(reason: string): void {
    if (this.closeReason !== undefined) return;
    this.closeReason = reason;
    clearTimeout(this.#ackTimer);
    for (const w of this.#waiters) w.reject(new Error(`connection closed: ${reason}`));
    this.#waiters = [];
    this.#resolveClosed(reason);
  }
}

const encoder = new TextEncoder();
const utf8Length = (text: string) => encoder.encode(text).length;

/** Bytes of ids per `ack` frame: well inside the 8 KiB line with the frame around them. */
const ACK_BYTES = 6000;

/** Splits ids into `ack` frames that fit a line and the router's 1000 ids per frame. */
function ackChunks(ids: string[]): string[][] {
  const out: string[][] = [];
  let chunk: string[] = [];
  let size = 0;
  for (const id of ids) {
    const bytes = utf8Length(id) + 3; // quoted, and a comma
    if (chunk.length && (size + bytes > ACK_BYTES || chunk.length >= 1000)) {
      out.push(chunk);
      chunk = [];
      size = 0;
    }
    chunk.push(id);
    size += bytes;
  }
  if (chunk.length) out.push(chunk);
  return out;
}
