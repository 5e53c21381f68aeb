/**
 * Errors as HTTP responses, in one place: a typed HttpError for the server's own refusals, the
 * ParleyError codes of the core mapped to statuses, and anything else logged and hidden.
 */
import { type ErrorCode, ParleyError } from "../lib/errors.ts";
import type { Logger } from "../lib/log.ts";

/** A refusal with an HTTP status and a message safe to show. */
export class HttpError extends Error {
  readonly status: number;
  readonly headers: Record<string, string>;
  constructor(status: number, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.name = "HttpError";
    this.status = status;
    this.headers = headers;
  }
}

const STATUS: Partial<Record<ErrorCode, number>> = {
  bad_frame: 400,
  bad_argument: 400,
  bad_name: 400,
  bad_credentials: 401,
  no_such_user: 401,
  not_logged_in: 401,
  name_taken: 409,
  throttled: 429,
  rate_limited: 429,
  // Try again later: nothing was stored, and the same request succeeds once there is room.
  storage_full: 503,
  // The same while the database (PostgreSQL) cannot be reached.
  storage_unavailable: 503,
};

/** The JSON error body every API answer uses: `{ error: { code, message, retryAfter? } }`. */
export function errorResponse(err: unknown, logger: Logger): Response {
  if (err instanceof HttpError) {
    return json({ error: { code: `http_${err.status}`, message: err.message } }, err.status, {
      headers: err.headers,
    });
  }
  if (err instanceof ParleyError && STATUS[err.code]) {
    const retryAfter = err.retryAfter === undefined ? undefined : Math.ceil(err.retryAfter);
    return json(
      { error: { code: err.code, message: err.message, retryAfter } },
      STATUS[err.code]!,
      { headers: retryAfter === undefined ? {} : { "retry-after": String(retryAfter) } },
    );
  }
  logger.error("http request failed", { error: err });
  return json(
    { error: { code: "internal", message: "Something went wrong on the server." } },
    500,
  );
}

/** A JSON response that no cache keeps. */
export function json(
  body: unknown,
  status = 200,
  init: { headers?: Record<string, string> } = {},
): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: {
      "content-type": "application/json; charset=utf-8",
      "cache-control": "no-store",
      ...init.headers,
    },
  });
}
