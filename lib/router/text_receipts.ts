import type { ServerEvent } from "../protocol/types.ts";

type ReceiptEvent = Extract<ServerEvent, { type: "receipt" }>;

/**
 * Which receipts a text session shows. A terminal is not a status column: only `read`, only for
 * the newest message the user sent in that conversation that the session knows of, and once per
 * message (`* bob read your message of 14:02`). `delivered` and room read counts are not shown
 * (`/history` and the other clients have them).
 */
export class TextReceipts {
  /** The newest seq the user sent per peer (lower-case name), as this session saw it. */
  readonly #lastOwn = new Map<string, number>();
  /** The newest seq a read receipt was shown for, per peer. */
  readonly #shown = new Map<string, number>();

  /** The user sent message `seq` to `peer` (from this session or another device). */
  sent(peer: string, seq: number): void {
    const key = peer.toLowerCase();
    if (seq > (this.#lastOwn.get(key) ?? 0)) this.#lastOwn.set(key, seq);
  }

  /** Whether to show `event`; remembers it when so. */
  wants(event: ReceiptEvent): boolean {
    if (event.readers !== undefined || event.state !== "read") return false;
    const key = event.with.toLowerCase();
    if (event.seq <= (this.#shown.get(key) ?? 0)) return false;
    // An older message of yours: the newest one is still unread.
    if (event.seq < (this.#lastOwn.get(key) ?? 0)) return false;
    this.#shown.set(key, event.seq);
    return true;
  }
}
