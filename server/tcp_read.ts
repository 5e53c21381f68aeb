/**
 * The read side of a TCP connection: `TcpReader` reads, hands what it reads to its subclass (the
 * TcpConnection, which holds the connection's state in its fields), and reads again. It is a
 * chain of promise callbacks, not a loop in an async function: a quiet connection then keeps its
 * pending read, one read buffer sized to what it receives, and two callbacks made once, rather
 * than a suspended frame with its registers, context and the closures of its `await` (~0.5 KB a
 * connection, docs/performance.md §19). At 10,000 connections every hundred bytes here is a
 * megabyte.
 */

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

const NO_BYTES: Uint8Array = new Uint8Array(0);

/** Told when a connection's reading has ended: one object for every connection of a server. */
export interface ReadingEnded {
  /** `end` finished. */
  settled(): void;
  /** `end` failed (a bug: it is logged). */
  failed(err: unknown): void;
}

/**
 * Reads a socket until the peer hangs up, a read fails or `chunk` says stop; then calls `end`
 * once. Each chunk is handled before the next read starts, so a subclass that waits (a promise
 * from `chunk`) holds the reading back.
 */
export abstract class TcpReader {
  protected readonly conn: Deno.Conn;
  #buf: Uint8Array = NO_BYTES;
  #lastRead = 0;
  #ended: ReadingEnded | undefined;
  /**
   * The one callback every read and every wait for `chunk` settles into, fulfilled or rejected
   * alike, made once per connection (a bound method: smaller than an arrow function with its
   * context; one, not one for each outcome: 48 B a connection). It takes a read's byte count
   * (null: the peer hung up), `chunk`'s answer (whether to read on), or what either failed with.
   */
  readonly #step: (got: unknown) => void = this.#next.bind(this);

  constructor(conn: Deno.Conn) {
    this.conn = conn;
  }

  /** Takes the bytes just read (its own copy); false, or a promise of false, ends the reading. */
  abstract chunk(bytes: Uint8Array): boolean | Promise<boolean>;

  /** The reading ended: the peer hung up, a read failed (`failure`), or `chunk` said stop. */
  abstract end(failure: unknown): Promise<void>;

  /** Starts with the `first` bytes already read into `buf`; `ended` hears how `end` went. */
  startReading(buf: Uint8Array, first: number, ended: ReadingEnded): void {
    this.#buf = buf;
    this.#ended = ended;
    this.#next(first);
  }

  /**
   * A read's count (hand its bytes on), `chunk`'s answer (read on, or stop), or anything else: a
   * read or a `chunk` failed with it (neither fulfils with another type).
   */
  #next(got: unknown): void {
    if (got === null || got === false) return this.#finish(undefined);
    if (typeof got !== "number" && got !== true) return this.#finish(got);
    if (got !== true) {
      let more: boolean | Promise<boolean>;
      try {
        more = this.chunk(this.#buf.slice(0, got));
      } catch (err) {
        return this.#finish(err);
      }
      this.#lastRead = got;
      if (more !== true) {
        if (more === false) return this.#finish(undefined);
        more.then(this.#step, this.#step);
        return;
      }
    }
    this.#buf = nextReadBuffer(this.#buf, this.#lastRead);
    let read: Promise<number | null>;
    try {
      read = this.conn.read(this.#buf);
    } catch (err) {
      return this.#finish(err);
    }
    read.then(this.#step, this.#step);
  }

  #finish(failure: unknown): void {
    const ended = this.#ended!;
    this.end(failure).then(ended.settled, ended.failed);
  }
}
