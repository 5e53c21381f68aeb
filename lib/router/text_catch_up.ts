import { nameKey } from "../accounts/names.ts";
import { parseConv, privateConv } from "../store/conv.ts";
import type { LogMessage, StoredMessage } from "../store/store.ts";
import { logMessagesFor } from "./catch_up.ts";
import { displayName } from "./conversation_names.ts";
import type { Router } from "./router.ts";
import type { ClientSession } from "./client_session.ts";

/** Room lines a text sign-in shows per room, newest last (docs/protocol.md, "Text mode"). */
export const SUMMARY_LINES_PER_ROOM = 5;
/** Room lines a text sign-in shows in all; past them a room gets only its "more" line. */
export const SUMMARY_LINES = 20;
/** How far back a room's newest unread lines are looked for (the user's own are skipped). */
const SUMMARY_SCAN = 50;

/**
 * The short catch-up of rooms at a text-mode sign-in: what the user has not read in their rooms
 * (past their read marker, sent by others: the unread count every client shows), as a header,
 * the newest few lines of each room (newest rooms first) and how many more `/history` has. The
 * lines shown move the read markers like any line text mode shows; a room whose lines did not
 * fit stays unread. Written ahead of any live event (the session holds them meanwhile).
 */
export async function writeRoomSummary(router: Router, session: ClientSession): Promise<void> {
  const user = session.user!;
  const rooms = (await router.store.conversations(user.key)).filter((c) =>
    c.unread > 0 && parseConv(c.conv).kind === "room"
  );
  if (rooms.length === 0 || session.closed) return;
  const total = rooms.reduce((n, c) => n + c.unread, 0);
  const blocks: { name: string; lines: LogMessage[]; unread: number }[] = [];
  let budget = SUMMARY_LINES;
  for (const c of rooms) {
    const take = Math.min(SUMMARY_LINES_PER_ROOM, budget, c.unread);
    const page = take > 0 ? await router.store.history(c.conv, undefined, SUMMARY_SCAN) : [];
    const lines = page.filter((m) => m.seq > c.readSeq && m.senderKey !== user.key).slice(-take);
    budget -= lines.length;
    blocks.push({ name: await displayName(router, user.key, c.conv), lines, unread: c.unread });
  }
  const events = await logMessagesFor(router, user.lang, blocks.flatMap((b) => b.lines));
  if (session.closed) return;
  session.writeNow({
    type: "info",
    text: `While you were away: ${plural(total, "message")} in ${plural(rooms.length, "room")}.`,
  });
  let at = 0;
  for (const b of blocks) {
    for (const event of events.slice(at, at += b.lines.length)) session.writeNow(event);
    const more = b.unread - b.lines.length;
    if (more > 0) {
      session.writeNow({ type: "info", text: `${more} more in ${b.name}: /history ${b.name}` });
    }
  }
}

/**
 * Private messages a text sign-in replayed in full: shown, so read. The replay does not carry
 * `seq`s; each conversation's newest replayed message is found in its latest history page.
 */
export async function markReplayedRead(
  router: Router,
  session: ClientSession,
  replayed: readonly StoredMessage[],
): Promise<void> {
  const user = session.user!;
  const newest = new Map<string, string>();
  for (const m of replayed) newest.set(m.from, m.id);
  for (const [from, id] of newest) {
    const peer = await router.store.getUser(nameKey(from));
    if (!peer) continue;
    const page = await router.store.history(
      privateConv(user.key, peer.key),
      undefined,
      SUMMARY_SCAN,
    );
    const seq = page.find((m) => m.id === id)?.seq;
    if (seq !== undefined) session.textReads?.shown(`@${peer.name}`, seq);
  }
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}
