/**
 * Resume tokens: a JSON client that signed in with a password and a device id gets a random
 * token in its `welcome`, and signs that device in again with it (`resume`) instead of the
 * password, so a reconnect, and a reconnect storm after a restart, costs no password hash. The
 * store keeps only the token's SHA-256 hash, bound to the user and the device, with an expiry
 * that slides at each use. Logging out (the browser's, or the `logout` frame) revokes a user's
 * tokens. See docs/security.md, "Resume tokens".
 */
import { ParleyError } from "../errors.ts";
import type { UserRecord } from "../store/store.ts";
import { nameKey } from "./names.ts";
import { constantTimeEqual } from "./password.ts";
import { type SignInDeps, throwIfThrottled } from "./sign_in.ts";
import { hashToken, isToken, newToken } from "./web_logins.ts";

/** How long a resume token lasts unused; each resume starts the period again. @default 30 days */
export const RESUME_TTL_MS = 30 * 24 * 3600 * 1000;

/** What a client keeps to resume: the token and when it lapses unless used. */
export interface ResumeGrant {
  token: string;
  /** Milliseconds since the epoch. */
  expiresAt: number;
}

/** One resume attempt. */
export interface ResumeRequest {
  name: string;
  token: string;
  device: string;
  /** The peer's address, throttled alongside the name. */
  remoteAddr: string;
}

/**
 * Issues a new resume token to a user's device, replacing the one it had. The caller sends it
 * to the client and forgets it.
 */
export async function issueResumeToken(
  deps: Pick<SignInDeps, "store">,
  userKey: string,
  device: string,
  ttlMs: number = RESUME_TTL_MS,
): Promise<ResumeGrant> {
  const token = newToken();
  const now = Date.now();
  const expiresAt = now + ttlMs;
  await deps.store.saveResumeToken({
    userKey,
    device,
    tokenHash: await hashToken(token),
    createdAt: now,
    expiresAt,
  });
  return { token, expiresAt };
}

/**
 * Signs a device in with its resume token: no password hash, one SHA-256 and a constant-time
 * comparison. The token keeps its value and its expiry moves on by `ttlMs` (see
 * docs/security.md for why it is not rotated). Failures count against the same throttle as
 * wrong passwords, under the name and the address; a locked-out name or address is refused.
 * @throws {ParleyError} `throttled` (with `retryAfter`), or `bad_token` for a token that is
 * malformed, unknown, expired, revoked or of another device or user.
 */
export async function resumeSignIn(
  deps: SignInDeps,
  req: ResumeRequest,
  ttlMs: number = RESUME_TTL_MS,
): Promise<{ user: UserRecord; grant: ResumeGrant }> {
  const key = nameKey(req.name);
  const throttleKeys = [`name:${key}`, `addr:${req.remoteAddr}`];
  // Not reserved in the throttle as a password check is: a token check costs no hash, and 256
  // random bits are not guessed in parallel either. A reservation would turn a reconnect storm
  // from one address (a NAT, a restart) into lock-outs, since every resume in flight would count
  // as a failure to come.
  throwIfThrottled(deps.throttle.waitMs(throttleKeys));
  const user = await tokenOwner(deps, key, req);
  if (!user) {
    deps.throttle.fail(throttleKeys);
    deps.logger.info("resume refused", { name: req.name, from: req.remoteAddr });
    throw new ParleyError(
      "bad_token",
      "This sign-in token is not valid (expired, revoked or unknown); sign in with the password.",
    );
  }
  deps.throttle.succeed(throttleKeys[0]);
  const expiresAt = Date.now() + ttlMs;
  await deps.store.touchResumeToken(key, req.device, expiresAt);
  return { user, grant: { token: req.token, expiresAt } };
}

/** The account whose device holds `req.token`, or undefined. */
async function tokenOwner(
  deps: SignInDeps,
  key: string,
  req: ResumeRequest,
): Promise<UserRecord | undefined> {
  if (!isToken(req.token)) return undefined;
  const record = await deps.store.getResumeToken(key, req.device);
  if (!record) return undefined;
  const presented = new TextEncoder().encode(await hashToken(req.token));
  const stored = new TextEncoder().encode(record.tokenHash);
  if (!constantTimeEqual(presented, stored)) return undefined;
  return await deps.store.getUser(key);
}

/** Revokes every resume token of a user (logout; a password change would too). */
export async function revokeResumeTokens(
  deps: Pick<SignInDeps, "store">,
  userKey: string,
): Promise<number> {
  return await deps.store.deleteResumeTokens(userKey);
}
