/**
 * Conversation keys of the message log. A private conversation is the pair of its users, keys
 * sorted (`@alice:bob`; a note to oneself is `@alice:alice`); a room is `#` and its key. User and
 * room keys never hold `:`, `@` or `#` (lib/accounts/names.ts), so a key reads one way only.
 */
import { ParleyError } from "../errors.ts";

/** The key of the private conversation between two users (given by key). */
export function privateConv(a: string, b: string): string {
  return a <= b ? `@${a}:${b}` : `@${b}:${a}`;
}

/** The key of a room's conversation. */
export function roomConv(roomKey: string): string {
  return `#${roomKey}`;
}

/** What a conversation key names. */
export type ConvTarget = { kind: "private"; users: [string, string] } | {
  kind: "room";
  room: string;
};

/**
 * Reads a conversation key.
 * @throws {ParleyError} `bad_argument` for anything else.
 */
export function parseConv(conv: string): ConvTarget {
  const m = /^@([^:@#]+):([^:@#]+)$/.exec(conv);
  if (m && m[1] <= m[2]) return { kind: "private", users: [m[1], m[2]] };
  const r = /^#([^:@#]+)$/.exec(conv);
  if (r) return { kind: "room", room: r[1] };
  throw new ParleyError("bad_argument", `'${conv}' is not a conversation.`);
}

/** The other user of a private conversation, seen from `userKey`. */
export function peerOf(conv: string, userKey: string): string | undefined {
  const t = parseConv(conv);
  if (t.kind !== "private") return undefined;
  return t.users[0] === userKey ? t.users[1] : t.users[1] === userKey ? t.users[0] : undefined;
}
