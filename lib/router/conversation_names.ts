import { nameKey } from "../accounts/names.ts";
import { ParleyError } from "../errors.ts";
import type { ConversationInfo } from "../protocol/types.ts";
import { parseConv, privateConv, roomConv } from "../store/conv.ts";
import type { ConversationSummary, RoomRecord, UserRecord } from "../store/store.ts";
import type { Router } from "./router.ts";

/** What a `with` field (`@bob`, `bob`, `#dev`) names, resolved against the store. */
export type Resolved =
  | { kind: "private"; conv: string; peer: UserRecord; with: string }
  | { kind: "room"; conv: string; room: RoomRecord; with: string };

/** Whether a name a client wrote names a room (`#dev`) rather than a user. */
export function isRoomName(name: string): boolean {
  return name.startsWith("#");
}

/**
 * Resolves a conversation as a client names it, from `userKey`'s point of view.
 * @throws {ParleyError} `no_such_user`, `no_such_room`.
 */
export async function resolveConversation(
  router: Router,
  userKey: string,
  name: string,
): Promise<Resolved> {
  if (isRoomName(name)) {
    const key = nameKey(name.slice(1));
    const room = key ? await router.store.getRoom(key) : undefined;
    if (!room) {
      throw new ParleyError("no_such_room", `There is no room named '${name}'. /rooms lists them.`);
    }
    return { kind: "room", conv: roomConv(room.key), room, with: `#${room.name}` };
  }
  const key = nameKey(name.replace(/^@/, ""));
  const peer = key ? await router.store.getUser(key) : undefined;
  if (!peer) {
    throw new ParleyError("no_such_user", `There is no user named '${name}'. /who lists users.`);
  }
  return { kind: "private", conv: privateConv(userKey, peer.key), peer, with: `@${peer.name}` };
}

/** How a conversation key reads to `userKey`: `@name` or `#Room` (display names). */
export async function displayName(router: Router, userKey: string, conv: string): Promise<string> {
  const t = parseConv(conv);
  if (t.kind === "room") {
    const room = await router.store.getRoom(t.room);
    return `#${room?.name ?? t.room}`;
  }
  const peerKey = t.users[0] === userKey ? t.users[1] : t.users[0];
  const peer = await router.store.getUser(peerKey);
  return `@${peer?.name ?? peerKey}`;
}

/**
 * The user's conversations as `welcome` and `conversations` list them; `summaries` when the
 * store was read already.
 */
export async function conversationList(
  router: Router,
  userKey: string,
  summaries?: ConversationSummary[],
): Promise<ConversationInfo[]> {
  const list = summaries ?? await router.store.conversations(userKey);
  return await Promise.all(list.map(async (c) => ({
    with: await displayName(router, userKey, c.conv),
    lastSeq: c.lastSeq,
    lastTs: c.lastTs,
    readSeq: c.readSeq,
    unread: c.unread,
  })));
}

/** The keys of the people `userKey` has private conversations with. */
export function privatePeers(summaries: readonly ConversationSummary[], userKey: string): string[] {
  const keys: string[] = [];
  for (const c of summaries) {
    const t = parseConv(c.conv);
    if (t.kind === "private") keys.push(t.users[0] === userKey ? t.users[1] : t.users[0]);
  }
  return keys;
}
