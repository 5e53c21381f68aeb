import { isCryptoError } from "../crypto/mod.ts";
import type { ServerEvent } from "../protocol/types.ts";
import { Backoff, type BackoffOptions } from "./backoff.ts";
import { type FrameChannel, ParleyClient, ServerError, type Welcome } from "./client.ts";
import type { ClientEvent } from "./events.ts";

/**
 * What a client signs in with. `lang` is sent on the first sign-in only; `device`, the id this
 * install keeps, on every sign-in, so each reconnect catches up from this device's cursor.
 */
export interface Credentials {
  name: string;
  password: string;
  lang?: string;
  device?: string;
}

/**
 * What a reconnect signs in with: the device's resume token once the server gave one (the
 * password is then forgotten), else the password.
 */
interface Standing {
  name: string;
  device?: string;
  password?: string;
  token?: string;
}

type Sent = Extract<ServerEvent, { type: "sent" }>;
type Reply<T extends ClientEvent["type"]> = Extract<ClientEvent, { type: T }>;

/** Where a {@link ReconnectingClient} stands. */
export type ConnectionState = "idle" | "connecting" | "online" | "offline" | "closed";

/** Connection changes, delivered through `on()` in order with the server's events. */
export type StatusEvent =
  /** Dialling and signing in; `attempt` is 0 for the first connection, then counts retries. */
  | { type: "status"; state: "connecting"; attempt: number }
  /** Signed in. `resending` sends without an outcome go out again now, with their first cid. */
  | { type: "status"; state: "online"; welcome: Welcome; reconnected: boolean; resending: number }
  /** The connection is gone; the next attempt starts in `retryInMs`. */
  | { type: "status"; state: "offline"; reason: string; retryInMs: number; attempt: number }
  /** For good: the user quit, `close()` was called, or the server refused the credentials. */
  | { type: "status"; state: "closed"; reason: string; error?: Error };

/**
 * A send the server refused for now (its disk is full: `storage_full`; its database is away: `storage_unavailable`): the message is kept and
 * goes again by itself, under the same `cid`, after `retryInMs`; `send()`'s promise stays
 * pending until it is stored or delivered. `attempt` counts the refusals of this message.
 */
export interface RetryingEvent {
  type: "retrying";
  cid: string;
  to: string;
  code: string;
  /** The server's words, e.g. "Not stored: the server's disk is full; try again later." */
  message: string;
  retryInMs: number;
  attempt: number;
}

/** Everything `on()` delivers: the server's events and the client's own status changes. */
export type ReconnectEvent = ClientEvent | StatusEvent | RetryingEvent;

/** Options for {@link ReconnectingClient}; the backoff options shape the retry delays. */
export interface ReconnectOptions extends BackoffOptions {
  /** Opens a new frame channel to the server (TCP, WebSocket, or a fake in tests). */
  dial: () => Promise<FrameChannel>;
  /**
   * Signs a freshly dialled connection in, instead of a login frame with the credentials: for
   * channels the transport already authenticated (the browser's WebSocket carries a session
   * cookie), wait for the welcome the server sends by itself: `(c) => c.nextOf("welcome")`.
   * `connect()` then needs no credentials.
   */
  signIn?: (client: ParleyClient) => Promise<Welcome>;
  /**
   * Asks the user for the password again when a reconnect's resume token was refused
   * (`bad_token`: revoked by a logout, expired). Resolves with undefined to give up. Without it
   * such a refusal closes the client, as a wrong password does.
   */
  askPassword?: () => Promise<string | undefined>;
  /** Milliseconds a sign-in, `who` or `lang` waits for its reply. @default 10000 */
  requestTimeoutMs?: number;
  /**
   * Delays before a send refused for now (`storage_full`, `storage_unavailable`) goes again.
   * @default 2 s, doubling up to 60 s, jittered
   */
  sendRetry?: BackoffOptions;
  /**
   * Milliseconds between pings while online; a ping without a pong within `requestTimeoutMs`
   * counts as a lost connection. 0 turns pings off.
   * @default 30000
   */
  pingIntervalMs?: number;
}

interface Outgoing {
  to: string;
  text: string;
  cid: string;
  promise: Promise<Sent>;
  resolve: (sent: Sent) => void;
  reject: (err: Error) => void;
  /** After a refusal for now: the delays of this message's next tries, and the pending one. */
  retry?: { backoff: Backoff; timer?: ReturnType<typeof setTimeout> };
}

/** Server refusals that retrying cannot fix. */
const FATAL_CODES = new Set(["bad_credentials", "no_such_user", "bad_name", "bad_token"]);
/** Handshake failures that retrying cannot fix: the server cannot be trusted as it is. */
const UNTRUSTED_CODES = new Set(["identity_changed", "identity_refused", "bad_signature"]);
/** Refusals of a send that the same send may get past later: it is kept and goes again. */
const RETRY_SEND_CODES = new Set(["storage_full", "storage_unavailable"]);
const DEFAULT_SEND_RETRY: BackoffOptions = { initialDelayMs: 2000, maxDelayMs: 60_000 };

/**
 * A Parley client that stays signed in: when the connection drops it says so, dials again with
 * exponential backoff (jittered, capped), signs in with the same credentials, and resends every
 * message whose `sent` reply never came, under the same `cid`, which the server deduplicates.
 * A message the server could not store for now (its disk is full) is kept too and goes again
 * with backoff until it is stored. Messages seen before, and the user's own from this client, are
 * not delivered twice (a catch-up after a crash may repeat them). Transport-agnostic and free of
 * Deno APIs: the terminal client dials TCP, the browser a WebSocket.
 *
 * ```ts
 * const chat = new ReconnectingClient({ dial: () => TcpChannel.connect({ port: 7000 }) });
 * chat.on((e) => console.log(e));
 * await chat.connect({ name: "alice", password: "correct horse" });
 * await chat.send("bob", "hi");
 * ```
 */
export class ReconnectingClient {
  /** Resolves with the reason once the client is closed for good. */
  readonly closed: Promise<string>;

  #dial: () => Promise<FrameChannel>;
  #customSignIn: ((client: ParleyClient) => Promise<Welcome>) | undefined;
  #timeoutMs: number;
  #pingMs: number;
  #backoff: Backoff;
  #sendRetry: BackoffOptions;
  #state: ConnectionState = "idle";
  #askPassword: (() => Promise<string | undefined>) | undefined;
  #standing: Standing | undefined;
  #welcome: Welcome | undefined;
  #client: ParleyClient | undefined;
  #listeners = new Set<(e: ReconnectEvent) => void>();
  #outbox = new Map<string, Outgoing>();
  #seen = new Set<string>();
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #pingTimer: ReturnType<typeof setTimeout> | undefined;
  #cidPrefix = randomPrefix();
  #cidCount = 0;
  #finished = false;
  #resolveClosed!: (reason: string) => void;

  constructor(options: ReconnectOptions) {
    this.#dial = options.dial;
    this.#customSignIn = options.signIn;
    this.#askPassword = options.askPassword;
    this.#timeoutMs = options.requestTimeoutMs ?? 10_000;
    this.#pingMs = options.pingIntervalMs ?? 30_000;
    this.#backoff = new Backoff(options);
    this.#sendRetry = { ...DEFAULT_SEND_RETRY, ...options.sendRetry };
    this.closed = new Promise((resolve) => this.#resolveClosed = resolve);
  }

  /** Where the connection stands now. */
  get state(): ConnectionState {
    return this.#state;
  }

  /** The welcome of the latest sign-in. */
  get welcome(): Welcome | undefined {
    return this.#welcome;
  }

  /** Sends still waiting for their `sent` reply (they survive reconnects). */
  get pendingSends(): number {
    return this.#outbox.size;
  }

  /** Calls `listener` for every server event and status change; returns an unsubscribe function. */
  on(listener: (e: ReconnectEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Dials and signs in (logs in, or registers when `register`). Failures are not retried here:
   * the promise rejects with the dial error or the server's {@link ServerError}, and the client
   * may `connect` again. After the first success, lost connections are retried by themselves.
   */
  async connect(credentials?: Credentials, options: { register?: boolean } = {}): Promise<Welcome> {
    if (this.#state !== "idle") {
      throw new Error(`Cannot connect as the client is ${this.#state}`);
    }
    this.#state = "connecting";
    this.#emit({ type: "status", state: "connecting", attempt: 0 });
    try {
      return await this.#signIn(credentials, options.register ?? false);
    } catch (err) {
      if (this.#state === "connecting") this.#state = "idle";
      throw err;
    }
  }

  /**
   * Sends a message and resolves with the server's `sent` outcome. While offline the message
   * waits; after a reconnect it goes out again with the same `cid` until an outcome arrives.
   * Refused for now (`storage_full`, `storage_unavailable`), it is kept and goes again with backoff (a `retrying`
   * event says when). Rejects with a {@link ServerError} when the server refuses it for good,
   * or when the client closes.
   */
  send(to: string, text: string, cid: string = this.#nextCid()): Promise<Sent> {
    if (this.#state === "closed") {
      return Promise.reject(new Error("Cannot send as the client is closed"));
    }
    const existing = this.#outbox.get(cid);
    if (existing) return existing.promise;
    const { promise, resolve, reject } = Promise.withResolvers<Sent>();
    const out: Outgoing = { to, text, cid, promise, resolve, reject };
    this.#outbox.set(cid, out);
    if (this.#state === "online") this.#write(out);
    return promise;
  }

  /** Tells `to` (a name or `all`) that the user is typing, or stopped. Dropped while offline. */
  typing(to: string, active = true): void {
    if (this.#state !== "online") return;
    try {
      this.#client?.sendFrame({ type: "typing", to, active });
    } catch { /* the reconnect will follow */ }
  }

  /** Lists users. Rejects while offline. */
  who(): Promise<Extract<ServerEvent, { type: "who" }>> {
    return this.#online((c) => c.who());
  }

  /** Finds accounts by the start of their name, a page at a time. Rejects while offline. */
  searchUsers(
    query: string,
    cursor?: string,
    limit?: number,
  ): Promise<Extract<ServerEvent, { type: "users" }>> {
    return this.#online((c) => c.searchUsers(query, cursor, limit));
  }

  /** Changes the preferred language on every device of the user. Rejects while offline. */
  setLang(lang: string): Promise<Extract<ServerEvent, { type: "lang" }>> {
    return this.#online((c) => c.setLang(lang));
  }

  // Rooms, history, read state: requests of the moment, so each rejects while offline.

  /** Joins a room, creating it when nobody has that name (see {@link ParleyClient.join}). */
  join(
    room: string,
    visibility?: "public" | "invite",
    create?: boolean,
  ): Promise<Reply<"joined">> {
    return this.#online((c) => c.join(room, visibility, create));
  }

  leave(room: string): Promise<Reply<"left">> {
    return this.#online((c) => c.leave(room));
  }

  rooms(after?: string, limit?: number): Promise<Reply<"rooms">> {
    return this.#online((c) => c.rooms(after, limit));
  }

  topic(room: string, text: string): Promise<Reply<"room">> {
    return this.#online((c) => c.topic(room, text));
  }

  invite(room: string, user: string): Promise<Reply<"invited">> {
    return this.#online((c) => c.invite(room, user));
  }

  kick(room: string, user: string): Promise<Reply<"room">> {
    return this.#online((c) => c.kick(room, user));
  }

  owner(room: string, user: string): Promise<Reply<"room">> {
    return this.#online((c) => c.owner(room, user));
  }

  members(room: string): Promise<Reply<"members">> {
    return this.#online((c) => c.members(room));
  }

  /** One page of a conversation, oldest first, before `before` (a `seq`). */
  history(withName: string, before?: number, limit?: number): Promise<Reply<"history">> {
    return this.#online((c) => c.history(withName, before, limit));
  }

  /** Moves the read marker of a conversation (on every device of the user). */
  read(withName: string, upTo: number): Promise<Reply<"read">> {
    return this.#online((c) => c.read(withName, upTo));
  }

  receipts(on: boolean): Promise<Reply<"receipts">> {
    return this.#online((c) => c.receipts(on));
  }

  conversations(): Promise<Reply<"conversations">> {
    return this.#online((c) => c.conversations());
  }

  /**
   * Waits until every send has its outcome, or `timeoutMs` passed; resolves with how many are
   * still waiting.
   */
  async flush(timeoutMs: number): Promise<number> {
    const waiting = [...this.#outbox.values()].map((o) => o.promise.catch(() => {}));
    if (waiting.length) await withTimeout(Promise.all(waiting), timeoutMs);
    return this.#outbox.size;
  }

  /** Says goodbye to the server, waits up to `timeoutMs` for it to hang up, and closes. */
  quit(timeoutMs = 2000): Promise<void> {
    return this.#leave("quit", "you quit", timeoutMs);
  }

  /**
   * Signs out: the server revokes the user's resume tokens (every device needs its password
   * again), hangs up, and the client closes.
   */
  logout(timeoutMs = 2000): Promise<void> {
    this.#standing = undefined;
    return this.#leave("logout", "you signed out", timeoutMs);
  }

  async #leave(type: "quit" | "logout", reason: string, timeoutMs: number): Promise<void> {
    if (this.#state === "closed") return;
    this.#state = "closed"; // From here on a lost connection is not retried.
    this.#stopTimers();
    const client = this.#client;
    if (client) {
      try {
        client.sendFrame({ type });
      } catch { /* already gone */ }
      await withTimeout(client.closed, timeoutMs);
    }
    this.#finish(reason);
  }

  /** Closes at once: no goodbye, no more retries; waiting sends are rejected. */
  close(): void {
    this.#finish("closed");
  }

  async #signIn(credentials: Standing | undefined, register: boolean): Promise<Welcome> {
    const channel = await this.#dial();
    if (this.#state === "closed") {
      channel.close();
      throw new Error("Cannot sign in as the client is closed");
    }
    const client = new ParleyClient(channel, { buffer: false, requestTimeoutMs: this.#timeoutMs });
    let bye: string | undefined;
    // Needed until the welcome only: this connection's listener must not keep the password.
    let signingIn = credentials;
    client.on((e) => {
      if (e.type === "bye") bye = e.reason;
      const standing = signingIn;
      if (e.type === "welcome") signingIn = undefined;
      this.#onEvent(client, standing, e);
    });
    void client.closed.then((reason) => this.#onClosed(client, bye ?? reason));
    try {
      if (this.#customSignIn) return await this.#customSignIn(client);
      if (!credentials) throw new Error("Cannot sign in as no credentials were given");
      const { name, password, token, device } = credentials;
      const lang = (credentials as Credentials).lang;
      if (token !== undefined && device !== undefined) {
        return await client.resume(name, token, device);
      }
      if (password === undefined) throw new Error("Cannot sign in as no password is known");
      return register
        ? await client.register(name, password, lang, device)
        : await client.login(name, password, lang, device);
    } catch (err) {
      client.close();
      throw err;
    }
  }

  #onEvent(client: ParleyClient, credentials: Standing | undefined, e: ClientEvent): void {
    if (e.type === "welcome" && client !== this.#client) {
      return this.#signedIn(client, credentials, e as Welcome);
    }
    // Events of a connection that is not (or no longer) the signed-in one are not ours to show.
    if (client !== this.#client) return;
    if (e.type === "message") {
      if (this.#seen.has(e.id)) return;
      this.#remember(e.id);
    } else if (e.type === "sent" && e.id) {
      // The user's own message is on screen already: a catch-up that repeats it (the server
      // went down before this device's cursor passed it) must not show it again as missed.
      this.#remember(e.id);
    }
    const out = "cid" in e && e.cid !== undefined ? this.#outbox.get(e.cid) : undefined;
    if (out && e.type === "sent") {
      this.#outbox.delete(out.cid);
      clearTimeout(out.retry?.timer);
      out.resolve(e);
    } else if (out && e.type === "error" && RETRY_SEND_CODES.has(e.code)) {
      return this.#retrySend(out, e);
    } else if (out && e.type === "error") {
      this.#outbox.delete(out.cid);
      out.reject(new ServerError(e));
    }
    this.#emit(e);
  }

  #remember(id: string): void {
    this.#seen.add(id);
    if (this.#seen.size > 10_000) this.#seen.delete(this.#seen.values().next().value!);
  }

  #signedIn(client: ParleyClient, credentials: Standing | undefined, welcome: Welcome): void {
    if (this.#state === "closed") return client.close();
    const reconnected = this.#welcome !== undefined;
    this.#client = client;
    this.#welcome = welcome;
    // The server keeps the language; resending the first one would undo a later `/lang`.
    // With a resume token the password is no longer kept: reconnects present the token.
    const token = welcome.resume?.token;
    this.#standing = credentials &&
      (token !== undefined && credentials.device !== undefined
        ? { name: welcome.user, device: credentials.device, token }
        : { name: welcome.user, device: credentials.device, password: credentials.password });
    this.#state = "online";
    this.#backoff.reset();
    this.#emit({
      type: "status",
      state: "online",
      welcome,
      reconnected,
      resending: this.#outbox.size,
    });
    this.#emit(welcome);
    for (const out of this.#outbox.values()) {
      // Goes now; a refusal for now starts its backoff where it left off.
      if (out.retry) clearTimeout(out.retry.timer);
      this.#write(out);
    }
    this.#schedulePing(client);
  }

  #onClosed(client: ParleyClient, reason: string): void {
    if (client !== this.#client) return;
    this.#client = undefined;
    clearTimeout(this.#pingTimer);
    if (this.#state !== "closed") this.#retryLater(reason);
  }

  #retryLater(reason: string, atLeastMs = 0): void {
    const retryInMs = Math.max(this.#backoff.next(), atLeastMs);
    this.#state = "offline";
    this.#emit({
      type: "status",
      state: "offline",
      reason,
      retryInMs,
      attempt: this.#backoff.attempt,
    });
    this.#retryTimer = setTimeout(() => this.#retry(), retryInMs);
  }

  async #retry(): Promise<void> {
    this.#retryTimer = undefined;
    if (this.#state === "closed") return;
    this.#state = "connecting";
    this.#emit({ type: "status", state: "connecting", attempt: this.#backoff.attempt });
    try {
      await this.#signIn(this.#standing, false);
    } catch (err) {
      // Closed meanwhile, or already handled by the connection's own close.
      if ((this.#state as ConnectionState) !== "connecting") return;
      if (err instanceof ServerError && err.code === "bad_token" && this.#askPassword) {
        return this.#withPassword(err);
      }
      if (err instanceof ServerError && FATAL_CODES.has(err.code)) {
        return this.#finish(`sign-in refused: ${err.message.slice(err.code.length + 2)}`, err);
      }
      if (isCryptoError(err) && UNTRUSTED_CODES.has(err.code)) {
        return this.#finish(err.message, err);
      }
      const wait = err instanceof ServerError && err.retryAfter ? err.retryAfter * 1000 : 0;
      this.#retryLater(describe(err), wait);
    }
  }

  /** The token was refused: asks for the password, and signs in with it at once. */
  async #withPassword(refusal: ServerError): Promise<void> {
    const password = await this.#askPassword!().catch(() => undefined);
    if ((this.#state as ConnectionState) !== "connecting") return;
    const standing = this.#standing;
    if (password === undefined || !standing) {
      const why = refusal.message.slice(refusal.code.length + 2);
      return this.#finish(`sign-in refused: ${why}`, refusal);
    }
    this.#standing = { name: standing.name, device: standing.device, password };
    this.#retryLater("the sign-in token was refused; signing in with the password");
  }

  #schedulePing(client: ParleyClient): void {
    if (this.#pingMs <= 0) return;
    clearTimeout(this.#pingTimer);
    this.#pingTimer = setTimeout(() => {
      if (client !== this.#client) return;
      client.ping().then(
        () => this.#schedulePing(client),
        () => client.close(), // No pong: the connection is dead even if the socket says not.
      );
    }, this.#pingMs);
  }

  /** Keeps a send the server refused for now, and sends it again after a backoff delay. */
  #retrySend(out: Outgoing, e: Extract<ServerEvent, { type: "error" }>): void {
    out.retry ??= { backoff: new Backoff(this.#sendRetry) };
    const retry = out.retry;
    const retryInMs = retry.backoff.next();
    clearTimeout(retry.timer);
    retry.timer = setTimeout(() => {
      retry.timer = undefined;
      // Offline meanwhile: the sign-in sends it with the rest of the outbox.
      if (this.#outbox.get(out.cid) === out && this.#state === "online") this.#write(out);
    }, retryInMs);
    this.#emit({
      type: "retrying",
      cid: out.cid,
      to: out.to,
      code: e.code,
      message: e.message,
      retryInMs,
      attempt: retry.backoff.attempt,
    });
  }

  #write(out: Outgoing): void {
    try {
      this.#client?.sendFrame({ type: "send", to: out.to, text: out.text, cid: out.cid });
    } catch { /* the channel just closed; the reconnect resends */ }
  }

  #online<T>(request: (client: ParleyClient) => Promise<T>): Promise<T> {
    if (this.#state !== "online" || !this.#client) {
      return Promise.reject(new Error(`Not connected (${this.#state})`));
    }
    return request(this.#client);
  }

  #nextCid(): string {
    return `${this.#cidPrefix}-${++this.#cidCount}`;
  }

  #stopTimers(): void {
    clearTimeout(this.#retryTimer);
    clearTimeout(this.#pingTimer);
    this.#retryTimer = this.#pingTimer = undefined;
  }

  #finish(reason: string, error?: Error): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#state = "closed";
    this.#stopTimers();
    this.#client?.close();
    this.#client = undefined;
    for (const out of this.#outbox.values()) {
      clearTimeout(out.retry?.timer);
      out.reject(new Error(`Not sent: ${reason}`));
    }
    this.#outbox.clear();
    this.#emit({ type: "status", state: "closed", reason, error });
    this.#resolveClosed(reason);
  }

  #emit(e: ReconnectEvent): void {
    for (const listener of this.#listeners) {
      try {
        listener(e);
      } catch (err) {
        // A failing listener must not break delivery to the others or the reconnect logic.
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  }
}

/** A random prefix, so client ids from different runs never collide in the server's memory. */
function randomPrefix(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  return Array.from(bytes, (b) => b.toString(36).padStart(2, "0")).join("");
}

function describe(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.replace(/\s*\(os error \d+\)$/, "");
}

async function withTimeout(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([promise, new Promise((resolve) => timer = setTimeout(resolve, ms))]);
  } finally {
    clearTimeout(timer);
  }
}
