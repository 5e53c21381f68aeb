/**
 * The messages the router's nodes send each other over a `Bus` (docs/bus.md). Hints say "look
 * now" about what the store holds; the rest is live only (presence, typing, `@all`), and a lost
 * one is repaired by the next heartbeat or simply not seen.
 */
import type { MessageEvent, ServerEvent } from "../protocol/types.ts";

/** A user signed in on the node that announces them. */
export interface PresentUser {
  key: string;
  name: string;
  lang: string;
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

export type NodeMessage =
  | StoredHint
  | BroadcastHint
  | TranslatedHint
  | TellMessage
  | OnlineMessage
  | OfflineMessage
  | HereMessage
  | ByeMessage
  | CloseWebLoginMessage;
