import { BROADCAST } from "../../protocol/types.ts";

/** What one chat line asks for. */
export type ChatAction =
  /** `@bob hi`, `@all hi`, `#dev hi`, `/msg bob hi`: `to` is a name, `all` or `#room`. */
  | { kind: "send"; to: string; text: string }
  /** Plain text (or `/say text`): to the current conversation. */
  | { kind: "reply"; text: string }
  /** `/send @bob path` or `/send #dev path`: uploads a file and shares it. */
  | { kind: "send_file"; to: string; path: string }
  /** `/get <id> [path]`: downloads a shared file (to its own name here, or to `path`). */
  | { kind: "get_file"; id: string; path?: string }
  /** `@bob` or `#dev` alone: makes it the current conversation. */
  | { kind: "switch"; to: string }
  /** `/join #dev [invite]`; `/create` sets `create` (a taken name is then an error). */
  | { kind: "join"; room: string; visibility?: "public" | "invite"; create?: boolean }
  /** Room commands; an absent `room` means the current conversation's. */
  | { kind: "leave"; room?: string }
  | { kind: "rooms" }
  | { kind: "topic"; room?: string; text: string }
  | { kind: "invite" | "kick" | "owner"; user: string; room?: string }
  | { kind: "members"; room?: string }
  /** `/history [@bob|#dev] [N]`: absent `with` means the current conversation. */
  | { kind: "history"; with?: string; n: number }
  | { kind: "unread" }
  /** `/receipts on|off`; no argument: say which. */
  | { kind: "receipts"; on?: boolean }
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

/** Lines `/history` shows when no number is given, and at most. */
export const HISTORY_DEFAULT = 20;
export const HISTORY_MAX = 100;

/** The in-chat help. */
export const CHAT_HELP = [
  "Commands (the prompt shows the current conversation, #room or @name):",
  "  <text>            to the current conversation (/say <text> sends a line as is)",
  "  @<name> <text>    private message to <name>; @<name> alone makes it current",
  "  #<room> <text>    message to a room you are in; #<room> alone makes it current",
  "  @all <text>       message to everyone online (not kept, no history)",
  "  /join #<room> [invite]  join a room, creating it when nobody has that name",
  "                    (invite: invite-only); it becomes the current conversation",
  "  /create #<room> [invite]  the same, but only a new room (a taken name is an error)",
  "  /leave [#<room>]  leave a room (default: the current one)",
  "  /rooms            rooms you can join and yours: members, topic, unread",
  "  /topic [#<room>] <text>  set a room's topic",
  "  /invite @<name> [#<room>]  invite someone to a room",
  "  /kick @<name> [#<room>]    remove someone from your room (owner)",
  "  /owner @<name> [#<room>]   hand your room over (owner)",
  "  /members [#<room>] who is in a room",
  `  /history [@<name>|#<room>] [N]  the last N (default ${HISTORY_DEFAULT}) messages of a`,
  "                    conversation (default: the current one); again for the page before",
  "  /unread           unread messages per conversation",
  "  /receipts on|off  send read receipts or not (what you see here counts as read)",
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
      return isBroadcast(to)
        ? { kind: "invalid", message: "Write the message after it: @all hello" }
        : { kind: "switch", to: `@${to}` };
    }
    return { kind: "send", to, text };
  }
  if (trimmed.startsWith("#")) {
    const [, room, text] = trimmed.match(/^#(\S*)\s*([\s\S]*)$/)!;
    if (!room) return { kind: "invalid", message: "Write #<room> <text>, e.g. #dev hello" };
    return text ? { kind: "send", to: `#${room}`, text } : { kind: "switch", to: `#${room}` };
  }
  if (trimmed.startsWith("/") && !trimmed.startsWith("//")) {
    const [word, ...args] = trimmed.slice(1).split(/\s+/);
    const rest = trimmed.match(/^\/\S+\s+([\s\S]*)$/)?.[1] ?? "";
    const room = roomCommand(word.toLowerCase(), args, rest);
    if (room) return room;
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
      case "say":
        return rest
          ? { kind: "reply", text: rest }
          : { kind: "invalid", message: "Usage: /say <text>" };
      case "unread":
        return { kind: "unread" };
      case "receipts": {
        if (args.length === 0) return { kind: "receipts" };
        const on = args.length === 1 ? ON_OFF[args[0].toLowerCase()] : undefined;
        return on === undefined
          ? { kind: "invalid", message: "Usage: /receipts on, or /receipts off" }
          : { kind: "receipts", on };
      }
      case "send": {
        const m = trimmed.match(/^\/\S+\s+([@#]\S+)\s+(.+)$/);
        if (!m || m[1].length < 2) {
          return {
            kind: "invalid",
            message: "Usage: /send @<name> <path>, or /send #<room> <path>",
          };
        }
        const to = m[1].startsWith("@") ? m[1].slice(1) : m[1];
        if (isBroadcast(to)) {
          return { kind: "invalid", message: "A file goes to a person or a room, not to @all." };
        }
        return { kind: "send_file", to, path: m[2].trim() };
      }
      case "get": {
        const m = trimmed.match(/^\/\S+\s+(\S+)(?:\s+(.+))?$/);
        if (!m) return { kind: "invalid", message: "Usage: /get <id> [path]" };
        return m[2]
          ? { kind: "get_file", id: m[1], path: m[2].trim() }
          : { kind: "get_file", id: m[1] };
      }
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

/** Reads the commands about rooms and history; undefined for any other word. */
function roomCommand(word: string, args: string[], rest: string): ChatAction | undefined {
  const isRoomArg = (a: string | undefined) => a !== undefined && /^#\S+$/.test(a);
  switch (word) {
    case "create":
    case "join": {
      const visibility = args[1]?.toLowerCase();
      if (
        !isRoomArg(args[0]) || args.length > 2 ||
        (visibility && !/^(invite|public)$/.test(visibility))
      ) {
        return { kind: "invalid", message: `Usage: /${word} #<room> [invite], e.g. /${word} #dev` };
      }
      return {
        kind: "join",
        room: args[0],
        visibility: visibility as "public" | "invite" | undefined,
        ...(word === "create" ? { create: true } : {}),
      };
    }
    case "part":
    case "leave":
      if (args.length > 1 || (args.length === 1 && !isRoomArg(args[0]))) {
        return { kind: "invalid", message: "Usage: /leave [#<room>]" };
      }
      return { kind: "leave", room: args[0] };
    case "rooms":
    case "list":
      return { kind: "rooms" };
    case "topic": {
      if (isRoomArg(args[0])) {
        return { kind: "topic", room: args[0], text: rest.replace(/^\S+\s*/, "") };
      }
      return { kind: "topic", text: rest };
    }
    case "invite":
    case "kick":
    case "owner": {
      const user = args[0]?.replace(/^@/, "");
      if (!user || user.startsWith("#") || args.length > 2 || (args[1] && !isRoomArg(args[1]))) {
        return { kind: "invalid", message: `Usage: /${word} @<name> [#<room>]` };
      }
      return { kind: word, user, room: args[1] };
    }
    case "members":
    case "names":
      if (args.length > 1 || (args.length === 1 && !isRoomArg(args[0]))) {
        return { kind: "invalid", message: "Usage: /members [#<room>]" };
      }
      return { kind: "members", room: args[0] };
    case "history": {
      let withName: string | undefined;
      let n = HISTORY_DEFAULT;
      const usage: ChatAction = {
        kind: "invalid",
        message: `Usage: /history [@<name>|#<room>] [N], N from 1 to ${HISTORY_MAX}`,
      };
      for (const arg of args) {
        if (/^\d+$/.test(arg)) {
          n = Number(arg);
          if (n < 1 || n > HISTORY_MAX) return usage;
        } else if (/^[@#]\S+$/.test(arg) && withName === undefined) withName = arg;
        else return usage;
      }
      return { kind: "history", with: withName, n };
    }
  }
}

/**
 * Whom a half-typed line is addressed to, for typing indicators: the name after `@` once a space
 * follows it, the conversation partner for plain text, nobody for commands.
 */
export function typingTarget(line: string, peer: string | undefined): string | undefined {
  const text = line.trimStart();
  if (!text || (text.startsWith("/") && !text.startsWith("//"))) return undefined;
  if (text.startsWith("@") || text.startsWith("#")) {
    const m = text.match(/^([@#])(\S+)\s+\S/);
    return m ? (m[1] === "#" ? `#${m[2]}` : m[2]) : undefined;
  }
  return peer;
}

/** True for the audience that means everyone online. */
export function isBroadcast(to: string): boolean {
  return to.toLowerCase() === BROADCAST;
}
