/**
 * The WebSocket transport: a thin adapter like tcp.ts. Each text message carries one JSON frame
 * of docs/protocol.md, both ways; the same frame-size and UTF-8 rules as TCP apply, and a peer
 * that stops reading is dropped once too much waits in the socket's buffer.
 */
import type { Logger } from "../lib/log.ts";
import { DEFAULT_MAX_LINE_BYTES } from "../lib/protocol/lines.ts";
import type { Connection, ReaderProgress, Router, Session } from "../lib/router/mod.ts";
import type { Refusal } from "../lib/router/admission.ts";
import type { UserRecord } from "../lib/store/store.ts";
import {
  CryptoError,
  encodeHandshakeError,
  sealedLineLength,
  type SecureSession,
  serverHandshake,
  type ServerIdentity,
} from "../lib/crypto/mod.ts";
import {
  failSecureSession,
  FrameSealer,
  receiveFrames,
  type SealedLines,
  sessionFailure,
} from "./secure_transport.ts";
import { type Watched, writeWatch } from "./write_watch.ts";

export interface WsOptions {
  router: Router;
  logger: Logger;
  /** The peer's address without port. */
  remoteAddr: string;
  /** The server's identity: the first message must be a `client_hello` (docs/security.md §6). */
  identity: ServerIdentity;
  /** An account the upgrade request authenticated (session cookie); otherwise sign in by frame. */
  user?: UserRecord;
  /** Longest frame accepted, in UTF-8 bytes. @default 8192 */
  maxFrameBytes?: number;
  /**
   * Outbound bytes a connection may have waiting; a reader further behind is dropped.
   * @default the router's `maxQueuedBytes` (1 MiB)
   */
  maxBufferedBytes?: number;
  /** Called once the connection is over for the server (closed, or given up as too slow). */
  onClose?: (session: Session | undefined) => void;
  /**
   * Called once the socket itself is gone: at its close event, or a slow-reader timeout after
   * the server gave up on a reader too slow to finish the closing handshake. What it holds (an admission place) is
   * not given back while the socket and its buffer still exist.
   */
  onSocketGone?: () => void;
}

/**
 * Upgrades `req` to a WebSocket and attaches it to the router once open. Returns the upgrade
 * response and a handle that closes the connection (logout).
 */
export function acceptWebSocket(
  req: Request,
  options: WsOptions,
): { response: Response; connection: WsConnection } {
  const { socket, response } = Deno.upgradeWebSocket(req, { idleTimeout: 60 });
  socket.binaryType = "arraybuffer";
  const max = options.maxFrameBytes ?? DEFAULT_MAX_LINE_BYTES;
  const maxSealed = sealedLineLength(max);
  const conn = new WsConnection(socket, options.remoteAddr, {
    maxBuffered: options.maxBufferedBytes ?? options.router.limits.maxQueuedBytes,
    slowMs: options.router.limits.slowReaderMs,
    onTooSlow: (why) => {
      options.router.slowReader("ws");
      options.logger.info("slow reader disconnected", {
        transport: "ws",
        remoteAddr: options.remoteAddr,
        why,
      });
    },
  });
  const connectedAt = performance.now();
  let session: Session | undefined;
  let secure: SecureSession | undefined;
  let failed = false;
  let deadline: ReturnType<typeof setTimeout> | undefined;
  socket.onopen = () => {
    // The sign-in deadline covers the handshake.
    deadline = setTimeout(
      () => conn.close("handshake timeout"),
      options.router.limits.loginTimeoutMs,
    );
  };
  // Messages are handled strictly in order: the handshake and each open are asynchronous.
  let inbound: Promise<void> = Promise.resolve();
  const handle = async (data: string | ArrayBuffer) => {
    if (failed || conn.closing) return;
    if (!secure) {
      try {
        if (typeof data !== "string" || data.length > maxSealed) {
          throw new CryptoError(
            "malformed_handshake",
            "The first message must be a client_hello (docs/security.md §3).",
          );
        }
        const hs = await serverHandshake(options.identity, data);
        if (socket.readyState !== WebSocket.OPEN) return;
        socket.send(hs.reply);
        secure = hs.session;
      } catch (err) {
        failed = true;
        const { code } = sessionFailure(err);
        options.logger.info("handshake refused", {
          transport: "ws",
          remoteAddr: options.remoteAddr,
          code,
        });
        if (socket.readyState === WebSocket.OPEN) socket.send(encodeHandshakeError(err));
        conn.close(`handshake refused (${code})`);
        return;
      }
      clearTimeout(deadline);
      conn.secure(secure);
      session = conn.session = options.router.attach(conn, { user: options.user, connectedAt });
      return;
    }
    if (!session) return;
    try {
      if (typeof data !== "string") {
        throw new CryptoError("malformed_frame", "A sealed frame must be a text message.");
      }
      if (data.length > maxSealed) {
        throw new CryptoError(
          "malformed_frame",
          `A sealed frame is longer than ${maxSealed} characters (${max} bytes sealed).`,
        );
      }
      receiveFrames(session, await secure.openFrames(data), max);
    } catch (err) {
      failed = true;
      failSecureSession(session, err, options.logger, {
        transport: "ws",
        remoteAddr: options.remoteAddr,
      });
    }
  };
  socket.onmessage = (event: MessageEvent<string | ArrayBuffer>) => {
    const data = event.data;
    conn.inputPending++;
    inbound = inbound.then(() => handle(data)).catch((err) => {
      options.logger.error("ws message failed", { error: err });
    }).finally(() => conn.inputPending--);
  };
  socket.onerror = (event) => {
    options.logger.debug("ws error", { error: (event as ErrorEvent).message });
  };
  // Once, whichever comes first: the close event, or the server giving up on a reader too slow
  // to ever complete the closing handshake (its close event may never come).
  let gone = false;
  conn.onGone = () => {
    if (gone) return;
    gone = true;
    clearTimeout(deadline);
    conn.ended();
    session?.detach();
    options.onClose?.(session);
    if (conn.tooSlow) {
      // Deno cannot tear down a socket whose peer does not finish the closing handshake: its
      // place is given back a slow-reader timeout later at the latest.
      const last = setTimeout(socketGone, options.router.limits.slowReaderMs);
      Deno.unrefTimer(last);
    }
  };
  let socketWasGone = false;
  const socketGone = () => {
    if (socketWasGone) return;
    socketWasGone = true;
    options.onSocketGone?.();
  };
  socket.onclose = () => {
    conn.onGone?.();
    socketGone();
  };
  return { response, connection: conn };
}

const utf8 = new TextEncoder();

/**
 * Upgrades and at once closes a WebSocket a limit refused: an `error` message saying why (the
 * client reads it like a refused handshake), then close code 1008 with the code as reason. A
 * browser cannot read an HTTP error answer to an upgrade; it can read this.
 */
export function refuseWebSocket(req: Request, refusal: Refusal): Response {
  // A flood of refused upgrades must not hold sockets open: past a few, a plain 503.
  if (refusing >= MAX_REFUSING) {
    return new Response(refusal.message, {
      status: 503,
      headers: { "retry-after": String(refusal.retryAfter ?? 1) },
    });
  }
  refusing++;
  const { socket, response } = Deno.upgradeWebSocket(req);
  socket.onopen = () => {
    socket.send(JSON.stringify({ type: "error", ...refusal }));
    socket.close(CLOSE_POLICY, refusal.code);
  };
  socket.onclose = () => refusing--;
  return response;
}

/** Refused WebSockets being told why right now, and how many may be at once. */
let refusing = 0;
const MAX_REFUSING = 64;

/** WebSocket close code for "policy violation" (a reader too slow to keep up). */
const CLOSE_POLICY = 1008;

/** How a WsConnection judges its reader. */
export interface WsWriteLimits {
  /** Bytes that may wait in the socket's buffer before more is sent. */
  maxBuffered: number;
  /** Buffered bytes that do not drain at all for this long mean the reader stopped. */
  slowMs: number;
  onTooSlow: (why: string) => void;
}

/**
 * The write side of one WebSocket, as the router sees it. A reader that stops reading (its
 * buffer does not drain for `slowMs`) or lets more than `maxBuffered` bytes pile up is closed as
 * too slow (1008, "too slow").
 */
export class WsConnection implements Connection, Watched, SealedLines {
  readonly transport = "ws";
  readonly dialect = "json";
  readonly remoteAddr: string;
  closing = false;
  tooSlow = false;
  /** Messages received and waiting to be opened (see ReaderProgress.inputPending). */
  inputPending = 0;
  /** The router's session, once the socket is open. */
  session: Session | undefined;
  #socket: WebSocket;
  #limits: WsWriteLimits;
  #sealer: FrameSealer | undefined;
  #sent = 0;
  #handedOver = 0;
  /** Frames the socket surely took: all those handed over when its buffer was last empty. */
  #accepted = 0;
  /** Bytes handed to the socket so far. */
  #bytes = 0;
  #watching = false;
  /** When the buffer last drained (write watch clock), and how far it had drained then. */
  #since = 0;
  #drained = 0;
  /** Called when the connection is over for the server: closed, or abandoned as too slow. */
  onGone: (() => void) | undefined;

  constructor(socket: WebSocket, remoteAddr: string, limits: WsWriteLimits) {
    this.#socket = socket;
    this.remoteAddr = remoteAddr;
    this.#limits = limits;
  }

  /** From now on every frame is sealed with `session` (after the handshake). */
  secure(session: SecureSession): void {
    this.#sealer = new FrameSealer(session, this);
  }

  /** For the FrameSealer. */
  sealedLine(line: string, frames: number, first: boolean): void {
    this.#write(line, line.length, first, frames);
  }

  /** For the FrameSealer. */
  sealFailed(): void {
    this.#socket.close(CLOSE_POLICY, "seal failed");
  }

  rest(): boolean {
    return this.#sealer?.rest() ?? false;
  }

  /**
   * `accepted`: frames the socket took, as of the last time its buffer was empty (a lower bound,
   * and free to keep). Frozen once the reader is judged too slow: what was waiting then was not
   * taken. The router goes by heartbeat answers in JSON mode; this is the transport's own count.
   */
  progress(): ReaderProgress {
    if (!this.tooSlow) this.#noteEmpty();
    return {
      accepted: this.#accepted,
      handedOver: this.#handedOver,
      inputPending: this.inputPending,
      tooSlow: this.tooSlow,
    };
  }

  /** An empty buffer means every frame handed over so far left the server. */
  #noteEmpty(): void {
    if (this.#socket.readyState === WebSocket.OPEN && this.#socket.bufferedAmount === 0) {
      this.#accepted = this.#handedOver;
    }
  }

  send(frame: string, lazy = false): number {
    const index = this.#sent++;
    if (this.closing || this.#socket.readyState !== WebSocket.OPEN) return index;
    if (this.#sealer) this.#sealer.push(frame, lazy);
    else this.#write(frame, utf8.encode(frame).length, true, 1);
    return index;
  }

  #write(frame: string, size: number, first: boolean, frames: number): void {
    if (this.#socket.readyState !== WebSocket.OPEN || this.tooSlow) return;
    // A burst sent at once (one flush, however many lines) is fine; a backlog that is still
    // there when the next flush comes is not.
    if (first && this.#socket.bufferedAmount > this.#limits.maxBuffered) {
      return this.#tooSlow(`more than ${this.#limits.maxBuffered} bytes waiting`);
    }
    this.#noteEmpty();
    this.#socket.send(frame);
    this.#handedOver += frames;
    this.#bytes += size;
    this.#watchDrain();
  }

  /** While bytes wait, the write watch checks that some of them leave. */
  #watchDrain(): void {
    if (this.#watching) return;
    this.#watching = true;
    this.#since = writeWatch.now;
    this.#drained = this.#bytes - this.#socket.bufferedAmount;
    writeWatch.add(this);
  }

  /** For the write watch: buffered bytes that do not drain for too long mean a stalled reader. */
  check(now: number): void {
    const buffered = this.#socket.bufferedAmount;
    this.#noteEmpty();
    if (this.#socket.readyState !== WebSocket.OPEN || buffered === 0) return this.#unwatch();
    const drained = this.#bytes - buffered;
    if (drained > this.#drained) {
      this.#drained = drained;
      this.#since = now;
    } else if (now - this.#since > this.#limits.slowMs) {
      this.#tooSlow(`nothing drained for ${this.#limits.slowMs} ms`);
    }
  }

  #unwatch(): void {
    this.#watching = false;
    writeWatch.delete(this);
  }

  abort(why: string): void {
    this.#tooSlow(why);
  }

  /** The socket closed: stop watching it. */
  ended(): void {
    this.closing = true;
    this.#unwatch();
  }

  #tooSlow(why: string): void {
    if (this.tooSlow) return;
    this.tooSlow = true;
    this.closing = true;
    this.#unwatch();
    this.#limits.onTooSlow(why);
    // Too slow: hang up; the store keeps what must not be lost. The closing handshake cannot
    // finish while the peer does not read, so the session ends now, not at the close event.
    try {
      this.#socket.close(CLOSE_POLICY, "too slow");
    } catch { /* already closed */ }
    this.onGone?.();
  }

  /** Resolves once the socket's buffer is empty (or it closed), within 2 seconds. */
  async flushed(): Promise<void> {
    await this.#sealer?.settled();
    const deadline = Date.now() + 2000;
    while (
      this.#socket.readyState === WebSocket.OPEN && this.#socket.bufferedAmount > 0 &&
      Date.now() < deadline
    ) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  /** Ends the connection from the server's side: a `bye` with `reason`, then the close. */
  end(reason: string): void {
    if (this.session) this.session.close(reason);
    else this.close(reason);
  }

  close(reason: string): void {
    if (this.closing) return;
    this.closing = true;
    void this.flushed().then(() => {
      this.#unwatch();
      try {
        // A close reason is limited to 123 bytes.
        this.#socket.close(1000, truncateUtf8(reason, 120));
      } catch { /* already closed */ }
    });
  }
}

function truncateUtf8(text: string, maxBytes: number): string {
  let out = "";
  let size = 0;
  for (const ch of text) {
    size += utf8.encode(ch).length;
    if (size > maxBytes) break;
    out += ch;
  }
  return out;
}
