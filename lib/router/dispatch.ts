import { isParleyError, ParleyError } from "../errors.ts";
import type { RawCommand } from "../protocol/json.ts";
import type { Command } from "../protocol/types.ts";
import { COMMANDS, type CommandSpec, lookupCommand } from "./commands.ts";
import type { Router } from "./router.ts";
import type { ClientSession } from "./client_session.ts";

const SIGN_IN_TYPES: ReadonlySet<string> = new Set(["auth", "login", "register"]);

/**
 * Runs one decoded command for a session: the only place a command is checked. At once, so a
 * flood is refused before it piles up: the table row (`unknown_command`), then the rate limit
 * (`rate_limited`, `cost` tokens). Then, in the session's queue behind the commands before it,
 * or at once for a row with `queue: false`: the sign-in state (`not_logged_in`,
 * `already_logged_in`), the fields (`parse`), and the row's `run`. Every refusal is answered
 * in the order of the lines.
 */
export function dispatch(router: Router, session: ClientSession, raw: RawCommand): void {
  const cid = clientIdOf(raw);
  const spec = lookupCommand(raw.type);
  if (!spec) return refuse(router, session, unknownCommand(raw.type), cid);
  if (spec.cost > 0 && !session.bucket.take(spec.cost)) {
    router.stats.rateLimited++;
    return refuse(router, session, rateLimited(session.bucket.secondsUntil(spec.cost)), cid);
  }
  if (spec.queue === false) {
    // Runs ahead of the queue (a heartbeat's answer says the client reads now; it must not wait
    // behind its sends); only a refusal waits its turn, to keep the replies in order.
    try {
      void spec.run(router, session, checked(session, spec, raw));
    } catch (err) {
      session.enqueue(() => failed(session, raw, err, cid));
    }
    return;
  }
  session.enqueue(async () => {
    if (session.closed) return;
    try {
      await spec.run(router, session, checked(session, spec, raw));
    } catch (err) {
      failed(session, raw, err, cid);
    }
  });
}

/** The one answer to a `type` the table does not have; a long name is not echoed whole. */
function unknownCommand(type: string): ParleyError {
  const known = Object.keys(COMMANDS).join(", ");
  return new ParleyError(
    "unknown_command",
    `Unknown command '${String(type).slice(0, 40)}'. Known: ${known}.`,
  );
}

function rateLimited(retryAfter: number): ParleyError {
  return new ParleyError(
    "rate_limited",
    "Slow down: too many commands; this one was dropped.",
    { retryAfter },
  );
}

/**
 * Answers a line refused before its command could be queued (not a frame, not a command, over
 * the rate limit). Such a line costs a token like a command (the rate limit's own refusal has
 * paid already), so a junk flood cannot make the server answer every line: once the bucket is
 * empty it goes unanswered.
 */
export function refuse(router: Router, session: ClientSession, err: unknown, cid?: string): void {
  if (!isParleyError(err, "rate_limited") && !session.bucket.take(1)) {
    router.stats.rateLimited++;
    return;
  }
  // Replies keep the order of the lines they answer.
  session.enqueue(() => session.fail(err, cid));
}

/** The command typed by its row, once the session's sign-in state allows it. */
function checked(session: ClientSession, spec: CommandSpec, raw: RawCommand): Command {
  if (spec.auth === "in" && !session.user) {
    throw new ParleyError("not_logged_in", "Sign in first: /login <name> <password> or /register.");
  }
  if (spec.auth === "out" && session.user) {
    throw new ParleyError(
      "already_logged_in",
      `You are already signed in as ${session.user.name}.`,
    );
  }
  return spec.parse(raw);
}

function failed(session: ClientSession, raw: RawCommand, err: unknown, cid?: string): void {
  session.fail(err, cid);
  // A failed sign-in in text mode starts over at the name prompt; a signed-in user (told they
  // are already signed in) is not asked for a name.
  if (session.conn.dialect === "text" && !session.user && SIGN_IN_TYPES.has(raw.type)) {
    session.emit({ type: "prompt", text: "Name:" });
  }
}

/** The frame's client id, when it has a usable one, for the reply to a refused command. */
export function clientIdOf(raw: RawCommand | undefined): string | undefined {
  return typeof raw?.cid === "string" ? raw.cid : undefined;
}
