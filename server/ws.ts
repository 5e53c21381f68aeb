/**
 * The WebSocket transport: a thin adapter like tcp.ts. Each text message carries one JSON frame
 * of docs/protocol.md, both ways; the same frame-size and UTF-8 rules as TCP apply, and a peer
 * that stops reading is dropped once too much waits in the socket's buffer.
 */
import type { Logger } from "../lib/log.ts";
import { DEFAULT_MAX_LINE_BYTES } from "../lib/protocol/lines.ts";
import { encodeRefusal } from "../lib/protocol/refusal.ts";
import type { Router } from "../lib/router/mod.ts";
import type { Refusal } from "../lib/router/admission.ts";
import { sealedLineLength, type ServerIdentity } from "../lib/crypto/mod.ts";
import type { LineTransport } from "./line_transport.ts";
import { LINE_TOO_LONG, Link, type LinkContext, NOT_TEXT, type WebLogin } from "./link.ts";
import { type Watched, writeWatch } from "./write_watch.ts";
import { armIdleTimeout, lateIdleTimeout, upgradeIdleTimeout } from "./ws_idle.ts";

export interface WsOptions {
  router: Router;
  logger: Logger;
  /** The peer's address without port. */
  remoteAddr: string;
  /** The server's identity: the first message must be a `client_hello` (docs/security.md §6). */
  identity: ServerIdentity;
  /** The browser login of the upgrade request (session cookie); otherwise sign in by frame. */
  webLogin?: WebLogin;
  /** Longest frame accepted, in UTF-8 bytes. @default 8192 */
  maxFrameBytes?: number;
  /**
   * Outbound bytes a connection may have waiting; a reader further behind is dropped.
   * @default the router's `maxQueuedBytes` (1 MiB)
   */
  maxBufferedBytes?: number;
  /**
   * Called once the socket itself is gone: at its close event, or a slow-reader timeout after
   * the server gave up on a reader too slow to finish the closing handshake. What it holds (an admission place) is
   * not given back while the socket and its buffer still exist.
   */
  onSocketGone?: () => void;
}

/**
 * Plaintext bytes per sealed message on a WebSocket. Deno's WebSocket keeps, for the socket's
 * life, a native buffer about the size of the largest message it ever sent (docs/performance.md
 * §9): batches stay small so that an idle connection does not hold a burst's worth.
 */
export const WS_MAX_BATCH_BYTES = 8 * 1024;

/**
 * Plaintext bytes per sealed message of presence alone. Nobody waits on those lines, and a sign-in
 * storm sends every connection rounds of presence: at 8 KiB each socket kept ~6 KiB of buffer for
 * the rest of its life (docs/performance.md §16).
 */
export const WS_MAX_LAZY_BATCH_BYTES = 2 * 1024;

/**
 * Seconds without a frame from the peer before the socket is closed (1001): the runtime pings
 * at half of it, and any frame, a pong included, starts it again. A peer whose network is gone
 * holds its place no longer than this.
 */
export const WS_IDLE_TIMEOUT_S = 60;

/** The log has said once that the idle timeout goes through the upgrade's option here. */
let warnedIdle = false;

/** Upgrades `req` to a WebSocket whose messages go to a link (server/link.ts) once it opens. */
export function acceptWebSocket(req: Request, options: WsOptions): Response {
  // The timeout is armed once the socket is open (server/ws_idle.ts): given here, the runtime
  // would keep the request and its connection's scope for the socket's life.
  const { socket, response } = Deno.upgradeWebSocket(req, {
    idleTimeout: upgradeIdleTimeout(WS_IDLE_TIMEOUT_S),
  });
  socket.binaryType = "arraybuffer";
  const { router, logger } = options;
  if (!lateIdleTimeout && !warnedIdle) {
    warnedIdle = true;
    logger.warn(
      "this Deno does not let the WebSocket idle timeout be armed after the upgrade: each idle " +
        "WebSocket keeps its upgrade request (~7 KiB more); run Parley with Deno 2.9 (README)",
    );
  }
  const conn = new WsConnection(socket, options.remoteAddr, {
    maxBuffered: options.maxBufferedBytes ?? router.limits.maxQueuedBytes,
    slowMs: router.limits.slowReaderMs,
    onTooSlow: (remoteAddr, why) => {
      router.slowReader("ws");
      logger.info("slow reader disconnected", { transport: "ws", remoteAddr, why });
    },
  });
  conn.start({
    router,
    logger,
    identity: options.identity,
    maxLineBytes: options.maxFrameBytes ?? DEFAULT_MAX_LINE_BYTES,
  }, options);
  return response;
}

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
    socket.send(encodeRefusal(refusal, "json"));
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
  onTooSlow: (remoteAddr: string, why: string) => void;
}

/**
 * One WebSocket: each text message is a line for its link, each line the link writes one
 * message. A reader that stops reading (its buffer does not drain for `slowMs`) or lets more than
 * `maxBuffered` bytes pile up is closed as too slow (1008, "too slow"). The socket's events come
 * to `handleEvent`: the connection holds no closures for them.
 */
export class WsConnection implements LineTransport, Watched {
  readonly transport = "ws";
  readonly remoteAddr: string;
  readonly maxBatchBytes = WS_MAX_BATCH_BYTES;
  readonly maxLazyBatchBytes = WS_MAX_LAZY_BATCH_BYTES;
  closing = false;
  tooSlow = false;
  #socket: WebSocket;
  #limits: WsWriteLimits;
  #link: Link | undefined;
  #logger: Logger | undefined;
  #maxSealed = 0;
  #onSocketGone: (() => void) | undefined;
  #handedOver = 0;
  /** Frames the socket surely took: all those handed over when its buffer was last empty. */
  #accepted = 0;
  /** Bytes handed to the socket so far. */
  #bytes = 0;
  /**
   * Whether the socket may hold bytes not yet written: false once its buffer was seen empty with
   * nothing sent since, when the buffer is known to be empty without asking the runtime (each
   * `bufferedAmount` is a call into it; a fan-out asked twice per reader).
   */
  #mayHoldBytes = false;
  #watching = false;
  /** When the buffer last drained (write watch clock), and how far it had drained then. */
  #since = 0;
  #drained = 0;
  /** The connection is over for the server (closed, or given up as too slow); the socket is gone. */
  #over = false;
  #socketGone = false;

  constructor(socket: WebSocket, remoteAddr: string, limits: WsWriteLimits) {
    this.#socket = socket;
    this.remoteAddr = remoteAddr;
    this.#limits = limits;
  }

  /** Hands the socket's messages to a new secure link from now on. */
  start(
    context: LinkContext,
    options: { webLogin?: WebLogin; onSocketGone?: () => void } = {},
  ): void {
    this.#logger = context.logger;
    this.#maxSealed = sealedLineLength(context.maxLineBytes);
    this.#onSocketGone = options.onSocketGone;
    this.#link = new Link(context, this, {
      dialect: "json",
      connectedAt: performance.now(),
      webLogin: options.webLogin,
    });
    for (const type of ["open", "message", "error", "close"]) {
      this.#socket.addEventListener(type, this);
    }
  }

  /** The socket's events. */
  handleEvent(event: Event): void {
    if (event.type === "message") {
      const data = (event as MessageEvent<string | ArrayBuffer>).data;
      if (this.closing) return;
      // Messages are taken strictly in order: the link queues them while it opens one.
      void this.#link!.take(
        typeof data !== "string" ? NOT_TEXT : data.length > this.#maxSealed ? LINE_TOO_LONG : data,
      );
    } else if (event.type === "open") {
      // After the runtime's own steps that follow the open event (server/ws_idle.ts).
      queueMicrotask(() => armIdleTimeout(this.#socket, WS_IDLE_TIMEOUT_S));
    } else if (event.type === "error") {
      this.#logger?.debug("ws error", { error: (event as ErrorEvent).message });
    } else if (event.type === "close") {
      this.#gone();
      this.socketGone();
    }
  }

  get handedOver(): number {
    return this.#handedOver;
  }

  get busy(): boolean {
    return this.#buffered() > 0;
  }

  /** The socket's `bufferedAmount`, asked of the runtime only when it may not be 0. */
  #buffered(): number {
    if (!this.#mayHoldBytes) return 0;
    const buffered = this.#socket.bufferedAmount;
    if (buffered === 0) this.#mayHoldBytes = false;
    return buffered;
  }

  /**
   * Frames the socket took, as of the last time its buffer was empty (a lower bound, and free to
   * keep). Frozen once the reader is judged too slow: what was waiting then was not taken. The
   * router goes by heartbeat answers in JSON mode; this is the transport's own progress.
   */
  get accepted(): number {
    if (!this.tooSlow) this.#noteEmpty();
    return this.#accepted;
  }

  /** An empty buffer means every frame handed over so far left the server. */
  #noteEmpty(): void {
    if (this.#socket.readyState === WebSocket.OPEN && this.#socket.bufferedAmount === 0) {
      this.#accepted = this.#handedOver;
    }
  }

  /**
   * One line as one text message. Every line a link writes here is ASCII (a sealed line is
   * base64url, a handshake line JSON of it), so its length is its size in bytes.
   */
  writeLine(line: string, frames: number, first: boolean): void {
    if (this.#socket.readyState !== WebSocket.OPEN || this.tooSlow) return;
    // Read once per line at most: every delivery comes here.
    const buffered = this.#buffered();
    // A burst sent at once (one flush, however many lines) is fine; a backlog that is still
    // there when the next flush comes is not.
    if (first && buffered > this.#limits.maxBuffered) {
      return this.#tooSlow(`more than ${this.#limits.maxBuffered} bytes waiting`);
    }
    if (buffered === 0) this.#accepted = this.#handedOver;
    this.#socket.send(line);
    this.#mayHoldBytes = true;
    this.#handedOver += frames;
    // What had drained before this line: the line itself is now buffered.
    if (!this.#watching) this.#watchDrain(this.#bytes - buffered);
    this.#bytes += line.length;
  }

  /** While bytes wait, the write watch checks that some of them leave. */
  #watchDrain(drained: number): void {
    this.#watching = true;
    this.#since = writeWatch.now;
    this.#drained = drained;
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

  hangUp(why: string): void {
    try {
      this.#socket.close(CLOSE_POLICY, why);
    } catch { /* already closed */ }
  }

  #tooSlow(why: string): void {
    if (this.tooSlow) return;
    this.tooSlow = true;
    this.closing = true;
    this.#unwatch();
    this.#limits.onTooSlow(this.remoteAddr, why);
    // Too slow: hang up; the store keeps what must not be lost. The closing handshake cannot
    // finish while the peer does not read, so the session ends now, not at the close event.
    this.hangUp("too slow");
    this.#gone();
  }

  /**
   * Once, whichever comes first: the close event, or the server giving up on a reader too slow
   * to ever complete the closing handshake (its close event may never come).
   */
  #gone(): void {
    if (this.#over) return;
    this.#over = true;
    this.closing = true;
    this.#unwatch();
    this.#link?.ended();
    if (this.tooSlow) {
      // Deno cannot tear down a socket whose peer does not finish the closing handshake: its
      // place is given back a slow-reader timeout later at the latest.
      Deno.unrefTimer(setTimeout(socketGone, this.#limits.slowMs, this));
    }
  }

  /** The socket itself is gone (or given up on): what it held can be given back. */
  socketGone(): void {
    if (this.#socketGone) return;
    this.#socketGone = true;
    this.#onSocketGone?.();
  }

  /** Resolves once the socket's buffer is empty (or it closed), within 2 seconds. */
  async flushed(): Promise<void> {
    const deadline = Date.now() + 2000;
    while (
      this.#socket.readyState === WebSocket.OPEN && this.#socket.bufferedAmount > 0 &&
      Date.now() < deadline
    ) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  close(reason: string, pending?: Promise<void>): void {
    if (this.closing) return;
    this.closing = true;
    void Promise.resolve(pending).then(() => this.flushed()).then(() => {
      this.#unwatch();
      try {
        // A close reason is limited to 123 bytes.
        this.#socket.close(1000, truncateUtf8(reason, 120));
      } catch { /* already closed */ }
    });
  }
}

/** A timer's callback with the connection as its argument: no closure per socket. */
function socketGone(conn: WsConnection): void {
  conn.socketGone();
}

const utf8 = new TextEncoder();

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
