/**
 * The chat window's state as signals, and how each server event changes it. No DOM and no
 * socket here: the components read these signals, `chat_connection.ts` feeds events in, and the
 * tests drive it directly.
 */
import { batch, computed, signal } from "@preact/signals";
import type { ReconnectEvent } from "../lib/client/reconnect.ts";
import type {
  ConversationInfo as ConversationSummary,
  DeviceWelcome as WelcomeSync,
  MemberInfo as RoomMember,
  SeqMessage,
} from "../lib/client/events.ts";
import {
  BROADCAST,
  type CallEntry,
  type FileInfo,
  type OriginalText,
  type PresenceState,
  type RoomListing,
  type SendStatus,
  type UntranslatedReason,
  type UserStatus,
} from "../lib/protocol/types.ts";

/** Key of the broadcast conversation; every other conversation is keyed by the peer's name key. */
export const EVERYONE = BROADCAST;

/**
 * Where one of the user's own messages stands. `retrying`: the server could not store it for now
 * (its disk is full); it is kept and goes again by itself until it is stored.
 */
export type OwnStatus = "sending" | "retrying" | "sent" | SendStatus | "read" | "failed";

export interface ChatMessage {
  /** Server id, or the client id until the server answered. */
  id: string;
  cid?: string;
  from: string;
  /** A user name, or `all`. */
  to: string;
  text: string;
  ts: number;
  /** Conversation key: `all`, the other person's name key, or `#` and the room's name key. */
  conversation: string;
  /** Its place in the server's message log (absent on broadcasts and before the `sent`). */
  seq?: number;
  /** Mentions the reader by name. */
  mention?: boolean;
  /** For own room messages: how many members have read it. */
  readers?: number;
  own: boolean;
  /** For own messages. */
  status?: OwnStatus;
  /** Why an own message failed, or why it is being retried. */
  error?: string;
  /** Stored while this user was offline, or caught up by this device after an absence. */
  offline?: boolean;
  /** Came in a history page rather than live. */
  history?: boolean;
  /** Language of `text` as delivered. */
  lang?: string;
  /** What the sender wrote, when `text` is a translation. */
  original?: OriginalText;
  /** Why the text is the original though the reader's language differs. */
  untranslated?: UntranslatedReason;
  /** The entry a call left (the sender is the caller). */
  call?: CallEntry;
  /** The file it shares. */
  file?: FileInfo;
}

/** A file on its way up, shown with a progress bar until its message is sent. */
export interface PendingUpload {
  key: string;
  name: string;
  /** The conversation it goes to, as the composer addresses it. */
  to: string;
  size: number;
  loaded: number;
  /** Why it stopped, when it did. */
  error?: string;
  cancel(): void;
}

export interface Person {
  name: string;
  state: PresenceState;
  lang: string;
  /** Whom they are typing to (`all`, this user's name or a `#room`), while they type. */
  typingTo?: string;
}

export type ConnectionView =
  | { state: "connecting"; attempt: number }
  | { state: "online" }
  | { state: "offline"; reason: string; retryInMs: number }
  | { state: "closed"; reason: string };

/** A room the user is in, or was shown (listed, invited to). */
export interface Room {
  /** As created, without `#`. */
  name: string;
  topic: string;
  visibility: "public" | "invite";
  /** This user's role, when a member. */
  role?: "owner" | "member";
  /** Member count as last heard. */
  memberCount?: number;
}

/** Case-insensitive key of a name, as the server files it. */
export const keyOf = (name: string): string => name.toLowerCase();

/** Whether a conversation key names a room. */
export const isRoom = (key: string): boolean => key.startsWith("#");

/**
 * The conversation key of a name as frames give it: `#Dev` is the room `#dev`, `@Bob` and `Bob`
 * the person `bob`, `all` the broadcast.
 */
export function conversationKey(name: string): string {
  if (name === BROADCAST) return EVERYONE;
  if (name.startsWith("#")) return keyOf(name);
  return keyOf(name.replace(/^@/, ""));
}

/** Whether `text` mentions `me`: `@me`, or the name as a word, without regard to case. */
export function mentions(text: string, me: string): boolean {
  if (!me) return false;
  const escaped = me.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return new RegExp(`(^|[^\\p{L}\\p{N}_])@?${escaped}(?![\\p{L}\\p{N}_])`, "iu").test(text);
}

/** Live messages kept in memory; history pages may add more, up to the same again. */
const MAX_MESSAGES = 4000;
/** People remembered as talked to (most recent first); older ones are listed only when online. */
export const MAX_CONTACTS = 200;
/** The server's default message limit, until the page says otherwise. */
export const DEFAULT_MAX_MESSAGE_BYTES = 4096;

/** The state of one signed-in chat window. */
export class ChatState {
  readonly me = signal("");
  readonly lang = signal("en");
  /** The server's identity fingerprint the encrypted session is pinned to. */
  readonly serverFingerprint = signal("");
  readonly people = signal<ReadonlyMap<string, Person>>(new Map());
  readonly messages = signal<readonly ChatMessage[]>([]);
  /** Files being uploaded (and those that failed, until dismissed). */
  readonly uploads = signal<readonly PendingUpload[]>([]);
  /** The open conversation. */
  readonly active = signal<string>(EVERYONE);
  /** Unread messages per conversation key: the server's count from the read markers, kept live. */
  readonly unread = signal<Readonly<Record<string, number>>>({});
  /** Unread messages that mention this user, per conversation key. */
  readonly mentioned = signal<Readonly<Record<string, number>>>({});
  /** The read marker per conversation key (the newest `seq` read on any device of the user). */
  readonly readSeq = signal<Readonly<Record<string, number>>>({});
  /** When each conversation last had a message (ms since the epoch): the list's order. */
  readonly activity = signal<Readonly<Record<string, number>>>({});
  /** Rooms by key (`#dev`): the user's own, and those listed or invited to. */
  readonly rooms = signal<ReadonlyMap<string, Room>>(new Map());
  /** Members per room key, as the last `members` reply and `room` events left them. */
  readonly members = signal<ReadonlyMap<string, readonly RoomMember[]>>(new Map());
  /** Standing invitations: room name and who invited. */
  readonly invites = signal<readonly { room: string; by: string }[]>([]);
  /** Per conversation key: older history exists (true), none (false), unknown (absent). */
  readonly more = signal<Readonly<Record<string, boolean>>>({});
  /** Whether this user sends read receipts (kept with the account). */
  readonly receipts = signal(true);
  readonly connection = signal<ConnectionView>({ state: "connecting", attempt: 0 });
  /** The latest line for screen readers: messages outside the open conversation, lost connection. */
  readonly announcement = signal("");
  /**
   * The server's translation provider from the welcome (`google`, ...), `off`, or "" before
   * the welcome (or from a server that does not say).
   */
  readonly translation = signal("");
  /** A notice shown above the input (a refused message, a failed language change). */
  readonly notice = signal("");
  /** Longest message text the server takes, in UTF-8 bytes (`--max-message-bytes`). */
  readonly maxMessageBytes = signal(DEFAULT_MAX_MESSAGE_BYTES);
  /**
   * Whether `people` says who is online now: false from a lost connection until the welcome of
   * the next one has refreshed the list (presence changes meanwhile were never heard).
   */
  readonly presenceKnown = signal(false);
  /**
   * Names of the people this user has written with or opened, most recent first: with who is
   * online, what the side bar lists. The session keeps them in the browser across visits.
   */
  readonly contacts = signal<readonly string[]>([]);
  /**
   * Per conversation key, the newest `seq` the server's unread count already covered (from the
   * welcome): the catch-up that follows brings those messages, which must not count twice.
   */
  #countedTo: Record<string, number> = {};
  /** Called for each live message from someone else (notifications hook in here). */
  onIncoming: ((m: ChatMessage) => void) | undefined;

  /** Messages of the open conversation, oldest first. */
  readonly visible = computed(() => {
    const active = this.active.value;
    return this.messages.value.filter((m) => m.conversation === active);
  });

  /** Everyone but the user: online first, then by name. */
  readonly others = computed(() => {
    const me = keyOf(this.me.value);
    return [...this.people.value.values()]
      .filter((p) => keyOf(p.name) !== me)
      .sort((a, b) =>
        Number(a.state === "offline") - Number(b.state === "offline") ||
        a.name.localeCompare(b.name)
      );
  });

  /**
   * The side bar's people: who is online, who the user has talked to, and any conversation with
   * unread messages or open; the latest conversation first, then as in `others`. Everyone else
   * is found by a search.
   */
  readonly listed = computed(() => {
    // Contacts, then conversations of this visit (a message refused is one too).
    const talked = new Map(this.contacts.value.map((n) => [keyOf(n), n]));
    for (const m of this.messages.value) {
      if (m.conversation !== EVERYONE && !isRoom(m.conversation) && !talked.has(m.conversation)) {
        talked.set(m.conversation, m.own ? m.to : m.from);
      }
    }
    const unread = this.unread.value;
    const active = this.active.value;
    const people = this.others.value.filter((p) => {
      const key = keyOf(p.name);
      return p.state !== "offline" || talked.has(key) || unread[key] || key === active;
    });
    // Those the server's lists did not mention (offline, beyond what `welcome` lists).
    const me = keyOf(this.me.value);
    for (const [key, name] of talked) {
      if (!this.people.value.has(key) && key !== me) {
        people.push({ name, state: "offline", lang: "" });
      }
    }
    const activity = this.activity.value;
    // Stable: people without activity keep the order of `others`.
    return people.map((p, i) => ({ p, i, at: activity[keyOf(p.name)] ?? 0 }))
      .sort((a, b) => b.at - a.at || a.i - b.i)
      .map((x) => x.p);
  });

  /** The rooms the user is in, the latest conversation first, then by name. */
  readonly myRooms = computed(() => {
    const activity = this.activity.value;
    return [...this.rooms.value.entries()]
      .filter(([, r]) => r.role !== undefined)
      .sort(([a, ra], [b, rb]) =>
        (activity[b] ?? 0) - (activity[a] ?? 0) || ra.name.localeCompare(rb.name)
      )
      .map(([key, room]) => ({ key, room }));
  });

  /** What stands for a presence while it is unknown: before the first welcome, or after a drop. */
  readonly presenceUnknown = computed(() => {
    const c = this.connection.value;
    return c.state === "connecting" && c.attempt === 0 ? "connecting…" : "reconnecting…";
  });

  readonly totalUnread = computed(() =>
    Object.values(this.unread.value).reduce((sum, n) => sum + n, 0)
  );

  readonly totalMentions = computed(() =>
    Object.values(this.mentioned.value).reduce((sum, n) => sum + n, 0)
  );

  /** Display name of a conversation key. */
  titleOf(conversation: string): string {
    if (conversation === EVERYONE) return "Everyone";
    if (isRoom(conversation)) {
      return `#${this.rooms.value.get(conversation)?.name ?? conversation.slice(1)}`;
    }
    return this.people.value.get(conversation)?.name ?? conversation;
  }

  /** How frames name a conversation: `#room`, `@name`, or `all`. */
  wireName(conversation: string): string {
    if (conversation === EVERYONE || isRoom(conversation)) return conversation;
    return `@${this.people.value.get(conversation)?.name ?? conversation}`;
  }

  /** Who is typing into the open conversation. */
  readonly typingHere = computed(() => {
    const active = this.active.value;
    const me = this.me.value;
    return this.others.value.filter((p) =>
      p.typingTo !== undefined &&
      (active === EVERYONE
        ? p.typingTo === BROADCAST
        : isRoom(active)
        ? keyOf(p.typingTo) === active
        : keyOf(p.name) === active && keyOf(p.typingTo) === keyOf(me))
    ).map((p) => p.name);
  });

  /**
   * Opens a conversation. The broadcast, which has no read markers, counts as read at once;
   * the others are read as their messages come on screen ({@link markRead}).
   */
  open(conversation: string): void {
    batch(() => {
      // Someone opened is someone talked to, unless nobody has that name.
      const person = this.people.value.get(conversation);
      if (person) this.remember(person.name);
      this.active.value = conversation;
      const hasSeq = this.messages.value.some((m) =>
        m.conversation === conversation && m.seq !== undefined
      );
      if (!hasSeq && this.readSeq.value[conversation] === undefined) this.#clear(conversation);
    });
  }

  /**
   * Marks a conversation read up to `upTo` (a `seq`) here; returns whether the marker moved, so
   * the caller tells the server (which tells the user's other devices). Without `upTo` (no
   * message with a `seq` on screen), only the local count is cleared.
   */
  markRead(conversation: string, upTo?: number): boolean {
    if (upTo === undefined) {
      this.#clear(conversation);
      return false;
    }
    const before = this.readSeq.value[conversation] ?? 0;
    if (upTo <= before) return false;
    batch(() => {
      this.readSeq.value = { ...this.readSeq.value, [conversation]: upTo };
      const left = this.messages.value.filter((m) =>
        m.conversation === conversation && !m.own && m.seq !== undefined && m.seq > upTo
      );
      this.#setUnread(conversation, left.length, left.filter((m) => m.mention).length);
    });
    return true;
  }

  /**
   * Opens the conversation with someone a search found, listing them from now on: their
   * presence is as the search saw it, and `presence` events keep it current.
   */
  openPerson(user: UserStatus): void {
    batch(() => {
      const key = keyOf(user.name);
      if (!this.people.value.has(key)) {
        this.people.value = new Map(this.people.value).set(key, { ...user });
      }
      this.open(key);
    });
  }

  /** Puts `name` first among the people talked to. */
  remember(name: string): void {
    const key = keyOf(name);
    if (key === keyOf(this.me.value) || key === EVERYONE || isRoom(key)) return;
    const list = this.contacts.value;
    if (list.length > 0 && keyOf(list[0]) === key) return;
    this.contacts.value = [name, ...list.filter((n) => keyOf(n) !== key)].slice(0, MAX_CONTACTS);
  }

  /** Adds an own message before the server has answered. */
  addOwn(to: string, text: string, cid: string, file?: FileInfo): void {
    const conversation = conversationKey(to);
    this.#append({
      id: cid,
      cid,
      from: this.me.value,
      to,
      text,
      ts: Date.now(),
      conversation,
      own: true,
      status: "sending",
      ...(file ? { file } : {}),
    });
    this.#touch(conversation, Date.now());
  }

  /** Records the server's outcome for an own message. */
  settleOwn(
    cid: string,
    outcome: { id: string; status: SendStatus; recipients: number; seq?: number },
  ): void {
    // Accepted: the name exists, and is someone this user talks to.
    const sent = this.messages.value.find((m) => m.cid === cid);
    if (sent && sent.to !== BROADCAST) {
      this.remember(this.people.value.get(keyOf(sent.to))?.name ?? sent.to);
    }
    // The same message may have come back already from another device's view: keep one.
    if (this.messages.value.some((m) => m.id === outcome.id && m.cid !== cid)) {
      this.messages.value = this.messages.value.filter((m) => m.id !== outcome.id || m.cid === cid);
    }
    this.#updateOwn(cid, (m) => ({
      ...m,
      id: outcome.id,
      seq: outcome.seq ?? m.seq,
      status: (m.to === BROADCAST || isRoom(m.conversation)) && outcome.recipients === 0
        ? "sent"
        : isRoom(m.conversation)
        ? "sent"
        : outcome.status,
      error: undefined,
    }));
  }

  /** Marks an own message as refused, with the server's reason. */
  failOwn(cid: string, reason: string): void {
    this.#updateOwn(cid, (m) => ({ ...m, status: "failed", error: reason }));
  }

  /** Applies one event of the reconnecting client, or of rooms, history and sync. */
  apply(e: ReconnectEvent): void {
    switch (e.type) {
      case "retrying":
        // Kept, not failed: the client sends it again until the server stores it.
        this.#updateOwn(e.cid, (m) => ({ ...m, status: "retrying", error: e.message }));
        if (e.attempt === 1) {
          this.announcement.value = `${e.message} Your message is kept and sent again by itself.`;
        }
        return;
      case "status":
        // Until the next welcome, nobody's presence is known: people may have come and gone.
        if (e.state !== "online") this.presenceKnown.value = false;
        if (e.state === "online") this.connection.value = { state: "online" };
        else if (e.state === "connecting") {
          this.connection.value = { state: "connecting", attempt: e.attempt };
        } else if (e.state === "offline") {
          this.connection.value = { state: "offline", reason: e.reason, retryInMs: e.retryInMs };
          this.announcement.value = "Connection lost. Reconnecting…";
        } else this.connection.value = { state: "closed", reason: e.reason };
        return;
      case "welcome":
        return batch(() => {
          this.me.value = e.user;
          this.lang.value = e.lang;
          this.translation.value = typeof e.translation === "string" ? e.translation : "";
          const people = new Map<string, Person>();
          for (const u of e.users) people.set(keyOf(u.name), { ...u });
          // Contacts and people found by a search stay known, as offline unless listed.
          for (const [key, p] of this.people.value) {
            if (!people.has(key)) people.set(key, { ...p, state: "offline", typingTo: undefined });
          }
          this.people.value = people;
          this.presenceKnown.value = true;
          const sync = e as WelcomeSync;
          if (typeof sync.receipts === "boolean") this.receipts.value = sync.receipts;
          if (Array.isArray(sync.conversations)) this.#conversations(sync.conversations);
        });
      case "who": {
        const people = new Map<string, Person>();
        for (const u of e.users) people.set(keyOf(u.name), { ...u });
        this.people.value = people;
        return;
      }
      case "lang":
        this.lang.value = e.lang;
        return;
      case "presence":
        if (e.users === undefined) return this.#presence(e.user, e.state, e.to);
        // One round of presence: many users at once, one change of the list for all of them.
        return this.#presences(e.users, e.state);
      case "message":
        return this.#message(e as SeqMessage);
      case "conversations":
        return this.#conversations(e.conversations);
      case "history":
        return this.#history(e);
      case "read":
        return this.#read(e.with, e.readSeq, e.unread);
      case "receipts":
        this.receipts.value = e.on;
        return;
      case "receipt":
        return this.#receipt(e);
      case "joined":
        return batch(() => {
          const key = keyOf(`#${e.room.replace(/^#/, "")}`);
          this.#setRoom(key, {
            topic: e.topic,
            visibility: e.visibility,
            role: e.role ?? "member",
            memberCount: typeof e.members === "number" ? e.members : undefined,
          }, e.room);
          this.invites.value = this.invites.value.filter((i) =>
            conversationKey(`#${i.room.replace(/^#/, "")}`) !== key
          );
        });
      case "left": {
        const key = conversationKey(`#${e.room.replace(/^#/, "")}`);
        // Declined (here or on another device): the invitation is gone everywhere.
        if (e.declined) return this.dropInvite(key);
        return this.#leave(key);
      }
      case "room":
        return this.#roomChange(e);
      case "invite": {
        const key = conversationKey(`#${e.room.replace(/^#/, "")}`);
        // The owner took it back.
        if (e.withdrawn) return this.dropInvite(key);
        if (
          this.invites.value.some((i) => conversationKey(`#${i.room.replace(/^#/, "")}`) === key)
        ) return;
        this.invites.value = [...this.invites.value, { room: e.room.replace(/^#/, ""), by: e.by }];
        this.announcement.value = `${e.by} invited you to #${e.room.replace(/^#/, "")}.`;
        return;
      }
      case "rooms":
        return batch(() => {
          // As the server lists them (lib/protocol/types.ts): a role when the user is in it.
          for (const r of e.rooms as RoomListing[]) {
            const key = conversationKey(`#${r.name.replace(/^#/, "")}`);
            this.#setRoom(key, {
              topic: r.topic,
              visibility: r.visibility,
              memberCount: r.members,
              role: r.role,
            }, r.name);
            if (r.invited && !this.invitedTo(key)) {
              this.invites.value = [...this.invites.value, {
                room: r.name.replace(/^#/, ""),
                by: "",
              }];
            }
          }
        });
      case "members": {
        const key = conversationKey(`#${e.room.replace(/^#/, "")}`);
        const me = keyOf(this.me.value);
        const mine = e.members.find((m) => keyOf(m.name) === me);
        batch(() => {
          this.members.value = new Map(this.members.value).set(key, e.members);
          this.#setRoom(key, { memberCount: e.members.length, role: mine?.role }, e.room);
        });
        return;
      }
    }
  }

  /** Whether a standing invitation to the room `key` is shown. */
  invitedTo(key: string): boolean {
    return this.invites.value.some((i) => conversationKey(`#${i.room}`) === key);
  }

  /** Forgets an invitation (declined, or joined). */
  dropInvite(key: string): void {
    this.invites.value = this.invites.value.filter((i) => conversationKey(`#${i.room}`) !== key);
  }

  #setRoom(key: string, change: Partial<Room>, name: string): void {
    const before = this.rooms.value.get(key) ??
      { name: name.replace(/^#/, ""), topic: "", visibility: "public" as const };
    const next: Room = { ...before };
    if (change.topic !== undefined) next.topic = change.topic;
    if (change.visibility !== undefined) next.visibility = change.visibility;
    if (change.memberCount !== undefined) next.memberCount = change.memberCount;
    if ("role" in change && (change.role !== undefined || before.role === undefined)) {
      next.role = change.role;
    }
    this.rooms.value = new Map(this.rooms.value).set(key, next);
  }

  #leave(key: string): void {
    batch(() => {
      const room = this.rooms.value.get(key);
      if (room) this.rooms.value = new Map(this.rooms.value).set(key, { ...room, role: undefined });
      this.#clear(key);
      if (this.active.value === key) this.active.value = EVERYONE;
    });
  }

  #roomChange(e: Extract<ReconnectEvent, { type: "room" }>): void {
    const key = conversationKey(`#${e.room.replace(/^#/, "")}`);
    const me = keyOf(this.me.value);
    batch(() => {
      if (e.topic !== undefined) this.#setRoom(key, { topic: e.topic }, e.room);
      let list = [...(this.members.value.get(key) ?? [])];
      const room = this.rooms.value.get(key);
      if (e.joined && !list.some((m) => keyOf(m.name) === keyOf(e.joined!))) {
        const p = this.people.value.get(keyOf(e.joined));
        list.push({
          name: e.joined,
          role: "member",
          state: p?.state === "offline" ? "offline" : "online",
        });
        if (room?.memberCount !== undefined) {
          this.#setRoom(key, { memberCount: room.memberCount + 1 }, e.room);
        }
      }
      if (e.left) {
        const gone = keyOf(e.left);
        if (list.some((m) => keyOf(m.name) === gone) && room?.memberCount !== undefined) {
          this.#setRoom(key, { memberCount: Math.max(0, room.memberCount - 1) }, e.room);
        }
        list = list.filter((m) => keyOf(m.name) !== gone);
        if (gone === me) {
          if (e.by && keyOf(e.by) !== me) {
            this.notice.value = `${e.by} removed you from #${room?.name ?? e.room}.`;
          }
          this.#leave(key);
        }
      }
      if (e.owner) {
        const owner = keyOf(e.owner);
        list = list.map((m) => ({ ...m, role: keyOf(m.name) === owner ? "owner" : "member" }));
        if (this.rooms.value.get(key)?.role !== undefined) {
          this.#setRoom(key, { role: owner === me ? "owner" : "member" }, e.room);
        }
      }
      this.members.value = new Map(this.members.value).set(key, list);
    });
  }

  #conversations(list: ConversationSummary[]): void {
    batch(() => {
      const unread: Record<string, number> = { ...this.unread.value };
      const readSeq: Record<string, number> = { ...this.readSeq.value };
      const activity: Record<string, number> = { ...this.activity.value };
      for (const c of list) {
        const key = conversationKey(c.with);
        unread[key] = c.unread;
        if (!c.unread) delete unread[key];
        readSeq[key] = Math.max(readSeq[key] ?? 0, c.readSeq);
        this.#countedTo[key] = Math.max(this.#countedTo[key] ?? 0, c.lastSeq);
        activity[key] = Math.max(activity[key] ?? 0, c.lastTs);
        if (isRoom(key) && !this.rooms.value.get(key)?.role) {
          // Listed as a conversation: the user is (or was) in it; `rooms` tells the rest.
          this.#setRoom(key, { role: "member" }, c.with);
        } else if (!isRoom(key)) this.remember(c.with.replace(/^@/, ""));
      }
      this.unread.value = unread;
      this.readSeq.value = readSeq;
      this.activity.value = activity;
    });
  }

  #history(e: Extract<ReconnectEvent, { type: "history" }>): void {
    const key = conversationKey(e.with);
    batch(() => {
      const known = new Set(this.messages.value.map((m) => m.id));
      const added = e.messages.filter((m) => !known.has(m.id)).map((m) => ({
        ...this.#toMessage(m),
        history: true,
      }));
      // Older pages go before what is shown; the log stays in `seq` order.
      const others = this.messages.value.filter((m) => m.conversation !== key);
      const here = [...added, ...this.messages.value.filter((m) => m.conversation === key)]
        .sort(bySeq);
      this.messages.value = [...others, ...here];
      this.more.value = { ...this.more.value, [key]: e.more };
      const last = here.at(-1);
      if (last) this.#touch(key, last.ts);
      // How far the other person got: own messages show their state after a reload too.
      if (e.peer) {
        const peer = e.with.replace(/^@/, "");
        this.#receipt({ type: "receipt", with: peer, seq: e.peer.delivered, state: "delivered" });
        if (e.peer.read !== undefined) {
          this.#receipt({ type: "receipt", with: peer, seq: e.peer.read, state: "read" });
        }
      }
    });
  }

  #read(withName: string, readSeq: number, unread: number): void {
    const key = conversationKey(withName);
    batch(() => {
      if ((this.readSeq.value[key] ?? 0) < readSeq) {
        this.readSeq.value = { ...this.readSeq.value, [key]: readSeq };
      }
      const mentionsLeft = this.messages.value.filter((m) =>
        m.conversation === key && !m.own && m.mention && m.seq !== undefined &&
        m.seq > this.readSeq.value[key]
      ).length;
      this.#setUnread(key, unread, Math.min(unread, mentionsLeft));
    });
  }

  #receipt(e: Extract<ReconnectEvent, { type: "receipt" }>): void {
    const key = conversationKey(e.with);
    const rank = (s: OwnStatus | undefined) =>
      s === "read" ? 3 : s === "delivered" ? 2 : s === "stored" || s === "sent" ? 1 : 0;
    this.messages.value = this.messages.value.map((m) => {
      if (!m.own || m.conversation !== key || m.seq === undefined) return m;
      if (e.readers !== undefined) return m.seq === e.seq ? { ...m, readers: e.readers } : m;
      // A private receipt covers every earlier message of the conversation too.
      if (!e.state || m.seq > e.seq || rank(m.status) >= rank(e.state)) return m;
      return { ...m, status: e.state };
    });
  }

  #presence(name: string, state: PresenceState, to: string | undefined): void {
    this.#presences([name], state, to);
  }

  /** Presence of `names` (one round may carry many): one new list for all of them. */
  #presences(names: readonly string[], state: PresenceState, to?: string): void {
    const people = new Map(this.people.value);
    for (const name of names) {
      const key = keyOf(name);
      const before = people.get(key) ?? { name, state: "offline", lang: "" };
      if (state === "typing") {
        people.set(key, { ...before, state: "online", typingTo: to ?? BROADCAST });
      } else if (state === "online" && to !== undefined) {
        // The end of typing, not a sign-in.
        people.set(key, { ...before, typingTo: undefined });
      } else {
        people.set(key, { ...before, state, typingTo: undefined });
      }
    }
    this.people.value = people;
    // Room member lists show presence too.
    if (to === undefined && state !== "typing") {
      const keys = new Set(names.map(keyOf));
      let changed = false;
      const members = new Map(this.members.value);
      for (const [room, list] of members) {
        if (!list.some((m) => keys.has(keyOf(m.name)))) continue;
        changed = true;
        members.set(room, list.map((m) => keys.has(keyOf(m.name)) ? { ...m, state } : m));
      }
      if (changed) this.members.value = members;
    }
  }

  #toMessage(e: SeqMessage): ChatMessage {
    const me = this.me.value;
    const own = keyOf(e.from) === keyOf(me);
    const conversation = e.to.startsWith("#")
      ? conversationKey(e.to)
      : e.to === BROADCAST
      ? EVERYONE
      : keyOf(own ? e.to : e.from);
    return {
      id: e.id,
      seq: e.seq,
      from: e.from,
      to: e.to,
      text: e.text,
      ts: e.ts,
      conversation,
      own,
      // Sent from another device of the same user, or shown again from history: accepted.
      status: own ? (conversation === EVERYONE ? "delivered" : "sent") : undefined,
      offline: e.offline || e.catchup,
      mention: !own && mentions(e.text, me),
      lang: e.lang,
      original: e.original,
      untranslated: e.untranslated,
      ...(e.call ? { call: e.call, mention: false } : {}),
      ...(e.file ? { file: e.file } : {}),
    };
  }

  #message(e: SeqMessage): void {
    const m = this.#toMessage(e);
    const { conversation, own } = m;
    batch(() => {
      if (conversation !== EVERYONE && !isRoom(conversation)) this.remember(own ? e.to : e.from);
      if (this.messages.value.some((x) => x.id === m.id)) return;
      this.#append(m);
      this.#touch(conversation, m.ts);
      // A message ends the sender's typing.
      const sender = this.people.value.get(keyOf(e.from));
      if (sender?.typingTo !== undefined) this.#presence(e.from, "online", sender.typingTo);
      if (own) return;
      const read = m.seq !== undefined && m.seq <= (this.readSeq.value[conversation] ?? 0);
      // Without read markers (the broadcast), the open conversation is read as it comes.
      const counts = m.seq !== undefined ? !read : conversation !== this.active.value;
      // In the welcome's count already (it comes in the catch-up after it).
      const counted = m.seq !== undefined && m.seq <= (this.#countedTo[conversation] ?? 0);
      if (counts) {
        this.#setUnread(
          conversation,
          (this.unread.value[conversation] ?? 0) + (counted ? 0 : 1),
          (this.mentioned.value[conversation] ?? 0) + (m.mention ? 1 : 0),
        );
      }
      // The open conversation is a live log region already; this tells about the others.
      if (conversation !== this.active.value) {
        const where = e.to === BROADCAST
          ? "to everyone"
          : isRoom(conversation)
          ? `in ${this.titleOf(conversation)}`
          : "privately";
        this.announcement.value = `New message from ${e.from} ${where}: ${summary(e)}`;
      }
      if (!read) this.onIncoming?.(m);
    });
  }

  #touch(conversation: string, ts: number): void {
    if ((this.activity.value[conversation] ?? 0) >= ts) return;
    this.activity.value = { ...this.activity.value, [conversation]: ts };
  }

  #setUnread(conversation: string, unread: number, mentioned: number): void {
    const { [conversation]: _u, ...u } = this.unread.value;
    const { [conversation]: _m, ...m } = this.mentioned.value;
    this.unread.value = unread > 0 ? { ...u, [conversation]: unread } : u;
    this.mentioned.value = mentioned > 0 ? { ...m, [conversation]: mentioned } : m;
  }

  #clear(conversation: string): void {
    if (this.unread.value[conversation] || this.mentioned.value[conversation]) {
      this.#setUnread(conversation, 0, 0);
    }
  }

  #append(m: ChatMessage): void {
    const list = this.messages.value;
    if (list.some((x) => x.id === m.id)) return;
    const next = [...list, m];
    this.messages.value = next.length > MAX_MESSAGES ? next.slice(-MAX_MESSAGES) : next;
  }

  #updateOwn(cid: string, change: (m: ChatMessage) => ChatMessage): void {
    this.messages.value = this.messages.value.map((m) => m.cid === cid ? change(m) : m);
  }
}

/** Messages with a `seq` in log order; those without keep their place after them. */
function bySeq(a: ChatMessage, b: ChatMessage): number {
  return (a.seq ?? Number.MAX_SAFE_INTEGER) - (b.seq ?? Number.MAX_SAFE_INTEGER);
}

/** A message in a few words for announcements and notifications: its text, or the file it shares. */
export function summary(m: { text: string; file?: FileInfo }): string {
  if (!m.file) return m.text;
  return m.text.trim() ? `${m.text} [file: ${m.file.name}]` : `[file: ${m.file.name}]`;
}
