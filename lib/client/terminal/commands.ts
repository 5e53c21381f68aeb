import { BROADCAST } from "../../protocol/types.ts";

/** What one chat line asks for. */
export type ChatAction =
  /** `@bob hi`, `@all hi`, `/msg bob hi`. */
  | { kind: "send"; to: string; text: string }
  /** Plain text: to whoever the conversation is with. */
  | { kind: "reply"; text: string }
  | { kind: "who" }
  | { kind: "lang"; lang: string }
  /** `/original [N]`: the original of the Nth most recent translated message (1: the last). */
  | { kind: "original"; n: number }
  /** `/originals on|off`: show originals under translated messages; no argument: say which. */
  | { kind: "originals"; show?: boolean }
  | { kind: "help" }
  | { kind: "quit" }
  | { kind: "none" }
  /** A line that cannot be understood; `message` says how to write it. */
  | { kind: "invalid"; message: string };

/** The in-chat help. */
export const CHAT_HELP = [
  "Commands:",
  "  @<name> <text>    private message to <name>",
  "  @all <text>       message to everyone online",
  "  <text>            reply to the last person you wrote to or heard from privately",
  "                    (shown in the prompt)",
  "  /who              who is online",
  "  /lang <code>      set your language (en, es, fr, pt-BR, ...)",
  "  /original [N]     what the sender wrote, for the last translated message",
  "                    (or the Nth most recent); /orig for short",
  "  /originals on|off show the original under every translated message (default off)",
  "  /help             this help",
  "  /quit             leave (Ctrl-D too)",
  "Translated messages end with the language they were written in, like [en];",
  "[not translated: ...] says why a message arrives as written.",
].join("\n");

const ON_OFF: Record<string, boolean> = { on: true, off: false };

/** Reads one line the user typed in the chat. */
export function parseChatLine(line: string): ChatAction {
  const trimmed = line.trim();
  if (!trimmed) return { kind: "none" };
  if (trimmed.startsWith("@")) {
    const m = trimmed.match(/^@(\S*)\s*([\s\S]*)$/)!;
    const [, to, text] = m;
    if (!to) return { kind: "invalid", message: "Write @<name> <text>, or @all <text>." };
    if (!text) {
      return { kind: "invalid", message: `Write the message after the name: @${to} hello` };
    }
    return { kind: "send", to, text };
  }
  if (trimmed.startsWith("/") && !trimmed.startsWith("//")) {
    const [word, ...args] = trimmed.slice(1).split(/\s+/);
    switch (word.toLowerCase()) {
      case "who":
        return { kind: "who" };
      case "lang":
        return args.length === 1
          ? { kind: "lang", lang: args[0] }
          : { kind: "invalid", message: "Usage: /lang <code>, e.g. /lang es" };
      case "original":
      case "orig": {
        if (args.length === 0) return { kind: "original", n: 1 };
        const n = Number(args[0]);
        return args.length === 1 && /^\d+$/.test(args[0]) && n >= 1 ? { kind: "original", n } : {
          kind: "invalid",
          message: "Usage: /original [N], e.g. /original 2 for the one before",
        };
      }
      case "originals": {
        if (args.length === 0) return { kind: "originals" };
        const show = args.length === 1 ? ON_OFF[args[0].toLowerCase()] : undefined;
        return show === undefined
          ? { kind: "invalid", message: "Usage: /originals on, or /originals off" }
          : { kind: "originals", show };
      }
      case "help":
      case "?":
        return { kind: "help" };
      case "quit":
      case "exit":
        return { kind: "quit" };
      case "msg": {
        const m = trimmed.match(/^\/\S+\s+(\S+)\s+([\s\S]+)$/);
        return m
          ? { kind: "send", to: m[1], text: m[2] }
          : { kind: "invalid", message: "Usage: /msg <name> <text>" };
      }
      default:
        return {
          kind: "invalid",
          message: `Unknown command /${word}. /help lists commands (start with // to send a /).`,
        };
    }
  }
  // `//text` sends `/text`.
  return { kind: "reply", text: trimmed.startsWith("//") ? trimmed.slice(1) : trimmed };
}

/**
 * Whom a half-typed line is addressed to, for typing indicators: the name after `@` once a space
 * follows it, the conversation partner for plain text, nobody for commands.
 */
export function typingTarget(line: string, peer: string | undefined): string | undefined {
  const text = line.trimStart();
  if (!text || (text.startsWith("/") && !text.startsWith("//"))) return undefined;
  if (text.startsWith("@")) {
    const m = text.match(/^@(\S+)\s+\S/);
    return m ? m[1] : undefined;
  }
  return peer;
}

/** True for the audience that means everyone online. */
export function isBroadcast(to: string): boolean {
  return to.toLowerCase() === BROADCAST;
}
