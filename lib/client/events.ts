/**
 * The events of rooms, history, multi-device sync and receipts as the clients read them
 * (docs/protocol.md, "Rooms, history, sync and receipts"). Free of Deno APIs: the browser bundle
 * shares it.
 */
import type {
  MessageEvent,
  RoomListing,
  RoomMemberStatus,
  ServerEvent,
} from "../protocol/types.ts";

/** A room as listed by `rooms` (the server's type, under the name the clients use). */
export type RoomInfo = RoomListing;

/** One room member as listed by `members`. */
export type MemberInfo = RoomMemberStatus;

/** One conversation of the reader, as in `welcome.conversations` and `conversations`. */
export interface ConversationInfo {
  /** `@name` or `#room`. */
  with: string;
  lastSeq: number;
  lastTs: number;
  readSeq: number;
  unread: number;
}

/** The welcome's fields for a device (present when the sign-in named one). */
export interface DeviceWelcome {
  device?: string;
  /** Where this device stands: catch-up starts after it. */
  cursor?: number;
  /** The newest `seq` of the store. */
  seq?: number;
  conversations?: ConversationInfo[];
  /** Whether this user sends read receipts. */
  receipts?: boolean;
}

/** A message with the fields of stored conversations (`seq`, `catchup`). */
export type SeqMessage = MessageEvent & {
  /** Its place in the store; history pages and cursors are `seq`s. */
  seq?: number;
  /** True when it is part of the catch-up after sign-in. */
  catchup?: boolean;
};

/** The events the draft adds, each as the client reads it. */
export type SyncEvent =
  | { type: "synced"; seq: number; more: boolean }
  | { type: "history"; with: string; messages: SeqMessage[]; more: boolean; cid?: string }
  | { type: "read"; with: string; readSeq: number; unread: number; cid?: string }
  | { type: "receipts"; on: boolean; cid?: string }
  | { type: "conversations"; conversations: ConversationInfo[]; cid?: string }
  | {
    type: "receipt";
    /** `bob` / `@bob` for a private message, `#room` for a room. */
    with: string;
    seq: number;
    /** Private messages: the message id and its state. */
    id?: string;
    state?: "delivered" | "read";
    /** Room messages: how many members have read it. */
    readers?: number;
  };

/** Everything a client may receive: the served events and the draft's. */
export type ClientEvent = ServerEvent | SyncEvent;

/** True for a room conversation name (`#dev`). */
export function isRoom(name: string): boolean {
  return name.startsWith("#");
}

/**
 * The canonical name of a conversation for the reader: `#room` as is, a user as `@name`. Names
 * are compared without regard to case, so the key is lower-cased.
 */
export function conversationKey(name: string): string {
  const n = name.toLowerCase();
  return n.startsWith("#") || n.startsWith("@") ? n : `@${n}`;
}

/** The conversation a message belongs to, seen by `me`: `#room`, or `@` the other person. */
export function conversationOf(m: MessageEvent, me: string): string {
  if (isRoom(m.to)) return m.to;
  const other = m.from.toLowerCase() === me.toLowerCase() ? m.to : m.from;
  return `@${other}`;
}
