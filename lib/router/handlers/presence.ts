import { nameKey } from "../../accounts/names.ts";
import { BROADCAST, type Command, type ServerEvent } from "../../protocol/types.ts";
import { ParleyError } from "../../errors.ts";
import { roomConv } from "../../store/conv.ts";
import { isRoomName } from "../conversation_names.ts";
import type { Router } from "../router.ts";
import type { ClientSession } from "../client_session.ts";

/**
 * {"type":"typing","to":"bob"|"all","active":true}
 * Tells the addressed user(s) once when typing starts; refreshes keep it alive, and it stops by
 * itself after the typing TTL, on `active:false`, or when the message is sent.
 */
export function handleTyping(
  router: Router,
  session: ClientSession,
  cmd: Extract<Command, { type: "typing" }>,
): void | Promise<void> {
  const from = session.user!;
  if (isRoomName(cmd.to)) return typingInRoom(router, session, cmd);
  const toKey = nameKey(cmd.to);
  if (!cmd.active) return router.typing.stop(from.key, toKey);
  if (toKey === BROADCAST) {
    // Nobody else online, on any node: nobody to tell.
    if (router.cluster.onlineCount() <= 1 || !router.typing.start(from.key, toKey)) return;
    const event: ServerEvent = {
      type: "presence",
      user: from.name,
      state: "typing",
      to: BROADCAST,
    };
    router.fanout(event, router.othersOnline(from.key), from.key);
    router.cluster.tellAll(event, from.key);
    return;
  }
  // Typing to someone offline (or to oneself) has nobody to tell.
  const recipient = router.cluster.userOf(toKey);
  if (!recipient || toKey === from.key) return;
  if (router.typing.start(from.key, toKey)) {
    router.tellUsers([toKey], {
      type: "presence",
      user: from.name,
      state: "typing",
      to: recipient.name,
    });
  }
}

/**
 * {"type":"typing","to":"#dev"}: the room's other members online see `presence` typing with
 * `to: "#dev"`; only a member may.
 */
async function typingInRoom(
  router: Router,
  session: ClientSession,
  cmd: Extract<Command, { type: "typing" }>,
): Promise<void> {
  const from = session.user!;
  const room = await router.store.getRoom(nameKey(cmd.to.slice(1)));
  if (!room) throw new ParleyError("no_such_room", `There is no room named '${cmd.to}'.`);
  const key = roomConv(room.key);
  if (!cmd.active) return router.typing.stop(from.key, key);
  const event: ServerEvent = {
    type: "presence",
    user: from.name,
    state: "typing",
    to: `#${room.name}`,
  };
  // Started (told) only when it was not already, and only while a member.
  const told = await tellRoomMembers(router, room.key, from.key, event, () => {
    return router.typing.start(from.key, key);
  });
  if (told === undefined) {
    throw new ParleyError("not_a_member", `You are not in #${room.name}; /join it first.`);
  }
}

/**
 * Tells the sessions of a room's other members online, on every node, an event from
 * `exceptKey`, when `proceed` (if given) agrees. Undefined when `exceptKey` is not a member;
 * false when nobody was online to tell or `proceed` declined.
 */
export async function tellRoomMembers(
  router: Router,
  roomKey: string,
  exceptKey: string,
  event: ServerEvent,
  proceed?: () => boolean,
): Promise<boolean | undefined> {
  const members = await router.store.members(roomKey);
  if (!members.some((m) => m.userKey === exceptKey)) return undefined;
  const online = members.map((m) => m.userKey).filter((k) =>
    k !== exceptKey && router.cluster.isOnline(k)
  );
  if (online.length === 0 || (proceed && !proceed())) return false;
  const targets: ClientSession[] = [];
  for (const key of online) for (const s of router.sessionsOf(key)) targets.push(s);
  router.fanout(event, targets, exceptKey);
  router.cluster.tell(online, event);
  return true;
}

/** {"type":"who"} — online users first, then other registered users. */
export async function handleWho(
  router: Router,
  session: ClientSession,
  cmd: Extract<Command, { type: "who" }>,
): Promise<void> {
  const users = await router.userList();
  session.emit({ type: "who", users, online: router.cluster.onlineCount(), cid: cmd.cid });
}
