/**
 * One-time tokens for the HTTP file endpoint, for clients that have no session cookie: the
 * terminal client (issued through its encrypted session) and `nc` users (a link in the message
 * line). A token is good for one request, for one user, for one purpose, until it expires.
 *
 * They are kept in the store, filed under their SHA-256 hash (never the token itself), so a
 * token issued by one node or worker is honoured by whichever one the next request reaches, and
 * only once: using one up is a single `DELETE … RETURNING` (`Store.takeFileToken`).
 */
import { hashToken, isToken, newToken } from "../accounts/web_logins.ts";
import type { Logger } from "../log.ts";
import type { Store } from "../store/store.ts";

/** What a token allows. */
export type FileGrant =
  | { purpose: "upload"; userKey: string }
  | { purpose: "download"; userKey: string; fileId: string };

/** How long a token issued to the terminal client stays good. */
export const CLIENT_TOKEN_TTL_MS = 10 * 60 * 1000;
/** How long the link in an `nc` user's message line stays good (they may click later). */
export const LINK_TOKEN_TTL_MS = 24 * 60 * 60 * 1000;

/**
 * How long a token that is not in the store is looked for before it is refused: the time a
 * save on another node may take (sum of the waits, 50 ms doubling: 1.55 s).
 */
export const REDEEM_PATIENCE_MS = 1_000;

/** A token as issued: `saved` settles once the store has it (false: it could not be kept). */
export interface IssuedToken {
  token: string;
  expiresAt: number;
  saved: Promise<boolean>;
}

export class FileTokens {
  #store: Store;
  #logger?: Logger;
  #now: () => number;
  /**
   * Saves still under way, by token: a link is handed out as soon as it is made (an `nc` line
   * is written at once), so this node waits for the save before it looks the token up.
   */
  #saving = new Map<string, Promise<boolean>>();

  constructor(store: Store, options: { logger?: Logger; now?: () => number } = {}) {
    this.#store = store;
    this.#logger = options.logger;
    this.#now = options.now ?? Date.now;
  }

  /** A new token for `grant`, good for `ttlMs`; it is being saved when this returns. */
  issue(grant: FileGrant, ttlMs: number): IssuedToken {
    const token = newToken();
    const expiresAt = this.#now() + ttlMs;
    const saved = (async () => {
      try {
        await this.#store.saveFileToken({
          tokenHash: await hashToken(token),
          ...grant,
          expiresAt,
        });
        return true;
      } catch (err) {
        this.#logger?.warn("a one-time file token could not be saved; its link will not work", {
          error: err,
        });
        return false;
      } finally {
        this.#saving.delete(token);
      }
    })();
    this.#saving.set(token, saved);
    return { token, expiresAt, saved };
  }

  /**
   * Uses a token up: its grant, or undefined when unknown, used or expired. A token this node is
   * still saving is waited for; one it does not find is looked up again for up to
   * {@linkcode REDEEM_PATIENCE_MS}, since another node may still be saving it (an `nc` link is
   * out before its save has finished). So a refusal takes that long.
   */
  async redeem(token: string): Promise<FileGrant | undefined> {
    if (!isToken(token)) return undefined;
    await this.#saving.get(token);
    const hash = await hashToken(token);
    let record = await this.#store.takeFileToken(hash);
    for (let wait = 50; !record && wait < REDEEM_PATIENCE_MS; wait *= 2) {
      await new Promise((resolve) => setTimeout(resolve, wait));
      record = await this.#store.takeFileToken(hash);
    }
    if (!record || record.expiresAt <= this.#now()) return undefined;
    return record.purpose === "upload"
      ? { purpose: "upload", userKey: record.userKey }
      : { purpose: "download", userKey: record.userKey, fileId: record.fileId ?? "" };
  }
}
