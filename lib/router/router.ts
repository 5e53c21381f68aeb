import type { Logger } from "../log.ts";
import { encodeTextEvent } from "../protocol/text.ts";
import type { FileService } from "../files/service.ts";
import { BROADCAST, type ServerEvent, type UserStatus } from "../protocol/types.ts";
import type { ClientIdRecord, Store, UserRecord } from "../store/store.ts";
import { welcomeClient } from "./handlers/account.ts";
import { LiveAcks } from "./live_acks.ts";
import { tellRoomMembers } from "./handlers/presence.ts";
import { PresenceBatch } from "./presence_batch.ts";
import type { TrackedMessage } from "./reader_watch.ts";
import type { Connection } from "./connection.ts";
import type { Limits, RouterOptions } from "./options.ts";
import { ClientSession } from "./client_session.ts";
import { isLazyEvent } from "./lazy_events.ts";
import type { LoginThrottle } from "../accounts/throttle.ts";
import { TypingTracker } from "./typing.ts";
import { RecentClientIds } from "./recent_client_ids.ts";
import type { TranslationService } from "../translate/service.ts";
import type { MetricsRegistry } from "../metrics/mod.ts";
import type { Admission } from "./admission.ts";
import type { LimitCounters } from "./limit_counters.ts";
import { ListenerStates } from "./listeners.ts";
import { type ReaderWatch, WatchTick } from "./reader_watch.ts";
import type { StoreWriteHealth } from "../store/write_health.ts";
import { Calls } from "./calls.ts";
import { Cluster } from "./cluster.ts";

/** The bus message that tells the other nodes a broadcast's client id and outcome. */
const BROADCAST_CID = "broadcast-cid";
interface BroadcastCid {
  kind: typeof BROADCAST_CID;
  sender: string;
  cid: string;
  record: ClientIdRecord;
}

/** Online users listed by `who`; the `online` count covers the rest. */
export const MAX_LISTED_ONLINE = 1000;
/**
 * Online users (first by name) and offline ones the `welcome` lists: a client pages through
 * the rest with `who` and `search_users`. Small because it is the first big message on every
 * connection, and a WebSocket holds a buffer the size of its largest message for its life
 * (docs/performance.md §11); the user's own conversation partners who are online come on top.
 */
export const WELCOME_LISTED_ONLINE = 20;
export const WELCOME_LISTED_OFFLINE = 20;

/** Counters for logs and tests; `/metrics` reads them as the `parley_*_total` counters. */
export interface RouterStats {
  connections: number;
  signIns: number;
  messages: number;
  deliveries: number;
  stored: number;
  rateLimited: number;
  /** Quiet connections told to rest (see `Limits.restAfterMs`). */
  rests: number;
}

/**
 * The core: every transport attaches its connections here, and every decoded command goes
 * through `dispatch` (lib/router/dispatch.ts). It knows who is online on which sessions, and decides who receives what.
 * It imports no transport.
 */
export class Router {
  readonly store: Store;
  /** Whether the store's writes go through: a full disk shows here, in /healthz and /metrics. */
  readonly storeWrites: StoreWriteHealth;
  readonly logger: Logger;
  readonly limits: Limits;
  readonly version: string;
  readonly kdfIterations: number;
  readonly translation: TranslationService;
  /** Sharing files (uploads, downloads, links); absent when the server takes no files. */
  readonly files?: FileService;
  /** Everything `/metrics` shows. */
  readonly metrics: MetricsRegistry;
  /** Connection limits, shared by every transport. */
  readonly admission: Admission;
  /** Which listeners still accept: transports report one that stops for good. */
  readonly listeners = new ListenerStates();
  readonly #limitCounters: LimitCounters;
  /** Whether new text-mode sessions show originals after translations. */
  readonly textOriginals: boolean;
  /** Failed sign-ins, by name and by address (see `createSignInThrottle`). */
  readonly throttle: LoginThrottle;
  readonly typing: TypingTracker;
  /** The other nodes of the service, through the bus (inert on a single node). */
  readonly cluster: Cluster;
  readonly recentClientIds = new RecentClientIds(50_000);
  /** Acknowledges what sessions without a device were given live (see `LiveAcks`). */
  readonly liveAcks = new LiveAcks(this);
  /** Calls in progress, and which sessions take them. */
  readonly calls: Calls;
  readonly stats: RouterStats = {
    connections: 0,
    signIns: 0,
    messages: 0,
    deliveries: 0,
    stored: 0,
    rateLimited: 0,
    rests: 0,
  };

  /** Signed-in sessions by user key. */
  readonly online = new Map<string, Set<ClientSession>>();
  readonly #sessions = new Set<ClientSession>();
  /** Online and offline changes, told to readers one frame per round. */
  readonly presence: PresenceBatch = new PresenceBatch(this);
  /** Keys of the users online, sorted: `who` and `welcome` list the first of them. */
  readonly #byName: string[] = [];
  /** The last translated delivery of each sender, which the next one waits for. */
  readonly #deliveries = new Map<string, Promise<void>>();
  #shuttingDown = false;
  /** Ticks every open session's reader watch (heartbeats, rests) while there are sessions. */
  readonly #watchTick: WatchTick;

  /**
   * Takes its parts made: `composeRouter` (lib/router/compose.ts) builds them the way the
   * server runs them, for main.ts and the tests alike.
   */
  constructor(options: RouterOptions) {
    this.logger = options.logger;
    this.limits = options.limits;
    this.version = options.version;
    this.kdfIterations = options.kdfIterations;
    this.metrics = options.metrics;
    this.#limitCounters = options.limitCounters;
    this.admission = options.admission;
    this.throttle = options.throttle;
    this.storeWrites = options.storeWrites;
    this.store = options.store;
    this.translation = options.translation;
    this.files = options.files;
    this.#registerMetrics();
    this.textOriginals = options.textOriginals;
    this.#watchTick = new WatchTick(this.limits, () => this.#openWatches(), () => {
      this.stats.rests++;
    });
    this.calls = new Calls(this, options.iceServers ?? []);
    this.typing = new TypingTracker(this.limits.typingTtlMs, (from, to) => {
      this.#typingStopped(from, to);
    });
    this.cluster = new Cluster(this, options.bus, options.heartbeatMs);
    options.bus?.subscribe((m) => {
      if (m.kind === BROADCAST_CID) {
        const { sender, cid, record } = m as unknown as BroadcastCid;
        this.recentClientIds.set(sender, cid, record);
      }
    });
  }

  /** The hello event every new connection gets. */
  hello(): ServerEvent {
    return {
      type: "hello",
      server: "Parley",
      version: this.version,
      loginTimeout: Math.round(this.limits.loginTimeoutMs / 1000),
    };
  }

  /** The hello as text mode shows it, for a transport that greets before it knows the dialect. */
  textGreeting(): string {
    return encodeTextEvent(this.hello(), undefined)!;
  }

  /**
   * Registers a new connection and greets it (unless the transport already did). The transport
   * feeds it lines from then on. With `user`, an account the transport already authenticated
   * (the browser's session cookie), it starts signed in, through the same presence, welcome and
   * stored-message replay as a login frame; `webLogin` names that login for `closeWebLogin`, and
   * `device` is the browser tab's device id (its cursor and catch-up), when it gave one.
   */
  attach(
    conn: Connection,
    options: {
      greeted?: boolean;
      connectedAt?: number;
      user?: UserRecord;
      webLogin?: string;
      /** The device a transport-signed connection named (the browser's `/ws?device=`). */
      device?: string;
    } = {},
  ): ClientSession {
    const session = new ClientSession(this, conn, options.connectedAt);
    session.webLogin = options.webLogin;
    if (this.#shuttingDown) {
      session.close("server shutting down");
      return session;
    }
    this.#sessions.add(session);
    this.#watchTick.start();
    this.stats.connections++;
    if (!options.greeted) session.emit(this.hello());
    const user = options.user;
    if (user) {
      // Signed in by the transport (a web session cookie): the same path as a login frame.
      session.enqueue(() =>
        welcomeClient(this, session, { user, device: options.device }).catch((e) => session.fail(e))
      );
    }
    this.logger.debug("connection", {
      session: session.id,
      transport: conn.transport,
      from: conn.remoteAddr,
      dialect: conn.dialect,
    });
    return session;
  }

  /** Adds a signed-in session; announces the user when this is their first session. */
  addOnline(session: ClientSession): void {
    const key = session.user!.key;
    let set = this.online.get(key);
    const first = !set;
    if (!set) {
      this.online.set(key, set = new Set());
      this.#byName.splice(sortedIndex(this.#byName, key), 0, key);
    }
    set.add(session);
    // Its welcome listing is made from now on: it is told only of changes after this.
    session.presenceSeen = this.presence.seq;
    if (!first) return;
    const { name, lang } = session.user!;
    // Online on another node already: its users heard of it then.
    if (!this.cluster.remote.has(key)) this.broadcastPresence(name, "online", key);
    this.cluster.publish({ kind: "online", user: this.cluster.present({ key, name, lang }) });
  }

  /**
   * Closes every session a browser login (by its token's hash) signed in, on every node: it
   * signed out.
   */
  closeWebLogin(webLogin: string, reason: string): void {
    this.closeLocalWebLogin(webLogin, reason);
    this.cluster.publish({ kind: "close-web-login", webLogin, reason });
  }

  /** `closeWebLogin` on this node only (another node asked). */
  closeLocalWebLogin(webLogin: string, reason: string): void {
    for (const s of this.#sessions) if (s.webLogin === webLogin) s.close(reason);
  }

  /** Called by a session when its transport is gone. */
  detach(session: ClientSession): void {
    if (!this.#sessions.delete(session)) return;
    if (this.#sessions.size === 0) this.#watchTick.stop();
    const user = session.user;
    if (!user) return;
    // What it took is delivered; what a reader dropped as too slow never took stays in the log
    // past the delivered point, and arrives at the next sign-in.
    if (!session.device) void this.liveAcks.detached(session);
    this.calls.gone(session);
    const set = this.online.get(user.key);
    if (!set?.delete(session) || set.size > 0) return;
    this.online.delete(user.key);
    const at = sortedIndex(this.#byName, user.key);
    if (this.#byName[at] === user.key) this.#byName.splice(at, 1);
    this.typing.clearFrom(user.key);
    // Still online on another node: nobody is told anything.
    if (!this.cluster.remote.has(user.key)) this.broadcastPresence(user.name, "offline", user.key);
    this.cluster.publish({ kind: "offline", key: user.key });
  }

  /** Whether a message of this sender is still waiting for its translation. */
  delivering(senderKey: string): boolean {
    return this.#deliveries.has(senderKey);
  }

  /**
   * Tells a presence change to every signed-in user but the one it is about, in the current
   * round of presence (`PresenceBatch`): one frame per reader however many change at once.
   */
  broadcastPresence(name: string, state: "online" | "offline", aboutKey: string): void {
    this.presence.add(aboutKey, name, state);
  }

  /**
   * Every signed-in session of every user but `exceptKey`, appended to `into`. Runs once per
   * sign-in, sign-out and broadcast over everyone online: a plain loop, no spread per user.
   */
  othersOnline(exceptKey: string, into: ClientSession[] = []): ClientSession[] {
    for (const [key, set] of this.online) {
      if (key === exceptKey) continue;
      for (const s of set) into.push(s);
    }
    return into;
  }

  /**
   * Encodes an event once per (dialect, point of view, text-mode originals setting) and writes the same frame to every
   * target session. Returns how many sessions received it. `track`, for a stored message, is
   * kept by its readers' sessions until their sockets take it, and then acknowledged for the
   * sessions without a device (see `LiveAcks`).
   */
  fanout(
    event: ServerEvent,
    targets: Iterable<ClientSession>,
    senderKey?: string,
    track?: TrackedMessage,
  ): number {
    const message = event.type === "message" ? { id: event.id, seq: event.seq } : undefined;
    const frames = new Map<string, string | undefined>();
    const lazy = isLazyEvent(event);
    let count = 0;
    for (const s of targets) {
      if (!s.textSees(event)) continue;
      // A text line with a file carries the reader's own one-time link: encoded per session.
      const own = message && event.type === "message" && event.file && s.conn.dialect === "text";
      const view = s.conn.dialect === "json"
        ? "json"
        : `text:${s.user?.key === senderKey ? "self" : "other"}:${s.showOriginals}`;
      let frame = own ? undefined : frames.get(view);
      if (own) frame = s.encode(event);
      else if (!frames.has(view)) frames.set(view, frame = s.encode(event));
      if (frame === undefined) continue;
      const reader = track !== undefined && s.user !== undefined && s.user.key !== senderKey;
      s.write(frame, reader ? track : undefined, lazy, message);
      if (reader && !s.device) this.liveAcks.add(s, track.id);
      count++;
    }
    this.stats.deliveries += count;
    return count;
  }

  /** Signed-in sessions of one user on this node. */
  sessionsOf(key: string): ReadonlySet<ClientSession> {
    return this.online.get(key) ?? new Set();
  }

  /**
   * Tells every session of the users of `keys` an event, on this node (but `except`) and on the
   * others. Returns how many sessions of this node received it.
   */
  tellUsers(keys: Iterable<string>, event: ServerEvent, except?: ClientSession): number {
    const list = [...keys];
    const targets: ClientSession[] = [];
    for (const key of list) for (const s of this.sessionsOf(key)) if (s !== except) targets.push(s);
    this.cluster.tell(list, event);
    return this.fanout(event, targets);
  }

  /**
   * Online users (at most `maxOnline`, and those of `also` who are online), then up to `limit`
   * offline ones, for `who` and `welcome`. The cap keeps a sign-in on a big server from costing a
   * frame the size of the whole server (and quadratic work as everyone signs in); `online` says
   * how many there are.
   */
  async userList(
    limit = 200,
    maxOnline = MAX_LISTED_ONLINE,
    also: readonly string[] = [],
  ): Promise<UserStatus[]> {
    // Kept sorted as users come and go: a sign-in on a big server sorts nothing.
    let keys = this.cluster.remote.size === 0
      ? this.#byName.slice(0, maxOnline)
      : mergeSorted(this.#byName, this.#remoteOnly(), maxOnline);
    const more = also.filter((k) => this.cluster.isOnline(k));
    if (more.length) keys = [...new Set([...keys, ...more])].sort();
    const users: UserStatus[] = keys.map((key) => {
      const u = this.cluster.userOf(key)!;
      return { name: u.name, state: "online", lang: u.lang };
    });
    const listedOnline = users.length;
    // Always the same length, whoever is online: one read serves every sign-in (the store's
    // user list is kept in memory, lib/store/user_list_cache.ts).
    const offline = await this.store.listUsers(limit + MAX_LISTED_ONLINE);
    for (const u of offline) {
      if (users.length >= limit + listedOnline) break;
      if (!this.cluster.isOnline(u.key)) {
        users.push({ name: u.name, state: "offline", lang: u.lang });
      }
    }
    return users;
  }

  /** Keys of the users online on other nodes only, sorted. */
  #remoteOnly(): string[] {
    const keys: string[] = [];
    for (const key of this.cluster.remote.keys()) if (!this.online.has(key)) keys.push(key);
    return keys.sort();
  }

  /** Remembers a send's outcome under its client id, for idempotent resends. */
  rememberClientId(senderKey: string, cid: string | undefined, record: ClientIdRecord): void {
    if (cid === undefined) return;
    this.recentClientIds.set(senderKey, cid, record);
    // A broadcast is stored nowhere: the other nodes learn its client id now, so a resend after
    // a reconnect that lands on one of them is a duplicate there too, not a second broadcast.
    if (record.to === BROADCAST) {
      this.cluster.bus?.publish(
        { kind: BROADCAST_CID, sender: senderKey, cid, record } satisfies BroadcastCid,
      );
    }
  }

  #typingStopped(from: string, to: string): void {
    const sender = this.online.get(from);
    if (!sender) return;
    const name = sender.values().next().value!.user!.name;
    if (to.startsWith("#")) {
      void this.#roomTypingStopped(name, from, to.slice(1)).catch((err) => {
        this.logger.error("room typing stop failed", { error: err });
      });
      return;
    }
    // `to` marks this as the end of typing, like the start it answers, not a sign-in.
    if (to === "all") {
      const event: ServerEvent = { type: "presence", user: name, state: "online", to };
      this.fanout(event, this.othersOnline(from));
      this.cluster.tellAll(event, from);
      return;
    }
    const recipient = this.cluster.userOf(to);
    if (!recipient) return;
    this.tellUsers([to], { type: "presence", user: name, state: "online", to: recipient.name });
  }

  async #roomTypingStopped(name: string, from: string, roomKey: string): Promise<void> {
    const room = await this.store.getRoom(roomKey);
    if (!room) return;
    const event: ServerEvent = {
      type: "presence",
      user: name,
      state: "online",
      to: `#${room.name}`,
    };
    await tellRoomMembers(this, roomKey, from, event);
  }

  /**
   * Runs `work` after the previous work queued under `key` (a sender) has finished, so one
   * sender's translated messages reach each reader in the order they were sent.
   */
  afterPrevious(key: string, work: () => Promise<void>): Promise<void> {
    const previous = this.#deliveries.get(key) ?? Promise.resolve();
    const next = previous.then(work).catch((err) => {
      this.logger.error("translated delivery failed", { error: err });
    });
    this.#deliveries.set(key, next);
    void next.then(() => {
      if (this.#deliveries.get(key) === next) this.#deliveries.delete(key);
    });
    return next;
  }

  /** Tells every connection the server is going away, closes them and stops timers. */
  async shutdown(reason = "server shutting down"): Promise<void> {
    this.#shuttingDown = true;
    // What the other nodes say is for sessions about to close.
    await this.cluster.deafen();
    this.#watchTick.stop();
    this.presence.stop();
    this.typing.clearAll();
    this.calls.close();
    this.liveAcks.stop();
    const sessions = [...this.#sessions];
    await Promise.allSettled(sessions.map((s) => s.idle()));
    // Messages waiting for a translation go out (translated or not) before the goodbye.
    await Promise.allSettled([...this.#deliveries.values()]);
    this.translation.close();
    for (const s of sessions) s.close(reason);
    await Promise.allSettled(sessions.map((s) => s.conn.flushed()));
    // What the sessions took is acknowledged before the store closes.
    await this.liveAcks.flush();
    await this.liveAcks.settled();
    await this.cluster.close();
    this.admission.close();
  }

  /** The reader watches of the sessions still open. */
  *#openWatches(): Iterable<ReaderWatch> {
    for (const s of this.#sessions) if (!s.closed) yield s.watch;
  }

  /** Counts a refusal by a limit, for `/metrics`. */
  limitHit(limit: string): void {
    this.#limitCounters.hit(limit);
  }

  /** Counts a connection closed as too slow a reader. */
  slowReader(transport: string): void {
    this.#limitCounters.slowReader(transport);
  }

  #registerMetrics(): void {
    const m = this.metrics;
    m.gauge("parley_connections", "Open connections, by transport and dialect.", () => {
      const counts = new Map<string, { labels: Record<string, string>; value: number }>();
      for (const s of this.#sessions) {
        const key = `${s.conn.transport}/${s.conn.dialect}`;
        const entry = counts.get(key) ??
          { labels: { transport: s.conn.transport, dialect: s.conn.dialect }, value: 0 };
        entry.value++;
        counts.set(key, entry);
      }
      return [...counts.values()];
    });
    m.gauge("parley_users_online", "Users with at least one signed-in session.", () => {
      return this.online.size;
    });
    const totals: [keyof RouterStats, string, string][] = [
      ["connections", "parley_connections_total", "Connections accepted."],
      ["signIns", "parley_sign_ins_total", "Successful sign-ins."],
      ["messages", "parley_messages_total", "Messages accepted from senders."],
      ["deliveries", "parley_deliveries_total", "Events written to connections by fan-out."],
      ["stored", "parley_stored_messages_total", "Messages stored for offline recipients."],
      ["rateLimited", "parley_rate_limited_total", "Commands refused by the rate limit."],
      ["rests", "parley_rests_total", "Quiet connections that dropped their session keys."],
    ];
    for (const [stat, name, help] of totals) m.counterFrom(name, help, () => this.stats[stat]);
  }

  /** Number of attached connections. */
  get connectionCount(): number {
    return this.#sessions.size;
  }
}

/** The first `limit` keys of two sorted lists without duplicates, in order. */
function mergeSorted(a: readonly string[], b: readonly string[], limit: number): string[] {
  const out: string[] = [];
  let i = 0;
  let j = 0;
  while (out.length < limit && (i < a.length || j < b.length)) {
    if (j >= b.length || (i < a.length && a[i] < b[j])) out.push(a[i++]);
    else out.push(b[j++]);
  }
  return out;
}

/** Where `key` is, or would go, in the sorted `keys` (binary search). */
function sortedIndex(keys: readonly string[], key: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (keys[mid] < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
