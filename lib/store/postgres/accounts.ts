/**
 * Accounts, browser sign-ins, resume tokens and client ids on PostgreSQL: single statements on
 * the pool (nothing to check first, so no write lock), as `SqliteStore` runs them.
 */
import { ParleyError } from "../../errors.ts";
import type { ClientIdRecord, ResumeTokenRecord, UserRecord, WebLoginRecord } from "../store.ts";
import type { PgContext, PgRow, Q } from "./context.ts";
import { isUniqueViolation } from "./errors.ts";
import { resumeTokenOf, webLoginOf } from "../records.ts";

/** How long a stored message's client id is remembered for deduplication (as SQLite). */
export const CLIENT_ID_TTL_MS = 7 * 24 * 3600 * 1000;

function toUser(row: PgRow): UserRecord {
  return {
    key: String(row.key),
    name: String(row.name),
    passwordHash: String(row.password_hash),
    lang: String(row.lang),
    createdAt: Number(row.created_at),
  };
}

export async function createUser(ctx: PgContext, user: UserRecord): Promise<void> {
  try {
    await ctx.read((q) =>
      q`INSERT INTO users (key, name, password_hash, lang, created_at)
        VALUES (${user.key}, ${user.name}, ${user.passwordHash}, ${user.lang}, ${user.createdAt})`
    );
  } catch (err) {
    if (isUniqueViolation(err)) {
      throw new ParleyError("name_taken", `'${user.name}' is already registered.`);
    }
    throw err;
  }
}

export async function getUser(ctx: PgContext, key: string): Promise<UserRecord | undefined> {
  const rows = await ctx.read((q) =>
    q`SELECT key, name, password_hash, lang, created_at FROM users WHERE key = ${key}`
  );
  return rows[0] && toUser(rows[0]);
}

export async function listUsers(ctx: PgContext, limit: number): Promise<UserRecord[]> {
  const rows = await ctx.read((q) =>
    q`SELECT key, name, password_hash, lang, created_at FROM users ORDER BY key LIMIT ${limit}`
  );
  return rows.map(toUser);
}

export async function searchUsers(
  ctx: PgContext,
  prefix: string,
  after: string | undefined,
  limit: number,
): Promise<UserRecord[]> {
  // A range on the primary key (bytewise, COLLATE "C"), as in SQLite; "after" is exclusive.
  const from = after !== undefined && after >= prefix ? after : undefined;
  const to = `${prefix}\u{10FFFF}`;
  const rows = await ctx.read((q) =>
    from === undefined
      ? q`SELECT key, name, password_hash, lang, created_at FROM users WHERE key >= ${prefix} AND key < ${to}
          ORDER BY key LIMIT ${limit}`
      : q`SELECT key, name, password_hash, lang, created_at FROM users WHERE key > ${from} AND key < ${to}
          ORDER BY key LIMIT ${limit}`
  );
  return rows.map(toUser);
}

export async function setLang(ctx: PgContext, key: string, lang: string): Promise<void> {
  await ctx.read((q) => q`UPDATE users SET lang = ${lang} WHERE key = ${key}`);
}

export async function setPasswordHash(ctx: PgContext, key: string, hash: string): Promise<void> {
  await ctx.read((q) => q`UPDATE users SET password_hash = ${hash} WHERE key = ${key}`);
}

/** The first outcome of a client id, with the seq of its message. */
export async function clientId(
  q: Q,
  senderKey: string,
  cid: string,
): Promise<(ClientIdRecord & { seq: number }) | undefined> {
  const [row] = await q`SELECT id, to_name, seq FROM client_ids
    WHERE sender_key = ${senderKey} AND cid = ${cid}`;
  if (!row) return undefined;
  return {
    id: String(row.id),
    to: String(row.to_name),
    status: "stored",
    recipients: 0,
    seq: Number(row.seq),
  };
}

export async function lookupClientId(
  ctx: PgContext,
  senderKey: string,
  cid: string,
): Promise<ClientIdRecord | undefined> {
  const seen = await ctx.read((q) => clientId(q, senderKey, cid));
  if (!seen) return undefined;
  const { seq: _, ...record } = seen;
  return record;
}

/** Forgets client ids past their time (at open). */
export async function pruneClientIds(q: Q): Promise<void> {
  await q`DELETE FROM client_ids WHERE created_at < ${Date.now() - CLIENT_ID_TTL_MS}`;
}

export async function createWebLogin(ctx: PgContext, s: WebLoginRecord): Promise<void> {
  await ctx.read(async (q) => {
    await q`DELETE FROM web_sessions WHERE expires_at <= ${Date.now()}`;
    await q`INSERT INTO web_sessions (token_hash, user_key, created_at, expires_at)
      VALUES (${s.tokenHash}, ${s.userKey}, ${s.createdAt}, ${s.expiresAt})`;
  });
}

export async function getWebLogin(
  ctx: PgContext,
  tokenHash: string,
): Promise<WebLoginRecord | undefined> {
  const [row] = await ctx.read((q) =>
    q`SELECT token_hash, user_key, created_at, expires_at FROM web_sessions
      WHERE token_hash = ${tokenHash} AND expires_at > ${Date.now()}`
  );
  return row ? webLoginOf(row) : undefined;
}

export async function deleteWebLogin(ctx: PgContext, tokenHash: string): Promise<boolean> {
  const result = await ctx.read((q) => q`DELETE FROM web_sessions WHERE token_hash = ${tokenHash}`);
  return result.count > 0;
}

export async function saveResumeToken(ctx: PgContext, r: ResumeTokenRecord): Promise<void> {
  await ctx.read(async (q) => {
    await q`DELETE FROM resume_tokens WHERE expires_at <= ${Date.now()}`;
    await q`INSERT INTO resume_tokens (user_key, device, token_hash, created_at, expires_at)
      VALUES (${r.userKey}, ${r.device}, ${r.tokenHash}, ${r.createdAt}, ${r.expiresAt})
      ON CONFLICT (user_key, device) DO UPDATE SET token_hash = excluded.token_hash,
        created_at = excluded.created_at, expires_at = excluded.expires_at`;
  });
}

export async function getResumeToken(
  ctx: PgContext,
  userKey: string,
  device: string,
): Promise<ResumeTokenRecord | undefined> {
  const [row] = await ctx.read((q) =>
    q`SELECT user_key, device, token_hash, created_at, expires_at FROM resume_tokens
      WHERE user_key = ${userKey} AND device = ${device} AND expires_at > ${Date.now()}`
  );
  return row ? resumeTokenOf(row) : undefined;
}

export async function touchResumeToken(
  ctx: PgContext,
  userKey: string,
  device: string,
  expiresAt: number,
): Promise<boolean> {
  const result = await ctx.read((q) =>
    q`UPDATE resume_tokens SET expires_at = ${expiresAt}
      WHERE user_key = ${userKey} AND device = ${device} AND expires_at > ${Date.now()}`
  );
  return result.count > 0;
}

export async function deleteResumeTokens(
  ctx: PgContext,
  userKey: string,
  device?: string,
): Promise<number> {
  const result = await ctx.read((q) =>
    device === undefined
      ? q`DELETE FROM resume_tokens WHERE user_key = ${userKey}`
      : q`DELETE FROM resume_tokens WHERE user_key = ${userKey} AND device = ${device}`
  );
  return result.count;
}
