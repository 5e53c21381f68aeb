/**
 * The events of rooms, history, multi-device sync and receipts as the clients read them
 * (docs/protocol.md, "Rooms, history, sync and receipts"). Free of Deno APIs: the browser bundle
 * shares it.
 */
import type {
  ConversationInfo as ServerConversationInfo,
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
export type ConversationInfo = ServerConversationInfo;

type WelcomeEvent = Extract<ServerEvent, { type: "welcome" }>;

/** The welcome's fields for a device (present when the sign-in named one). */
export type DeviceWelcome = Pick<
  WelcomeEvent,
  "device" | "cursor" | "seq" | "conversations" | "receipts"
>;

/** A message with the fields of stored conversations (`seq`, `catchup`). */
export type SeqMessage = MessageEvent;

/** The events of history, sync, read markers and receipts. */
export type SyncEvent = Extract<
  ServerEvent,
  { type: "synced" | "history" | "read" | "receipts" | "conversations" | "receipt" }
>;

/** Everything a client may receive. */
export type ClientEvent = ServerEvent;

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
