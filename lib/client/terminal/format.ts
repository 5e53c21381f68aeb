import { formatBytes } from "../../files/names.ts";
import { formatTime, terminalSafe } from "../../protocol/text.ts";
import { isRoom, type MemberInfo, type RoomInfo, type SeqMessage } from "../events.ts";
import {
  type MessageEvent,
  type ServerEvent,
  UNTRANSLATED_REASONS,
  type UserStatus,
} from "../../protocol/types.ts";

/** ANSI styles, or plain text when colours are off. */
export interface Palette {
  dim(s: string): string;
  bold(s: string): string;
  red(s: string): string;
  green(s: string): string;
  yellow(s: string): string;
  cyan(s: string): string;
  magenta(s: string): string;
}

const ansi = (open: number, close: number) => (s: string) => `\x1b[${open}m${s}\x1b[${close}m`;

/** The styles to print with: ANSI when `color`, identity otherwise. */
export function palette(color: boolean): Palette {
  if (!color) {
    const plain = (s: string) => s;
    return {
      dim: plain,
      bold: plain,
      red: plain,
      green: plain,
      yellow: plain,
      cyan: plain,
      magenta: plain,
    };
  }
  return {
    dim: ansi(2, 22),
    bold: ansi(1, 22),
    red: ansi(31, 39),
    green: ansi(32, 39),
    yellow: ansi(33, 39),
    cyan: ansi(36, 39),
    magenta: ansi(35, 39),
  };
}

/**
 * Turns events into the lines the terminal shows. Every piece of text that came from another
 * user goes through `terminalSafe`, so it cannot carry escape sequences to the screen.
 */
export class Formatter {
  readonly p: Palette;
  #me: string;
  #now: () => number;

  constructor(options: { color: boolean; me?: string; now?: () => number }) {
    this.p = palette(options.color);
    this.#me = options.me ?? "";
    this.#now = options.now ?? Date.now;
  }

  /** Sets whose point of view messages are shown from. */
  set me(name: string) {
    this.#me = name;
  }

  /**
   * `[14:02] bob → you: hi`, `[14:07] #dev carol: hi`; stored ones carry `(offline)`, the
   * catch-up after sign-in `(missed)`, translated ones end with the language they were written
   * in (`[es]`), untranslated ones with why (`[not translated: …]`).
   */
  message(m: SeqMessage): string {
    const { p } = this;
    const tag = m.offline ? p.yellow("(offline) ") : m.catchup ? p.yellow("(missed) ") : "";
    let mark = "";
    if (m.original) mark = ` ${p.dim(`[${safe(m.original.lang)}]`)}`;
    else if (m.untranslated) {
      mark = ` ${p.dim(`[not translated: ${untranslatedWords(m.untranslated)}]`)}`;
    }
    return `${this.time(m.ts)} ${tag}${this.#route(m)}: ${terminalSafe(m.text)}${mark}${
      this.#file(m)
    }`;
  }

  /** A shared file on its message's line: `[file] photo.png (1.2 MiB, 640x480) /get ID`. */
  #file(m: MessageEvent): string {
    const f = m.file;
    if (!f) return "";
    const pixels = f.width !== undefined ? `, ${f.width}x${f.height}` : "";
    return `${m.text.trim() ? " " : ""}${this.p.bold("[file]")} ${terminalSafe(f.name)} (${
      formatBytes(f.size)
    }${pixels}) ${this.p.dim(`/get ${safe(f.id)}`)}`;
  }

  /**
   * The indented line under a translated message, when originals are on:
   * `    original (es): hola`. Undefined for a message that was not translated.
   */
  originalLine(m: MessageEvent): string | undefined {
    if (!m.original) return;
    const lang = safe(m.original.lang);
    return `    ${this.p.dim(`original (${lang}): ${terminalSafe(m.original.text)}`)}`;
  }

  /** A translated message as its sender wrote it: `[14:02] bob → you (original, es): hola`. */
  original(m: MessageEvent): string | undefined {
    if (!m.original) return;
    const { p } = this;
    const by = m.original.provider ? `, translated by ${safe(m.original.provider)}` : "";
    const note = p.dim(`(original, ${safe(m.original.lang)}${by})`);
    return `${this.time(m.ts)} ${this.#route(m)} ${note}: ${terminalSafe(m.original.text)}`;
  }

  /** The echo of the user's own message once the server confirmed it. */
  sent(sent: Extract<ServerEvent, { type: "sent" }>, text: string): string {
    const { p } = this;
    if (isRoom(sent.to)) {
      return `${this.time(this.#now())} ${p.cyan(safe(sent.to))} you: ${terminalSafe(text)}`;
    }
    const to = sent.to === "all" ? p.magenta("all") : p.cyan(safe(sent.to));
    let note = "";
    if (sent.status === "stored") {
      note = ` (${safe(sent.to)} is offline; they get it when they sign in)`;
    } else if (sent.to === "all" && sent.recipients === 0) note = " (nobody else is online)";
    return `${this.time(this.#now())} you → ${to}: ${terminalSafe(text)}${p.dim(note)}`;
  }

  /** The time it is, as the formatter tells it (a fixed clock in tests). */
  now(): number {
    return this.#now();
  }

  /** `[14:02]`, or `[Nov 25 14:02]` on another day; local time. */
  time(ts: number): string {
    return this.p.dim(`[${formatTime(ts, this.#now())}]`);
  }

  /** `* text`, for the client's own notices. */
  info(text: string): string {
    return this.p.dim(`* ${text}`);
  }

  /** A good-news notice (someone came online, reconnected). */
  good(text: string): string {
    return this.p.green(`* ${text}`);
  }

  /** `! text`, for warnings (connection trouble). */
  warn(text: string): string {
    return this.p.yellow(`! ${text}`);
  }

  /** `! text`, for errors. */
  error(text: string): string {
    return this.p.red(`! ${text}`);
  }

  /** An error event from the server, with its retry hint. */
  serverError(e: Extract<ServerEvent, { type: "error" }>): string {
    const retry = e.retryAfter ? ` (try again in ${Math.ceil(e.retryAfter)} s)` : "";
    return this.error(`${terminalSafe(e.message)}${retry}`);
  }

  /** `Online (2): alice (you), bob`, then the others. */
  /** `total`: how many are online (`welcome.online`), when more than listed. */
  users(users: UserStatus[], total?: number, more = "/who lists more"): string[] {
    const online = users.filter((u) => u.state !== "offline");
    const names = online.map((u) => this.#isMe(u.name) ? `${safe(u.name)} (you)` : safe(u.name));
    const count = Math.max(total ?? 0, names.length);
    const rest = count <= names.length
      ? ""
      : ` and ${count - names.length} more${more ? ` (${more})` : ""}`;
    const lines = [this.info(`Online (${count}): ${names.join(", ")}${rest}`)];
    const offline = users.filter((u) => u.state === "offline").map((u) => safe(u.name));
    if (offline.length) {
      const shown = offline.slice(0, 20).join(", ");
      const more = offline.length > 20 ? ` and ${offline.length - 20} more` : "";
      lines.push(this.info(`Offline: ${shown}${more}`));
    }
    return lines;
  }

  /** `* #dev (3 members, 2 unread, joined): topic`. */
  room(r: RoomInfo): string {
    const notes = [`${r.members} member${r.members === 1 ? "" : "s"}`];
    if (r.unread) notes.push(`${r.unread} unread`);
    if (r.visibility === "invite") notes.push("invite-only");
    if (r.role) notes.push(r.role === "owner" ? "yours" : "joined");
    else if (r.invited) notes.push("invited");
    const topic = r.topic ? `: ${terminalSafe(r.topic)}` : "";
    return this.info(`  ${safe(r.name)} (${notes.join(", ")})${topic}`);
  }

  /** `* #dev (3): alice (owner), bob, carol (offline)`. */
  members(room: string, members: readonly MemberInfo[]): string {
    const names = members.map((m) => {
      const notes = [];
      if (this.#isMe(m.name)) notes.push("you");
      if (m.role === "owner") notes.push("owner");
      if (m.state === "offline") notes.push("offline");
      return `${safe(m.name)}${notes.length ? ` (${notes.join(", ")})` : ""}`;
    });
    return this.info(`${safe(room)} (${members.length}): ${names.join(", ")}`);
  }

  /** `bob → you`, `you → all`, `#dev carol`. */
  #route(m: MessageEvent): string {
    const { p } = this;
    if (isRoom(m.to)) {
      const from = this.#isMe(m.from) ? "you" : p.bold(safe(m.from));
      return `${p.cyan(safe(m.to))} ${from}`;
    }
    const from = this.#isMe(m.from) ? "you" : p.bold(p.cyan(safe(m.from)));
    const to = m.to === "all" ? p.magenta("all") : this.#isMe(m.to) ? "you" : p.cyan(safe(m.to));
    return `${from} → ${to}`;
  }

  #isMe(name: string): boolean {
    return name.toLowerCase() === this.#me.toLowerCase();
  }
}

/** The human words for why a message was not translated; an unknown reason still reads well. */
export function untranslatedWords(reason: string): string {
  return (UNTRANSLATED_REASONS as Record<string, string>)[reason] ?? "the translator failed";
}

/** A user name, made safe to print (names are validated by the server, but trust nothing). */
export function safe(name: string): string {
  return terminalSafe(name);
}

/** `2s`, `0.6s`, `30s`. */
export function seconds(ms: number): string {
  const s = ms / 1000;
  return s < 10 ? `${Math.round(s * 10) / 10}s` : `${Math.round(s)}s`;
}
