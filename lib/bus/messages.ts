/**
 * The messages the router's nodes send each other over a `Bus` (docs/bus.md). Hints say "look
 * now" about what the store holds; the rest is live only (presence, typing, `@all`), and a lost
 * one is repaired by the next heartbeat or simply not seen.
 */
import type { Command, MessageEvent, ServerEvent } from "../protocol/types.ts";

/** A user signed in on the node that announces them. */
export interface PresentUser {
  key: string;
  name: string;
  lang: string;
  /** A session of theirs on that node takes calls (absent: none does). */
  calls?: boolean;
  /** A session of theirs on that node is in a call, ringing or answered (absent: none is). */
  inCall?: boolean;
}

/**
 * Hint: message `seq` of `conv` was committed. Nodes with sessions of `users` (its readers and
 * its sender) read it from the store and deliver it to them. `langs`: the languages its node is
 * translating it into (the cache has them once `translated` follows).
 */
export interface StoredHint {
  kind: "stored";
  conv: string;
  seq: number;
  id: string;
  sender: string;
  /** The sender's language when they sent it (the source of translations). */
  lang: string;
  users: string[];
  langs: string[];
}

/** An `@all` broadcast: live only, never stored, so it carries the message itself. */
export interface BroadcastHint {
  kind: "all";
  message: MessageEvent;
  sender: { key: string; lang: string };
  langs: string[];
}

/** The translations announced in a `stored` or `all` hint are in the store's cache now. */
export interface TranslatedHint {
  kind: "translated";
  id: string;
}

/**
 * A live event for the sessions of `users` (or of everyone but `except`, with `all`): presence
 * changes, typing, receipts, read markers, room changes. `lang` events also change the language
 * of the user's sessions.
 */
export interface TellMessage {
  kind: "tell";
  users?: string[];
  all?: boolean;
  except?: string;
  event: ServerEvent;
}

/** A user's first session on the announcing node. */
export interface OnlineMessage {
  kind: "online";
  user: PresentUser;
}

/** A user's last session on the announcing node ended. */
export interface OfflineMessage {
  kind: "offline";
  key: string;
}

/**
 * Heartbeat: the announcing node is alive, and these are all its users (in `parts` messages of
 * one `round`; the last part completes the list). Without one for `ttlMs`, the node counts as gone.
 */
export interface HereMessage {
  kind: "here";
  round: number;
  part: number;
  parts: number;
  ttlMs: number;
  users: PresentUser[];
}

/** The announcing node shuts down cleanly: its users are offline there now. */
export interface ByeMessage {
  kind: "bye";
}

/** A browser login ended (signed out): close the sessions it signed in. */
export interface CloseWebLoginMessage {
  kind: "close-web-login";
  webLogin: string;
  reason: string;
}

/**
 * Admission across nodes (lib/router/shared_admission.ts): the announcing node admitted a
 * connection from `address`; the others count it against the address's limits.
 */
export interface AdmittedMessage {
  kind: "admitted";
  address: string;
}

/** A connection from `address` that the announcing node admitted has ended. */
export interface ReleasedMessage {
  kind: "released";
  address: string;
}

/**
 * The announcing node's open connections, `[address, count]` for each address with any (in
 * `parts` messages of one `round`; the last part replaces what the others held of it). Without
 * one for `ttlMs`, its connections stop counting.
 */
export interface AdmissionCountsMessage {
  kind: "admission-counts";
  round: number;
  part: number;
  parts: number;
  ttlMs: number;
  open: [string, number][];
}

/** A call frame a session sends about a call (docs/protocol.md, "Calls"). */
export type CallCommand = Extract<
  Command,
  {
    type:
      | "call_accept"
      | "call_decline"
      | "call_hangup"
      | "call_offer"
      | "call_answer"
      | "call_ice";
  }
>;

/**
 * Calls across nodes (docs/calls.md, "Across servers"). A call lives on its caller's node, the
 * owner; the bus does not address nodes, so each message names the node it is `to`, and every
 * other node ignores it. `user` is the user whose session(s) it concerns; `session` a session's
 * id on the node that holds it.
 *
 * - `deliver` (owner → node): the event of the call for that node's session, or, without
 *   `session`, for the sessions of `user` it rings there (an `incoming` event starts the ring).
 * - `rang` (node → owner): the sessions the node rings (none: it has none that take calls;
 *   `busy`: the user is in a call there).
 * - `act` (node → owner): a session's call frame, run by the owner as if it were its own.
 * - `refused` (owner → node): the owner refused that frame; the session gets the error.
 * - `gone` (node → owner): a session in the call went away.
 * - `tried` (to every node): the sessions of `user` that do not take calls are told `text`.
 */
export type CallMessage =
  & { kind: "call"; user: string }
  & (
    | { op: "deliver"; to: string; call: string; session?: number; event: ServerEvent }
    | { op: "rang"; to: string; call: string; sessions: number[]; busy?: true }
    | { op: "act"; to: string; call: string; session: number; command: CallCommand }
    | {
      op: "refused";
      to: string;
      call: string;
      session: number;
      error: { code: string; message: string };
      cid?: string;
    }
    | { op: "gone"; to: string; call: string; session: number }
    | { op: "tried"; text: string }
  );

export type NodeMessage =
  | StoredHint
  | BroadcastHint
  | TranslatedHint
  | TellMessage
  | OnlineMessage
  | OfflineMessage
  | HereMessage
  | ByeMessage
  | CloseWebLoginMessage
  | CallMessage
  | AdmittedMessage
  | ReleasedMessage
  | AdmissionCountsMessage;
