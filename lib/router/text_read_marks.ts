import { isParleyError } from "../errors.ts";
import type { MessageEvent } from "../protocol/types.ts";
import { resolveConversation } from "./conversation_names.ts";
import { moveReadMarker } from "./receipts.ts";
import type { Router } from "./router.ts";
import type { ClientSession } from "./client_session.ts";

/**
 * Text mode has no `read` frame: a line written to the person at the terminal is read. Each
 * message line moves the user's read marker in its conversation, gathered for a moment so a busy
 * room costs one marker write (and at most one receipt) per conversation per moment, not one per
 * line. Markers move even with `/receipts off`; only the receipts stay home (`moveReadMarker`).
 */
export class TextReadMarks {
  readonly #router: Router;
  readonly #session: ClientSession;
  /** The newest seq shown per conversation (as the session names it: `@bob`, `#Dev`). */
  readonly #waiting = new Map<string, number>();
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(router: Router, session: ClientSession) {
    this.#router = router;
    this.#session = session;
  }

  /** The session was written `event`, a private or room message of the log. */
  shownMessage(event: MessageEvent): void {
    const viewer = this.#session.user?.name;
    if (event.seq === undefined || viewer === undefined || event.to === "all") return;
    const withName = event.to.startsWith("#")
      ? event.to
      : `@${event.from === viewer ? event.to : event.from}`;
    this.shown(withName, event.seq);
  }

  /** Message `seq` of conversation `withName` was shown. */
  shown(withName: string, seq: number): void {
    if (seq > (this.#waiting.get(withName) ?? 0)) this.#waiting.set(withName, seq);
    this.#timer ??= setTimeout(() => {
      this.#timer = undefined;
      this.flush().catch((err) => {
        this.#router.logger.error("text read marker failed", { error: err });
      });
    }, this.#router.limits.textReadDelayMs);
  }

  /** Moves the markers over what was shown so far. */
  async flush(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const due = [...this.#waiting];
    this.#waiting.clear();
    const user = this.#session.user;
    if (!user) return;
    for (const [withName, seq] of due) {
      try {
        const target = await resolveConversation(this.#router, user.key, withName);
        await moveReadMarker(this.#router, this.#session, target, seq);
      } catch (err) {
        // Left the room meanwhile, or a full disk: the line stays unread, nothing worse.
        if (isParleyError(err)) continue;
        throw err;
      }
    }
  }
}
