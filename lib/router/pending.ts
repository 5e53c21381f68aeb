import { isStorageOutage } from "../errors.ts";
import type { MessageEvent, ServerEvent } from "../protocol/types.ts";
import { messageFor } from "./translated_delivery.ts";
import { isRoomName } from "./conversation_names.ts";
import { afterDelivery } from "./receipts.ts";
import { markReplayedRead, writeRoomSummary } from "./text_catch_up.ts";
import type { Router } from "./router.ts";
import type { ClientSession } from "./client_session.ts";

/**
 * Replays a batch of stored messages to a session, oldest first, ahead of any live event held
 * meanwhile. JSON clients acknowledge explicitly; for text mode a completed write is the
 * acknowledgement, so the batch is removed once the socket took it, and the next batch follows.
 * `lead` makes an event (the welcome) that goes out first and learns how many follow.
 */
export async function deliverPending(
  router: Router,
  session: ClientSession,
  lead?: (pending: number) => ServerEvent,
): Promise<void> {
  const user = session.user!;
  session.holding ??= [];
  try {
    const batchSize = router.limits.pendingBatch;
    const stored = await router.store.pending(user.key, batchSize);
    if (session.closed) return;
    // What another session of the user is being given live is not replayed here too.
    const inFlight = router.liveAcks.inFlight(user.key, session);
    const waiting = stored.filter((m) => !inFlight.has(m.id));
    // Text mode replays private messages in full; rooms get a short summary at the end
    // (`writeRoomSummary`), and their messages here are only acknowledged.
    const text = session.conn.dialect === "text";
    const batch = text ? waiting.filter((m) => !isRoomName(m.to)) : waiting;
    const total = stored.length < batchSize
      ? batch.length
      : await router.store.pendingCount(user.key) - (stored.length - batch.length);
    // Translated into the reader's language of this moment, one provider call per batch.
    const outcomes = batch.length
      ? await router.translation.translateMany(
        batch.map((m) => ({ text: m.text, source: m.lang })),
        user.lang,
      )
      : [];
    if (session.closed) return;
    if (lead) session.writeNow(lead(total));
    let last = -1;
    batch.forEach((m, i) => {
      const message: MessageEvent = {
        type: "message",
        id: m.id,
        from: m.from,
        to: m.to,
        text: m.text,
        ts: m.ts,
        offline: true,
      };
      last = session.writeNow(messageFor(message, outcomes[i], m.lang));
      session.unacked.add(m.id);
      session.replayed(m.id);
    });
    session.morePending = stored.length === batchSize;
    if (text && waiting.length) {
      await session.conn.flushed();
      // Only what the socket took counts as delivered: not after a failed write or a slow reader.
      if (session.closed || session.conn.progress().accepted <= last) return;
      try {
        const before = await router.store.deliveredSeq(user.key);
        await router.store.ack(user.key, waiting.map((m) => m.id));
        // Their senders hear `delivered`, as when a device acknowledges.
        await afterDelivery(router, user.key, before);
      } catch (err) {
        // A full disk or a lost database: the batch stays stored and comes again at the next
        // sign-in.
        if (isStorageOutage(err)) return;
        throw err;
      }
      session.unacked.clear();
      await markReplayedRead(router, session, batch);
      if (session.morePending) {
        session.release();
        return deliverPending(router, session);
      }
    }
    if (text) await writeRoomSummary(router, session);
  } finally {
    session.release();
  }
}
