import { nameKey } from "../../accounts/names.ts";
import { ParleyError } from "../../errors.ts";
import { newMessageId } from "../../ids.ts";
import { BROADCAST, type Command, type MessageEvent } from "../../protocol/types.ts";
import type { ClientIdRecord } from "../../store/store.ts";
import { deliverPending } from "../pending.ts";
import { deliverMessage } from "../translated_delivery.ts";
import type { Router } from "../router.ts";
import type { ClientSession } from "../client_session.ts";

const utf8 = new TextEncoder();

/**
 * {"type":"send","to":"bob"|"all","text":"hi","cid":"c1"}
 * Private messages go to every session of the recipient, or to the store when they are offline
 * (committed before the sender hears "stored"); broadcasts go to everyone online. The sender's
 * other sessions see the message too.
 */
export async function handleSend(
  router: Router,
  session: ClientSession,
  cmd: Extract<Command, { type: "send" }>,
): Promise<void> {
  const from = session.user!;
  const text = cmd.text;
  if (!text.trim()) throw new ParleyError("bad_argument", "The message is empty.");
  const size = utf8.encode(text).length;
  if (size > router.limits.maxMessageBytes) {
    throw new ParleyError(
      "too_large",
      `The message is ${size} bytes; the limit is ${router.limits.maxMessageBytes}.`,
    );
  }
  if (cmd.cid !== undefined) {
    const seen = router.recentClientIds.get(from.key, cmd.cid) ??
      await router.store.lookupClientId(from.key, cmd.cid);
    if (seen) return session.emit({ type: "sent", ...seen, duplicate: true, cid: cmd.cid });
  }

  const toKey = nameKey(cmd.to);
  const message: MessageEvent = {
    type: "message",
    id: newMessageId(),
    from: from.name,
    to: BROADCAST,
    text,
    ts: Date.now(),
  };
  const ownOthers = [...router.sessionsOf(from.key)].filter((s) => s !== session);
  const lang = from.lang;
  const sender = { key: from.key, lang };
  let outcome: ClientIdRecord;

  if (toKey === BROADCAST) {
    const targets = router.othersOnline(from.key, [...ownOthers]);
    deliverMessage(router, message, targets, sender);
    router.typing.stop(from.key, BROADCAST);
    outcome = {
      id: message.id,
      to: BROADCAST,
      status: "delivered",
      recipients: router.online.size - 1,
    };
  } else {
    const live = router.sessionsOf(toKey);
    if (live.size > 0) {
      message.to = live.values().next().value!.user!.name;
      const { reached } = deliverMessage(
        router,
        message,
        new Set([...live, ...ownOthers].filter((s) => s !== session)),
        sender,
        { id: message.id, from: from.name, to: message.to, toKey, text, ts: message.ts, lang },
      );
      // A note to oneself with no other device open reaches nobody; say so.
      const recipients = toKey === from.key && reached === 0 ? 0 : 1;
      outcome = { id: message.id, to: message.to, status: "delivered", recipients };
    } else {
      const recipient = await router.store.getUser(toKey);
      if (!recipient) {
        throw new ParleyError(
          "no_such_user",
          `There is no user named '${cmd.to}'. /who lists users.`,
        );
      }
      message.to = recipient.name;
      // The sender's language goes with it: the message is translated when it is delivered.
      const earlier = await router.store.storeOffline(
        {
          id: message.id,
          from: from.name,
          to: recipient.name,
          toKey,
          text,
          ts: message.ts,
          lang,
        },
        cmd.cid === undefined ? undefined : { senderKey: from.key, cid: cmd.cid },
      );
      if (earlier) return session.emit({ type: "sent", ...earlier, duplicate: true, cid: cmd.cid });
      router.stats.stored++;
      router.fanout({ ...message, lang: from.lang }, ownOthers, from.key);
      outcome = { id: message.id, to: recipient.name, status: "stored", recipients: 0 };
      // The recipient may have signed in while the write was in flight and missed it.
      for (const s of router.sessionsOf(toKey)) if (!s.holding) void deliverPending(router, s);
    }
    router.typing.stop(from.key, toKey);
  }
  router.stats.messages++;
  router.rememberClientId(from.key, cmd.cid, outcome);
  session.emit({ type: "sent", ...outcome, cid: cmd.cid });
  // The sender hears "sent" at once, and goes on; readers in other languages get the message as
  // soon as it is translated (at most the translation timeout later, in the order sent). The
  // rate limit bounds how much translation work one sender can have waiting.
}

/** {"type":"ack","ids":["..."]} — removes delivered stored messages; sends the next batch. */
export async function handleAck(
  router: Router,
  session: ClientSession,
  cmd: Extract<Command, { type: "ack" }>,
): Promise<void> {
  const user = session.user!;
  const count = await router.store.ack(user.key, cmd.ids);
  for (const id of cmd.ids) session.unacked.delete(id);
  session.emit({ type: "acked", count, cid: cmd.cid });
  if (session.unacked.size === 0 && session.morePending) await deliverPending(router, session);
}
