/**
 * A guard against a known fault of npm `postgres` 3.4.x (porsager/postgres#1154, #1066, #1208):
 * a small write is flushed from a `setImmediate`, and when the connection closed in between, the
 * flush calls `write` on the socket the close had set to null. By then the close has already
 * rejected the query with `CONNECTION_CLOSED` (which the store reports as
 * `storage_unavailable`), so the write is moot; but thrown from a timer, the `TypeError` is an
 * uncaught exception that would end the whole server just when PostgreSQL restarts. This swallows
 * exactly that error, recognised by its message and its frame in the library, and nothing else.
 */
import type { Logger } from "../../log.ts";

let installed = false;

/** Whether `error` is the library's write to a closed socket (see above). */
export function isClosedSocketWrite(error: unknown): boolean {
  if (!(error instanceof TypeError)) return false;
  const stack = String(error.stack);
  return /reading 'write'/.test(error.message) && /\bnextWrite\b/.test(stack) &&
    /postgres[/\\]/.test(stack);
}

/** Installs the guard once per process (the first store opened logs through its logger). */
export function guardClosedSocketWrites(logger: Logger): void {
  if (installed) return;
  installed = true;
  globalThis.addEventListener("error", (event) => {
    if (!isClosedSocketWrite(event.error)) return;
    event.preventDefault();
    logger.debug("ignored a write of the PostgreSQL client to a connection already closed");
  });
}
