/**
 * The lines a transport writes before any session exists: a refusal (a limit turned the
 * connection away) and the goodbye to a text client that never signed in. Encoded here, like
 * every other event, so that the transports only write them.
 */
import { encodeJsonEvent } from "./json.ts";
import { encodeTextEvent } from "./text.ts";
import type { Dialect } from "./types.ts";

/** Why a connection was turned away: a code of docs/protocol.md, a message, maybe when to retry. */
export interface RefusalReason {
  code: string;
  message: string;
  /** Seconds after which trying again may succeed. */
  retryAfter?: number;
}

/**
 * The one line (without newline) a refused client gets before the server hangs up: an `error`
 * frame for a JSON client or a browser, a `!` line for a person with nc.
 */
export function encodeRefusal(refusal: RefusalReason, dialect: Dialect): string {
  if (dialect === "json") return encodeJsonEvent({ type: "error", ...refusal });
  // A person with nc reads the message alone, as text mode always showed a refusal.
  return encodeTextEvent(
    { type: "error", code: refusal.code, message: refusal.message },
    undefined,
  )!;
}

/** What a greeted text client that stayed silent past the sign-in deadline reads last. */
export function encodeSignInTimeout(): string {
  return encodeTextEvent({
    type: "error",
    code: "login_timeout",
    message: "Not signed in in time; goodbye.",
  }, undefined)!;
}
