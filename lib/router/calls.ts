/**
 * Calls as the router runs them: the {@linkcode CallBook} over client sessions, which sessions
 * take calls (they said so with `calls`), the ICE servers they are told, and the entry each
 * call leaves in its conversation. Every event goes out through `Router.fanout`, the same
 * delivery as any other live event to a user's sessions.
 */
import { newMessageId } from "../ids.ts";
import { callEntryText } from "../protocol/call_entry.ts";
import type { CallEntry, IceServer, MessageEvent, ServerEvent } from "../protocol/types.ts";
import { privateConv } from "../store/conv.ts";
import { CallBook, type FinishedCall } from "./call_book.ts";
import { deliverMessage } from "./translated_delivery.ts";
import type { ClientSession } from "./client_session.ts";
import type { Router } from "./router.ts";

export class Calls {
  readonly book: CallBook<ClientSession>;
  /** What sessions that take calls are told to use (`--ice-servers`). */
  readonly iceServers: readonly IceServer[];
  readonly #router: Router;
  readonly #takers = new WeakSet<ClientSession>();

  constructor(router: Router, iceServers: readonly IceServer[]) {
    this.#router = router;
    this.iceServers = iceServers;
    this.book = new CallBook<ClientSession>({
      send: (targets, event) => this.#send(targets, event),
      finished: (call) => void this.#logEntry(call),
    }, { ringMs: router.limits.callRingMs });
  }

  /** Marks a session as one that takes calls, or not. */
  setTaker(session: ClientSession, on: boolean): void {
    if (on) this.#takers.add(session);
    else this.#takers.delete(session);
  }

  /** Whether this session said it takes calls. */
  takes(session: ClientSession): boolean {
    return this.#takers.has(session);
  }

  /** A signed-in session went away: the call it was in ends, or rings on elsewhere. */
  gone(session: ClientSession): void {
    if (session.user) this.book.gone(session, session.user.key);
  }

  #send(targets: readonly ClientSession[], event: ServerEvent): void {
    this.#router.fanout(event, targets.filter((s) => !s.closed));
  }

  /**
   * The call's entry in the conversation of the two: a message of the caller's, committed to
   * the log like any other, so history, every device and the unread count show it.
   */
  async #logEntry(call: FinishedCall): Promise<void> {
    const router = this.#router;
    const entry: CallEntry = {
      media: call.media,
      outcome: call.outcome,
      ...(call.duration === undefined ? {} : { duration: call.duration }),
    };
    const message: MessageEvent = {
      type: "message",
      id: newMessageId(),
      from: call.caller.name,
      to: call.callee.name,
      text: callEntryText(entry),
      ts: Date.now(),
      call: entry,
    };
    // The words are English; translation gives them to each reader in their own language.
    const lang = "en";
    try {
      const appended = await router.store.appendMessage({
        id: message.id,
        conv: privateConv(call.caller.key, call.callee.key),
        senderKey: call.caller.key,
        from: message.from,
        to: message.to,
        text: message.text,
        ts: message.ts,
        lang,
        call: entry,
      });
      message.seq = appended.seq;
    } catch (err) {
      // A full disk loses the entry, not the call; the log says so.
      router.logger.error("call entry not stored", { error: err });
      return;
    }
    const targets = new Set<ClientSession>([
      ...router.sessionsOf(call.caller.key),
      ...router.sessionsOf(call.callee.key),
    ]);
    deliverMessage(router, message, targets, { key: call.caller.key, lang }, { id: message.id });
  }
}
