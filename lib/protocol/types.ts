/**
 * The typed vocabulary every transport and codec shares: commands a client sends and events the
 * server emits. Wire encodings (JSON frames, text lines) live beside this file; the router only
 * ever sees these types.
 */

/** Audience of a message: a user name, or `all` for a broadcast to everyone online. */
export const BROADCAST = "all";

/** A decoded client request. `cid` is an optional client reference echoed in the reply. */
export type Command =
  | {
    type: "register";
    name: string;
    password: string;
    lang?: string;
    /** The client's device id: it gets a cursor and a catch-up (docs/protocol.md, "Sync"). */
    device?: string;
    cid?: string;
  }
  | {
    type: "login";
    name: string;
    password: string;
    lang?: string;
    device?: string;
    cid?: string;
  }
  /** Text mode's interactive sign-in: log in when the name exists, register when it does not. */
  | { type: "auth"; name: string; password: string; lang?: string; device?: string; cid?: string }
  /** Signs a device in again with the resume token its last sign-in gave it: no password. */
  | { type: "resume"; name: string; token: string; device: string; lang?: string; cid?: string }
  /** Revokes the user's resume tokens and ends the connection (signing out). */
  | { type: "logout"; cid?: string }
  /** `file`: the id of a file the sender uploaded (docs/protocol.md, "Files"); `text` may be "". */
  | { type: "send"; to: string; text: string; file?: string; cid?: string }
  /**
   * A one-time token for the HTTP file endpoint: to upload (`purpose: "upload"`), or to download
   * file `id` (`purpose: "download"`, only for someone who may read it).
   */
  | { type: "file_token"; purpose: "upload" | "download"; id?: string; cid?: string }
  | { type: "typing"; to: string; active: boolean; cid?: string }
  | { type: "lang"; lang: string; cid?: string }
  | { type: "who"; cid?: string }
  /**
   * One page of the accounts whose name starts with `query` (without regard to case), by name;
   * `cursor` is the `next` of the page before.
   */
  | { type: "search_users"; query: string; cursor?: string; limit: number; cid?: string }
  /** By `ids` (a session without a device), or by cursor: everything up to `upTo` (a device). */
  | { type: "ack"; ids?: string[]; upTo?: number; cid?: string }
  /** One page of a conversation's history (`with`: `@name` or `#room`), before the seq `before`. */
  | { type: "history"; with: string; before?: number; limit: number; cid?: string }
  /** Moves the user's read marker in a conversation. */
  | { type: "read"; with: string; upTo: number; cid?: string }
  /** Whether this user sends read receipts. */
  | { type: "receipts"; on: boolean; cid?: string }
  | { type: "conversations"; cid?: string }
  | { type: "help"; cid?: string }
  | { type: "ping"; cid?: string }
  /** The answer to the server's `heartbeat`: proves the client reads what it is sent. */
  | { type: "heartbeat"; seq: number; cid?: string }
  /** Whether text mode shows the original after a translated message (JSON clients get both). */
  | { type: "originals"; show: boolean; cid?: string }
  | { type: "quit"; cid?: string }
  /**
   * Joins a room, creating it (owner: you) when nobody has that name; with `create`, only
   * creates (`room_taken` when the name is in use). `visibility` applies only to a new room.
   */
  | { type: "join"; room: string; visibility: RoomVisibility; create: boolean; cid?: string }
  | { type: "leave"; room: string; cid?: string }
  /** One page of the rooms you can see: public ones, yours, and those you are invited to. */
  | { type: "rooms"; after?: string; limit: number; cid?: string }
  | { type: "topic"; room: string; text: string; cid?: string }
  | { type: "invite"; room: string; user: string; cid?: string }
  | { type: "kick"; room: string; user: string; cid?: string }
  /** Hands the room's ownership to `user`, a member. */
  | { type: "owner"; room: string; user: string; cid?: string }
  | { type: "members"; room: string; cid?: string }
  /** This session can take calls (a WebRTC client): it is rung, and told the ICE servers. */
  | { type: "calls"; on: boolean; cid?: string }
  /** Rings `to` on every session of theirs that takes calls (docs/protocol.md, "Calls"). */
  | { type: "call_ring"; to: string; media: CallMedia; cid?: string }
  | { type: "call_accept"; call: string; cid?: string }
  | { type: "call_decline"; call: string; cid?: string }
  /** Cancels a call still ringing, or ends one in progress. */
  | { type: "call_hangup"; call: string; cid?: string }
  /** WebRTC session descriptions and ICE candidates, relayed to the other party's session. */
  | { type: "call_offer"; call: string; sdp: string; cid?: string }
  | { type: "call_answer"; call: string; sdp: string; cid?: string }
  | { type: "call_ice"; call: string; candidate: IceCandidate; cid?: string };

/** What a call carries: voice only, or voice and video. */
export type CallMedia = "audio" | "video";

/** One ICE candidate as `RTCIceCandidate.toJSON()` gives it; `candidate` "" ends the list. */
export interface IceCandidate {
  candidate: string;
  sdpMid: string | null;
  sdpMLineIndex: number | null;
  usernameFragment?: string;
}

/** A STUN or TURN server as the browser's `RTCPeerConnection` takes it (`--ice-servers`). */
export interface IceServer {
  urls: string[];
  username?: string;
  credential?: string;
}

/**
 * Where a call is, as `call` events tell it: `ringing` (yours, outgoing), `incoming` (someone
 * rings you), `accepted` (media may flow: the caller sends the offer), `ended`.
 */
export type CallState = "ringing" | "incoming" | "accepted" | "ended";

/**
 * Why a call ended: `declined` by the callee, `cancelled` by the caller before an answer,
 * `timeout` (nobody answered), `busy` (the callee is in another call), `hangup` (after an
 * answer), `disconnected` (a party's connection went), `answered_elsewhere` (another device of
 * the callee took it), `unreachable` (every ringing device of the callee went away).
 */
export type CallEndReason =
  | "declined"
  | "cancelled"
  | "timeout"
  | "busy"
  | "hangup"
  | "disconnected"
  | "answered_elsewhere"
  | "unreachable";

/** How a call went, as its entry in the conversation keeps it. */
export type CallOutcome = "missed" | "declined" | "ended";

/** The entry a call leaves in its conversation's log (a message with `call`). */
export interface CallEntry {
  media: CallMedia;
  outcome: CallOutcome;
  /** Seconds it lasted once answered (`ended` only). */
  duration?: number;
}

export type CommandType = Command["type"];

/** Presence states a user can be seen in. */
export type PresenceState = "online" | "offline" | "typing";

/** One user as listed by `who` and `welcome`. */
export interface UserStatus {
  name: string;
  state: PresenceState;
  lang: string;
}

/**
 * A file a message carries. `width`/`height` (pixels) are there for the images shown inline
 * (PNG, JPEG, GIF, WebP), read from the file's header, so a client can reserve the space.
 */
export interface FileInfo {
  /** The file's id: `GET /api/files/<id>` downloads it. */
  id: string;
  name: string;
  /** Its media type: one of the image types when the bytes are that image, else as declared. */
  type: string;
  /** Bytes. */
  size: number;
  width?: number;
  height?: number;
}

/** A chat message as delivered to a reader. */
export interface MessageEvent {
  type: "message";
  /** Server id: time-ordered, unique; clients drop duplicates by it. */
  id: string;
  from: string;
  /** A user name, or `all`. */
  to: string;
  text: string;
  /** Milliseconds since the epoch, when the server accepted the message. */
  ts: number;
  /** The file it shares, if any (`text` is then a caption, possibly empty). */
  file?: FileInfo;
  /** True when the message was stored while the reader was offline. */
  offline?: boolean;
  /** Its place in the message log (private and room messages; not `@all`). */
  seq?: number;
  /** True on the messages of a device's catch-up. */
  catchup?: boolean;
  /**
   * Language of `text` as delivered: the reader's language when it was translated, otherwise
   * the sender's. Absent on messages stored before translation existed.
   */
  lang?: string;
  /** Present when `text` is a translation: what the sender wrote, in which language, by whom. */
  original?: OriginalText;
  /**
   * Present when the reader's language differs from the sender's but the message could not be
   * translated: `text` is then the original, and this says why.
   */
  untranslated?: UntranslatedReason;
  /**
   * Present on the entry a call leaves (the sender is the caller): how it went. `text` then
   * says the same in words, for clients that do not know calls.
   */
  call?: CallEntry;
}

/** The sender's own words, carried with every translated delivery. */
export interface OriginalText {
  text: string;
  lang: string;
  /** The provider that translated it (`google`, `apertium`, `libretranslate`). */
  provider: string;
}

/**
 * Why a message arrives untranslated:
 * - `timeout`: the provider did not answer in time;
 * - `unavailable`: the provider failed (an error answer, or it could not be reached);
 * - `paused`: the provider failed repeatedly and Parley stopped asking it for a while;
 * - `unsupported`: the provider cannot translate between these two languages;
 * - `protected`: the translation lost a mention, link or code span, so the original is safer.
 */
export type UntranslatedReason =
  | "timeout"
  | "unavailable"
  | "paused"
  | "unsupported"
  | "protected";

/** Short human words for each {@linkcode UntranslatedReason}, shared by every client. */
export const UNTRANSLATED_REASONS: Record<UntranslatedReason, string> = {
  timeout: "the translator did not answer in time",
  unavailable: "the translator failed",
  paused: "the translator is paused after repeated failures",
  unsupported: "this language pair cannot be translated",
  protected: "the translation lost a name, link or code",
};

/** Who may join a room: anyone (`public`), or those invited (`invite`). */
export type RoomVisibility = "public" | "invite";

/** A member's standing in a room. */
export type RoomRole = "owner" | "member";

/** One room as `rooms` lists it. Room names in events always carry their `#`. */
export interface RoomListing {
  name: string;
  topic: string;
  visibility: RoomVisibility;
  /** How many members it has. */
  members: number;
  /** Your role, when you are a member. */
  role?: RoomRole;
  /** Present when you hold an invitation to it. */
  invited?: true;
  /** Messages in it you have not read, when you are a member. */
  unread?: number;
}

/** One member as `members` lists them. */
export interface RoomMemberStatus {
  name: string;
  role: RoomRole;
  state: "online" | "offline";
}

/** One conversation of the user, as `welcome` and `conversations` list it. */
export interface ConversationInfo {
  /** `@name` or `#room`. */
  with: string;
  lastSeq: number;
  lastTs: number;
  readSeq: number;
  unread: number;
}

/** Send outcome: `delivered` to at least one live connection, or `stored` durably for later. */
export type SendStatus = "delivered" | "stored";

export type ServerEvent =
  | {
    type: "hello";
    server: string;
    version: string;
    /** Seconds a connection may stay without logging in. */
    loginTimeout: number;
  }
  | {
    type: "welcome";
    user: string;
    lang: string;
    /** True when this sign-in created the account. */
    created: boolean;
    users: UserStatus[];
    /** Number of stored messages that follow this event. */
    pending: number;
    /** How many users are online; `users` lists at most 20 of them and the conversation partners. */
    online: number;
    /** The translation provider (`google`, `apertium`, `libretranslate`), or `off`. */
    translation: string;
    /** With a device: the device id, its cursor, the newest seq, the conversations. */
    device?: string;
    cursor?: number;
    seq?: number;
    conversations?: ConversationInfo[];
    /** Whether this user sends read receipts. */
    receipts?: boolean;
    /**
     * A JSON sign-in with a device: the token that device resumes with instead of the password,
     * and when it lapses unless used (milliseconds since the epoch).
     */
    resume?: { token: string; expiresAt: number };
    cid?: string;
  }
  | MessageEvent
  | {
    type: "presence";
    user: string;
    state: PresenceState;
    /** For `typing`: whom the typing is addressed to (`all` or the reader's own name). */
    to?: string;
    users?: undefined;
  }
  | {
    /** Several users came online (or went offline) in one round: one frame for all of them. */
    type: "presence";
    users: string[];
    state: "online" | "offline";
    user?: undefined;
    to?: undefined;
  }
  | {
    type: "sent";
    id: string;
    to: string;
    status: SendStatus;
    /** How many users received it live (broadcast) or 1/0 (private). */
    recipients: number;
    /** True when this cid was seen before and the original outcome is repeated. */
    duplicate?: boolean;
    /** The message's place in the log (private and room messages). */
    seq?: number;
    cid?: string;
  }
  | {
    type: "who";
    users: UserStatus[];
    /** How many users are online; `users` lists at most 1000 of them. */
    online: number;
    cid?: string;
  }
  | {
    /** The answer to `search_users`: one page of matching accounts, by name. */
    type: "users";
    query: string;
    users: UserStatus[];
    /** The `cursor` that asks for the next page; absent on the last page. */
    next?: string;
    cid?: string;
  }
  | { type: "lang"; lang: string; cid?: string }
  | { type: "acked"; count: number; cursor?: number; cid?: string }
  /** After each page of a device's catch-up: acknowledge `seq`; `more` pages follow the ack. */
  | { type: "synced"; seq: number; more: boolean }
  /**
   * A page of history, oldest first; `more`: older messages remain. In a private conversation,
   * `peer` says how far the other person got (`delivered`) and read (`read`, absent when they
   * send no read receipts), so the reader's own messages show their state after a reload too.
   */
  | {
    type: "history";
    with: string;
    messages: MessageEvent[];
    more: boolean;
    peer?: { delivered: number; read?: number };
    cid?: string;
  }
  /** The user's read marker in a conversation moved (on any of their devices). */
  | { type: "read"; with: string; readSeq: number; unread: number; cid?: string }
  /**
   * The state of a message the reader sent: private (`state`), or how many members of a room
   * read it (`readers`).
   */
  | {
    type: "receipt";
    with: string;
    id?: string;
    seq: number;
    state?: "delivered" | "read";
    readers?: number;
  }
  | { type: "receipts"; on: boolean; cid?: string }
  | { type: "conversations"; conversations: ConversationInfo[]; cid?: string }
  | { type: "pong"; cid?: string }
  /**
   * The answer to `file_token`: `url` works once, for `expiresAt` (ms since the epoch); an
   * upload `POST`s the file's bytes to it, a download `GET`s them.
   */
  | {
    type: "file_token";
    purpose: "upload" | "download";
    url: string;
    expiresAt: number;
    /** Upload: the largest file the server takes, the user's quota, and what of it is used. */
    maxBytes?: number;
    quotaBytes?: number;
    usedBytes?: number;
    cid?: string;
  }
  /**
   * JSON mode: sent to a connection that has been sent other events lately; the client answers
   * `{"type":"heartbeat","seq":N}`. A client that does not answer within the slow-reader timeout
   * is not reading, and is disconnected.
   */
  | { type: "heartbeat"; seq: number }
  | { type: "help"; text: string; cid?: string }
  /** Text-mode prompt during the interactive sign-in. */
  | { type: "prompt"; text: string; secret?: boolean }
  | { type: "info"; text: string; cid?: string }
  | { type: "error"; code: string; message: string; cid?: string; retryAfter?: number }
  | { type: "bye"; reason: string }
  /**
   * You are in a room: the answer to `join` (and told to your other sessions). `created`: this
   * join made the room. `members`: how many it has now.
   */
  | {
    type: "joined";
    room: string;
    topic: string;
    visibility: RoomVisibility;
    role: RoomRole;
    members: number;
    created: boolean;
    cid?: string;
  }
  /**
   * You are no longer in a room (you left; told to all your sessions), or, with `declined`,
   * you turned its invitation down.
   */
  | { type: "left"; room: string; declined?: true; cid?: string }
  /**
   * A change in a room, seen by every member on every session: a new topic, someone who joined
   * or left (or was removed: `by` is then the owner), a new owner. `by` is who did it.
   */
  | {
    type: "room";
    room: string;
    topic?: string;
    joined?: string;
    left?: string;
    owner?: string;
    by: string;
    /** Only on the copy to the session whose frame made the change. */
    cid?: string;
  }
  /**
   * You were invited to a room (live, and at sign-in while the invitation stands); with
   * `withdrawn`, the owner took the invitation back.
   */
  | { type: "invite"; room: string; by: string; withdrawn?: true }
  /**
   * The answer to `invite`: the invitation stands until `user` joins or declines; with
   * `withdrawn`, the answer to a `kick` that took it back.
   */
  | { type: "invited"; room: string; user: string; withdrawn?: true; cid?: string }
  /** The answer to `rooms`: one page, by name; `next` asks for the page after it. */
  | { type: "rooms"; rooms: RoomListing[]; next?: string; cid?: string }
  /** The answer to `members`: the room's members, owner first, then by name. */
  | { type: "members"; room: string; members: RoomMemberStatus[]; cid?: string }
  /** The answer to `calls`: whether this session takes calls, and the ICE servers to use. */
  | { type: "calls"; on: boolean; iceServers: IceServer[]; ringSeconds: number; cid?: string }
  /**
   * A call's state changed (see {@linkcode CallState}); `with` is the other party, `reason` and
   * `duration` (seconds since the answer) come with `ended`.
   */
  | {
    type: "call";
    call: string;
    with: string;
    media: CallMedia;
    state: CallState;
    reason?: CallEndReason;
    duration?: number;
    cid?: string;
  }
  /** The other party's session description or ICE candidate, relayed. */
  | { type: "call_offer"; call: string; sdp: string }
  | { type: "call_answer"; call: string; sdp: string }
  | { type: "call_ice"; call: string; candidate: IceCandidate };

export type ServerEventType = ServerEvent["type"];

/** A connection's wire dialect. */
export type Dialect = "text" | "json";
