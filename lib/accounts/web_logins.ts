/**
 * Browser sign-ins: a random token in an HttpOnly cookie, and only its SHA-256 hash in the
 * store, with an expiry. A reload or a reconnect presents the cookie instead of the password;
 * logout deletes the record, so the cookie is worthless from then on. Called web logins, apart
 * from the router's sessions and the encrypted SecureSession; the store keeps them as
 * `WebLoginRecord`s in its `web_sessions` table.
 */
import type { Store, UserRecord } from "../store/store.ts";

/** How long a browser sign-in lasts. @default 30 days */
export const WEB_LOGIN_TTL_MS = 30 * 24 * 3600 * 1000;

const TOKEN_BYTES = 32;
const TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/;

/**
 * Starts a browser sign-in for `userKey` and returns its token (43 characters of base64url):
 * the caller hands it to the browser and forgets it.
 */
export async function createWebLogin(
  store: Store,
  userKey: string,
  ttlMs: number = WEB_LOGIN_TTL_MS,
): Promise<string> {
  const token = newToken();
  const now = Date.now();
  await store.createWebLogin({
    tokenHash: await hashToken(token),
    userKey,
    createdAt: now,
    expiresAt: now + ttlMs,
  });
  return token;
}

/** The account a token signs in, or undefined when the token is malformed, unknown or expired. */
export async function resolveWebLogin(
  store: Store,
  token: string | undefined,
): Promise<UserRecord | undefined> {
  if (!isToken(token)) return undefined;
  const record = await store.getWebLogin(await hashToken(token));
  return record && await store.getUser(record.userKey);
}

/**
 * Ends the browser sign-in of `token` (logout), and revokes the user's resume tokens with it:
 * signing out is signing out everywhere a password is not typed again. A no-op for unknown
 * tokens.
 */
export async function endWebLogin(store: Store, token: string | undefined): Promise<void> {
  if (!isToken(token)) return;
  const tokenHash = await hashToken(token);
  const record = await store.getWebLogin(tokenHash);
  await store.deleteWebLogin(tokenHash);
  if (record) await store.deleteResumeTokens(record.userKey);
}

/** A new random token: 32 bytes as 43 characters of base64url. */
export function newToken(): string {
  return base64url(crypto.getRandomValues(new Uint8Array(TOKEN_BYTES)));
}

/** Whether `token` has the shape of a token from {@linkcode newToken}. */
export function isToken(token: unknown): token is string {
  return typeof token === "string" && TOKEN_PATTERN.test(token);
}

/** Hex SHA-256 of a token: the key its session is stored under. */
export async function hashToken(token: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(token));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function base64url(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}
