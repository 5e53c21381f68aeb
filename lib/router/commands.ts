import { ParleyError } from "../errors.ts";
import type { RawCommand } from "../protocol/json.ts";
import type { Command } from "../protocol/types.ts";
import {
  clientId,
  optionalBoolean,
  optionalChoice,
  optionalCount,
  optionalDevice,
  optionalSeq,
  optionalString,
  optionalText,
  requireCount,
  requireDevice,
  requireRoomName,
  requireString,
  requireStringList,
  requireUserName,
} from "./fields.ts";
import { handleAuth, handleLang, handleLogout, handleResume } from "./handlers/account.ts";
import { handleAck, handleSend } from "./handlers/messaging.ts";
import { handleFileToken } from "./handlers/files.ts";
import { handleTyping, handleWho } from "./handlers/presence.ts";
import { handleSearchUsers, MAX_SEARCH_PAGE, SEARCH_PAGE } from "./handlers/search.ts";
import {
  handleInvite,
  handleJoin,
  handleKick,
  handleLeave,
  handleMembers,
  handleOwner,
  handleRooms,
  handleTopic,
  MAX_ROOMS_PAGE,
  MAX_TOPIC,
  ROOMS_PAGE,
} from "./handlers/rooms.ts";
import { handleHistory, HISTORY_PAGE, MAX_HISTORY_PAGE } from "./history.ts";
import { handleConversations, handleRead, handleReceipts } from "./receipts.ts";
import { handleHelp, handleOriginals, handlePing, handleQuit } from "./handlers/misc.ts";
import { handleCallFrame, handleCalls, handleRing } from "./handlers/calls.ts";
import { requireCallId, requireCandidate, requireMedia, requireSdp } from "./call_fields.ts";
import type { Router } from "./router.ts";
import type { ClientSession } from "./client_session.ts";

/**
 * One row of the command table. `dispatch` (lib/router/dispatch.ts) checks, in this order and in
 * one place: the rate limit (`cost` tokens), whether the session must be signed in (`auth`), and
 * the fields (`parse`); only then does `run` see a typed command.
 */
export interface CommandSpec<C extends Command = Command> {
  /** `in`: only when signed in; `out`: only before; `any`: either. */
  auth: "in" | "out" | "any";
  /** Tokens taken from the connection's bucket. */
  cost: number;
  /**
   * `false`: runs as soon as it arrives, ahead of the commands waiting in the session's queue
   * (its `run` must finish at once). By default a command waits for those before it.
   */
  queue?: false;
  parse(raw: RawCommand): C;
  run(router: Router, session: ClientSession, command: C): Promise<void> | void;
}

type Spec<T extends Command["type"]> = CommandSpec<Extract<Command, { type: T }>>;

const credentials = <T extends "register" | "login" | "auth">(type: T) => (raw: RawCommand) =>
  ({
    type,
    name: requireString(raw, "name", 64),
    password: requireString(raw, "password", 1024),
    lang: optionalString(raw, "lang", 35),
    device: optionalDevice(raw),
    cid: clientId(raw),
  }) as Extract<Command, { type: T }>;

/** A call frame that names only its call: accept, decline, hang up. */
const callAction =
  <T extends "call_accept" | "call_decline" | "call_hangup">(type: T) => (raw: RawCommand) =>
    ({ type, call: requireCallId(raw), cid: clientId(raw) }) as Extract<
      Command,
      { type: T }
    >;

/** An offer or an answer: the call and its session description. */
const callDescription = <T extends "call_offer" | "call_answer">(type: T) => (raw: RawCommand) =>
  ({ type, call: requireCallId(raw), sdp: requireSdp(raw), cid: clientId(raw) }) as Extract<
    Command,
    { type: T }
  >;

// Signing in costs more than chatting: each attempt burns a slow key derivation.
const SIGN_IN_COST = 5;

export const COMMANDS: { [T in Command["type"]]: Spec<T> } = {
  // {"type":"register","name":N,"password":P,"lang"?:L}
  register: { auth: "out", cost: SIGN_IN_COST, parse: credentials("register"), run: handleAuth },
  // {"type":"login","name":N,"password":P,"lang"?:L}
  login: { auth: "out", cost: SIGN_IN_COST, parse: credentials("login"), run: handleAuth },
  // text mode's bare-name sign-in: login, or register when the name is new
  auth: { auth: "out", cost: SIGN_IN_COST, parse: credentials("auth"), run: handleAuth },
  // {"type":"resume","name":N,"token":T,"device":D,"lang"?:L}: a device's token, no password
  resume: {
    auth: "out",
    // No slow hash to pay for: a reconnect storm of resumes is cheap; guesses are throttled.
    cost: 1,
    parse: (raw) => ({
      type: "resume",
      name: requireString(raw, "name", 64),
      token: requireString(raw, "token", 128),
      device: requireDevice(raw),
      lang: optionalString(raw, "lang", 35),
      cid: clientId(raw),
    }),
    run: handleResume,
  },
  // {"type":"logout"}: revokes the user's resume tokens and hangs up
  logout: {
    auth: "in",
    cost: 1,
    parse: (raw) => ({ type: "logout", cid: clientId(raw) }),
    run: handleLogout,
  },
  // {"type":"send","to":NAME|"all","text":T,"file"?:ID,"cid"?:C}
  send: {
    auth: "in",
    cost: 1,
    parse: (raw) => {
      const file = optionalString(raw, "file", 64);
      const text = typeof raw.text === "string"
        ? raw.text
        : file !== undefined && raw.text === undefined
        ? ""
        : requireString(raw, "text");
      const cmd = {
        type: "send" as const,
        to: requireString(raw, "to", 64),
        text,
        cid: clientId(raw),
      };
      return file === undefined ? cmd : { ...cmd, file };
    },
    run: handleSend,
  },
  // {"type":"typing","to":NAME|"all","active"?:true}
  typing: {
    auth: "in",
    cost: 0.25,
    parse: (raw) => ({
      type: "typing",
      to: requireString(raw, "to", 64),
      active: optionalBoolean(raw, "active", true),
      cid: clientId(raw),
    }),
    run: handleTyping,
  },
  // {"type":"lang","lang":L}
  lang: {
    auth: "in",
    cost: 1,
    parse: (raw) => ({ type: "lang", lang: requireString(raw, "lang", 35), cid: clientId(raw) }),
    run: handleLang,
  },
  // {"type":"who"}
  who: {
    auth: "in",
    cost: 1,
    parse: (raw) => ({ type: "who", cid: clientId(raw) }),
    run: handleWho,
  },
  // {"type":"search_users","query":PREFIX,"cursor"?:NEXT,"limit"?:N}
  search_users: {
    auth: "in",
    cost: 1,
    parse: (raw) => ({
      type: "search_users",
      // "" lists everyone, a page at a time; a leading @ is how names are written in messages.
      query: optionalText(raw, "query", 33).trim().replace(/^@/, ""),
      cursor: optionalString(raw, "cursor", 64),
      limit: optionalCount(raw, "limit", SEARCH_PAGE, 1, MAX_SEARCH_PAGE),
      cid: clientId(raw),
    }),
    run: handleSearchUsers,
  },
  // {"type":"ack","ids":[ID,...]} or, from a device, {"type":"ack","upTo":SEQ}
  ack: {
    auth: "in",
    cost: 0,
    parse: (raw) => {
      const upTo = optionalSeq(raw, "upTo");
      return upTo !== undefined && raw.ids === undefined
        ? { type: "ack", upTo, cid: clientId(raw) }
        : { type: "ack", ids: requireStringList(raw, "ids", 1000), cid: clientId(raw) };
    },
    run: handleAck,
  },
  // {"type":"history","with":"@bob"|"#dev","before"?:SEQ,"limit"?:N}
  history: {
    auth: "in",
    cost: 2,
    parse: (raw) => ({
      type: "history",
      with: requireString(raw, "with", 65),
      before: optionalSeq(raw, "before"),
      limit: optionalCount(raw, "limit", HISTORY_PAGE, 1, MAX_HISTORY_PAGE),
      cid: clientId(raw),
    }),
    run: handleHistory,
  },
  // {"type":"read","with":"@bob"|"#dev","upTo":SEQ}
  read: {
    auth: "in",
    cost: 0.25,
    parse: (raw) => ({
      type: "read",
      with: requireString(raw, "with", 65),
      upTo: requireCount(raw, "upTo"),
      cid: clientId(raw),
    }),
    run: handleRead,
  },
  // {"type":"receipts","on":BOOL}
  receipts: {
    auth: "in",
    cost: 0.25,
    parse: (raw) => {
      if (typeof raw.on !== "boolean") {
        throw new ParleyError("bad_argument", `'receipts' needs "on" as true or false.`);
      }
      return { type: "receipts", on: raw.on, cid: clientId(raw) };
    },
    run: handleReceipts,
  },
  // {"type":"conversations"}
  conversations: {
    auth: "in",
    cost: 1,
    parse: (raw) => ({ type: "conversations", cid: clientId(raw) }),
    run: handleConversations,
  },
  // {"type":"help"}
  help: {
    auth: "any",
    cost: 1,
    parse: (raw) => ({ type: "help", cid: clientId(raw) }),
    run: handleHelp,
  },
  // {"type":"ping"}
  ping: {
    auth: "any",
    cost: 0.1,
    parse: (raw) => ({ type: "ping", cid: clientId(raw) }),
    run: handlePing,
  },
  // {"type":"heartbeat","seq":N}: the answer to the server's heartbeat. It says the client reads
  // now, so it must not wait behind the client's own sends.
  heartbeat: {
    auth: "any",
    cost: 0,
    queue: false,
    parse: (raw) => ({ type: "heartbeat", seq: requireCount(raw, "seq"), cid: clientId(raw) }),
    run: (_router, session, cmd) => session.watch.answered(cmd.seq),
  },
  // {"type":"originals","show":BOOL}
  originals: {
    auth: "in",
    cost: 0.1,
    parse: (raw) => ({
      type: "originals",
      show: optionalBoolean(raw, "show", true),
      cid: clientId(raw),
    }),
    run: handleOriginals,
  },
  // {"type":"quit"}
  quit: {
    auth: "any",
    cost: 0,
    parse: (raw) => ({ type: "quit", cid: clientId(raw) }),
    run: handleQuit,
  },
  // {"type":"join","room":ROOM,"visibility"?:"public"|"invite","create"?:BOOL}
  join: {
    auth: "in",
    cost: 1,
    parse: (raw) => ({
      type: "join",
      room: requireRoomName(raw),
      visibility: optionalChoice(raw, "visibility", ["public", "invite"] as const, "public"),
      create: optionalBoolean(raw, "create", false),
      cid: clientId(raw),
    }),
    run: handleJoin,
  },
  // {"type":"leave","room":ROOM}
  leave: {
    auth: "in",
    cost: 1,
    parse: (raw) => ({ type: "leave", room: requireRoomName(raw), cid: clientId(raw) }),
    run: handleLeave,
  },
  // {"type":"rooms","after"?:ROOM,"limit"?:N}
  rooms: {
    auth: "in",
    cost: 1,
    parse: (raw) => ({
      type: "rooms",
      after: raw.after === undefined || raw.after === null
        ? undefined
        : requireRoomName(raw, "after"),
      limit: optionalCount(raw, "limit", ROOMS_PAGE, 1, MAX_ROOMS_PAGE),
      cid: clientId(raw),
    }),
    run: handleRooms,
  },
  // {"type":"topic","room":ROOM,"text":T}
  topic: {
    auth: "in",
    cost: 1,
    parse: (raw) => ({
      type: "topic",
      room: requireRoomName(raw),
      text: topicText(raw),
      cid: clientId(raw),
    }),
    run: handleTopic,
  },
  // {"type":"invite","room":ROOM,"user":NAME}
  invite: { auth: "in", cost: 1, parse: roomAndUser("invite"), run: handleInvite },
  // {"type":"kick","room":ROOM,"user":NAME}
  kick: { auth: "in", cost: 1, parse: roomAndUser("kick"), run: handleKick },
  // {"type":"owner","room":ROOM,"user":NAME}
  owner: { auth: "in", cost: 1, parse: roomAndUser("owner"), run: handleOwner },
  // {"type":"members","room":ROOM}
  members: {
    auth: "in",
    cost: 1,
    parse: (raw) => ({ type: "members", room: requireRoomName(raw), cid: clientId(raw) }),
    run: handleMembers,
  },
  // {"type":"calls","on":BOOL}: this session takes calls (docs/protocol.md, "Calls")
  calls: {
    auth: "in",
    cost: 1,
    parse: (raw) => ({ type: "calls", on: optionalBoolean(raw, "on", true), cid: clientId(raw) }),
    run: handleCalls,
  },
  // {"type":"call_ring","to":NAME,"media":"audio"|"video"}: each ring may leave a missed call
  // in the callee's conversation, so ringing costs more than a message.
  call_ring: {
    auth: "in",
    cost: 3,
    parse: (raw) => ({
      type: "call_ring",
      to: requireUserName(raw, "to"),
      media: requireMedia(raw),
      cid: clientId(raw),
    }),
    run: handleRing,
  },
  // {"type":"call_accept"|"call_decline"|"call_hangup","call":ID}
  call_accept: { auth: "in", cost: 1, parse: callAction("call_accept"), run: handleCallFrame },
  call_decline: { auth: "in", cost: 1, parse: callAction("call_decline"), run: handleCallFrame },
  call_hangup: { auth: "in", cost: 1, parse: callAction("call_hangup"), run: handleCallFrame },
  // {"type":"call_offer"|"call_answer","call":ID,"sdp":SDP}
  call_offer: { auth: "in", cost: 1, parse: callDescription("call_offer"), run: handleCallFrame },
  call_answer: { auth: "in", cost: 1, parse: callDescription("call_answer"), run: handleCallFrame },
  // {"type":"call_ice","call":ID,"candidate":{"candidate":C,"sdpMid":M,"sdpMLineIndex":N}}:
  // a browser trickles a dozen or so at the start of a call.
  call_ice: {
    auth: "in",
    cost: 0.25,
    parse: (raw) => ({
      type: "call_ice",
      call: requireCallId(raw),
      candidate: requireCandidate(raw),
      cid: clientId(raw),
    }),
    run: handleCallFrame,
  },
  // {"type":"file_token","purpose":"upload"|"download","id"?:ID}
  file_token: {
    auth: "in",
    cost: 1,
    parse: (raw) => {
      const purpose = optionalChoice(raw, "purpose", ["upload", "download"] as const, "upload");
      const id = purpose === "download" ? requireString(raw, "id", 64) : undefined;
      return {
        type: "file_token",
        purpose,
        ...(id === undefined ? {} : { id }),
        cid: clientId(raw),
      };
    },
    run: handleFileToken,
  },
};

function roomAndUser<T extends "invite" | "kick" | "owner">(type: T) {
  return (raw: RawCommand) =>
    ({
      type,
      room: requireRoomName(raw),
      user: requireUserName(raw),
      cid: clientId(raw),
    }) as Extract<Command, { type: T }>;
}

/** A topic: one line (a topic is shown on one), trimmed, "" to clear it. */
function topicText(raw: RawCommand): string {
  const text = optionalText(raw, "text", MAX_TOPIC).trim();
  if (/[\r\n]/.test(text)) {
    throw new ParleyError("bad_argument", "A topic is one line: no line breaks.");
  }
  return text;
}

/**
 * The table row for a frame's `type`, or undefined when there is none. Only the table's own
 * keys count: `constructor` or `__proto__` are not commands.
 */
export function lookupCommand(type: string): CommandSpec | undefined {
  return Object.hasOwn(COMMANDS, type)
    ? COMMANDS[type as Command["type"]] as unknown as CommandSpec
    : undefined;
}
