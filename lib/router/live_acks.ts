import { isStorageOutage } from "../errors.ts";
import type { Router } from "./router.ts";
import type { ClientSession } from "./client_session.ts";
import { afterDelivery } from "./receipts.ts";

/** How long acknowledgements gather before one write takes them all. */
const GATHER_MS = 100;

/**
 * Acknowledges, on behalf of sessions without a device, the messages they were given live: their
 * user's delivered point moves over them, so the next sign-in does not bring them again as
 * stored. Only what the reader surely took counts (`ClientSession.untaken`): a session dropped as
 * too slow leaves the rest past the delivered point, delivered at the next sign-in. Gathered for
 * a moment, so a busy reader costs one write (in the store's group commit) per moment, not one
 * per message.
 */
export class LiveAcks {
  readonly #router: Router;
  readonly #waiting = new Map<ClientSession, string[]>();
  /** Acknowledgements being written, by user: a sign-in reads its pending messages after them. */
  readonly #writing = new Map<string, Promise<void>>();
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(router: Router) {
    this.#router = router;
  }

  /** `session` (signed in, no device) was written message `id`. */
  add(session: ClientSession, id: string): void {
    let ids = this.#waiting.get(session);
    if (!ids) this.#waiting.set(session, ids = []);
    ids.push(id);
    this.#timer ??= setTimeout(() => {
      this.#timer = undefined;
      void this.flush();
    }, GATHER_MS);
  }

  /** Acknowledges what every session has taken; the rest waits for the next round. */
  async flush(): Promise<void> {
    const byUser = new Map<string, string[]>();
    for (const [session, ids] of this.#waiting) {
      const untaken = new Set(session.untaken().map((m) => m.id));
      const taken = ids.filter((id) => !untaken.has(id));
      const rest = ids.filter((id) => untaken.has(id));
      if (rest.length && !session.closed) this.#waiting.set(session, rest);
      else this.#waiting.delete(session);
      if (taken.length) {
        byUser.set(session.user!.key, [...byUser.get(session.user!.key) ?? [], ...taken]);
      }
    }
    if (this.#waiting.size) {
      this.#timer ??= setTimeout(() => {
        this.#timer = undefined;
        void this.flush();
      }, GATHER_MS * 10);
    }
    await Promise.all([...byUser].map(([key, ids]) => this.#ack(key, ids)));
  }

  /**
   * The session is gone: what it took is acknowledged now; what it never took (held back, or
   * unread by a reader dropped as too slow) stays for the next sign-in.
   */
  async detached(session: ClientSession): Promise<void> {
    const ids = this.#waiting.get(session);
    if (!ids) return;
    this.#waiting.delete(session);
    const untaken = new Set(session.untaken().map((m) => m.id));
    const tooSlow = session.conn.progress().tooSlow;
    const held = new Set(session.heldIds());
    const taken = ids.filter((id) => !held.has(id) && !(tooSlow && untaken.has(id)));
    if (taken.length) await this.#ack(session.user!.key, taken);
  }

  /**
   * Ids given live to open sessions of `userKey` other than `except` and not acknowledged yet: on
   * their way to a device that is online, so a replay to another session leaves them out (as
   * before the log, when a message delivered live was never stored for later). Should that
   * session be dropped as too slow, they come at the next sign-in.
   */
  inFlight(userKey: string, except: ClientSession): Set<string> {
    const ids = new Set<string>();
    for (const [session, waiting] of this.#waiting) {
      if (session === except || session.closed || session.user?.key !== userKey) continue;
      for (const id of waiting) ids.add(id);
    }
    return ids;
  }

  /** Stops the timer (shutdown); what waits is acknowledged by `flush`. */
  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Settles once every acknowledgement being written is committed (shutdown, before the store closes). */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.#writing.values()]);
  }

  /** Settles once the acknowledgements of `userKey` being written are committed. */
  idle(userKey: string): Promise<void> {
    return this.#writing.get(userKey) ?? Promise.resolve();
  }

  #ack(userKey: string, ids: string[]): Promise<void> {
    const next = (this.#writing.get(userKey) ?? Promise.resolve()).then(() =>
      this.#write(userKey, ids)
    );
    this.#writing.set(userKey, next);
    void next.then(() => {
      if (this.#writing.get(userKey) === next) this.#writing.delete(userKey);
    });
    return next;
  }

  async #write(userKey: string, ids: string[]): Promise<void> {
    try {
      const before = await this.#router.store.deliveredSeq(userKey);
      await this.#router.store.ack(userKey, ids);
      await afterDelivery(this.#router, userKey, before);
    } catch (err) {
      // A full disk or a lost database: they stay past the delivered point and come again at
      // the next sign-in (the store's tracking logs the episode once).
      if (isStorageOutage(err)) return;
      this.#router.logger.error("could not acknowledge live messages", { error: err });
    }
  }
}
