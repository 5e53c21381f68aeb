/**
 * The chat window's state as signals, and how each server event changes it. No DOM and no
 * socket here: the components read these signals, `chat_session.ts` feeds events in, and the
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
      this.active.value = conversation;
      if (this.unread.value[conversation]) {
        const { [conversation]: _, ...rest } = this.unread.value;
        this.unread.value = rest;
      }
    });
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
          this.people.value = people;
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
