/**
 * The WebSocket transport: a thin adapter like tcp.ts. Each text message carries one JSON frame
 * of docs/protocol.md, both ways; the same frame-size and UTF-8 rules as TCP apply, and a peer
 * that stops reading is dropped once too much waits in the socket's buffer.
 */
import type { Logger } from "../lib/log.ts";
import { decodeUtf8, DEFAULT_MAX_LINE_BYTES } from "../lib/protocol/lines.ts";
import type { Connection, Router, Session } from "../lib/router/mod.ts";
import type { UserRecord } from "../lib/store/store.ts";

export interface WsOptions {
  router: Router;
  logger: Logger;
  /** The peer's address without port. */
  remoteAddr: string;
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
  const conn = new WsConnection(socket, options.remoteAddr, options.maxBufferedBytes ?? 4 << 20);
  let session: Session | undefined;
  socket.onopen = () => {
    session = conn.session = options.router.attach(conn, { user: options.user });
  };
  socket.onmessage = (event: MessageEvent<string | ArrayBuffer>) => {
    if (!session) return;
    const data = event.data;
    if (typeof data === "string") {
      // A UTF-8 byte is at most 3 bytes per UTF-16 unit: only long strings need counting.
      if (data.length * 3 > max && utf8.encode(data).length > max) {
        return session.reject("line_too_long", `Frame longer than ${max} bytes; it was discarded.`);
      }
      return session.receive(data);
    }
    if (data.byteLength > max) {
      return session.reject("line_too_long", `Frame longer than ${max} bytes; it was discarded.`);
    }
    const text = decodeUtf8(new Uint8Array(data));
    if (text === undefined) {
      session.reject("bad_utf8", "That frame is not valid UTF-8; it was discarded.");
    } else session.receive(text);
  };
  socket.onerror = (event) => {
    options.logger.debug("ws error", { error: (event as ErrorEvent).message });
  };
  socket.onclose = () => {
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

  constructor(socket: WebSocket, remoteAddr: string, maxBuffered: number) {
    this.#socket = socket;
    this.remoteAddr = remoteAddr;
    this.#maxBuffered = maxBuffered;
  }

  send(frame: string): void {
    if (this.closing || this.#socket.readyState !== WebSocket.OPEN) return;
    this.#socket.send(frame);
    if (this.#socket.bufferedAmount > this.#maxBuffered) {
      // Too slow: hang up; the store keeps what must not be lost.
      this.closing = true;
      this.#socket.close(CLOSE_POLICY, "too slow");
    }
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
