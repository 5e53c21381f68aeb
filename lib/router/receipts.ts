import type { Command } from "../protocol/types.ts";
import { parseConv } from "../store/conv.ts";
import type { Router } from "./router.ts";
import type { ClientSession } from "./client_session.ts";
import { conversationList, resolveConversation, type Resolved } from "./conversation_names.ts";
import { nameOf } from "./room_audience.ts";

/** How many messages past the old delivered point one acknowledgement looks at for receipts. */
const DELIVERED_SCAN = 500;
/** Room read counts go to a sender at most this often per room. */
export const ROOM_RECEIPT_INTERVAL_MS = 1000;

/**
 * The user's delivered point may have moved past `before` (a device or session acknowledged):
 * the senders of the private messages it passed, when online, hear `delivered` for the newest of
 * theirs. Nothing is read when the point did not move or no sender could be told.
 */
export async function afterDelivery(
  router: Router,
  userKey: string,
  before: number,
): Promise<void> {
  const after = await router.store.deliveredSeq(userKey);
  if (after <= before) return;
  // At most after - before messages lie in the range: read no further than that.
  const page = await router.store.since(userKey, before, Math.min(DELIVERED_SCAN, after - before));
  const newest = new Map<string, { id: string; seq: number }>();
  for (const m of page.messages) {
    if (m.seq > after) break;
    if (m.senderKey === userKey || parseConv(m.conv).kind !== "private") continue;
    if (!router.cluster.isOnline(m.senderKey)) continue;
    newest.set(m.senderKey, { id: m.id, seq: m.seq });
  }
  if (newest.size === 0) return;
  const name = await nameOf(router, userKey);
  for (const [sender, m] of newest) {
    router.tellUsers([sender], {
      type: "receipt",
      with: name,
      id: m.id,
      seq: m.seq,
      state: "delivered",
    });
  }
}

/** Room read counts waiting for their interval, by conversation. */
const roomTimers = new WeakMap<Router, Map<string, { seq: number; sender: string }>>();

/**
 * {"type":"read","with":"@bob"|"#dev","upTo":N}: moves the read marker (never back), tells
 * every session of the user, and the senders (unless the user turned receipts off).
 */
export async function handleRead(
  router: Router,
  session: ClientSession,
  cmd: Extract<Command, { type: "read" }>,
): Promise<void> {
  const target = await resolveConversation(router, session.user!.key, cmd.with);
  await moveReadMarker(router, session, target, cmd.upTo, cmd.cid);
}

/**
 * Moves `session`'s user's read marker in `target` up to `upTo` (never back), tells every
 * session of the user (`cid` goes to `session`'s copy), and the sender of the newest message it
 * covers, unless the user turned read receipts off. A `read` frame and text mode showing a line
 * both come here.
 */
export async function moveReadMarker(
  router: Router,
  session: ClientSession,
  target: Resolved,
  upTo: number,
  cid?: string,
): Promise<void> {
  const user = session.user!;
  const readSeq = await router.store.markRead(user.key, target.conv, upTo);
  const unread =
    (await router.store.conversations(user.key)).find((c) => c.conv === target.conv)?.unread ?? 0;
  router.tellUsers([user.key], { type: "read", with: target.with, readSeq, unread }, session);
  session.emit({ type: "read", with: target.with, readSeq, unread, cid });
  if (readSeq === 0 || !(await router.store.receiptsOn(user.key))) return;
  // The newest message up to the marker: its sender is the one waiting to hear.
  const [last] = await router.store.history(target.conv, readSeq + 1, 1);
  if (!last || last.senderKey === user.key || !router.cluster.isOnline(last.senderKey)) return;
  if (target.kind === "private") {
    router.tellUsers([last.senderKey], {
      type: "receipt",
      with: user.name,
      id: last.id,
      seq: last.seq,
      state: "read",
    });
    return;
  }
  scheduleRoomReceipt(router, target.conv, target.with, last.seq, last.senderKey);
}

/** A room's read count goes to the sender at most once per interval, with the latest figure. */
function scheduleRoomReceipt(
  router: Router,
  conv: string,
  name: string,
  seq: number,
  sender: string,
): void {
  let waiting = roomTimers.get(router);
  if (!waiting) roomTimers.set(router, waiting = new Map());
  const already = waiting.has(conv);
  const current = waiting.get(conv);
  if (!current || seq >= current.seq) waiting.set(conv, { seq, sender });
  if (already) return;
  const send = async () => {
    const due = waiting.get(conv);
    waiting.delete(conv);
    if (!due) return;
    const readers = await router.store.readCount(conv, due.seq);
    router.tellUsers([due.sender], { type: "receipt", with: name, seq: due.seq, readers });
  };
  const timer = setTimeout(() => {
    send().catch((err) => router.logger.error("room receipt failed", { error: err }));
  }, ROOM_RECEIPT_INTERVAL_MS);
  Deno.unrefTimer(timer);
}

/** {"type":"receipts","on":false}: whether the user tells others what they read. */
export async function handleReceipts(
  router: Router,
  session: ClientSession,
  cmd: Extract<Command, { type: "receipts" }>,
): Promise<void> {
  const user = session.user!;
  await router.store.setReceipts(user.key, cmd.on);
  router.tellUsers([user.key], { type: "receipts", on: cmd.on }, session);
  session.emit({ type: "receipts", on: cmd.on, cid: cmd.cid });
}

/** {"type":"conversations"}: the user's conversations with unread counts, newest first. */
export async function handleConversations(
  router: Router,
  session: ClientSession,
  cmd: Extract<Command, { type: "conversations" }>,
): Promise<void> {
  const conversations = await conversationList(router, session.user!.key);
  session.emit({ type: "conversations", conversations, cid: cmd.cid });
}
