import { nameKey } from "../../accounts/names.ts";
import { ParleyError } from "../../errors.ts";
import { newMessageId } from "../../ids.ts";
import { BROADCAST, type Command, type MessageEvent } from "../../protocol/types.ts";
import { privateConv, roomConv } from "../../store/conv.ts";
import type { ClientIdRecord } from "../../store/store.ts";
import { deliverPending } from "../pending.ts";
import { deliverMessage } from "../translated_delivery.ts";
import type { Router } from "../router.ts";
import type { ClientSession } from "../client_session.ts";
import { isRoomName } from "../conversation_names.ts";
import { afterDelivery } from "../receipts.ts";
import { continueCatchUp } from "../catch_up.ts";

const utf8 = new TextEncoder();

/** What a send came to, as the `sent` event and a resend of the same `cid` tell it. */
type Outcome = ClientIdRecord & { seq?: number };

/**
 * {"type":"send","to":"bob"|"#room"|"all","text":"hi","cid":"c1"}
 * A private or room message is committed to the log first (one append, whoever reads it), then
 * goes live to every online session of every recipient and to the sender's other sessions: the
 * store is the truth, live delivery only saves the readers the asking. `sent` follows the commit.
 * `@all` is a live broadcast to everyone online, not stored.
 */
export async function handleSend(
  router: Router,
  session: ClientSession,
  cmd: Extract<Command, { type: "send" }>,
): Promise<void> {
  const from = session.user!;
  checkText(router, cmd.text);
  if (cmd.cid !== undefined) {
    // Recent sends are remembered here; older ones of stored messages are found by the append,
    // which also gives their seq.
    const seen = router.recentClientIds.get(from.key, cmd.cid);
    if (seen) return session.emit({ type: "sent", ...seen, duplicate: true, cid: cmd.cid });
  }
  const message: MessageEvent = {
    type: "message",
    id: newMessageId(),
    from: from.name,
    to: BROADCAST,
    text: cmd.text,
    ts: Date.now(),
  };
  // The sender's other sessions as the send began: they see what it sends.
  const others = [...router.sessionsOf(from.key)].filter((s) => s !== session);
  const outcome = nameKey(cmd.to) === BROADCAST && !isRoomName(cmd.to)
    ? broadcast(router, session, message, others)
    : await logAndDeliver(
      router,
      session,
      message,
      others,
      await audienceOf(router, from.key, cmd.to),
      cmd.cid,
    );
  if (!outcome) return;
  router.stats.messages++;
  router.rememberClientId(from.key, cmd.cid, outcome);
  session.emit({ type: "sent", ...outcome, cid: cmd.cid });
  // The sender hears "sent" at once, and goes on; readers in other languages get the message as
  // soon as it is translated (at most the translation timeout later, in the order sent). The
  // rate limit bounds how much translation work one sender can have waiting.
}

/** Refuses an empty text, or one over the size limit. */
function checkText(router: Router, text: string): void {
  if (!text.trim()) throw new ParleyError("bad_argument", "The message is empty.");
  const size = utf8.encode(text).length;
  if (size > router.limits.maxMessageBytes) {
    throw new ParleyError(
      "too_large",
      `The message is ${size} bytes; the limit is ${router.limits.maxMessageBytes}.`,
    );
  }
}

/** `@all`: live to everyone online, kept nowhere. */
function broadcast(
  router: Router,
  session: ClientSession,
  message: MessageEvent,
  others: ClientSession[],
): Outcome {
  const from = session.user!;
  const targets = router.othersOnline(from.key, others);
  const sender = { key: from.key, lang: from.lang };
  // Translated here for every language online on the other nodes too: they find it cached.
  const alsoLangs = router.cluster.remoteLangs();
  const { langs, translated } = deliverMessage(router, message, targets, sender, undefined, {
    alsoLangs,
  });
  router.cluster.broadcast(message, sender, langs, translated);
  router.typing.stop(from.key, BROADCAST);
  const recipients = router.cluster.onlineCount() - 1;
  return { id: message.id, to: BROADCAST, status: "delivered", recipients };
}

/** Who reads a private or room message, and under which conversation it is kept. */
interface Audience {
  conv: string;
  /** The conversation as the message names it: the recipient's name, or `#Room`. */
  to: string;
  readers: string[];
  /** What the sender's typing indicator was about. */
  typingKey: string;
}

/** The other user of a private conversation, or every member of a room. */
async function audienceOf(router: Router, fromKey: string, to: string): Promise<Audience> {
  if (isRoomName(to)) {
    const roomKey = nameKey(to.slice(1));
    const room = roomKey ? await router.store.getRoom(roomKey) : undefined;
    if (!room) {
      throw new ParleyError("no_such_room", `There is no room named '${to}'. /rooms lists them.`);
    }
    const conv = roomConv(room.key);
    const readers = (await router.store.members(room.key)).map((m) => m.userKey);
    return { conv, to: `#${room.name}`, readers, typingKey: conv };
  }
  const toKey = nameKey(to.replace(/^@/, ""));
  const recipient = router.cluster.userOf(toKey) ?? await router.store.getUser(toKey);
  if (!recipient) {
    throw new ParleyError("no_such_user", `There is no user named '${to}'. /who lists users.`);
  }
  return {
    conv: privateConv(fromKey, toKey),
    to: recipient.name,
    readers: [toKey],
    typingKey: toKey,
  };
}

/**
 * Appends the message to the log, then delivers it live to the readers online and the sender's
 * other sessions. Undefined when the cid was used before (its first outcome is sent instead).
 */
async function logAndDeliver(
  router: Router,
  session: ClientSession,
  message: MessageEvent,
  others: ClientSession[],
  audience: Audience,
  cid: string | undefined,
): Promise<Outcome | undefined> {
  const from = session.user!;
  message.to = audience.to;
  // Committed before anyone hears of it; a room message is refused here unless the sender is
  // a member (in the same transaction as the append).
  const appended = await router.store.appendMessage({
    id: message.id,
    conv: audience.conv,
    senderKey: from.key,
    from: from.name,
    to: message.to,
    text: message.text,
    ts: message.ts,
    lang: from.lang,
  }, cid);
  if (appended.duplicate) {
    session.emit({
      type: "sent",
      id: appended.id,
      to: message.to,
      status: "stored",
      recipients: 0,
      seq: appended.seq,
      duplicate: true,
      cid,
    });
    return undefined;
  }
  message.seq = appended.seq;
  const targets = new Set<ClientSession>(others);
  let reachedUsers = 0;
  for (const key of audience.readers) {
    if (key === from.key) continue;
    if (router.cluster.isOnline(key)) reachedUsers++;
    for (const s of router.sessionsOf(key)) targets.add(s);
  }
  const sender = { key: from.key, lang: from.lang };
  // The other nodes deliver to their sessions of the readers and of the sender, reading the
  // store; translated here into their readers' languages too, they find it in the cache.
  const users = audience.readers.includes(from.key)
    ? audience.readers
    : [...audience.readers, from.key];
  const { reached, langs, translated } = deliverMessage(
    router,
    message,
    targets,
    sender,
    { id: message.id },
    { alsoLangs: router.cluster.remoteLangs(users) },
  );
  router.cluster.stored(
    {
      conv: audience.conv,
      seq: appended.seq,
      id: message.id,
      sender: from.key,
      lang: from.lang,
      users,
    },
    langs,
    translated,
  );
  const noteToSelf = audience.readers.length === 1 && audience.readers[0] === from.key;
  // A note to oneself with no other device open reaches nobody; say so.
  const otherDevice = reached > 0 || router.cluster.remote.has(from.key);
  const recipients = noteToSelf ? (otherDevice ? 1 : 0) : reachedUsers;
  const status = noteToSelf || reachedUsers > 0 ? "delivered" : "stored";
  if (status === "stored") router.stats.stored++;
  router.typing.stop(from.key, audience.typingKey);
  return { id: message.id, to: message.to, status, recipients, seq: appended.seq };
}

/**
 * {"type":"ack","ids":["..."]} — a session without a device acknowledges stored messages by id;
 * the next batch follows. {"type":"ack","upTo":N} — a device moves its cursor to N.
 */
export async function handleAck(
  router: Router,
  session: ClientSession,
  cmd: Extract<Command, { type: "ack" }>,
): Promise<void> {
  const user = session.user!;
  if (cmd.upTo !== undefined) {
    if (session.device === undefined) {
      throw new ParleyError(
        "bad_argument",
        "ack with upTo needs a device: sign in with a device id, or acknowledge by ids.",
      );
    }
    const device = session.device;
    const before = await router.store.deliveredSeq(user.key);
    const cursor = await router.store.ackDevice(user.key, device.id, cmd.upTo);
    const count = device.acknowledge(cursor);
    // During the catch-up the answer goes ahead of the live events held back, like the pages.
    const acked = { type: "acked", count, cursor, cid: cmd.cid } as const;
    if (device.catchingUp) session.writeNow(acked);
    else session.emit(acked);
    await afterDelivery(router, user.key, before);
    if (device.catchingUp) await continueCatchUp(router, session);
    return;
  }
  const ids = cmd.ids ?? [];
  const before = await router.store.deliveredSeq(user.key);
  const count = await router.store.ack(user.key, ids);
  for (const id of ids) session.unacked.delete(id);
  session.emit({ type: "acked", count, cid: cmd.cid });
  await afterDelivery(router, user.key, before);
  if (session.unacked.size === 0 && session.morePending) await deliverPending(router, session);
}
