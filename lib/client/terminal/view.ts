import { explainCertificateError } from "./tls_problem.ts";
import { PRESENCE_LINES, presenceSummary } from "../../protocol/presence_summary.ts";
import type { MessageEvent, ServerEvent } from "../../protocol/types.ts";
import type { Welcome } from "../client.ts";
import {
  type ClientEvent,
  conversationKey,
  conversationOf,
  isRoom,
  type SeqMessage,
} from "../events.ts";
import type { ReconnectEvent } from "../reconnect.ts";
import { type Formatter, safe, seconds } from "./format.ts";
import { ReadState } from "./read_state.ts";
import { ReceiptLines } from "./receipts.ts";
import type { Terminal } from "./terminal.ts";

type Sync<T extends ClientEvent["type"]> = Extract<ClientEvent, { type: T }>;

/** How many translated messages `/original N` can reach back. */
const KEEP_TRANSLATED = 100;

/** The line printed when the server translates nothing. */
export const TRANSLATION_OFF_INFO =
  "Translation is off on this server; messages arrive as written.";

/**
 * Shows the chat: messages, rooms, presence, receipts, errors and connection changes, and keeps
 * what the prompt needs (the current conversation, who is typing). What it prints is read: it
 * moves the user's read markers (`markRead`).
 */
export class ChatView {
  /**
   * The current conversation, where plain text goes: a user's name or `#room`. Set by writing
   * to someone, `/join`, `@name` / `#room` alone, or a private message while no room is current.
   */
  peer: string | undefined;
  /** Show the original on an indented line under every translated message (`/originals on`). */
  showOriginals = false;
  #term: Terminal;
  #fmt: Formatter;
  #me = "";
  #where: string;
  #states = new Map<string, string>();
  #typing = new Map<string, { name: string; where: string }>();
  #welcomed = false;
  /** The server's translation provider or `off`, from the last welcome. */
  #translation: string | undefined;
  /** Translated messages, most recent last, for `/original`. */
  #translated: MessageEvent[] = [];
  /** The certificate problem last explained while offline: said once, not at every retry. */
  #explained: string | undefined;
  #read: ReadState;
  #receipts: ReceiptLines;
  /** Conversations whose `/history` page is on its way. */
  #historyLoading = new Set<string>();
  /** Per conversation: the `seq` the next `/history` page ends before; 0 when none is left. */
  #historyBefore = new Map<string, number>();
  /** Whether the user sends read receipts, as the server last said (undefined: not said). */
  receiptsOn: boolean | undefined;
  /** Catch-up messages shown since the last welcome; undefined when no catch-up was announced. */
  #caughtUp: { announce?: string; shown: number } | undefined;

  /**
   * `markRead(with, upTo)` sends a read marker for what was printed (debounced); without it
   * nothing is marked read.
   */
  constructor(
    term: Terminal,
    fmt: Formatter,
    where: string,
    markRead: (withName: string, upTo: number) => void = () => {},
  ) {
    this.#term = term;
    this.#fmt = fmt;
    this.#where = where;
    this.#read = new ReadState(markRead);
    this.#receipts = new ReceiptLines((what, ts, withName) =>
      this.#receiptLine(what, ts, withName)
    );
  }

  /** Sends the read markers still waiting, and stops the timers (the chat ends). */
  close(): void {
    this.#read.flush();
    this.#read.close();
    this.#receipts.close();
  }

  /** Prints lines above the input. */
  print(...lines: string[]): void {
    for (const line of lines) this.#term.print(line);
  }

  /** Handles one event from the reconnecting client. */
  show(e: ReconnectEvent): void {
    const f = this.#fmt;
    switch (e.type) {
      case "status":
        return this.#status(e);
      case "welcome":
        return this.#welcome(e);
      case "message":
        return this.#message(e);
      case "presence":
        return this.#presence(e);
      case "who":
        return this.print(...f.users(e.users, e.online, ""));
      case "lang":
        return this.print(f.info(`Your language is now ${safe(e.lang)}.`));
      case "error":
        return this.print(f.serverError(e));
      case "info":
        return this.print(f.info(safe(e.text)));
      case "retrying":
        // Said once per message; its "stored" line follows when a retry gets through.
        if (e.attempt > 1) return;
        return this.print(
          f.warn(
            `${safe(e.message)} Your message to ${safe(e.to)} is kept and goes again by ` +
              `itself (next in ${seconds(e.retryInMs)}), until it is stored.`,
          ),
        );
      case "synced":
        return this.#synced(e);
      case "history":
        return this.#history(e);
      case "joined":
        return this.#joined(e);
      case "left":
        if (this.peer && conversationKey(this.peer) === conversationKey(e.room)) {
          this.#setPeer(undefined);
        }
        return this.print(
          f.info(
            e.declined
              ? `You declined the invitation to ${safe(e.room)}.`
              : `You left ${safe(e.room)}.`,
          ),
        );
      case "room":
        return this.#roomChange(e);
      case "invite":
        return this.print(
          f.good(`${safe(e.by)} invited you to ${safe(e.room)}: /join ${safe(e.room)}`),
        );
      case "invited":
        return this.print(f.info(`Invited ${safe(e.user)} to ${safe(e.room)}.`));
      case "rooms":
        return this.#rooms(e);
      case "members":
        return this.print(f.members(e.room, e.members));
      case "read":
        return this.#read.update(e.with, e.readSeq, e.unread);
      case "conversations":
        this.#read.reset(e.conversations);
        return this.print(...this.#unreadLines(true));
      case "receipts":
        this.receiptsOn = e.on;
        return this.print(
          f.info(
            e.on
              ? "Read receipts are on: who wrote to you sees when you read it."
              : "Read receipts are off: nobody sees when you read their messages.",
          ),
        );
      case "receipt":
        return this.#receipts.receipt(e);
      default:
        // hello, sent (echoed by the chat with its text), acked, pong, help, prompt, bye.
        return;
    }
  }

  /** The echo of the user's own message, once the server confirmed it. */
  showSent(sent: Extract<ServerEvent, { type: "sent" }> & { seq?: number }, text: string): void {
    this.print(this.#fmt.sent(sent, text));
    const withName = isRoom(sent.to) ? sent.to : `@${sent.to}`;
    if (sent.to.toLowerCase() === "all") return;
    this.#read.shown(withName, sent.seq, true);
    this.#receipts.sent(withName, sent.seq, this.#fmt.now(), sent.id, sent.status === "stored");
    this.#historyBefore.delete(conversationKey(withName));
  }

  /**
   * Notes that a `/history` page of `withName` was asked for; false when one is on its way
   * already (a second request would show the same page again).
   */
  askHistory(withName: string): boolean {
    const key = conversationKey(withName);
    if (this.#historyLoading.has(key)) return false;
    this.#historyLoading.add(key);
    return true;
  }

  /** The page asked for will not come (refused, or no connection). */
  historyFailed(withName: string): void {
    this.#historyLoading.delete(conversationKey(withName));
  }

  /**
   * Where the next `/history` page of a conversation ends: a `seq`, undefined for the newest
   * page, or 0 when the last page reached the beginning (the next one starts over).
   */
  historyBefore(withName: string): number | undefined {
    return this.#historyBefore.get(conversationKey(withName));
  }

  /** Forgets the paging of a conversation: the next `/history` starts from the newest. */
  restartHistory(withName: string): void {
    this.#historyBefore.delete(conversationKey(withName));
  }

  /** Prints the unread counts (`/unread`), from what the client knows. */
  showUnread(): void {
    this.print(...this.#unreadLines(true));
  }

  #message(e: SeqMessage): void {
    const f = this.#fmt;
    const mine = this.#isMe(e.from);
    if (e.to.toLowerCase() !== "all") {
      const other = mine ? e.to : e.from;
      // A private message becomes the current conversation, unless a room is current: a
      // room's talk is not interrupted, and the prompt says where plain text goes.
      if (!isRoom(e.to) && !this.#isMe(other) && !(this.peer && isRoom(this.peer))) {
        this.#setPeer(other);
      }
    }
    this.#typing.delete(e.from.toLowerCase());
    if (e.catchup && this.#caughtUp) {
      // Announced with its first line: a catch-up of messages already shown says nothing.
      if (this.#caughtUp.announce) this.print(this.#caughtUp.announce);
      this.#caughtUp.announce = undefined;
      this.#caughtUp.shown++;
    }
    this.print(f.message(e));
    if (e.to.toLowerCase() !== "all") {
      const withName = conversationOf(e, this.#me);
      this.#read.shown(withName, e.seq, mine);
      if (mine) this.#receipts.sent(withName, e.seq, e.ts, e.id);
      if (!e.catchup) this.#historyBefore.delete(conversationKey(withName));
    }
    if (e.original) {
      this.#translated.push(e);
      if (this.#translated.length > KEEP_TRANSLATED) this.#translated.shift();
      if (this.showOriginals) this.print(f.originalLine(e)!);
    }
    this.#updatePrompt();
  }

  #synced(e: Sync<"synced">): void {
    if (e.more || this.#caughtUp === undefined) return;
    const n = this.#caughtUp.shown;
    this.#caughtUp = undefined;
    if (n) {
      this.print(this.#fmt.info(`End of what you missed (${n} message${n === 1 ? "" : "s"}).`));
    }
    this.print(...this.#unreadLines(false));
  }

  #history(e: Sync<"history">): void {
    const f = this.#fmt;
    const key = conversationKey(e.with);
    this.#historyLoading.delete(key);
    const name = safe(isRoom(key) ? e.with : `@${e.with.replace(/^@/, "")}`);
    if (!e.messages.length) {
      this.#historyBefore.set(key, 0);
      return this.print(f.info(`No earlier messages with ${name}.`));
    }
    const n = e.messages.length;
    this.print(f.info(`History of ${name}, ${n} message${n === 1 ? "" : "s"}, oldest first:`));
    for (const m of e.messages) {
      this.print(f.message({ ...m, offline: false, catchup: false }));
      this.#read.shown(e.with, m.seq, this.#isMe(m.from));
    }
    const oldest = e.messages[0].seq;
    this.#historyBefore.set(key, e.more && oldest !== undefined ? oldest : 0);
    this.print(
      f.info(
        e.more
          ? `/history ${name} again for the page before.`
          : `That is the beginning of ${name}.`,
      ),
    );
  }

  #joined(e: Sync<"joined">): void {
    const f = this.#fmt;
    const room = safe(e.room);
    const what = e.created
      ? `Created ${room}${e.visibility === "invite" ? " (invite-only)" : ""}; you own it.`
      : `You joined ${room}${e.members ? ` (${e.members} members)` : ""}.`;
    this.print(f.good(what));
    if (e.topic) this.print(f.info(`Topic of ${room}: ${safe(e.topic)}`));
    this.#setPeer(e.room);
  }

  #roomChange(e: Sync<"room">): void {
    const f = this.#fmt;
    const room = safe(e.room);
    const by = e.by ? safe(e.by) : undefined;
    const who = (name: string) => this.#isMe(name) ? "you" : safe(name);
    if (e.topic !== undefined) {
      this.print(
        f.info(`${by ? who(by) : "The topic"} set the topic of ${room}: ${safe(e.topic)}`),
      );
    }
    if (e.joined) this.print(f.info(`${who(e.joined)} joined ${room}`));
    if (e.left) {
      const kicked = by && by.toLowerCase() !== e.left.toLowerCase();
      this.print(
        f.info(
          kicked ? `${who(by)} removed ${who(e.left)} from ${room}` : `${who(e.left)} left ${room}`,
        ),
      );
      if (
        this.#isMe(e.left) && this.peer && conversationKey(this.peer) === conversationKey(e.room)
      ) {
        this.#setPeer(undefined);
      }
    }
    if (e.owner) {
      this.print(f.info(`${who(e.owner)} now own${this.#isMe(e.owner) ? "" : "s"} ${room}`));
    }
  }

  #rooms(e: Sync<"rooms">): void {
    const f = this.#fmt;
    if (!e.rooms.length) {
      return this.print(f.info("No rooms yet: /join #name creates one."));
    }
    this.print(f.info(`Rooms (${e.rooms.length}${e.next ? "+" : ""}):`));
    for (const r of e.rooms) this.print(f.room(r));
  }

  /** `* 3 unread in #dev, 1 in @bob`; `all`: says so when nothing is unread too. */
  #unreadLines(all: boolean): string[] {
    const unread = this.#read.unread();
    if (!unread.length) return all ? [this.#fmt.info("Nothing unread.")] : [];
    const parts = unread.map(([w, n], i) => `${n}${i === 0 ? " unread" : ""} in ${safe(w)}`);
    return [this.#fmt.info(`${parts.join(", ")}: /history <conversation> shows them.`)];
  }

  #receiptLine(what: string, ts: number, withName: string): void {
    const f = this.#fmt;
    const at = f.time(ts).replace(/^\[|\]$/g, "");
    const name = safe(withName.replace(/^@/, ""));
    if (isRoom(withName)) return this.print(f.info(`${what} your message of ${at} in ${name}`));
    this.print(
      f.info(
        what === "read"
          ? `${name} read your message of ${at}`
          : `${name} got your message of ${at}`,
      ),
    );
  }

  /** Prints the original of the Nth most recent translated message (1: the last one). */
  showOriginal(n = 1): void {
    const f = this.#fmt;
    const count = this.#translated.length;
    if (count === 0) {
      return this.print(
        f.info(
          this.#translation === "off"
            ? "No translated messages: translation is off on this server."
            : "No translated message yet.",
        ),
      );
    }
    if (n > count) {
      return this.print(
        f.info(
          `Only ${count} translated message${count === 1 ? "" : "s"} to show; ` +
            `/original ${count} is the oldest.`,
        ),
      );
    }
    this.print(f.original(this.#translated[count - n])!);
  }

  /** Turns the originals under translated messages on or off; undefined: says which it is. */
  setShowOriginals(show: boolean | undefined): void {
    if (show !== undefined) this.showOriginals = show;
    this.print(
      this.#fmt.info(
        this.showOriginals
          ? "Originals are shown under translated messages (/originals off hides them)."
          : "Originals are hidden (/originals on shows them; /original shows the last one).",
      ),
    );
  }

  /** Sets whom plain text goes to. */
  setPeer(name: string | undefined): void {
    this.#setPeer(name);
  }

  #setPeer(name: string | undefined): void {
    if (name?.toLowerCase() === "all") return;
    this.peer = name;
    this.#updatePrompt();
  }

  #explainCertificate(reason: string): void {
    const explanation = explainCertificateError(reason);
    if (explanation === undefined || explanation === this.#explained) return;
    this.#explained = explanation;
    this.print(this.#fmt.error(explanation));
  }

  #status(e: Extract<ReconnectEvent, { type: "status" }>): void {
    const f = this.#fmt;
    switch (e.state) {
      case "offline":
        this.#typing.clear();
        this.#updatePrompt();
        this.#explainCertificate(e.reason);
        return this.print(
          e.attempt <= 1
            ? f.warn(`connection lost (${e.reason}); reconnecting in ${seconds(e.retryInMs)}…`)
            : f.warn(
              `cannot reach ${this.#where} (${e.reason}); next try in ${seconds(e.retryInMs)}…`,
            ),
        );
      case "online":
        this.#explained = undefined;
        if (!e.reconnected) return;
        return this.print(
          f.good(
            e.resending
              ? `reconnected; sending ${e.resending} unconfirmed message${
                e.resending === 1 ? "" : "s"
              } again`
              : "reconnected",
          ),
        );
      case "closed":
        if (e.error) this.print(f.error(e.reason));
        return;
      case "connecting":
        return; // The offline notice already said when the next try comes.
    }
  }

  #welcome(e: Welcome): void {
    const f = this.#fmt;
    this.#me = e.user;
    this.#fmt.me = e.user;
    this.#states.clear();
    for (const u of e.users) this.#states.set(u.name.toLowerCase(), u.state);
    const lines: string[] = [];
    if (!this.#welcomed) {
      this.#welcomed = true;
      lines.push(
        f.good(
          `${e.created ? "Account created. Welcome" : "Welcome back"}, ${safe(e.user)}! ` +
            `Your language is ${safe(e.lang)}.`,
        ),
        ...f.users(e.users.filter((u) => u.state !== "offline"), e.online),
        f.info("Type @name text for a private message, @all text for everyone, /help for more."),
      );
      if (e.translation === "off") lines.push(f.info(TRANSLATION_OFF_INFO));
    } else if (e.translation === "off" && this.#translation !== "off") {
      // The server restarted without translation while the client reconnected.
      lines.push(f.info(TRANSLATION_OFF_INFO));
    } else if (this.#translation === "off" && e.translation && e.translation !== "off") {
      lines.push(f.info(`Translation is on again (${safe(e.translation)}).`));
    }
    this.#translation = e.translation;
    const w = e as Welcome;
    if (w.conversations) this.#read.reset(w.conversations);
    if (w.receipts !== undefined) this.receiptsOn = w.receipts;
    this.#caughtUp = undefined;
    const away = f.info(
      `${e.pending} message${e.pending === 1 ? "" : "s"} arrived while you were away:`,
    );
    // With a device, the catch-up ends with `synced`, which says so and what is still unread.
    if (e.pending > 0 && w.device !== undefined) this.#caughtUp = { announce: away, shown: 0 };
    else if (e.pending > 0) lines.push(away);
    else lines.push(...this.#unreadLines(false));
    this.print(...lines);
    this.#updatePrompt();
  }

  #presence(e: Extract<ServerEvent, { type: "presence" }>): void {
    if (e.users !== undefined) return this.#presences(e.users, e.state);
    const f = this.#fmt;
    const key = e.user.toLowerCase();
    const before = this.#states.get(key);
    this.#states.set(key, e.state);
    const name = safe(e.user);
    if (e.state === "typing") {
      const where = e.to === "all" ? " to all" : e.to && isRoom(e.to) ? ` in ${safe(e.to)}` : "";
      this.#typing.set(key, { name: e.user, where });
      if (this.#term.editing) return this.#updatePrompt();
      return this.print(f.info(`${name} is typing${where}…`));
    }
    this.#typing.delete(key);
    this.#updatePrompt();
    if (e.state === "online" && before !== "online" && before !== "typing") {
      this.print(f.good(`${name} is online`));
    } else if (e.state === "offline") this.print(f.info(`${name} went offline`));
  }

  /** Several users came online or went offline in one round: a line each, or one for many. */
  #presences(users: string[], state: "online" | "offline"): void {
    const changed: string[] = [];
    for (const user of users) {
      const key = user.toLowerCase();
      const before = this.#states.get(key);
      this.#states.set(key, state);
      if (state === "offline") this.#typing.delete(key);
      if (state === "offline" || (before !== "online" && before !== "typing")) changed.push(user);
    }
    this.#updatePrompt();
    const f = this.#fmt;
    const line = (text: string) => state === "online" ? f.good(text) : f.info(text);
    if (changed.length > PRESENCE_LINES) {
      return this.print(line(presenceSummary(changed.map(safe), state)));
    }
    const verb = state === "online" ? "is online" : "went offline";
    for (const user of changed) this.print(line(`${safe(user)} ${verb}`));
  }

  #updatePrompt(): void {
    const p = this.#fmt.p;
    const typing = [...this.#typing.values()];
    const who = typing.length === 1
      ? `${safe(typing[0].name)} is typing${typing[0].where}… `
      : typing.length > 1
      ? `${typing.length} people are typing… `
      : "";
    const to = this.peer ? p.cyan(safe(isRoom(this.peer) ? this.peer : `@${this.peer}`)) : "";
    this.#term.setPrompt(`${p.dim(who)}${to}> `);
  }

  #isMe(name: string): boolean {
    return name.toLowerCase() === this.#me.toLowerCase();
  }
}
