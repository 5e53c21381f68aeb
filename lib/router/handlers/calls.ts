import { nameKey } from "../../accounts/names.ts";
import { ParleyError } from "../../errors.ts";
import type { Command } from "../../protocol/types.ts";
import type { Router } from "../router.ts";
import type { ClientSession } from "../client_session.ts";
import type { CallCommand } from "../../bus/messages.ts";

/** {"type":"calls","on":true}: this session takes calls; the answer names the ICE servers. */
export function handleCalls(
  router: Router,
  session: ClientSession,
  cmd: Extract<Command, { type: "calls" }>,
): void {
  router.calls.setTaker(session, cmd.on);
  session.emit({
    type: "calls",
    on: cmd.on,
    iceServers: cmd.on ? [...router.calls.iceServers] : [],
    ringSeconds: Math.round(router.limits.callRingMs / 1000),
    cid: cmd.cid,
  });
}

/**
 * {"type":"call_ring","to":"bob","media":"video"}: rings every session of bob's that takes
 * calls, on this node and the others. His sessions that do not (text mode, the terminal
 * client) are told in words that a call was attempted; when he has no other, the caller hears
 * `calls_unavailable`.
 */
export async function handleRing(
  router: Router,
  session: ClientSession,
  cmd: Extract<Command, { type: "call_ring" }>,
): Promise<void> {
  const from = session.user!;
  if (!router.calls.takes(session)) {
    throw new ParleyError(
      "calls_unavailable",
      `This session does not take calls: send {"type":"calls","on":true} first.`,
    );
  }
  const toKey = nameKey(cmd.to.replace(/^@/, ""));
  if (toKey === from.key) throw new ParleyError("call_self", "You cannot call yourself.");
  const live = [...router.sessionsOf(toKey)];
  const callee = router.cluster.userOf(toKey) ?? await router.store.getUser(toKey);
  if (!callee) {
    throw new ParleyError("no_such_user", `There is no user named '${cmd.to}'. /who lists users.`);
  }
  if (!router.cluster.isOnline(toKey)) {
    throw new ParleyError(
      "user_offline",
      `${callee.name} is offline: calls reach only people online. Write to them instead.`,
    );
  }
  const takers = live.filter((s) => router.calls.takes(s));
  const nodes = router.cluster.remote.callNodes(toKey);
  const kind = cmd.media === "video" ? "a video call" : "a voice call";
  router.calls.tried(
    toKey,
    `${from.name} tried to call you (${kind}). Calls work in the browser: ` +
      `sign in there to take them.`,
  );
  if (takers.length === 0 && nodes.length === 0) {
    throw new ParleyError(
      "calls_unavailable",
      `${callee.name} cannot take calls where they are signed in (text mode or the terminal ` +
        `client); they were told you tried to call.`,
    );
  }
  router.calls.ring(
    session,
    { key: callee.key, name: callee.name },
    takers,
    nodes,
    cmd.media,
    cmd.cid,
  );
}

/**
 * {"type":"call_accept"|"call_decline"|"call_hangup","call":ID},
 * {"type":"call_offer"|"call_answer","call":ID,"sdp":SDP} and
 * {"type":"call_ice","call":ID,"candidate":{...}}: run by the node that holds the call (the
 * caller's); signalling is relayed as it is (checked by the table) to the other party's session
 * in the call, and to no one else.
 */
export function handleCallFrame(
  router: Router,
  session: ClientSession,
  cmd: CallCommand,
): void {
  router.calls.command(session, cmd);
}
