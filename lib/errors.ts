/**
 * Typed errors with stable codes. Clients see `code` and the safe `message`; the log also gets
 * `cause`, which may hold internal detail and is never sent to a client.
 */

/** Every error code a client can receive, with what it means. */
export const ERROR_CODES = {
  bad_frame: "The frame could not be decoded.",
  bad_utf8: "The line is not valid UTF-8.",
  line_too_long: "The line is longer than the limit and was discarded.",
  unknown_command: "No such command.",
  bad_argument: "An argument is missing or invalid.",
  not_logged_in: "Log in or register first.",
  already_logged_in: "This connection is already logged in.",
  bad_name: "That name is not allowed.",
  name_taken: "That name is already registered.",
  bad_credentials: "Wrong password.",
  bad_token: "The resume token is not valid; sign in with the password.",
  throttled: "Too many failed logins; wait before trying again.",
  no_such_user: "No user has that name.",
  no_such_room: "No room has that name.",
  room_taken: "A room with that name exists already.",
  not_a_member: "You are not a member of that room.",
  not_invited: "That room is invite-only, and you have no invitation.",
  not_owner: "Only the room's owner can do that.",
  rate_limited: "Slow down.",
  too_large: "The message is too large.",
  login_timeout: "Not logged in in time.",
  server_full: "The server has as many connections as it accepts; try again later.",
  too_many_connections: "Too many connections from your address.",
  connecting_too_fast: "Too many new connections from your address; wait a little.",
  too_slow: "The connection did not read what the server sent, and was closed.",
  storage_full: "Not stored: the server's disk is full; try again later.",
  storage_unavailable: "Not stored: the server cannot reach its database; try again shortly.",
  internal: "Something went wrong on the server.",
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** An error meant for a client: a stable code, a safe message, optional retry hint. */
export class ParleyError extends Error {
  readonly code: ErrorCode;
  /** Seconds after which retrying may succeed (throttling, rate limits). */
  readonly retryAfter?: number;

  constructor(
    code: ErrorCode,
    message: string = ERROR_CODES[code],
    options?: { cause?: unknown; retryAfter?: number },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "ParleyError";
    this.code = code;
    this.retryAfter = options?.retryAfter;
  }
}

/** True when `err` is a ParleyError, optionally with the given code. */
export function isParleyError(err: unknown, code?: ErrorCode): err is ParleyError {
  return err instanceof ParleyError && (code === undefined || err.code === code);
}

/**
 * True for a store that refuses writes for now (`storage_full`, `storage_unavailable`): nothing
 * was kept, and the same call succeeds once the disk has room or the database answers again.
 */
export function isStorageOutage(err: unknown): err is ParleyError {
  return isParleyError(err, "storage_full") || isParleyError(err, "storage_unavailable");
}
