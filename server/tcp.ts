import { concatBytes } from "../lib/bytes.ts";
import type { Logger } from "../lib/log.ts";
import { decodeUtf8, DEFAULT_MAX_LINE_BYTES, LineSplitter } from "../lib/protocol/lines.ts";
import type { Dialect } from "../lib/protocol/types.ts";
import type { Connection, Router, Session } from "../lib/router/mod.ts";
import { isRefusal, type Refusal } from "../lib/router/admission.ts";
import {
  CryptoError,
  encodeHandshakeError,
  sealedLineLength,
  type SecureSession,
  serverHandshake,
  type ServerIdentity,
} from "../lib/crypto/mod.ts";
import { errorFrame, FrameSealer, sessionFailure } from "./secure_transport.ts";
import { type Watched, writeWatch } from "./write_watch.ts";
import { plaintextRefusal, textModeDecision } from "./plaintext_policy.ts";

export interface TcpServerOptions {
  hostname: string;
  /** 0 picks a free port. */
  port: number;
  router: Router;
  logger: Logger;
  /** The server's long-term identity: signs the handshake every JSON-mode connection runs. */
  identity: ServerIdentity;
  /** @default 8192 (plaintext bytes; sealed lines may be `sealedLineLength` of it) */
  maxLineBytes?: number;
  /**
   * How long to wait for a client's first byte before greeting it in text mode. JSON clients
   * speak first (`{`), so they never see the text greeting.
   * @default 250
   */
  sniffMs?: number;
  /**
   * Outbound bytes a connection may have waiting; a reader further behind is dropped.
   * @default the router's `maxQueuedBytes` (1 MiB)
   */
  maxQueuedBytes?: number;
  /** PEM certificate chain and private key: the listener speaks TLS (`Deno.listenTls`). */
  tls?: { cert: string; key: string };
  /**
   * Accept text mode (plaintext) from any peer; otherwise only from loopback or over TLS
   * (docs/security.md §11). JSON mode is always accepted. @default false
   */
  allowPlaintext?: boolean;
  /** Test hook: the peer address the plaintext policy judges, instead of the socket's own. */
  policyPeer?: (remote: Deno.NetAddr) => string;
}

export interface TcpServer {
  readonly addr: Deno.NetAddr;
  /** The listener speaks TLS. */
  readonly tls: boolean;
  /** Stops accepting; existing connections stay until the router closes them. */
  stopAccepting(): void;
  /** Resolves when every connection has closed. */
  drained(): Promise<void>;
}

const utf8 = new TextEncoder();

/** The options, with what every connection of the server shares. */
type ServedOptions = TcpServerOptions & { writeLimits: WriteLimits };

/** Bytes each connection reads at a time. */
const READ_BUFFER_BYTES = 1024;

/** Listens on TCP and hands each connection to the router as text or JSON by its first byte. */
export function serveTcp(options: TcpServerOptions): TcpServer {
  // Throws (before any connection) when the certificate or key is not valid PEM or do not match.
  const listener: Deno.Listener = options.tls
    ? Deno.listenTls({
      hostname: options.hostname,
      port: options.port,
      transport: "tcp",
      cert: options.tls.cert,
      key: options.tls.key,
    })
    : Deno.listen({
      hostname: options.hostname,
      port: options.port,
      transport: "tcp",
    });
  const open = new Set<Promise<void>>();
  let accepting = true;
  // One set of write limits for every connection of this server.
  const served: ServedOptions = { ...options, writeLimits: writeLimits(options) };

  (async () => {
    try {
      for await (const conn of listener) {
        // Limits are checked before any work is spent on the connection.
        const peer = (conn.remoteAddr as Deno.NetAddr).hostname;
        const ticket = options.router.admission.admit(peer);
        const work = isRefusal(ticket)
          ? refuseConnection(conn, options, ticket)
          : handleConnection(conn, served).finally(() => ticket.release());
        const done = work.catch((err) => {
          options.logger.error("tcp connection failed", { error: err });
        });
        open.add(done);
        done.finally(() => open.delete(done));
      }
    } catch (err) {
      if (accepting) options.logger.error("tcp accept failed", { error: err });
    }
  })();

  return {
    addr: listener.addr as Deno.NetAddr,
    tls: options.tls !== undefined,
    stopAccepting() {
      if (!accepting) return;
      accepting = false;
      listener.close();
    },
    async drained() {
      while (open.size) await Promise.allSettled([...open]);
    },
  };
}

async function handleConnection(conn: Deno.Conn, options: ServedOptions): Promise<void> {
  const remote = conn.remoteAddr as Deno.NetAddr;
  const connectedAt = performance.now();
  if (options.tls) {
    // Finish the TLS handshake first, so the quiet wait below measures the client, not TLS.
    const shaken = await within(
      (conn as Deno.TlsConn).handshake().then(() => 1),
      options.router.limits.loginTimeoutMs,
    );
    if (shaken !== 1) {
      options.logger.debug("tls handshake failed", { peer: remote.hostname });
      closeQuietly(conn);
      return;
    }
  }
  // Text mode is plaintext: only from loopback, over TLS, or when the operator allowed it.
  const textAllowed = textModeDecision({
    peer: options.policyPeer?.(remote) ?? remote.hostname,
    tls: options.tls !== undefined,
    allowPlaintext: options.allowPlaintext ?? false,
  }).allowed;
  // Per connection for its whole life (a pending read pins it), so small: a chat command or a
  // heartbeat answer, sealed, fits in one read, and a longer line (at most 8 KiB plaintext,
  // ~11 KiB sealed) takes a few, which the splitter joins. At 10,000 idle connections every KiB
  // here is 10 MB.
  const buf = new Uint8Array(READ_BUFFER_BYTES);
  const read = conn.read(buf);
  // A person with nc waits to be told how to sign in; a program speaks first. So greet in text
  // when the client is quiet, and let its first byte decide the dialect either way: `{` is JSON
  // (which skips a greeting it did not ask for), anything else text.
  let first = await within(read, options.sniffMs ?? 250);
  let greeted = false;
  if (first === "timeout" && !textAllowed) {
    // A quiet client here is a person with nc: tell them why not, before any greeting.
    return await refuseTextMode(conn, options, remote, read);
  }
  if (first === "timeout") {
    greeted = await writeAll(conn, utf8.encode(options.router.textGreeting() + "\n"));
    // The sign-in deadline runs from the socket's opening, the quiet wait included.
    const left = options.router.limits.loginTimeoutMs - (performance.now() - connectedAt);
    first = greeted ? await within(read, Math.max(0, left)) : null;
    if (first === "timeout") {
      await writeAll(conn, utf8.encode("! Not signed in in time; goodbye.\n"));
      closeQuietly(conn);
      await read.catch(() => {});
      return;
    }
  }
  if (first === null || first === 0) {
    closeQuietly(conn);
    await read.catch(() => {});
    return;
  }
  const dialect: Dialect = buf[0] === "{".charCodeAt(0) ? "json" : "text";
  if (dialect === "json") {
    // Not awaited: this frame ends here instead of staying suspended for the connection's life.
    return handleSecure(conn, options, buf, first, remote.hostname, connectedAt);
  }
  if (dialect === "text" && !textAllowed) return await refuseTextMode(conn, options, remote);
  const adapter = new TcpConnection(conn, dialect, remote.hostname, options.writeLimits);
  const session = options.router.attach(adapter, {
    greeted: greeted && dialect === "text",
    connectedAt,
  });
  const splitter = new LineSplitter(options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES);
  try {
    let n: number | null = first;
    while (n !== null && !adapter.closing) {
      feed(session, splitter, buf.slice(0, n), options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES);
      n = await conn.read(buf);
    }
  } catch (err) {
    if (
      !adapter.closing &&
      !(err instanceof Deno.errors.BadResource || err instanceof Deno.errors.ConnectionReset)
    ) {
      options.logger.debug("tcp read failed", { error: err });
    }
  } finally {
    session.detach();
    await adapter.dispose();
  }
}

/**
 * JSON mode is an encrypted session (docs/security.md §6): the first line must be a
 * `client_hello`; the reply is the plaintext `server_hello`; every later line both ways is sealed.
 * A line that fails to open (or is too long to be a sealed frame) ends the connection: the client
 * gets a sealed `error` and `bye`, the log gets the code, never the line.
 */
async function handleSecure(
  conn: Deno.Conn,
  options: ServedOptions,
  buf: Uint8Array,
  first: number,
  remoteAddr: string,
  connectedAt: number,
): Promise<void> {
  const max = options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
  const maxSealed = sealedLineLength(max);
  const splitter = new LineSplitter(maxSealed);
  // The sign-in deadline covers the handshake.
  const left = options.router.limits.loginTimeoutMs - (performance.now() - connectedAt);
  let deadline: ReturnType<typeof setTimeout> | undefined = setTimeout(
    () => closeQuietly(conn),
    Math.max(0, left),
  );
  let secure: SecureSession | undefined;
  let adapter: TcpConnection | undefined;
  let session: Session | undefined;
  try {
    let n: number | null = first;
    reading: while (n !== null && !adapter?.closing) {
      for (const item of splitter.push(buf.slice(0, n))) {
        if (!secure || !adapter || !session) {
          try {
            const line = item.overlong ? undefined : decodeUtf8(item.line);
            if (line === undefined) {
              throw new CryptoError(
                "malformed_handshake",
                "The first line must be a client_hello (docs/security.md §3).",
              );
            }
            const hs = await serverHandshake(options.identity, line);
            if (!await writeAll(conn, utf8.encode(hs.reply + "\n"))) break reading;
            secure = hs.session;
          } catch (err) {
            const { code } = sessionFailure(err);
            options.logger.info("handshake refused", { transport: "tcp", remoteAddr, code });
            await writeAll(conn, utf8.encode(encodeHandshakeError(err) + "\n"));
            break reading;
          }
          clearTimeout(deadline);
          deadline = undefined; // not kept for the connection's life
          adapter = new TcpConnection(conn, "json", remoteAddr, options.writeLimits, secure);
          session = options.router.attach(adapter, { greeted: false, connectedAt });
          continue;
        }
        if (adapter.closing) break reading;
        try {
          if (item.overlong) {
            throw new CryptoError(
              "malformed_frame",
              `A sealed line is longer than ${maxSealed} characters (${max} bytes sealed).`,
            );
          }
          const line = decodeUtf8(item.line);
          if (line === undefined) {
            throw new CryptoError("malformed_frame", "A sealed line is not valid UTF-8.");
          }
          adapter.inputPending++;
          let frames;
          try {
            frames = await secure.openFrames(line);
          } finally {
            adapter.inputPending--;
          }
          for (const frame of frames) {
            if (utf8.encode(frame).length > max) {
              session.reject("line_too_long", `Frame longer than ${max} bytes; it was discarded.`);
            } else session.receive(frame);
          }
        } catch (err) {
          const { code, message } = sessionFailure(err);
          options.logger.info("secure session failed", {
            transport: "tcp",
            remoteAddr,
            session: session.id,
            code,
          });
          adapter.send(errorFrame(code, message));
          session.close(`secure session failed (${code})`);
          break reading;
        }
      }
      n = await conn.read(buf);
    }
  } catch (err) {
    if (
      !adapter?.closing &&
      !(err instanceof Deno.errors.BadResource || err instanceof Deno.errors.ConnectionReset)
    ) {
      options.logger.debug("tcp read failed", { error: err });
    }
  } finally {
    clearTimeout(deadline);
    // A failed session is closing already (its goodbye flushes first); a vanished peer at once.
    session?.detach();
    if (adapter) await adapter.dispose();
    else closeQuietly(conn);
  }
}

/** What a TcpConnection needs to judge its reader, from the options and the router's limits. */
function writeLimits(options: TcpServerOptions): WriteLimits {
  const { router, logger } = options;
  return {
    maxQueued: options.maxQueuedBytes ?? router.limits.maxQueuedBytes,
    slowMs: router.limits.slowReaderMs,
    onTooSlow: (remoteAddr, why) => {
      router.slowReader("tcp");
      logger.info("slow reader disconnected", { transport: "tcp", remoteAddr, why });
    },
  };
}

function feed(session: Session, splitter: LineSplitter, chunk: Uint8Array, max: number) {
  for (const item of splitter.push(chunk)) {
    if (item.overlong) {
      session.reject("line_too_long", `Line longer than ${max} bytes; it was discarded.`);
      continue;
    }
    const line = decodeUtf8(item.line);
    if (line === undefined) {
      session.reject("bad_utf8", "That line is not valid UTF-8; it was discarded.");
    } else session.receive(line);
  }
}

/**
 * Turns away a connection a limit refuses, with one line saying why: an `error` object for a
 * JSON client (it speaks first, with `{`), a `!` line for a person with nc.
 */
async function refuseConnection(
  conn: Deno.Conn,
  options: TcpServerOptions,
  refusal: Refusal,
): Promise<void> {
  const peer = (conn.remoteAddr as Deno.NetAddr).hostname;
  // Debug only: a flood would flood the log; /metrics counts refusals by limit.
  options.logger.debug("connection refused", { transport: "tcp", peer, code: refusal.code });
  // A flood of refused connections must not hold sockets open: past a few, hang up at once.
  if (refusing >= MAX_REFUSING) return closeQuietly(conn);
  refusing++;
  try {
    await explainRefusal(conn, options, refusal);
  } finally {
    refusing--;
  }
}

/** Refusals being explained right now, and how many may be at once. */
let refusing = 0;
const MAX_REFUSING = 64;

async function explainRefusal(
  conn: Deno.Conn,
  options: TcpServerOptions,
  refusal: Refusal,
): Promise<void> {
  const buf = new Uint8Array(1);
  const read = conn.read(buf);
  const first = await within(read, options.sniffMs ?? 250);
  const line = typeof first === "number" && buf[0] === "{".charCodeAt(0)
    ? JSON.stringify({ type: "error", ...refusal })
    : `! ${refusal.message}`;
  await within(writeAll(conn, utf8.encode(line + "\n")), 1000);
  await closeAfterDraining(conn, read);
}

/**
 * Answers a text-mode client the policy refuses with one line (why, and how to connect securely),
 * then hangs up. `pending` is a read still in flight on the connection.
 */
async function refuseTextMode(
  conn: Deno.Conn,
  options: TcpServerOptions,
  remote: Deno.NetAddr,
  pending?: Promise<number | null>,
): Promise<void> {
  options.logger.info("text mode refused: plaintext from a non-loopback address", {
    peer: remote.hostname,
  });
  const local = conn.localAddr as Deno.NetAddr;
  await writeAll(conn, utf8.encode(plaintextRefusal(local.hostname, local.port) + "\n"));
  await closeAfterDraining(conn, pending);
}

/**
 * Hangs up after a last line: ends the sending side, then reads (and drops) what the client
 * still sends, until it hangs up or for a second at most, since closing with unread input would
 * reset the connection and could lose the line just sent. `pending` is a read still in flight.
 */
async function closeAfterDraining(
  conn: Deno.Conn,
  pending?: Promise<number | null>,
): Promise<void> {
  try {
    await conn.closeWrite();
  } catch { /* already closed */ }
  const sink = new Uint8Array(4096);
  const deadline = performance.now() + 1000;
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
async function within<T>(
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

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<boolean> {
  try {
    let off = 0;
    while (off < bytes.length) off += await conn.write(bytes.subarray(off));
    return true;
  } catch {
    return false;
  }
}

function closeQuietly(conn: Deno.Conn) {
  try {
    conn.close();
  } catch { /* already closed */ }
}

interface WriteLimits {
  /** Bytes that may wait behind a write the socket has not finished. */
  maxQueued: number;
  /** A write that makes no progress for this long means the reader stopped reading. */
  slowMs: number;
  onTooSlow: (remoteAddr: string, why: string) => void;
}

/** Bytes waiting to be written, and how many frames they complete. */
interface Pending {
  bytes: Uint8Array;
  frames: number;
}

/**
 * The write side of one TCP connection. Frames queued in the same turn of the event loop go out
 * in one write. A reader that stops reading (a write makes no progress for `slowMs`), or lets
 * more than `maxQueued` bytes pile up behind an unfinished write, is disconnected as too slow:
 * it never holds up anyone else, and its backlog never grows the server's memory without bound.
 */
class TcpConnection implements Connection, Watched {
  readonly transport = "tcp";
  readonly dialect: Dialect;
  readonly remoteAddr: string;
  closing = false;
  tooSlow = false;
  /** Sealed lines read and waiting to be opened (see Connection.inputPending). */
  inputPending = 0;
  #conn: Deno.Conn;
  #queue: Pending[] = [];
  #queued = 0;
  #limits: WriteLimits;
  #writing: Promise<void> | undefined;
  #inWrite = false;
  #closed = false;
  #sealer: FrameSealer | undefined;
  #sent = 0;
  #accepted = 0;
  /** When the write in flight started (the write watch's clock); undefined when none is. */
  #writeSince: number | undefined;

  constructor(
    conn: Deno.Conn,
    dialect: Dialect,
    remoteAddr: string,
    limits: WriteLimits,
    secure?: SecureSession,
  ) {
    this.#conn = conn;
    this.dialect = dialect;
    this.remoteAddr = remoteAddr;
    this.#limits = limits;
    if (secure) {
      this.#sealer = new FrameSealer(
        secure,
        (line, frames, first) => this.#queueBytes(utf8.encode(line + "\n"), frames, first),
        () => this.#hangUp(),
      );
    }
  }

  get accepted(): number {
    return this.#accepted;
  }

  rest(): boolean {
    return this.#sealer?.rest() ?? false;
  }

  get handedOver(): number {
    return this.#accepted;
  }

  send(frame: string, lazy = false): number {
    const index = this.#sent++;
    if (this.#closed) return index;
    // In JSON mode every frame is sealed (in order, batched per turn) before it is queued.
    if (this.#sealer) this.#sealer.push(frame, lazy);
    else this.#queueBytes(utf8.encode(frame + "\n"), 1, true);
    return index;
  }

  #queueBytes(bytes: Uint8Array, frames: number, first: boolean): void {
    if (this.#closed) return;
    // A burst queued at once (one flush, however many lines) is fine; a backlog behind a write
    // the reader is not taking is not.
    if (first && this.#inWrite && this.#queued > this.#limits.maxQueued) {
      return this.#tooSlow(`more than ${this.#limits.maxQueued} bytes waiting`);
    }
    this.#queue.push({ bytes, frames });
    this.#queued += bytes.length;
    this.#writing ??= this.#drain();
  }

  async flushed(): Promise<void> {
    await this.#sealer?.settled();
    await this.#writing;
  }

  abort(why: string): void {
    this.#tooSlow(why);
  }

  close(_reason: string): void {
    if (this.closing) return;
    this.closing = true;
    const flushing = this.flushed();
    // A peer that does not read cannot hold the socket open for long.
    const deadline = setTimeout(() => this.#hangUp(), 2000);
    flushing.finally(() => {
      clearTimeout(deadline);
      this.#hangUp();
    });
  }

  /** After the read side ended: hang up now, unless a close is already flushing its goodbye. */
  async dispose(): Promise<void> {
    if (!this.closing) {
      this.closing = true;
      this.#hangUp();
    }
    await this.flushed().catch(() => {});
  }

  async #drain(): Promise<void> {
    // Let the current turn finish queueing, then write everything in one go.
    await Promise.resolve();
    try {
      while (this.#queue.length && !this.#closed) {
        const batch = this.#queue;
        const chunk = batch.length === 1
          ? batch[0].bytes
          : concatBytes(batch.map((p) => p.bytes), this.#queued);
        const frames = batch.reduce((n, p) => n + p.frames, 0);
        this.#queue = [];
        this.#queued = 0;
        this.#inWrite = true;
        let off = 0;
        writeWatch.add(this);
        while (off < chunk.length) {
          this.#writeSince = writeWatch.now;
          off += await this.#conn.write(chunk.subarray(off));
        }
        this.#inWrite = false;
        this.#accepted += frames;
      }
    } catch {
      this.#hangUp();
    } finally {
      this.#inWrite = false;
      this.#writeSince = undefined;
      writeWatch.delete(this);
      this.#writing = undefined;
    }
  }

  /** For the write watch: a write that has made no progress for too long means a stalled reader. */
  check(now: number): void {
    if (this.#writeSince !== undefined && now - this.#writeSince > this.#limits.slowMs) {
      this.#tooSlow(`no write progress for ${this.#limits.slowMs} ms`);
    }
  }

  /** Drops what waits and hangs up; the session stores what must not be lost. */
  #tooSlow(why: string): void {
    if (this.#closed) return;
    this.tooSlow = true;
    this.closing = true;
    this.#queue = [];
    this.#queued = 0;
    this.#limits.onTooSlow(this.remoteAddr, why);
    this.#hangUp();
  }

  #hangUp() {
    if (this.#closed) return;
    this.#closed = true;
    closeQuietly(this.#conn);
  }
}
