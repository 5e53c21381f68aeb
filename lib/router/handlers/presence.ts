import { nameKey } from "../../accounts/names.ts";
import { BROADCAST, type Command } from "../../protocol/types.ts";
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
): void {
  const from = session.user!;
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

/** {"type":"who"} — online users first, then other registered users. */
export async function handleWho(
  router: Router,
  session: ClientSession,
  cmd: Extract<Command, { type: "who" }>,
): Promise<void> {
  const users = await router.userList();
  session.emit({ type: "who", users, online: router.online.size, cid: cmd.cid });
}
