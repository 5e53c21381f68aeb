/**
 * The read side of a TCP connection: one small loop per connection (`pump`) hands what it reads
 * to a reader object, which holds the connection's state in its fields. An idle connection thus
 * keeps one suspended frame with a few registers, one read buffer sized to what it receives, and
 * plain objects, rather than a large async function's frame and closures. At 10,000 connections
 * every hundred bytes here is a megabyte.
 */
import type { Logger } from "../lib/log.ts";
import { decodeUtf8, LineSplitter } from "../lib/protocol/lines.ts";
import type { Router, Session } from "../lib/router/mod.ts";
import type { Ticket } from "../lib/router/admission.ts";
import {
  CryptoError,
  encodeHandshakeError,
  sealedLineLength,
  type SecureSession,
  serverHandshake,
  type ServerIdentity,
} from "../lib/crypto/mod.ts";
import { failSecureSession, receiveFrames, sessionFailure } from "./secure_transport.ts";
import { closeQuietly, TcpConnection, writeAll, type WriteLimits } from "./tcp_connection.ts";

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

/** What both readers need from the server. */
export interface ReaderContext {
  router: Router;
  logger: Logger;
  identity: ServerIdentity;
  writeLimits: WriteLimits;
  /** Plaintext bytes a line may have. */
  maxLineBytes: number;
}

/** The start of a connection's life, and the admission ticket its end gives back. */
export interface Opening {
  conn: Deno.Conn;
  remoteAddr: string;
  /** performance.now() at accept: the sign-in deadline runs from here. */
  connectedAt: number;
  ticket: Ticket;
}

/** Text mode: a person with nc, one command per line (docs/protocol.md). */
export class TextReader implements ReadSink {
  #splitter: LineSplitter;
  #session: Session;
  #adapter: TcpConnection;
  #context: ReaderContext;
  #opening: Opening;

  constructor(context: ReaderContext, opening: Opening, greeted: boolean) {
    this.#context = context;
    this.#opening = opening;
    this.#splitter = new LineSplitter(context.maxLineBytes);
    this.#adapter = new TcpConnection(
      opening.conn,
      "text",
      opening.remoteAddr,
      context.writeLimits,
    );
    this.#session = context.router.attach(this.#adapter, {
      greeted,
      connectedAt: opening.connectedAt,
    });
  }

  chunk(bytes: Uint8Array): boolean {
    if (this.#adapter.closing) return false;
    const max = this.#context.maxLineBytes;
    for (const item of this.#splitter.push(bytes)) {
      if (item.overlong) {
        this.#session.reject("line_too_long", `Line longer than ${max} bytes; it was discarded.`);
        continue;
      }
      const line = decodeUtf8(item.line);
      if (line === undefined) {
        this.#session.reject("bad_utf8", "That line is not valid UTF-8; it was discarded.");
      } else this.#session.receive(line);
    }
    return !this.#adapter.closing;
  }

  async end(failure: unknown): Promise<void> {
    try {
      logReadFailure(this.#context.logger, this.#adapter, failure);
      this.#session.detach();
      await this.#adapter.dispose();
    } finally {
      this.#opening.ticket.release();
    }
  }
}

/**
 * JSON mode is an encrypted session (docs/security.md §6): the first line must be a
 * `client_hello`; the reply is the plaintext `server_hello`; every later line both ways is sealed.
 * A line that fails to open (or is too long to be a sealed frame) ends the connection: the client
 * gets a sealed `error` and `bye`, the log gets the code, never the line.
 */
export class SecureReader implements ReadSink {
  #context: ReaderContext;
  #opening: Opening;
  #splitter: LineSplitter;
  #deadline: ReturnType<typeof setTimeout> | undefined;
  #secure: SecureSession | undefined;
  #adapter: TcpConnection | undefined;
  #session: Session | undefined;

  constructor(context: ReaderContext, opening: Opening) {
    this.#context = context;
    this.#opening = opening;
    this.#splitter = new LineSplitter(sealedLineLength(context.maxLineBytes));
    // The sign-in deadline covers the handshake.
    const left = context.router.limits.loginTimeoutMs -
      (performance.now() - opening.connectedAt);
    this.#deadline = setTimeout(() => closeQuietly(opening.conn), Math.max(0, left));
  }

  async chunk(bytes: Uint8Array): Promise<boolean> {
    for (const item of this.#splitter.push(bytes)) {
      if (this.#adapter?.closing) return false;
      const line = item.overlong ? undefined : decodeUtf8(item.line);
      const going = this.#session
        ? await this.#open(line, item.overlong === true)
        : await this.#shakeHands(line);
      if (!going) return false;
    }
    return !this.#adapter?.closing;
  }

  /** The first line: the client_hello. Answers it and attaches the session, or refuses it. */
  async #shakeHands(line: string | undefined): Promise<boolean> {
    const { conn, remoteAddr, connectedAt } = this.#opening;
    try {
      if (line === undefined) {
        throw new CryptoError(
          "malformed_handshake",
          "The first line must be a client_hello (docs/security.md §3).",
        );
      }
      const hs = await serverHandshake(this.#context.identity, line);
      if (!await writeAll(conn, utf8.encode(hs.reply + "\n"))) return false;
      this.#secure = hs.session;
    } catch (err) {
      const { code } = sessionFailure(err);
      this.#context.logger.info("handshake refused", { transport: "tcp", remoteAddr, code });
      await writeAll(conn, utf8.encode(encodeHandshakeError(err) + "\n"));
      return false;
    }
    clearTimeout(this.#deadline);
    this.#deadline = undefined; // not kept for the connection's life
    this.#adapter = new TcpConnection(
      conn,
      "json",
      remoteAddr,
      this.#context.writeLimits,
      this.#secure,
    );
    this.#session = this.#context.router.attach(this.#adapter, { greeted: false, connectedAt });
    return true;
  }

  /** A sealed line: opens it and hands its frames to the session; a failure ends the session. */
  async #open(line: string | undefined, overlong: boolean): Promise<boolean> {
    const adapter = this.#adapter!, session = this.#session!;
    const max = this.#context.maxLineBytes;
    try {
      if (overlong) {
        throw new CryptoError(
          "malformed_frame",
          `A sealed line is longer than ${sealedLineLength(max)} characters (${max} bytes sealed).`,
        );
      }
      if (line === undefined) {
        throw new CryptoError("malformed_frame", "A sealed line is not valid UTF-8.");
      }
      adapter.inputPending++;
      let frames;
      try {
        frames = await this.#secure!.openFrames(line);
      } finally {
        adapter.inputPending--;
      }
      receiveFrames(session, frames, max);
      return true;
    } catch (err) {
      failSecureSession(session, err, this.#context.logger, {
        transport: "tcp",
        remoteAddr: this.#opening.remoteAddr,
      });
      return false;
    }
  }

  async end(failure: unknown): Promise<void> {
    clearTimeout(this.#deadline);
    try {
      logReadFailure(this.#context.logger, this.#adapter, failure);
      // A failed session is closing already (its goodbye flushes first); a vanished peer at once.
      this.#session?.detach();
      if (this.#adapter) await this.#adapter.dispose();
      else closeQuietly(this.#opening.conn);
    } finally {
      this.#opening.ticket.release();
    }
  }
}

const utf8 = new TextEncoder();

/** A read that failed for a reason other than the peer or us hanging up goes to the debug log. */
function logReadFailure(logger: Logger, adapter: TcpConnection | undefined, failure: unknown) {
  if (
    failure === undefined || adapter?.closing ||
    failure instanceof Deno.errors.BadResource || failure instanceof Deno.errors.ConnectionReset
  ) return;
  logger.debug("tcp read failed", { error: failure });
}
