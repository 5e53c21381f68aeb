import { nameKey } from "../../accounts/names.ts";
import { BROADCAST, type Command } from "../../protocol/types.ts";
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
  const targets = toKey === BROADCAST
    ? [...router.online].filter(([k]) => k !== from.key).flatMap(([, set]) => [...set])
    : [...router.sessionsOf(toKey)];
  // Typing to someone offline (or to oneself) has nobody to tell.
  if (targets.length === 0 || toKey === from.key) return;
  if (router.typing.start(from.key, toKey)) {
    const to = toKey === BROADCAST ? BROADCAST : targets[0].user!.name;
    router.fanout({ type: "presence", user: from.name, state: "typing", to }, targets, from.key);
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
  const targets = await roomAudience(router, room.key, from.key);
  if (!targets) {
    throw new ParleyError("not_a_member", `You are not in #${room.name}; /join it first.`);
  }
  if (targets.length === 0) return;
  if (router.typing.start(from.key, key)) {
    router.fanout(
      { type: "presence", user: from.name, state: "typing", to: `#${room.name}` },
      targets,
      from.key,
    );
  }
}

/**
 * The online sessions of a room's members but `exceptKey`'s; undefined when `exceptKey` is not a
 * member.
 */
export async function roomAudience(
  router: Router,
  roomKey: string,
  exceptKey: string,
): Promise<ClientSession[] | undefined> {
  const members = await router.store.members(roomKey);
  if (!members.some((m) => m.userKey === exceptKey)) return undefined;
  const targets: ClientSession[] = [];
  for (const m of members) {
    if (m.userKey !== exceptKey) { for (const s of router.sessionsOf(m.userKey)) targets.push(s); }
  }
  return targets;
}

/** {"type":"who"} — online users first, then other registered users. */
export async function handleWho(
  router: Router,
  session: ClientSession,
  cmd: Extract<Command, { type: "who" }>,
): Promise<void> {
  const users = await router.userList();
  session.emit({ type: "who", users, online: router.online.size, cid: cmd.cid });
}
