/**
 * The end of a socket the server turns away: a last line or answer has been written, and the
 * socket must go without losing it, or holding anything for long.
 */
import { closeQuietly } from "./tcp_connection.ts";

/**
 * Hangs up after a last line: ends the sending side, then reads (and drops) what the client
 * still sends, until it hangs up or for `drainMs` at most, since closing with unread input would
 * reset the connection and could lose the line just sent. `pending` is a read still in flight.
 */
export async function closeAfterDraining(
  conn: Deno.Conn,
  pending?: Promise<number | null>,
  drainMs = 1000,
): Promise<void> {
  try {
    await conn.closeWrite();
  } catch { /* already closed */ }
  const sink = new Uint8Array(4096);
  const deadline = performance.now() + drainMs;
  let read = pending ?? conn.read(sink);
  while (true) {
    const n = await within(read, Math.max(0, deadline - performance.now()));
    if (n === null || n === "timeout") break;
    read = conn.read(sink);
  }
  closeQuietly(conn);
  await read.catch(() => {});
}

/** Resolves with the promise's result, `"timeout"` after `ms`, or null when it fails. */
export async function within<T>(
  read: Promise<T>,
  ms: number,
): Promise<T | null | "timeout"> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      read,
      new Promise<"timeout">((resolve) => timer = setTimeout(() => resolve("timeout"), ms)),
    ]);
  } catch {
    return null;
  } finally {
    clearTimeout(timer);
  }
}
