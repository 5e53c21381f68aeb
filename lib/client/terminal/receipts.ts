import { conversationKey, isRoom, type SyncEvent } from "../events.ts";

type Receipt = Extract<SyncEvent, { type: "receipt" }>;

/** Receipts kept per conversation while their message's `sent` is awaited. */
const MAX_EARLY = 4;

/** How long room read counts gather before one line says where they stand. */
const ROOM_RECEIPT_MS = 2000;

/** The user's latest message of one conversation, and what was said about it. */
interface Last {
  seq: number;
  id?: string;
  ts: number;
  /** Sent while the recipient was offline: its delivery is news worth a line. */
  stored: boolean;
  delivered: boolean;
  read: boolean;
  readers: number;
}

/**
 * Which receipts of the user's own messages are worth a line, so they never flood the screen:
 * only those of the latest message of each conversation; `delivered` only for a message the
 * recipient was offline for (otherwise the send line already said it arrived); `read` once;
 * a room's read count at most every 2 s, when it changed.
 */
export class ReceiptLines {
  #last = new Map<string, Last>();
  /**
   * Receipts that came before the `sent` of their message was handled (both can arrive in one
   * batch, and the send's caller hears of it a microtask later): the newest per conversation.
   */
  #early = new Map<string, Receipt[]>();
  #say: (text: string, ts: number, withName: string) => void;
  #roomTimers = new Map<string, ReturnType<typeof setTimeout>>();

  /**
   * `say(kind, ts, with)` prints one receipt line: `kind` is `delivered`, `read` or a room's
   * reader count as text, `ts` the time of the message.
   */
  constructor(say: (text: string, ts: number, withName: string) => void) {
    this.#say = say;
  }

  /** The user sent (or another of their devices sent) a message of `withName`. */
  sent(withName: string, seq: number | undefined, ts: number, id?: string, stored = false): void {
    if (seq === undefined) return;
    const key = conversationKey(withName);
    const last = this.#last.get(key);
    if (last && last.seq >= seq) return;
    this.#last.set(key, { seq, id, ts, stored, delivered: false, read: false, readers: 0 });
    const early = this.#early.get(key);
    this.#early.delete(key);
    for (const e of early ?? []) this.receipt(e);
  }

  /** A `receipt` from the server. */
  receipt(e: Receipt): void {
    const key = conversationKey(e.with);
    const last = this.#last.get(key);
    if (!last || e.seq > last.seq) {
      // Perhaps of a message whose `sent` is still on its way to `sent()`: kept for it.
      const early = this.#early.get(key) ?? [];
      this.#early.set(key, [...early.filter((r) => r.seq === e.seq), e].slice(-MAX_EARLY));
      return;
    }
    if (e.seq !== last.seq && (e.id === undefined || e.id !== last.id)) return;
    if (isRoom(key)) {
      if (e.readers === undefined || e.readers <= last.readers) return;
      last.readers = e.readers;
      if (this.#roomTimers.has(key)) return;
      this.#roomTimers.set(
        key,
        setTimeout(() => {
          this.#roomTimers.delete(key);
          const n = last.readers;
          this.#say(`${n} ${n === 1 ? "has" : "have"} read`, last.ts, e.with);
        }, ROOM_RECEIPT_MS),
      );
      return;
    }
    if (e.state === "read" && !last.read) {
      last.read = last.delivered = true;
      this.#say("read", last.ts, e.with);
    } else if (e.state === "delivered" && !last.delivered) {
      last.delivered = true;
      if (last.stored) this.#say("delivered", last.ts, e.with);
    }
  }

  /** Drops the pending room lines (the chat ends). */
  close(): void {
    for (const timer of this.#roomTimers.values()) clearTimeout(timer);
    this.#roomTimers.clear();
  }
}
