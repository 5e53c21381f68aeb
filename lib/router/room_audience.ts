import type { ServerEvent } from "../protocol/types.ts";
import type { Router } from "./router.ts";
import type { ClientSession } from "./client_session.ts";

/** Invitations shown at sign-in, at most: more would bury the welcome. */
const MAX_INVITES_AT_SIGN_IN = 50;

/** A room's name as events carry it: with its `#`, as a conversation is named. */
export function roomLabel(name: string): string {
  return `#${name}`;
}

/** The display name of a user by key: from a live session, else the store (else the key). */
export async function nameOf(router: Router, key: string): Promise<string> {
  const live = router.cluster.userOf(key);
  if (live) return live.name;
  return (await router.store.getUser(key))?.name ?? key;
}

/** Who else hears of a room change besides the members, and who asked for it. */
export interface RoomAudience {
  /** Gets its own copy carrying `cid`: the reply to the frame that caused it, as `lang` does. */
  origin?: { session: ClientSession; cid?: string };
  /** Users told besides the members (someone just removed). */
  also?: string[];
  /** A member not told (the one who joined: they get `joined`). */
  except?: string;
}

/** Tells every online session of the room's members, on every node, about a change. */
export async function tellRoom(
  router: Router,
  roomKey: string,
  event: Extract<ServerEvent, { type: "room" }>,
  { origin, also = [], except }: RoomAudience = {},
): Promise<void> {
  const keys = new Set((await router.store.members(roomKey)).map((m) => m.userKey));
  for (const k of also) keys.add(k);
  if (except !== undefined) keys.delete(except);
  router.tellUsers(keys, event, origin?.session);
  origin?.session.emit({ ...event, cid: origin.cid });
}

/**
 * Tells all of a user's sessions, on every node, the same event; the one that asked gets the
 * copy with its `cid`. How `joined` and `left` reach every device.
 */
export function tellUser(
  router: Router,
  session: ClientSession,
  event: Extract<ServerEvent, { type: "joined" | "left" }>,
  cid: string | undefined,
): void {
  router.tellUsers([session.user!.key], event, session);
  session.emit({ ...event, cid });
}

/** Shows a user who just signed in the invitations they hold, oldest first. */
export async function showInvites(router: Router, session: ClientSession): Promise<void> {
  const invites = await router.store.invitesOf(session.user!.key);
  for (const invite of invites.slice(0, MAX_INVITES_AT_SIGN_IN)) {
    const room = await router.store.getRoom(invite.room);
    if (!room || session.closed) continue;
    session.emit({
      type: "invite",
      room: roomLabel(room.name),
      by: await nameOf(router, invite.byKey),
    });
  }
}
