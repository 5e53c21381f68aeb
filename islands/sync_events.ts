/**
 * The events of rooms, history, sync and receipts (docs/protocol.md, "Rooms, history, sync and
 * receipts") as the browser reads them. Read defensively: a field the server leaves out is
 * treated as unknown, never as a crash.
 */
import type { OriginalText, UntranslatedReason } from "../lib/protocol/types.ts";

/** One conversation of `welcome.conversations` and the `conversations` reply. */
export interface ConversationSummary {
  /** `@name` or `#room`. */
  with: string;
  lastSeq: number;
  lastTs: number;
  readSeq: number;
  unread: number;
}

/** A message as `message` events and `history` pages carry it, with the sync fields. */
export interface SeqMessage {
  id: string;
  seq?: number;
  from: string;
  to: string;
  text: string;
  ts: number;
  catchup?: boolean;
  offline?: boolean;
  lang?: string;
  original?: OriginalText;
  untranslated?: UntranslatedReason;
}

export interface RoomMember {
  name: string;
  role: "owner" | "member";
  state: "online" | "offline" | "typing";
}

/** A room in the `rooms` reply. */
export interface RoomListing {
  name: string;
  topic?: string;
  visibility?: "public" | "invite";
  members?: number;
  /** Whether the user is in it, when the server says so. */
  joined?: boolean;
  member?: boolean;
  role?: "owner" | "member";
  invited?: boolean;
}

/** The events this file describes, by type. */
export type SyncEvent =
  | ({ type: "message" } & SeqMessage)
  | {
    type: "joined";
    room: string;
    topic?: string;
    visibility?: "public" | "invite";
    role?: "owner" | "member";
    members?: RoomMember[] | number;
    created?: boolean;
    cid?: string;
  }
  | { type: "left"; room: string; cid?: string }
  | {
    type: "room";
    room: string;
    topic?: string;
    joined?: string;
    left?: string;
    owner?: string;
    by?: string;
  }
  | { type: "invite"; room: string; by: string }
  | { type: "invited"; room: string; user: string; cid?: string }
  | { type: "history"; with: string; messages: SeqMessage[]; more: boolean; cid?: string }
  | { type: "rooms"; rooms: RoomListing[]; cid?: string }
  | { type: "members"; room: string; members: RoomMember[]; cid?: string }
  | { type: "conversations"; conversations: ConversationSummary[]; cid?: string }
  | { type: "read"; with: string; readSeq: number; unread: number; cid?: string }
  | { type: "receipts"; on: boolean; cid?: string }
  | { type: "synced"; seq: number; more: boolean }
  | {
    type: "receipt";
    with: string;
    id?: string;
    seq: number;
    state?: "delivered" | "read";
    readers?: number;
  };

/** The sync fields `welcome` gains. */
export interface WelcomeSync {
  device?: string;
  cursor?: number;
  seq?: number;
  conversations?: ConversationSummary[];
  receipts?: boolean;
}
