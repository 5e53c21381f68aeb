/**
 * The chat window's state as signals, and how each server event changes it. No DOM and no
 * socket here: the components read these signals, `chat_connection.ts` feeds events in, and the
 * tests drive it directly.
 */
import { batch, computed, signal } from "@preact/signals";
import type { ReconnectEvent } from "../lib/client/reconnect.ts";
import {
  BROADCAST,
  type OriginalText,
  type PresenceState,
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
export type OwnStatus = "sending" | "retrying" | "sent" | SendStatus | "failed";

export interface ChatMessage {
  /** Server id, or the client id until the server answered. */
  id: string;
  cid?: string;
  from: string;
  /** A user name, or `all`. */
  to: string;
  text: string;
  ts: number;
  /** Conversation key: `all`, or the other person's name key. */
  conversation: string;
  own: boolean;
  /** For own messages. */
  status?: OwnStatus;
  /** Why an own message failed, or why it is being retried. */
  error?: string;
  /** Stored while this user was offline. */
  offline?: boolean;
  /** Language of `text` as delivered. */
  lang?: string;
  /** What the sender wrote, when `text` is a translation. */
  original?: OriginalText;
  /** Why the text is the original though the reader's language differs. */
  untranslated?: UntranslatedReason;
}

export interface Person {
  name: string;
  state: PresenceState;
  lang: string;
  /** Whom they are typing to (`all` or this user's name), while they type. */
  typingTo?: string;
}

export type ConnectionView =
  | { state: "connecting"; attempt: number }
  | { state: "online" }
  | { state: "offline"; reason: string; retryInMs: number }
  | { state: "closed"; reason: string };

/** Case-insensitive key of a name, as the server files it. */
export const keyOf = (name: string): string => name.toLowerCase();

const MAX_MESSAGES = 2000;
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
  /** The open conversation. */
  readonly active = signal<string>(EVERYONE);
  readonly unread = signal<Readonly<Record<string, number>>>({});
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
   * unread messages or open, in the order of `others`. Everyone else is found by a search.
   */
  readonly listed = computed(() => {
    // Contacts, then conversations of this visit (a message refused is one too).
    const talked = new Map(this.contacts.value.map((n) => [keyOf(n), n]));
    for (const m of this.messages.value) {
      if (m.conversation !== EVERYONE && !talked.has(m.conversation)) {
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
    return people;
  });

  /** What stands for a presence while it is unknown: before the first welcome, or after a drop. */
  readonly presenceUnknown = computed(() => {
    const c = this.connection.value;
    return c.state === "connecting" && c.attempt === 0 ? "connecting…" : "reconnecting…";
  });

  readonly totalUnread = computed(() =>
    Object.values(this.unread.value).reduce((sum, n) => sum + n, 0)
  );

  /** Display name of a conversation key. */
  titleOf(conversation: string): string {
    return conversation === EVERYONE
      ? "Everyone"
      : this.people.value.get(conversation)?.name ?? conversation;
  }

  /** Who is typing into the open conversation. */
  readonly typingHere = computed(() => {
    const active = this.active.value;
    const me = this.me.value;
    return this.others.value.filter((p) =>
      p.typingTo !== undefined &&
      (active === EVERYONE
        ? p.typingTo === BROADCAST
        : keyOf(p.name) === active && keyOf(p.typingTo) === keyOf(me))
    ).map((p) => p.name);
  });

  /** Opens a conversation and clears its unread count. */
  open(conversation: string): void {
    batch(() => {
      // Someone opened is someone talked to, unless nobody has that name.
      const person = this.people.value.get(conversation);
      if (person) this.remember(person.name);
      this.active.value = conversation;
      if (this.unread.value[conversation]) {
        const { [conversation]: _, ...rest } = this.unread.value;
        this.unread.value = rest;
      }
    });
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
    if (key === keyOf(this.me.value) || key === EVERYONE) return;
    const list = this.contacts.value;
    if (list.length > 0 && keyOf(list[0]) === key) return;
    this.contacts.value = [name, ...list.filter((n) => keyOf(n) !== key)].slice(0, MAX_CONTACTS);
  }

  /** Adds an own message before the server has answered. */
  addOwn(to: string, text: string, cid: string): void {
    const conversation = to === BROADCAST ? EVERYONE : keyOf(to);
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
    });
  }

  /** Records the server's outcome for an own message. */
  settleOwn(cid: string, outcome: { id: string; status: SendStatus; recipients: number }): void {
    // Accepted: the name exists, and is someone this user talks to.
    const sent = this.messages.value.find((m) => m.cid === cid);
    if (sent && sent.to !== BROADCAST) {
      this.remember(this.people.value.get(keyOf(sent.to))?.name ?? sent.to);
    }
    this.#updateOwn(cid, (m) => ({
      ...m,
      id: outcome.id,
      status: m.to === BROADCAST && outcome.recipients === 0 ? "sent" : outcome.status,
      error: undefined,
    }));
  }

  /** Marks an own message as refused, with the server's reason. */
  failOwn(cid: string, reason: string): void {
    this.#updateOwn(cid, (m) => ({ ...m, status: "failed", error: reason }));
  }

  /** Applies one event of the reconnecting client. */
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
        return this.#presence(e.user, e.state, e.to);
      case "message":
        return this.#message(e);
    }
  }

  #presence(name: string, state: PresenceState, to: string | undefined): void {
    const people = new Map(this.people.value);
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
    this.people.value = people;
  }

  #message(e: Extract<ReconnectEvent, { type: "message" }>): void {
    const meKey = keyOf(this.me.value);
    const own = keyOf(e.from) === meKey;
    const conversation = e.to === BROADCAST ? EVERYONE : keyOf(own ? e.to : e.from);
    batch(() => {
      if (conversation !== EVERYONE) this.remember(own ? e.to : e.from);
      this.#append({
        id: e.id,
        from: e.from,
        to: e.to,
        text: e.text,
        ts: e.ts,
        conversation,
        own,
        // Sent from another device of the same user: the server accepted it.
        status: own ? "delivered" : undefined,
        offline: e.offline,
        lang: e.lang,
        original: e.original,
        untranslated: e.untranslated,
      });
      // A message ends the sender's typing.
      const sender = this.people.value.get(keyOf(e.from));
      if (sender?.typingTo !== undefined) this.#presence(e.from, "online", sender.typingTo);
      if (!own && conversation !== this.active.value) {
        this.unread.value = {
          ...this.unread.value,
          [conversation]: (this.unread.value[conversation] ?? 0) + 1,
        };
      }
      // The open conversation is a live log region already; this tells about the others.
      if (!own && conversation !== this.active.value) {
        const where = e.to === BROADCAST ? "to everyone" : "privately";
        this.announcement.value = `New message from ${e.from} ${where}: ${e.text}`;
      }
    });
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
