import type { Command, MessageEvent, ServerEvent } from "../protocol/types.ts";

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

/** A command as a client writes it (the server fills defaults). */
type Outgoing = { type: Command["type"]; cid?: string; [field: string]: unknown };
type Waiter = {
  match: (e: ServerEvent) => boolean;
  resolve: (e: ServerEvent) => void;
  reject: (err: Error) => void;
};

export interface ClientOptions {
  /**
   * Acknowledge stored (offline) messages automatically once listeners have seen them.
   * @default true
   */
  autoAck?: boolean;
  /** Milliseconds a request waits for its reply. @default 10000 */
  requestTimeoutMs?: number;
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
  welcome: Extract<ServerEvent, { type: "welcome" }> | undefined;
  readonly closed: Promise<string>;

  #channel: FrameChannel;
  #listeners = new Set<(e: ServerEvent) => void>();
  #buffer: ServerEvent[] = [];
  #waiters: Waiter[] = [];
  #seen = new Set<string>();
  #ackBatch: string[] = [];
  #autoAck: boolean;
  #timeout: number;
  #keep: boolean;
  #resolveClosed!: (reason: string) => void;

  constructor(channel: FrameChannel, options: ClientOptions = {}) {
    this.#channel = channel;
    this.#autoAck = options.autoAck ?? true;
    this.#timeout = options.requestTimeoutMs ?? 10_000;
    this.#keep = options.buffer ?? true;
    this.closed = new Promise((resolve) => this.#resolveClosed = resolve);
    channel.start((frame) => this.#onFrame(frame), (reason) => this.#onClose(reason));
  }

  /** Calls `listener` for every event from now on; returns an unsubscribe function. */
  on(listener: (e: ServerEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Writes a frame as is. */
  sendFrame(frame: Outgoing): void {
    this.#channel.send(JSON.stringify(frame));
  }

  /** Sends a frame with a fresh `cid` and resolves with the reply that carries it. */
  request<T extends ServerEvent["type"]>(
    frame: Outgoing,
    replyType: T,
  ): Promise<Extract<ServerEvent, { type: T }>> {
    const cid = frame.cid ?? `${cidPrefix}-${++cidCounter}`;
    const reply = this.next(
      (e) => "cid" in e && e.cid === cid && (e.type === replyType || e.type === "error"),
      this.#timeout,
      `no '${replyType}' reply to '${frame.type}'`,
    );
    this.sendFrame({ ...frame, cid });
    return reply.then((e) => {
      if (e.type === "error") throw new ServerError(e);
      return e as Extract<ServerEvent, { type: T }>;
    });
  }

  async register(name: string, password: string, lang?: string) {
    return this.welcome = await this.request({ type: "register", name, password, lang }, "welcome");
  }

  async login(name: string, password: string, lang?: string) {
    return this.welcome = await this.request({ type: "login", name, password, lang }, "welcome");
  }

  /** Sends a message; resolves with the server's `sent` outcome. Reuse `cid` to resend safely. */
  send(to: string, text: string, cid?: string) {
    return this.request({ type: "send", to, text, cid }, "sent");
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
    this.#channel.close();
  }

  /**
   * The first event, received or buffered and not yet taken by `next`, that matches; waits up
   * to `timeoutMs` for it.
   */
  next(
    match: (e: ServerEvent) => boolean = () => true,
    timeoutMs = this.#timeout,
    what = "no matching event",
  ): Promise<ServerEvent> {
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
  nextOf<T extends ServerEvent["type"]>(
    type: T,
    match: (e: Extract<ServerEvent, { type: T }>) => boolean = () => true,
    timeoutMs?: number,
  ): Promise<Extract<ServerEvent, { type: T }>> {
    return this.next(
      (e) => e.type === type && match(e as Extract<ServerEvent, { type: T }>),
      timeoutMs,
      `no '${type}' event`,
    ) as Promise<Extract<ServerEvent, { type: T }>>;
  }

  /** Events received and not yet taken by `next`, oldest first. */
  get buffered(): readonly ServerEvent[] {
    return this.#buffer;
  }

  #onFrame(frame: string): void {
    let event: ServerEvent;
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
    for (const listener of this.#listeners) listener(event);
    const w = this.#waiters.find((w) => w.match(event));
    if (w) {
      this.#waiters = this.#waiters.filter((x) => x !== w);
      w.resolve(event);
    } else if (this.#keep) {
      this.#buffer.push(event);
      if (this.#buffer.length > 10_000) this.#buffer.shift();
    }
    if (event.type === "message" && event.offline && this.#autoAck) this.#queueAck(event.id);
  }

  #firstSighting(m: MessageEvent): boolean {
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
        if (this.closeReason === undefined) this.sendFrame({ type: "ack", ids: chunk });
      }
    });
  }

  #onClose(reason: string): void {
    if (this.closeReason !== undefined) return;
    this.closeReason = reason;
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
