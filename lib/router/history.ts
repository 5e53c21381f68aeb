import { ParleyError } from "../errors.ts";
import type { Command } from "../protocol/types.ts";
import { logMessagesFor } from "./catch_up.ts";
import type { Router } from "./router.ts";
import type { ClientSession } from "./client_session.ts";
import { resolveConversation } from "./conversation_names.ts";

/** Messages per history page unless the client asks otherwise, and the most it may ask. */
export const HISTORY_PAGE = 50;
export const MAX_HISTORY_PAGE = 100;

/**
 * Sends `session` one page of a conversation's history as a `history` event: up to `limit`
 * messages before `before` (the newest when absent), oldest first, translated on read into the
 * reader's language through the translation cache. The rooms code calls it after a join with
 * the room's conversation name (`#dev`). Checks that the reader may read it: one of the pair, or
 * a member of the room (a public room's history is open to anyone who could join it).
 * @throws {ParleyError} `no_such_user`, `no_such_room`, `not_a_member`.
 */
export async function sendHistoryPage(
  router: Router,
  session: ClientSession,
  conversation: string,
  options: { limit?: number; before?: number; cid?: string } = {},
): Promise<{ first?: number; more: boolean }> {
  const user = session.user!;
  const limit = Math.min(Math.max(1, options.limit ?? HISTORY_PAGE), MAX_HISTORY_PAGE);
  const target = await resolveConversation(router, user.key, conversation);
  if (target.kind === "room" && target.room.visibility === "invite") {
    if (!(await router.store.member(target.room.key, user.key))) {
      throw new ParleyError("not_a_member", `You are not in ${target.with}.`);
    }
  }
  // One more than asked: whether it came says whether older messages remain.
  const page = await router.store.history(target.conv, options.before, limit + 1);
  const more = page.length > limit;
  const kept = more ? page.slice(1) : page;
  const messages = await logMessagesFor(router, user.lang, kept);
  const peer = target.kind === "private" ? await peerProgress(router, target) : undefined;
  session.emit({ type: "history", with: target.with, messages, more, peer, cid: options.cid });
  return { first: kept[0]?.seq, more };
}

/**
 * How far the other person of a private conversation got: the same points the live receipts
 * follow (their delivered point; their read marker, unless they send no read receipts).
 */
async function peerProgress(
  router: Router,
  target: { conv: string; peer: { key: string } },
): Promise<{ delivered: number; read?: number }> {
  const key = target.peer.key;
  const [delivered, receipts] = await Promise.all([
    router.store.deliveredSeq(key),
    router.store.receiptsOn(key),
  ]);
  if (!receipts) return { delivered };
  return { delivered, read: await router.store.readMarker(key, target.conv) };
}

/** {"type":"history","with":"@bob"|"#dev","before"?:SEQ,"limit"?:N} */
export async function handleHistory(
  router: Router,
  session: ClientSession,
  cmd: Extract<Command, { type: "history" }>,
): Promise<void> {
  // Text mode's `/history` again asks for the page before the one it showed last.
  const again = cmd.before === undefined && session.lastHistory?.with === cmd.with
    ? session.lastHistory.before
    : undefined;
  const page = await sendHistoryPage(router, session, cmd.with, {
    limit: cmd.limit,
    before: cmd.before ?? (again || undefined),
    cid: cmd.cid,
  });
  if (session.conn.dialect === "text") {
    session.lastHistory = page.more && page.first !== undefined
      ? { with: cmd.with, before: page.first }
      : undefined;
  }
}
