import type { MessageEvent, ServerEvent } from "../protocol/types.ts";
import type { LogMessage } from "../store/store.ts";
import { messageFor } from "./translated_delivery.ts";
import type { Router } from "./router.ts";
import type { ClientSession } from "./client_session.ts";

/** Messages per catch-up page (docs/protocol.md, "Signing in with a device"). */
export const CATCH_UP_PAGE = 100;
/** How far `pending` in the welcome counts; more reads "at least this many". */
export const PENDING_COUNT_CAP = 10_000;

/**
 * A log entry as the message event every reader gets before translation: with its `seq`, and
 * the call it records or the file it shares. One place, so a new field reaches every way a
 * message goes out (catch-up, history, another node's hint).
 */
export function logEvent(m: LogMessage): MessageEvent {
  return {
    type: "message",
    id: m.id,
    seq: m.seq,
    from: m.from,
    to: m.to,
    text: m.text,
    ts: m.ts,
    ...(m.call === undefined ? {} : { call: m.call }),
    ...(m.file ? { file: m.file } : {}),
  };
}

/**
 * The message events of log entries as `reader` gets them: translated into the reader's language
 * of this moment (one provider call for the lot, through the cache), with their `seq`.
 */
export async function logMessagesFor(
  router: Router,
  readerLang: string,
  messages: readonly LogMessage[],
  extra: Partial<MessageEvent> = {},
): Promise<MessageEvent[]> {
  if (messages.length === 0) return [];
  const outcomes = await router.translation.translateMany(
    messages.map((m) => ({ text: m.text, source: m.lang })),
    readerLang,
  );
  return messages.map((m, i) =>
    messageFor(
      { ...logEvent(m), ...extra },
      outcomes[i],
      m.lang,
    )
  );
}

/**
 * Starts a device's catch-up after its sign-in: `lead` (the welcome) goes first and learns how
 * many messages follow, then the first page. Live events wait behind the catch-up until its last
 * page is out, so the order holds; the ones the catch-up carried already are dropped then.
 */
export async function startCatchUp(
  router: Router,
  session: ClientSession,
  lead: (pending: number) => ServerEvent,
): Promise<void> {
  const device = session.device!;
  const user = session.user!;
  session.holding ??= [];
  device.catchingUp = true;
  try {
    const page = await router.store.since(user.key, device.cursor, CATCH_UP_PAGE);
    let pending = page.messages.length;
    if (page.more) {
      // Counted on the seqs only as far as the cap: the welcome's figure is a hint.
      let after = page.messages.at(-1)!.seq;
      let more: boolean = page.more;
      while (more && pending < PENDING_COUNT_CAP) {
        const next = await router.store.since(user.key, after, 1000);
        pending += next.messages.length;
        more = next.more;
        after = next.messages.at(-1)?.seq ?? after;
      }
    }
    if (session.closed) return;
    session.writeNow(lead(pending));
    await writePage(router, session, page.messages, page.more);
  } catch (err) {
    device.catchingUp = false;
    session.release();
    throw err;
  }
}

/**
 * The device acknowledged: when that covers the last page sent, the next one follows.
 */
export async function continueCatchUp(router: Router, session: ClientSession): Promise<void> {
  const device = session.device!;
  if (!device.catchingUp || device.cursor < device.pageEnd) return;
  try {
    const page = await router.store.since(session.user!.key, device.pageEnd, CATCH_UP_PAGE);
    await writePage(router, session, page.messages, page.more);
  } catch (err) {
    device.catchingUp = false;
    session.release();
    throw err;
  }
}

async function writePage(
  router: Router,
  session: ClientSession,
  messages: LogMessage[],
  more: boolean,
): Promise<void> {
  const device = session.device!;
  const events = await logMessagesFor(router, session.user!.lang, messages, { catchup: true });
  if (session.closed) return;
  for (const event of events) {
    session.writeNow(event);
    session.replayed(event.id);
    device.sent(event.seq!);
  }
  device.pageEnd = Math.max(device.pageEnd, messages.at(-1)?.seq ?? device.pageEnd);
  session.writeNow({ type: "synced", seq: device.pageEnd, more });
  if (!more) {
    device.catchingUp = false;
    session.release();
  }
}
