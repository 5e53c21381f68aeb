import { explainCertificateError } from "./tls_problem.ts";
import type { MessageEvent, ServerEvent } from "../../protocol/types.ts";
import type { ReconnectEvent } from "../reconnect.ts";
import { type Formatter, safe, seconds } from "./format.ts";
import type { Terminal } from "./terminal.ts";

type Welcome = Extract<ServerEvent, { type: "welcome" }>;

/** How many translated messages `/original N` can reach back. */
const KEEP_TRANSLATED = 100;

/** The line printed when the server translates nothing. */
export const TRANSLATION_OFF_INFO =
  "Translation is off on this server; messages arrive as written.";

/**
 * Shows the chat: messages, presence, errors and connection changes, and keeps what the prompt
 * needs (whom plain text goes to, who is typing to the user).
 */
export class ChatView {
  /** Whom plain text goes to: the last person the user wrote to or heard from privately. */
  peer: string | undefined;
  /** Show the original on an indented line under every translated message (`/originals on`). */
  showOriginals = false;
  #term: Terminal;
  #fmt: Formatter;
  #me = "";
  #where: string;
  #states = new Map<string, string>();
  #typing = new Map<string, { name: string; toAll: boolean }>();
  #welcomed = false;
  /** The server's translation provider or `off`, from the last welcome. */
  #translation: string | undefined;
  /** Translated messages, most recent last, for `/original`. */
  #translated: MessageEvent[] = [];
  /** The certificate problem last explained while offline: said once, not at every retry. */
  #explained: string | undefined;

  constructor(term: Terminal, fmt: Formatter, where: string) {
    this.#term = term;
    this.#fmt = fmt;
    this.#where = where;
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
        if (e.to !== "all") {
          const other = this.#isMe(e.from) ? e.to : e.from;
          if (!this.#isMe(other)) this.#setPeer(other);
        }
        this.#typing.delete(e.from.toLowerCase());
        this.print(f.message(e));
        if (e.original) {
          this.#translated.push(e);
          if (this.#translated.length > KEEP_TRANSLATED) this.#translated.shift();
          if (this.showOriginals) this.print(f.originalLine(e)!);
        }
        return this.#updatePrompt();
      case "presence":
        return this.#presence(e);
      case "who":
        return this.print(...f.users(e.users));
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
      default:
        // hello, sent (echoed by the chat with its text), acked, pong, help, prompt, bye.
        return;
    }
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
        ...f.users(e.users.filter((u) => u.state !== "offline")),
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
    if (e.pending > 0) {
      lines.push(
        f.info(`${e.pending} message${e.pending === 1 ? "" : "s"} arrived while you were away:`),
      );
    }
    this.print(...lines);
    this.#updatePrompt();
  }

  #presence(e: Extract<ServerEvent, { type: "presence" }>): void {
    const f = this.#fmt;
    const key = e.user.toLowerCase();
    const before = this.#states.get(key);
    this.#states.set(key, e.state);
    const name = safe(e.user);
    if (e.state === "typing") {
      this.#typing.set(key, { name: e.user, toAll: e.to === "all" });
      if (this.#term.editing) return this.#updatePrompt();
      return this.print(f.info(`${name} is typing${e.to === "all" ? " to all" : ""}…`));
    }
    this.#typing.delete(key);
    this.#updatePrompt();
    if (e.state === "online" && before !== "online" && before !== "typing") {
      this.print(f.good(`${name} is online`));
    } else if (e.state === "offline") this.print(f.info(`${name} went offline`));
  }

  #updatePrompt(): void {
    const p = this.#fmt.p;
    const typing = [...this.#typing.values()];
    const who = typing.length === 1
      ? `${safe(typing[0].name)} is typing${typing[0].toAll ? " to all" : ""}… `
      : typing.length > 1
      ? `${typing.length} people are typing… `
      : "";
    const to = this.peer ? p.cyan(safe(this.peer)) : "";
    this.#term.setPrompt(`${p.dim(who)}${to}> `);
  }

  #isMe(name: string): boolean {
    return name.toLowerCase() === this.#me.toLowerCase();
  }
}
