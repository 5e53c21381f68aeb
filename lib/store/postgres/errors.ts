/**
 * What a failure of PostgreSQL means to a caller: the server cannot be reached (every call
 * fails until it can: `storage_unavailable`), its disk is full (`storage_full`), or the one
 * statement failed (a constraint, a check of the store: that call alone).
 */
import { ParleyError } from "../../errors.ts";

/** Errors of the client library when the connection is refused, lost or never made. */
const CONNECTION_CODES: ReadonlySet<string> = new Set([
  "CONNECTION_CLOSED",
  "CONNECTION_DESTROYED",
  "CONNECTION_ENDED",
  "CONNECT_TIMEOUT",
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
]);

/**
 * SQLSTATEs of a server that is going away or not taking connections: class 08 (connection
 * exception), 57P01-57P03 (shut down, crashed, starting), 53300 (too many connections).
 */
function serverGone(sqlstate: string): boolean {
  return sqlstate.startsWith("08") || /^57P0[1-3]$/.test(sqlstate) || sqlstate === "53300";
}

/** The error's code: the library's or the SQLSTATE (both are in `code`). */
function codeOf(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : "";
}

/** Whether `err` says PostgreSQL cannot be reached (rather than that one statement failed). */
export function isUnreachable(err: unknown): boolean {
  if (err instanceof ParleyError) return err.code === "storage_unavailable";
  const code = codeOf(err);
  return CONNECTION_CODES.has(code) || serverGone(code);
}

/** SQLSTATE 53100: the server's disk is full. */
function isDiskFull(err: unknown): boolean {
  return codeOf(err) === "53100";
}

/** SQLSTATE 23505 (unique violation). */
export function isUniqueViolation(err: unknown): boolean {
  return codeOf(err) === "23505";
}

/**
 * The error a caller gets: `storage_unavailable` when PostgreSQL cannot be reached,
 * `storage_full` when its disk is full, each with the library's error as the cause (for the
 * log; it may name hosts); anything else as it is.
 */
export function storageError(err: unknown): unknown {
  if (err instanceof ParleyError) return err;
  if (isUnreachable(err)) return new ParleyError("storage_unavailable", undefined, { cause: err });
  if (isDiskFull(err)) return new ParleyError("storage_full", undefined, { cause: err });
  return err;
}
