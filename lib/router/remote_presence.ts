import type { PresentUser } from "../bus/messages.ts";

/** What one other node said of itself: its users, until when it counts as alive. */
interface NodeEntry {
  users: Map<string, PresentUser>;
  expires: number;
  /** A heartbeat round still arriving in parts. */
  next?: { round: number; users: Map<string, PresentUser> };
}

/** Users who came or went, as the other nodes see them (not counting this node). */
export interface PresenceChange {
  came: PresentUser[];
  went: PresentUser[];
}

/**
 * Who is signed in on the other nodes, from their announcements and heartbeats. A user counts
 * as online while any node lists them; a node not heard of for its heartbeat TTL counts as gone,
 * and its users with it. Each change reports only users who came to or left the whole of the
 * other nodes, so a user on two nodes comes once and goes once.
 */
export class RemotePresence {
  readonly #nodes = new Map<string, NodeEntry>();
  /** For each user, the nodes that list them. */
  readonly #where = new Map<string, Set<string>>();

  /** Whether another node has `key` online. */
  has(key: string): boolean {
    return this.#where.has(key);
  }

  /** The user as another node announced them. */
  user(key: string): PresentUser | undefined {
    const node = this.#where.get(key)?.values().next().value;
    return node === undefined ? undefined : this.#nodes.get(node)?.users.get(key);
  }

  /** Keys of every user online on another node. */
  keys(): IterableIterator<string> {
    return this.#where.keys();
  }

  /** How many users are online on other nodes. */
  get size(): number {
    return this.#where.size;
  }

  /** The nodes heard of and not expired. */
  get nodeCount(): number {
    return this.#nodes.size;
  }

  /** `node` announced a user's first session there. */
  add(node: string, user: PresentUser, expires: number): PresenceChange {
    const entry = this.#entry(node, expires);
    entry.users.set(user.key, user);
    return this.#place(node, user);
  }

  /** The user chose another language (told on any node). */
  setLang(key: string, lang: string): void {
    for (const node of this.#where.get(key) ?? []) {
      const user = this.#nodes.get(node)?.users.get(key);
      if (user) user.lang = lang;
    }
  }

  /** `node` announced a user's last session there ended. */
  remove(node: string, key: string): PresenceChange {
    const entry = this.#nodes.get(node);
    const user = entry?.users.get(key);
    if (!entry || !user) return { came: [], went: [] };
    entry.users.delete(key);
    return this.#unplace(node, user);
  }

  /**
   * A heartbeat part from `node`: it is alive until `expires`; the last part of a round replaces
   * its list of users.
   */
  heartbeat(
    node: string,
    beat: { round: number; part: number; parts: number; users: PresentUser[] },
    expires: number,
  ): PresenceChange {
    const entry = this.#entry(node, expires);
    if (beat.part === 0 || entry.next?.round !== beat.round) {
      entry.next = { round: beat.round, users: new Map() };
    }
    for (const u of beat.users) entry.next.users.set(u.key, u);
    if (beat.part < beat.parts - 1) return { came: [], went: [] };
    const fresh = entry.next.users;
    entry.next = undefined;
    const change: PresenceChange = { came: [], went: [] };
    for (const [key, user] of entry.users) {
      if (!fresh.has(key)) merge(change, this.#unplace(node, user));
    }
    for (const user of fresh.values()) merge(change, this.#place(node, user));
    entry.users = fresh;
    return change;
  }

  /** `node` left (a clean shutdown, or its heartbeats stopped). */
  drop(node: string): PresenceChange {
    const entry = this.#nodes.get(node);
    const change: PresenceChange = { came: [], went: [] };
    if (!entry) return change;
    this.#nodes.delete(node);
    for (const user of entry.users.values()) merge(change, this.#unplace(node, user));
    return change;
  }

  /** Drops every node whose heartbeat is older than its TTL at `now`. */
  expire(now: number): PresenceChange {
    const change: PresenceChange = { came: [], went: [] };
    for (const [node, entry] of this.#nodes) {
      if (entry.expires <= now) merge(change, this.drop(node));
    }
    return change;
  }

  /**
   * Gives every node `ms` more: this node could not hear them (its bus was down), which says
   * nothing about whether they are alive.
   */
  extend(until: number): void {
    for (const entry of this.#nodes.values()) entry.expires = Math.max(entry.expires, until);
  }

  /** Forgets everything (this node shuts down). */
  clear(): void {
    this.#nodes.clear();
    this.#where.clear();
  }

  #entry(node: string, expires: number): NodeEntry {
    let entry = this.#nodes.get(node);
    if (!entry) this.#nodes.set(node, entry = { users: new Map(), expires });
    entry.expires = Math.max(entry.expires, expires);
    return entry;
  }

  #place(node: string, user: PresentUser): PresenceChange {
    let nodes = this.#where.get(user.key);
    const came = !nodes;
    if (!nodes) this.#where.set(user.key, nodes = new Set());
    nodes.add(node);
    return { came: came ? [user] : [], went: [] };
  }

  #unplace(node: string, user: PresentUser): PresenceChange {
    const nodes = this.#where.get(user.key);
    if (!nodes?.delete(node) || nodes.size > 0) return { came: [], went: [] };
    this.#where.delete(user.key);
    return { came: [], went: [user] };
  }
}

function merge(into: PresenceChange, change: PresenceChange): void {
  into.came.push(...change.came);
  into.went.push(...change.went);
}
