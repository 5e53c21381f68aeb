import type { Bus, BusMessage } from "../bus/mod.ts";
import type { NodeMessage, PresentUser } from "../bus/messages.ts";
import type { MessageEvent, ServerEvent } from "../protocol/types.ts";
import type { ClientSession } from "./client_session.ts";
import { type PresenceChange, RemotePresence } from "./remote_presence.ts";
import type { Router } from "./router.ts";
import { deliverMessage } from "./translated_delivery.ts";

/** How often a node announces its users. @default 2000 */
export const DEFAULT_HEARTBEAT_MS = 2000;
/** Heartbeats a node may miss before the others count it gone (and its users offline). */
const MISSED_BEATS = 3;
/** Users per heartbeat message, so a big node's list stays well under a bus message's size. */
const USERS_PER_BEAT = 500;
/** How long a node waits for another's translations before translating itself. */
const GATE_SLACK_MS = 1000;

/** What `/healthz` shows of the bus: `enabled: false` on a single node. */
export type BusHealth = { enabled: false } | {
  enabled: true;
  connected: boolean;
  /** When `connected` last changed. */
  since: string;
  error?: string;
  node: string;
  /** Other nodes heard of recently. */
  nodes: number;
};

/**
 * This node's part in a service of several (docs/bus.md): it tells the other nodes through the
 * bus what they need to know ("look now" hints about stored messages, presence, typing, receipts,
 * room changes, sign-outs), and acts on what they tell it. Without a bus (one node) every
 * method is a no-op and `remote` stays empty.
 */
export class Cluster {
  readonly bus: Bus | undefined;
  /** Who is online on the other nodes. */
  readonly remote = new RemotePresence();
  readonly #router: Router;
  readonly #heartbeatMs: number;
  #round = 0;
  readonly #timers: ReturnType<typeof setInterval>[] = [];
  readonly #offs: (() => void)[] = [];
  /** Translations another node announced, waited for before asking the cache. */
  readonly #gates = new Map<string, { open: () => void; timer: ReturnType<typeof setTimeout> }>();
  /** Each sender's hints, read from the store one after another so their order holds. */
  readonly #reads = new Map<string, Promise<void>>();
  #closed = false;
  #deaf = false;

  constructor(router: Router, bus: Bus | undefined, heartbeatMs = DEFAULT_HEARTBEAT_MS) {
    this.#router = router;
    this.bus = bus;
    this.#heartbeatMs = heartbeatMs;
    if (!bus) return;
    router.metrics.gauge("parley_bus_connected", "1 while the bus reaches the other nodes.", () => {
      return bus.status().connected ? 1 : 0;
    });
    router.metrics.gauge("parley_bus_nodes", "Other nodes heard of recently on the bus.", () => {
      return this.remote.nodeCount;
    });
    this.#offs.push(bus.subscribe((m, from) => this.#receive(m, from)));
    this.#offs.push(bus.onStatus((status) => {
      router.logger.info(status.connected ? "bus connected" : "bus disconnected", {
        node: bus.node,
        error: status.error,
      });
      if (!status.connected) return;
      // Nobody could be heard meanwhile: that says nothing of who is alive.
      this.remote.extend(Date.now() + this.#ttl);
      this.#beat();
    }));
    this.#timers.push(setInterval(() => this.#beat(), heartbeatMs));
    this.#timers.push(setInterval(() => this.#sweep(), Math.min(1000, heartbeatMs)));
    this.#beat();
  }

  get #ttl(): number {
    return this.#heartbeatMs * MISSED_BEATS;
  }

  /** Whether `key` has a session on this node or another. */
  isOnline(key: string): boolean {
    return this.#router.online.has(key) || this.remote.has(key);
  }

  /** The user as signed in somewhere (name and language), when online anywhere. */
  userOf(key: string): PresentUser | undefined {
    const local = this.#router.online.get(key)?.values().next().value?.user;
    return local ?? this.remote.user(key);
  }

  /** Users online on any node. */
  onlineCount(): number {
    let count = this.#router.online.size;
    if (this.remote.size === 0) return count;
    for (const key of this.remote.keys()) if (!this.#router.online.has(key)) count++;
    return count;
  }

  /** Languages of the users of `keys` (default: all) online on other nodes. */
  remoteLangs(keys?: Iterable<string>): Set<string> {
    const langs = new Set<string>();
    if (this.remote.size === 0) return langs;
    for (const key of keys ?? this.remote.keys()) {
      const lang = this.remote.user(key)?.lang;
      if (lang !== undefined) langs.add(lang);
    }
    return langs;
  }

  /** Sends a message to the other nodes (dropped when there are none, or the bus is down). */
  publish(message: NodeMessage): void {
    if (!this.#closed) this.bus?.publish(message as unknown as BusMessage);
  }

  /** Tells the sessions of `users` on the other nodes an event. */
  tell(users: Iterable<string>, event: ServerEvent): void {
    if (!this.bus) return;
    const list = [...users];
    if (list.length) this.publish({ kind: "tell", users: list, event });
  }

  /** Tells every session on the other nodes but `except`'s an event. */
  tellAll(event: ServerEvent, except?: string): void {
    if (this.bus) this.publish({ kind: "tell", all: true, except, event });
  }

  /**
   * After a stored message went out here: the other nodes deliver it to their sessions of
   * `users`; when this node translates, they wait for its translations in the cache.
   */
  stored(
    hint: { conv: string; seq: number; id: string; sender: string; lang: string; users: string[] },
    langs: string[],
    translated: Promise<unknown> | undefined,
  ): void {
    if (!this.bus) return;
    this.publish({ kind: "stored", ...hint, langs });
    this.#announceTranslated(hint.id, translated);
  }

  /** After an `@all` broadcast went out here: the other nodes show it to everyone. */
  broadcast(
    message: MessageEvent,
    sender: { key: string; lang: string },
    langs: string[],
    translated: Promise<unknown> | undefined,
  ): void {
    if (!this.bus) return;
    this.publish({ kind: "all", message, sender, langs });
    this.#announceTranslated(message.id, translated);
  }

  #announceTranslated(id: string, translated: Promise<unknown> | undefined): void {
    if (!translated) return;
    void translated
      .then(() => this.#router.translation.cacheWritten())
      .then(() => this.publish({ kind: "translated", id }));
  }

  /** State for `/healthz`. */
  health(): BusHealth {
    if (!this.bus) return { enabled: false };
    const { since, ...status } = this.bus.status();
    return {
      enabled: true,
      ...status,
      since: new Date(since).toISOString(),
      node: this.bus.node,
      nodes: this.remote.nodeCount,
    };
  }

  /**
   * Stops hearing the other nodes and beating (the node shuts down: its sessions close next,
   * and say so); `close` follows.
   */
  async deafen(): Promise<void> {
    if (this.#deaf) return;
    this.#deaf = true;
    for (const t of this.#timers) clearInterval(t);
    for (const off of this.#offs) off();
    for (const { open } of this.#gates.values()) open();
    await Promise.allSettled([...this.#reads.values()]);
  }

  /** Says goodbye (this node's users are offline here now) and leaves the bus. */
  async close(): Promise<void> {
    if (this.#closed || !this.bus) return;
    await this.deafen();
    this.publish({ kind: "bye" });
    this.#closed = true;
    this.remote.clear();
    await this.bus.close();
  }

  /**
   * Stops heartbeats and hearing without a goodbye, as a node that dies: for tests of what the
   * other nodes do then.
   */
  async dieForTests(): Promise<void> {
    await this.deafen();
    this.#closed = true;
    await this.bus?.close();
  }

  /** Announces this node's users: every heartbeat, and at once after the bus reconnects. */
  #beat(): void {
    if (this.#deaf) return;
    const users: PresentUser[] = [];
    for (const sessions of this.#router.online.values()) {
      const { key, name, lang } = sessions.values().next().value!.user!;
      users.push({ key, name, lang });
    }
    const round = ++this.#round;
    const parts = Math.max(1, Math.ceil(users.length / USERS_PER_BEAT));
    for (let part = 0; part < parts; part++) {
      const slice = users.slice(part * USERS_PER_BEAT, (part + 1) * USERS_PER_BEAT);
      this.publish({ kind: "here", round, part, parts, ttlMs: this.#ttl, users: slice });
    }
  }

  /** Nodes not heard of for their TTL are gone, with their users (unless this node is deaf). */
  #sweep(): void {
    if (this.#deaf || !this.bus?.status().connected) return;
    this.#presence(this.remote.expire(Date.now()));
  }

  #receive(raw: BusMessage, from: string): void {
    if (this.#deaf) return;
    const m = raw as unknown as NodeMessage;
    const expires = Date.now() + this.#ttl;
    switch (m.kind) {
      case "online":
        return this.#presence(this.remote.add(from, m.user, expires));
      case "offline":
        return this.#presence(this.remote.remove(from, m.key));
      case "here":
        return this.#presence(this.remote.heartbeat(from, m, Date.now() + m.ttlMs));
      case "bye":
        return this.#presence(this.remote.drop(from));
      case "stored":
        return this.#storedHint(m);
      case "all":
        return this.#broadcastHint(m);
      case "translated":
        return this.#gates.get(m.id)?.open();
      case "tell":
        return this.#tell(m);
      case "close-web-login":
        return this.#router.closeLocalWebLogin(m.webLogin, m.reason);
    }
  }

  /** Users who came to or left the other nodes: this node's users hear it, once. */
  #presence(change: PresenceChange): void {
    const router = this.#router;
    for (const u of change.came) {
      if (!router.online.has(u.key)) router.broadcastPresence(u.name, "online", u.key);
    }
    for (const u of change.went) {
      if (!router.online.has(u.key)) router.broadcastPresence(u.name, "offline", u.key);
    }
  }

  /** The event of a `tell` to this node's sessions it names. */
  #tell(m: Extract<NodeMessage, { kind: "tell" }>): void {
    const router = this.#router;
    const targets: ClientSession[] = [];
    if (m.all) router.othersOnline(m.except ?? "", targets);
    for (const key of m.users ?? []) {
      if (m.event.type === "lang") this.remote.setLang(key, m.event.lang);
      for (const s of router.sessionsOf(key)) {
        // A language chosen on another node is the account's language here too.
        if (m.event.type === "lang") s.user!.lang = m.event.lang;
        targets.push(s);
      }
    }
    if (targets.length) router.fanout(m.event, targets);
  }

  /**
   * A message committed on another node: read it from the store (the truth) and deliver it to
   * this node's sessions of its users. A device that has it already (its catch-up read it) does
   * not get it twice (`ClientSession.write`).
   */
  #storedHint(m: Extract<NodeMessage, { kind: "stored" }>): void {
    const router = this.#router;
    if (!m.users.some((key) => router.online.has(key))) return;
    const gate = this.#gate(m.id, m.langs);
    this.#inOrder(m.sender, async () => {
      const [log] = await router.store.history(m.conv, m.seq + 1, 1);
      if (!log || log.seq !== m.seq) return; // gone already (retention)
      const targets: ClientSession[] = [];
      for (const key of m.users) {
        for (const s of router.sessionsOf(key)) if (!s.device?.holds(log.seq)) targets.push(s);
      }
      const message: MessageEvent = {
        type: "message",
        id: log.id,
        from: log.from,
        to: log.to,
        text: log.text,
        ts: log.ts,
        seq: log.seq,
      };
      deliverMessage(router, message, targets, { key: m.sender, lang: log.lang ?? m.lang }, {
        id: log.id,
      }, { gate });
    });
  }

  /** An `@all` broadcast from another node: to every session here. */
  #broadcastHint(m: Extract<NodeMessage, { kind: "all" }>): void {
    const router = this.#router;
    const gate = this.#gate(m.message.id, m.langs);
    this.#inOrder(m.sender.key, () => {
      const targets = router.othersOnline("");
      deliverMessage(router, m.message, targets, m.sender, undefined, { gate });
      return Promise.resolve();
    });
  }

  /** Settles when the node translating `id` says the cache has it, or after its timeout. */
  #gate(id: string, langs: string[]): Promise<void> | undefined {
    if (langs.length === 0) return undefined;
    return new Promise<void>((resolve) => {
      const open = () => {
        clearTimeout(timer);
        this.#gates.delete(id);
        resolve();
      };
      const timer = setTimeout(open, this.#router.translation.timeoutMs + GATE_SLACK_MS);
      this.#gates.set(id, { open, timer });
    });
  }

  #inOrder(sender: string, work: () => Promise<void>): void {
    const previous = this.#reads.get(sender) ?? Promise.resolve();
    const next = previous.then(work).catch((err) => {
      this.#router.logger.error("delivery of another node's message failed", { error: err });
    });
    this.#reads.set(sender, next);
    void next.then(() => {
      if (this.#reads.get(sender) === next) this.#reads.delete(sender);
    });
  }
}
