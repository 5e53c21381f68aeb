/**
 * The WebSocket transport: a thin adapter like tcp.ts. Each text message carries one JSON frame
 * of docs/protocol.md, both ways; the same frame-size and UTF-8 rules as TCP apply, and a peer
 * that stops reading is dropped once too much waits in the socket's buffer.
 */
import type { Logger } from "../lib/log.ts";
import { DEFAULT_MAX_LINE_BYTES } from "../lib/protocol/lines.ts";
import type { Connection, Router, Session } from "../lib/router/mod.ts";
import type { UserRecord } from "../lib/store/store.ts";
import {
  CryptoError,
  encodeHandshakeError,
  sealedLineLength,
  type SecureSession,
  serverHandshake,
  type ServerIdentity,
} from "../lib/crypto/mod.ts";
import { errorFrame, FrameSealer, sessionFailure } from "./secure_transport.ts";

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
  /** Outbound bytes a connection may have waiting; a reader further behind is dropped. @default 4 MiB */
  maxBufferedBytes?: number;
  /** Called once the socket has closed and the session detached. */
  onClose?: (session: Session | undefined) => void;
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
  const conn = new WsConnection(socket, options.remoteAddr, options.maxBufferedBytes ?? 4 << 20);
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
      for (const frame of await secure.openFrames(data)) {
        if (frame.length * 3 > max && utf8.encode(frame).length > max) {
          session.reject("line_too_long", `Frame longer than ${max} bytes; it was discarded.`);
        } else session.receive(frame);
      }
    } catch (err) {
      failed = true;
      const { code, message } = sessionFailure(err);
      options.logger.info("secure session failed", {
        transport: "ws",
        remoteAddr: options.remoteAddr,
        session: session.id,
        code,
      });
      conn.send(errorFrame(code, message));
      session.close(`secure session failed (${code})`);
    }
  };
  socket.onmessage = (event: MessageEvent<string | ArrayBuffer>) => {
    const data = event.data;
    inbound = inbound.then(() => handle(data)).catch((err) => {
      options.logger.error("ws message failed", { error: err });
    });
  };
  socket.onerror = (event) => {
    options.logger.debug("ws error", { error: (event as ErrorEvent).message });
  };
  socket.onclose = () => {
    clearTimeout(deadline);
    conn.closing = true;
    session?.detach();
    options.onClose?.(session);
  };
  return { response, connection: conn };
}

const utf8 = new TextEncoder();

/** WebSocket close code for "policy violation" (a reader too slow to keep up). */
const CLOSE_POLICY = 1008;

/** The write side of one WebSocket, as the router sees it. */
export class WsConnection implements Connection {
  readonly transport = "ws";
  readonly dialect = "json";
  readonly remoteAddr: string;
  closing = false;
  /** The router's session, once the socket is open. */
  session: Session | undefined;
  #socket: WebSocket;
  #maxBuffered: number;
  #sealer: FrameSealer | undefined;

  constructor(socket: WebSocket, remoteAddr: string, maxBuffered: number) {
    this.#socket = socket;
    this.remoteAddr = remoteAddr;
    this.#maxBuffered = maxBuffered;
  }

  /** From now on every frame is sealed with `session` (after the handshake). */
  secure(session: SecureSession): void {
    this.#sealer = new FrameSealer(
      session,
      (line) => this.#write(line),
      () => this.#socket.close(CLOSE_POLICY, "seal failed"),
    );
  }

  send(frame: string): void {
    if (this.closing || this.#socket.readyState !== WebSocket.OPEN) return;
    if (this.#sealer) this.#sealer.push(frame);
    else this.#write(frame);
  }

  #write(frame: string): void {
    if (this.#socket.readyState !== WebSocket.OPEN) return;
    this.#socket.send(frame);
    if (this.#socket.bufferedAmount > this.#maxBuffered) {
      // Too slow: hang up; the store keeps what must not be lost.
      this.closing = true;
      this.#socket.close(CLOSE_POLICY, "too slow");
    }
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
