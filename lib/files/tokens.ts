/**
 * One-time tokens for the HTTP file endpoint, for clients that have no session cookie: the
 * terminal client (issued through its encrypted session) and `nc` users (a link in the message
 * line). A token is good for one request, for one user, for one purpose, until it expires. They
 * live in this process's memory only: a restart voids them (a new link is one command away).
 */

/** What a token allows. */
export type FileGrant =
  | { purpose: "upload"; userKey: string }
  | { purpose: "download"; userKey: string; fileId: string };

/** How long a token issued to the terminal client stays good. */
export const CLIENT_TOKEN_TTL_MS = 10 * 60 * 1000;
/** How long the link in an `nc` user's message line stays good (they may click later). */
export const LINK_TOKEN_TTL_MS = 24 * 60 * 60 * 1000;
/** Tokens kept at most; the oldest go first past it (a flood of history pages in `nc`). */
export const MAX_TOKENS = 100_000;

export class OneTimeTokens {
  #tokens = new Map<string, FileGrant & { expiresAt: number }>();
  #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** A new token for `grant`, good until `expiresAt`. */
  issue(grant: FileGrant, ttlMs: number): { token: string; expiresAt: number } {
    const bytes = crypto.getRandomValues(new Uint8Array(24));
    const token = btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_");
    const expiresAt = this.#now() + ttlMs;
    if (this.#tokens.size >= MAX_TOKENS) {
      this.#tokens.delete(this.#tokens.keys().next().value!);
    }
    this.#tokens.set(token, { ...grant, expiresAt });
    return { token, expiresAt };
  }

  /** Uses a token up: its grant, or undefined when unknown, used or expired. */
  redeem(token: string): FileGrant | undefined {
    const grant = this.#tokens.get(token);
    if (!grant) return undefined;
    this.#tokens.delete(token);
    if (grant.expiresAt <= this.#now()) return undefined;
    const { expiresAt: _, ...rest } = grant;
    return rest;
  }
}
