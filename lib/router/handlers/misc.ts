import type { Command } from "../../protocol/types.ts";
import { TEXT_HELP } from "../../protocol/text.ts";
import type { Router } from "../router.ts";
import type { ClientSession } from "../client_session.ts";

const JSON_HELP =
  "Frames: register, login, send, typing, lang, who, search_users, ack, history, read, receipts, " +
  "conversations, originals, ping, quit; rooms: join, leave, rooms, topic, invite, kick, owner, " +
  "members; calls: calls, call_ring, call_accept, call_decline, call_hangup, call_offer, " +
  "call_answer, call_ice; files: file_token. " +
  "See docs/protocol.md.";

/** {"type":"help"} */
export function handleHelp(
  _router: Router,
  session: ClientSession,
  cmd: Extract<Command, { type: "help" }>,
): void {
  session.emit({
    type: "help",
    text: session.conn.dialect === "text" ? TEXT_HELP : JSON_HELP,
    cid: cmd.cid,
  });
}

/** {"type":"ping"} */
export function handlePing(
  _router: Router,
  session: ClientSession,
  cmd: Extract<Command, { type: "ping" }>,
): void {
  session.emit({ type: "pong", cid: cmd.cid });
}

/** {"type":"quit"} */
export async function handleQuit(_router: Router, session: ClientSession): Promise<void> {
  // What text mode showed is read before the goodbye, so its receipts go out in order.
  try {
    await session.textReads?.flush();
  } finally {
    session.close("you quit");
  }
}

/** {"type":"originals","show":false} — text mode: hide or show originals after translations. */
export function handleOriginals(
  _router: Router,
  session: ClientSession,
  cmd: Extract<Command, { type: "originals" }>,
): void {
  session.showOriginals = cmd.show;
  session.emit({
    type: "info",
    text: cmd.show
      ? "Translated messages now show the original after them."
      : "Translated messages now show only the translation (/originals on shows originals).",
    cid: cmd.cid,
  });
}
