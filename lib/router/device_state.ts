/** Messages a device may have outstanding before the oldest stop being counted for `acked`. */
const MAX_OUTSTANDING = 10_000;

/**
 * A session signed in with a device id: where the device stands in the log (its cursor), whether
 * its catch-up is still running, and which seqs it was sent and has not acknowledged yet (so
 * `acked` can say how many an acknowledgement covered).
 */
export class DeviceState {
  readonly id: string;
  cursor: number;
  /** True from the welcome until the last catch-up page is out. */
  catchingUp = false;
  /** The last seq the catch-up sent (or the cursor it started from). */
  pageEnd: number;
  #outstanding: number[] = [];

  constructor(id: string, cursor: number) {
    this.id = id;
    this.cursor = cursor;
    this.pageEnd = cursor;
  }

  /** The session wrote the message `seq` to the device. */
  sent(seq: number): void {
    if (seq <= this.cursor) return;
    if (this.#outstanding.length >= MAX_OUTSTANDING) this.#outstanding.shift();
    this.#outstanding.push(seq);
  }

  /**
   * Whether the device has message `seq` already: acknowledged, sent by its catch-up, or sent
   * live and not yet acknowledged (a hint for it coming again, say).
   */
  holds(seq: number): boolean {
    return seq <= this.cursor || seq <= this.pageEnd || this.#outstanding.includes(seq);
  }

  /** The cursor moved to `cursor`; returns how many messages sent to it that covers. */
  acknowledge(cursor: number): number {
    this.cursor = Math.max(this.cursor, cursor);
    const before = this.#outstanding.length;
    this.#outstanding = this.#outstanding.filter((s) => s > this.cursor);
    return before - this.#outstanding.length;
  }
}
