/**
 * The read side of a TCP connection: one small loop per connection (`pump`) hands what it reads
 * to a reader object (the TcpConnection), which holds the connection's state in its fields. An idle connection thus
 * keeps one suspended frame with a few registers, one read buffer sized to what it receives, and
 * plain objects, rather than a large async function's frame and closures. At 10,000 connections
 * every hundred bytes here is a megabyte.
 */
/** Where one connection's reads go. */
export interface ReadSink {
  /** Takes the bytes just read (its own copy); false, or a promise of false, ends the reading. */
  chunk(bytes: Uint8Array): boolean | Promise<boolean>;
  /** The reading ended: the peer hung up, a read failed (`failure`), or `chunk` said stop. */
  end(failure: unknown): Promise<void>;
}

/** The smallest and largest read buffer (see `nextReadBuffer`). */
export const MIN_READ_BYTES = 256;
export const MAX_READ_BYTES = 16384;

/**
 * The buffer for the next read: twice as large when the last read filled it (a burst, or a long
 * line), half as large when the last read used a quarter of it or less. A pending read pins its
 * buffer for as long as the connection is quiet, so an idle connection ends up holding
 * `MIN_READ_BYTES`, and a busy one reads a burst in a few calls.
 */
export function nextReadBuffer(buf: Uint8Array, lastRead: number): Uint8Array {
  if (lastRead === buf.length && buf.length < MAX_READ_BYTES) return new Uint8Array(buf.length * 2);
  if (lastRead <= buf.length / 4 && buf.length > MIN_READ_BYTES) {
    return new Uint8Array(Math.max(MIN_READ_BYTES, buf.length / 2));
  }
  return buf;
}

/**
 * Feeds `sink` from `conn`, starting with the `first` bytes already read into `buf`, until the
 * peer hangs up, a read fails or the sink says stop; then ends the sink. The one frame a
 * connection keeps suspended while it is quiet, so it holds as little as it can.
 */
export async function pump(
  conn: Deno.Conn,
  buf: Uint8Array,
  first: number,
  sink: ReadSink,
): Promise<void> {
  let failure: unknown;
  try {
    let n: number | null = first;
    while (n !== null) {
      const more = sink.chunk(buf.slice(0, n));
      if (more === false || (more !== true && !await more)) break;
      buf = nextReadBuffer(buf, n);
      n = await conn.read(buf);
    }
  } catch (err) {
    failure = err;
  }
  await sink.end(failure);
}
