import { formatBytes } from "../files/names.ts";
import { PRESENCE_LINES, presenceSummary } from "./presence_summary.ts";
import { ParleyError } from "../errors.ts";
import { idTime } from "../ids.ts";
import type { RawCommand } from "./json.ts";
import { describeRoomEvent, parseRoomCommand, ROOM_HELP } from "./text_rooms.ts";
import {
  BROADCAST,
  type MessageEvent,
  type ServerEvent,
  UNTRANSLATED_REASONS,
  type UserStatus,
} from "./types.ts";

/**
 * Text mode, for a person with `nc`: human lines in, human lines out. Sign-in may be one line
 * (`/register`, `/login`) or a bare name followed by prompts for password and language, so the
 * decoder keeps a little state per connection.
 */

export const TEXT_HELP = [
  "Commands:",
  "  @<name> <text>    private message to <name>",
  "  @all <text>       message to everyone online",
  "  #<room> <text>    message to a room you are in",
  "  /history @<name> [n]  the last n lines with <name> (again: the page before)",
  "  /history #<room> [n]  the same for a room",
  "  /receipts on|off  tell others when you read their messages, or not",
  "  /who              who is online",
  "  /find <letters>   find anyone whose name starts with these letters",
  "  /lang <code>      set your language (en, es, fr, ...): messages arrive translated into it",
  "  /originals on|off show or hide the original after a translated message",
  ...ROOM_HELP,
  "  /help             this help",
  "  /quit             leave",
].join("\n");

const SIGN_IN_HELP = [
  "Sign in: type your name (a new name registers you), or one of",
  "  /register <name> <password> [lang]",
  "  /login <name> <password> [lang]",
].join("\n");

/** What a decoded text line asks for: a command for the router, or a local reply. */
export type TextDecoded = { command: RawCommand } | { reply: ServerEvent } | { none: true };

/** Per-connection decoder state for text mode. */
export class TextLineReader {
  #step: "name" | "password" | "lang" | "ready" = "name";
  #name = "";
  #password = "";

  /** Tells the decoder the connection is signed in (or not), which changes how lines read. */
  signedIn(yes: boolean): void {
    this.#step = yes ? "ready" : "name";
  }

  decode(line: string): TextDecoded {
    const trimmed = line.trim();
    if (this.#step === "password") {
      if (!trimmed) return { reply: { type: "prompt", text: "Password:", secret: true } };
      this.#password = line;
      this.#step = "lang";
      return { reply: { type: "prompt", text: "Language [en] (Enter keeps your current one):" } };
    }
    if (this.#step === "lang") {
      this.#step = "name";
      const command: RawCommand = { type: "auth", name: this.#name, password: this.#password };
      if (trimmed) command.lang = trimmed;
      this.#password = "";
      return { command };
    }
    if (!trimmed) return { none: true };
    if (trimmed.startsWith("/")) return { command: parseSlash(trimmed) };
    if (trimmed.startsWith("@") || trimmed.startsWith("#")) {
      const space = trimmed.search(/\s/);
      const to = trimmed.slice(1, space === -1 ? undefined : space);
      const text = space === -1 ? "" : trimmed.slice(space + 1).trim();
      if (!to) {
        throw new ParleyError(
          "bad_argument",
          trimmed.startsWith("#")
            ? "Write #<room> <text>."
            : "Write @<name> <text>, or @all <text>.",
        );
      }
      // A room keeps its # so the router tells it from a user.
      return { command: { type: "send", to: trimmed.startsWith("#") ? `#${to}` : to, text } };
    }
    if (this.#step === "name") {
      if (/\s/.test(trimmed)) {
        throw new ParleyError("bad_argument", `A name has no spaces.\n${SIGN_IN_HELP}`);
      }
      this.#name = trimmed;
      this.#step = "password";
      return { reply: { type: "prompt", text: `Password for ${trimmed}:`, secret: true } };
    }
    throw new ParleyError(
      "unknown_command",
      "Start a message with @<name> or @all, e.g. '@all hello'. /help lists commands.",
    );
  }
}

function parseSlash(line: string): RawCommand {
  const [word, ...args] = line.slice(1).split(/\s+/);
  switch (word.toLowerCase()) {
    case "register":
    case "login": {
      if (args.length < 2 || args.length > 3) {
        throw new ParleyError(
          "bad_argument",
          `Usage: /${word.toLowerCase()} <name> <password> [lang]`,
        );
      }
      const command: RawCommand = { type: word.toLowerCase(), name: args[0], password: args[1] };
      if (args[2]) command.lang = args[2];
      return command;
    }
    case "who":
      return { type: "who" };
    case "find":
      if (args.length !== 1 || !args[0]) {
        throw new ParleyError("bad_argument", "Usage: /find <letters>, e.g. /find bo");
      }
      // A screenful: more than that, and more letters find it faster than paging would.
      return { type: "search_users", query: args[0], limit: 50 };
    case "originals": {
      const choice = args[0]?.toLowerCase();
      if (args.length !== 1 || !["on", "off"].includes(choice)) {
        throw new ParleyError("bad_argument", "Usage: /originals on|off");
      }
      return { type: "originals", show: choice === "on" };
    }
    case "lang":
      if (args.length !== 1) {
        throw new ParleyError("bad_argument", "Usage: /lang <code>, e.g. /lang es");
      }
      return { type: "lang", lang: args[0] };
    case "help":
      return { type: "help" };
    case "quit":
    case "exit":
      return { type: "quit" };
    case "history": {
      const [conv, n] = args;
      if (!conv || !/^[@#]./.test(conv) || args.length > 2 || (n && !/^\d{1,3}$/.test(n))) {
        throw new ParleyError(
          "bad_argument",
          "Usage: /history @<name> [n] or /history #<room> [n]",
        );
      }
      const limit = n ? Math.min(100, Math.max(1, Number(n))) : 20;
      return { type: "history", with: conv, limit };
    }
    case "receipts": {
      const choice = args[0]?.toLowerCase();
      if (args.length !== 1 || !["on", "off"].includes(choice)) {
        throw new ParleyError("bad_argument", "Usage: /receipts on|off");
      }
      return { type: "receipts", on: choice === "on" };
    }
    case "msg": {
      // IRC habit: /msg bob hi is @bob hi.
      const [to, ...words] = args;
      if (!to) throw new ParleyError("bad_argument", "Usage: /msg <name> <text>");
      return { type: "send", to, text: words.join(" ") };
    }
    default: {
      const room = parseRoomCommand(word.toLowerCase(), line.slice(1 + word.length));
      if (room) return room;
      throw new ParleyError("unknown_command", `Unknown command /${word}. /help lists commands.`);
    }
  }
}

/** The greeting a text-mode connection gets. */
export function textGreeting(server: string, version: string, loginTimeout: number): string {
  return `Welcome to ${server} ${version}. ${SIGN_IN_HELP}\n` +
    `(You have ${loginTimeout} s to sign in.)\nName:`;
}

/** How one text-mode reader wants events shown. */
export interface TextViewOptions {
  /** Show the original after a translated message. @default true */
  originals?: boolean;
  /**
   * The download link this reader gets for a file a message shares (a one-time token in it);
   * undefined when there is none to give.
   */
  fileLink?: (fileId: string) => string | undefined;
}

/**
 * Encodes an event for a text-mode reader; `viewer` is the reader's name. Returns undefined for
 * events text mode does not show (typing, acks).
 */
export function encodeTextEvent(
  event: ServerEvent,
  viewer: string | undefined,
  options: TextViewOptions = {},
): string | undefined {
  // A message's user text is made safe piece by piece (its line breaks are indented); every
  // other line may echo what a user typed (a name in a prompt, a bad code in an error).
  if (event.type === "message") return formatMessage(event, viewer, options);
  if (event.type === "history") {
    const lines = event.messages.map((m) => formatMessage(m, viewer, options));
    const head = event.messages.length === 0
      ? `* No history with ${terminalSafe(event.with)}${event.more ? "" : " (this is the start)"}.`
      : `* History with ${terminalSafe(event.with)}, ${event.messages.length} line${
        event.messages.length === 1 ? "" : "s"
      }:`;
    const tail = event.more
      ? `* Older lines: /history ${terminalSafe(event.with)} again.`
      : "* That is the start of the conversation.";
    return [head, ...lines, ...(event.messages.length ? [tail] : [])].join("\n");
  }
  const line = describeEvent(event, viewer);
  return line === undefined ? undefined : escapeControls(line);
}

function describeEvent(
  event: Exclude<ServerEvent, MessageEvent>,
  viewer: string | undefined,
): string | undefined {
  switch (event.type) {
    case "hello":
      return textGreeting(event.server, event.version, event.loginTimeout);
    case "welcome": {
      const online = event.users.filter((u) => u.state !== "offline");
      const lines = [
        `* ${event.created ? "Registered. Welcome" : "Welcome back"}, ${event.user}! ` +
        `Your language is ${event.lang}.`,
        `* ${describeOnline(online, event.user, event.online, "/who lists more")}`,
        "* Type @<name> <text> for a private message, @all <text> for everyone, /help for more.",
        event.translation === "off"
          ? "* Translation is off on this server: messages arrive as written."
          : `* Messages in other languages are translated into ${event.lang} (${event.translation}); ` +
            "/originals off hides the originals.",
      ];
      if (event.pending > 0) {
        lines.push(
          `* ${event.pending} message${
            event.pending === 1 ? "" : "s"
          } arrived while you were away:`,
        );
      }
      return lines.join("\n");
    }
    case "presence":
      // Several users at once (one round of presence): a line each, or one for many.
      if (event.users !== undefined) {
        if (event.users.length > PRESENCE_LINES) {
          return `* ${presenceSummary(event.users, event.state)}`;
        }
        return event.users.map((u) => `* ${u} is ${event.state}`).join("\n");
      }
      // Typing indicators (start, and end: a presence with `to`) are not shown in text mode.
      if (event.state === "typing" || event.to !== undefined) return undefined;
      return `* ${event.user} is ${event.state}`;
    case "sent": {
      const again = event.duplicate ? " (already sent before)" : "";
      if (event.to === BROADCAST) {
        return event.recipients === 0
          ? `(sent to all: nobody else is online)${again}`
          : `(sent to all: ${event.recipients} ${
            event.recipients === 1 ? "person" : "people"
          } online)${again}`;
      }
      if (event.to.startsWith("#")) {
        return event.recipients === 0
          ? `(sent to ${event.to}; no other member is online, they will see it when they are)${again}`
          : `(sent to ${event.to}: ${event.recipients} member${
            event.recipients === 1 ? "" : "s"
          } online)${again}`;
      }
      if (event.status === "delivered" && event.recipients === 0) {
        return `(sent to yourself; no other device of yours is signed in)${again}`;
      }
      return event.status === "stored"
        ? `(${event.to} is offline; stored, and delivered when they sign in)${again}`
        : `(delivered to ${event.to})${again}`;
    }
    case "who":
      return `* ${
        describeOnline(
          event.users.filter((u) => u.state !== "offline"),
          viewer,
          event.online,
          "/find <letters> finds anyone",
        )
      }`;
    case "users": {
      const names = event.users.map((u) =>
        u.name === viewer ? `${u.name} (you)` : `${u.name} (${u.state})`
      );
      if (names.length === 0) return `* Nobody's name starts with '${terminalSafe(event.query)}'.`;
      const more = event.next ? ", and more: type more letters" : "";
      return `* Names starting with '${terminalSafe(event.query)}': ${names.join(", ")}${more}`;
    }
    case "lang":
      return `* Your language is now ${event.lang}.`;
    case "receipts":
      return event.on
        ? "* Read receipts on: people see when you read their messages."
        : "* Read receipts off: nobody is told what you read.";
    case "receipt":
      // Room read counts and `delivered` are for clients with a status column, not a terminal.
      if (event.readers !== undefined || event.state !== "read") return undefined;
      return event.id === undefined
        ? `* ${event.with} read your message`
        : `* ${event.with} read your message of ${formatTime(idTime(event.id))}`;
    case "acked":
    case "synced":
    case "read":
    case "conversations":
    case "heartbeat": // JSON mode only
    // Calls are for sessions that said they take them (`calls`), never text mode: a text
    // session that is called is told so in an `info` line.
    case "calls":
    case "call":
    case "call_offer":
    case "call_answer":
    case "call_ice":
      return undefined;
    case "pong":
      return "* pong";
    case "help":
      return event.text;
    case "prompt":
      return event.text;
    case "info":
      return `* ${event.text}`;
    case "error":
      return `! ${event.message}` +
        (event.retryAfter ? ` (try again in ${Math.ceil(event.retryAfter)} s)` : "");
    case "bye":
      return `* Goodbye: ${event.reason}`;
    case "joined":
    case "left":
    case "room":
    case "invite":
    case "invited":
    case "rooms":
    case "members":
      return describeRoomEvent(event, viewer);
  }
}

/** `Online (N): names`, saying how many more are online than listed (`total`) and where to look. */
function describeOnline(
  users: UserStatus[],
  viewer: string | undefined,
  total: number | undefined,
  more: string,
): string {
  const names = users.map((u) => u.name === viewer ? `${u.name} (you)` : u.name);
  const count = Math.max(total ?? 0, names.length);
  const rest = count > names.length ? ` and ${count - names.length} more (${more})` : "";
  return `Online (${count}): ${names.join(", ")}${rest}`;
}

function formatMessage(
  m: MessageEvent,
  viewer: string | undefined,
  options: TextViewOptions,
): string {
  const from = m.from === viewer ? "you" : m.from;
  const body = `${terminalSafe(m.text)}${originalNote(m, options.originals ?? true)}${
    fileNote(m, options)
  }`;
  if (m.to.startsWith("#")) return `[${formatTime(m.ts)}] ${m.to} ${from}: ${body}`;
  const to = m.to === BROADCAST ? "all" : m.to === viewer ? "you" : m.to;
  return `[${formatTime(m.ts)}] ${from} -> ${to}: ${body}`;
}

/**
 * A shared file on the message's line: `[file] photo.png (1.2 MiB, 640x480) <link>`, the link
 * good once (docs/protocol.md, "Files").
 */
function fileNote(m: MessageEvent, options: TextViewOptions): string {
  const f = m.file;
  if (!f) return "";
  const pixels = f.width !== undefined ? `, ${f.width}x${f.height}` : "";
  const link = options.fileLink?.(f.id);
  return `${m.text.trim() ? " " : ""}[file] ${terminalSafe(f.name)} (${
    formatBytes(f.size)
  }${pixels}) ${link ?? `(id ${f.id}; no download link: the server has no HTTP port)`}`;
}

/**
 * The translation first; the sender's own words after it, on the same line, tagged with their
 * language, so a script reading lines still gets one line per message.
 */
function originalNote(m: MessageEvent, originals: boolean): string {
  if (m.original && originals) return `  [${m.original.lang}: ${terminalSafe(m.original.text)}]`;
  if (m.original) return `  [${m.original.lang}]`;
  if (m.untranslated) return `  [not translated: ${UNTRANSLATED_REASONS[m.untranslated]}]`;
  return "";
}

/**
 * Makes user text safe to print on a terminal: control characters (escape sequences that could
 * move the cursor or rewrite the screen) become visible `^X` / U+FFFD, and a line break starts
 * an indented continuation line so it cannot pass for a line from the server.
 */
export function terminalSafe(text: string): string {
  return escapeControls(text.replace(/\r\n?/g, "\n")).replace(/\n/g, "\n    ");
}

/**
 * Shows the control characters of `text` instead of sending them to a terminal, keeping its tab
 * and line feeds: C0 and DEL as `^X` (ESC is `^[`), C1, the Unicode line separators and the bidi
 * embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069, which would reorder the rest
 * of the server's line) as U+FFFD. Every line text mode sends goes through it, so user text
 * echoed in a prompt or an error is as safe as a message.
 */
export function escapeControls(text: string): string {
  return text
    // deno-lint-ignore no-control-regex
    .replace(/[\x00-\x08\x0b-\x1f\x7f]/g, (c) => `^${String.fromCharCode(c.charCodeAt(0) ^ 64)}`)
    .replace(/[\x80-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, "\ufffd");
}

/** `14:02` today, `Nov 25 14:02` on another day (server's local time). */
export function formatTime(ts: number, now: number = Date.now()): string {
  const d = new Date(ts);
  const hm = `${pad(d.getHours())}:${pad(d.getMinutes())}`;
  if (new Date(now).toDateString() === d.toDateString()) return hm;
  const month = d.toLocaleString("en", { month: "short" });
  return `${month} ${d.getDate()} ${hm}`;
}

function pad(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}
