/**
 * A minimal WebSocket client over a raw TCP socket (RFC 6455), for tests that need what Deno's
 * WebSocket hides: a client that stops reading (it reads only when the test asks), and every
 * byte the server sent, frame by frame. Client frames are masked; server frames are parsed
 * whole (no extensions; fragments are returned as they come).
 */
import { concatBytes } from "../lib/bytes.ts";

const utf8 = new TextEncoder();
const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

export const OP_TEXT = 0x1;
export const OP_BINARY = 0x2;
export const OP_CLOSE = 0x8;
export const OP_PING = 0x9;
export const OP_PONG = 0xa;

/** One frame from the server. */
export interface WsFrame {
  fin: boolean;
  opcode: number;
  payload: Uint8Array;
}

/** A text frame's payload as a string; a close frame's code and reason. */
export function frameText(frame: WsFrame): string {
  return new TextDecoder().decode(frame.payload);
}

export function closeInfo(frame: WsFrame): { code: number; reason: string } {
  const p = frame.payload;
  if (p.length < 2) return { code: 1005, reason: "" };
  return { code: (p[0] << 8) | p[1], reason: new TextDecoder().decode(p.subarray(2)) };
}

/** Encodes one masked client frame (FIN set). */
export function encodeClientFrame(opcode: number, payload: Uint8Array): Uint8Array {
  const len = payload.length;
  const ext = len < 126 ? 0 : len < 65536 ? 2 : 8;
  const out = new Uint8Array(2 + ext + 4 + len);
  out[0] = 0x80 | opcode;
  if (ext === 0) out[1] = 0x80 | len;
  else if (ext === 2) {
    out[1] = 0x80 | 126;
    out[2] = len >> 8;
    out[3] = len & 0xff;
  } else {
    out[1] = 0x80 | 127;
    new DataView(out.buffer).setBigUint64(2, BigInt(len));
  }
  const mask = crypto.getRandomValues(new Uint8Array(4));
  out.set(mask, 2 + ext);
  const body = 2 + ext + 4;
  for (let i = 0; i < len; i++) out[body + i] = payload[i] ^ mask[i & 3];
  return out;
}

/**
 * Decodes the server frame at the start of `buf`: the frame and the bytes it took, or undefined
 * when `buf` does not hold a whole frame yet.
 */
export function decodeServerFrame(buf: Uint8Array): { frame: WsFrame; size: number } | undefined {
  if (buf.length < 2) return undefined;
  if (buf[1] & 0x80) throw new Error("a server frame must not be masked");
  let len = buf[1] & 0x7f;
  let off = 2;
  if (len === 126) {
    if (buf.length < 4) return undefined;
    len = (buf[2] << 8) | buf[3];
    off = 4;
  } else if (len === 127) {
    if (buf.length < 10) return undefined;
    len = Number(new DataView(buf.buffer, buf.byteOffset + 2, 8).getBigUint64(0));
    off = 10;
  }
  if (buf.length < off + len) return undefined;
  return {
    frame: {
      fin: (buf[0] & 0x80) !== 0,
      opcode: buf[0] & 0x0f,
      payload: buf.slice(off, off + len),
    },
    size: off + len,
  };
}

async function acceptKey(key: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-1", utf8.encode(key + GUID));
  return btoa(String.fromCharCode(...new Uint8Array(digest)));
}

/** `promise`, or `"timeout"` after `ms`. */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | "timeout"> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<"timeout">((resolve) => timer = setTimeout(() => resolve("timeout"), ms)),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A WebSocket client that reads only when asked to. `readFrame` takes the next server frame;
 * `readUntilClose` drains the rest, answering the server's close as a well-behaved client does.
 */
export class RawWebSocket {
  readonly conn: Deno.Conn;
  /** Bytes received and not yet parsed into frames. */
  #pending: Uint8Array<ArrayBuffer> = new Uint8Array(0);
  /** Where the unparsed bytes start in `#pending`. */
  #offset = 0;
  #eof = false;
  #read: Promise<number | null> | undefined;
  #buf = new Uint8Array(256 * 1024);
  #writes: Promise<unknown> = Promise.resolve();
  #closed = false;

  private constructor(conn: Deno.Conn, rest: Uint8Array) {
    this.conn = conn;
    this.#pending = rest.slice();
  }

  /**
   * Dials 127.0.0.1:`port` and upgrades `path`, sending `origin` (a browser always sends one;
   * the server accepts its own). Rejects unless the server answers 101 with the right accept key.
   */
  static async connect(
    port: number,
    options: { path?: string; origin?: string; headers?: Record<string, string> } = {},
  ): Promise<RawWebSocket> {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    try {
      const key = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
      const lines = [
        `GET ${options.path ?? "/ws"} HTTP/1.1`,
        `Host: 127.0.0.1:${port}`,
        "Upgrade: websocket",
        "Connection: Upgrade",
        `Sec-WebSocket-Key: ${key}`,
        "Sec-WebSocket-Version: 13",
        `Origin: ${options.origin ?? `http://127.0.0.1:${port}`}`,
        ...Object.entries(options.headers ?? {}).map(([k, v]) => `${k}: ${v}`),
        "",
        "",
      ];
      await writeAll(conn, utf8.encode(lines.join("\r\n")));
      // Read the response head, byte chunks until the blank line; keep what follows it.
      let head = new Uint8Array(0);
      const buf = new Uint8Array(4096);
      let end = -1;
      while (end < 0) {
        const n = await conn.read(buf);
        if (n === null) throw new Error("connection closed during the WebSocket upgrade");
        head = concatBytes([head, buf.subarray(0, n)]);
        end = indexOfCrlfCrlf(head);
        if (end < 0 && head.length > 16 * 1024) throw new Error("upgrade response too long");
      }
      const text = new TextDecoder().decode(head.subarray(0, end));
      const [status, ...headerLines] = text.split("\r\n");
      if (!/^HTTP\/1\.1 101\b/.test(status)) throw new Error(`upgrade refused: ${status}`);
      const headers = new Map(
        headerLines.map((l) => {
          const i = l.indexOf(":");
          return [l.slice(0, i).trim().toLowerCase(), l.slice(i + 1).trim()] as const;
        }),
      );
      if (headers.get("sec-websocket-accept") !== await acceptKey(key)) {
        throw new Error("wrong Sec-WebSocket-Accept");
      }
      return new RawWebSocket(conn, head.subarray(end + 4));
    } catch (err) {
      conn.close();
      throw err;
    }
  }

  /** Sends one masked text message. */
  sendText(text: string): Promise<void> {
    return this.#send(OP_TEXT, utf8.encode(text));
  }

  /** Sends a close frame with `code` and `reason`. */
  sendClose(code = 1000, reason = ""): Promise<void> {
    const r = utf8.encode(reason);
    const payload = new Uint8Array(2 + r.length);
    payload[0] = code >> 8;
    payload[1] = code & 0xff;
    payload.set(r, 2);
    return this.#send(OP_CLOSE, payload);
  }

  #send(opcode: number, payload: Uint8Array): Promise<void> {
    const bytes = encodeClientFrame(opcode, payload);
    const write = this.#writes.then(() => writeAll(this.conn, bytes));
    this.#writes = write.catch(() => {});
    return write;
  }

  /** The next server frame, reading as needed; null at the end of the stream. */
  async readFrame(timeoutMs = 5000): Promise<WsFrame | null> {
    const deadline = Date.now() + timeoutMs;
    while (true) {
      const decoded = decodeServerFrame(this.#pending.subarray(this.#offset));
      if (decoded) {
        this.#offset += decoded.size;
        return decoded.frame;
      }
      if (this.#eof) return null;
      this.#read ??= this.conn.read(this.#buf).catch(() => null);
      const n = await within(this.#read, Math.max(0, deadline - Date.now()));
      if (n === "timeout") throw new Error(`no WebSocket frame within ${timeoutMs} ms`);
      this.#read = undefined;
      if (n === null) this.#eof = true;
      else {
        this.#pending = concatBytes([
          this.#pending.subarray(this.#offset),
          this.#buf.subarray(0, n),
        ]);
        this.#offset = 0;
      }
    }
  }

  /** The next text message (pings are answered, pongs skipped); throws on a close or the end. */
  async readText(timeoutMs = 5000): Promise<string> {
    while (true) {
      const frame = await this.readFrame(timeoutMs);
      if (frame === null) throw new Error("connection ended before a text message");
      if (frame.opcode === OP_TEXT) return frameText(frame);
      if (frame.opcode === OP_PING) await this.#send(OP_PONG, frame.payload);
      else if (frame.opcode === OP_CLOSE) {
        const { code, reason } = closeInfo(frame);
        throw new Error(`closed (${code} ${reason}) before a text message`);
      }
    }
  }

  /**
   * Reads every remaining frame until the server's close (answered with a close, as RFC 6455
   * asks) or the end of the stream. Returns the text messages and the close, if one came.
   */
  async readUntilClose(
    timeoutMs = 20_000,
  ): Promise<{ texts: string[]; close: { code: number; reason: string } | undefined }> {
    const texts: string[] = [];
    const deadline = Date.now() + timeoutMs;
    while (true) {
      const frame = await this.readFrame(Math.max(1, deadline - Date.now()));
      if (frame === null) return { texts, close: undefined };
      if (frame.opcode === OP_TEXT) texts.push(frameText(frame));
      else if (frame.opcode === OP_PING) await this.#send(OP_PONG, frame.payload).catch(() => {});
      else if (frame.opcode === OP_CLOSE) {
        const close = closeInfo(frame);
        await this.sendClose(close.code === 1005 ? 1000 : close.code).catch(() => {});
        return { texts, close };
      }
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.conn.close();
    } catch { /* already closed */ }
  }
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.length) off += await conn.write(bytes.subarray(off));
}

function indexOfCrlfCrlf(buf: Uint8Array): number {
  for (let i = 0; i + 3 < buf.length; i++) {
    if (buf[i] === 13 && buf[i + 1] === 10 && buf[i + 2] === 13 && buf[i + 3] === 10) return i;
  }
  return -1;
}
