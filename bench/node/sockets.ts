/**
 * Line transports for the Node load generator, on `node:net`: newline-framed lines over TCP, and
 * a small WebSocket client (RFC 6455: the upgrade, masked text frames out, unmasked frames in,
 * ping answered, close) whose text messages are the lines. Both implement `Lines`
 * (bench/line_clients.ts), with `pause` (stop reading, so the server's writes pile up) for slow
 * clients.
 */
import { connect, type Socket } from "node:net";
import { randomBytes } from "node:crypto";
import { Buffer } from "node:buffer";
import type { Lines } from "../line_clients.ts";
import { defer } from "../defer.ts";
import { clockMs } from "../messages.ts";
import { setImmediate } from "node:timers";

/** Connects a TCP socket with NoDelay, as the server's own sockets are. */
function open(host: string, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port, noDelay: true });
    socket.once("connect", () => {
      socket.off("error", reject);
      resolve(socket);
    });
    socket.once("error", reject);
  });
}

/**
 * Bytes read but not yet handled, with when they came, for every socket of the process. Each
 * `data` event only stamps its chunk and queues it; the chunks are framed, opened and counted
 * once the event loop has stamped every socket that was ready (`setImmediate`). Handled in the
 * event, as they were, a fan-out to this process's 250-500 clients was stamped one client's work
 * (opening a sealed frame, ~15 µs) after another: the last client's latency counted the others'
 * work, and more of it where frames cost more to open, so the bench measured the load generator.
 */
const arrivals: { lines: SocketLines; chunk: Buffer; at: number }[] = [];
let handling = false;

function handleArrivals(): void {
  handling = false;
  const due = arrivals.splice(0);
  for (const a of due) a.lines.take(a.chunk, a.at);
}

/** What both transports share: reading on and off, the end, closing. */
abstract class SocketLines implements Lines {
  protected socket: Socket;
  #onLine: ((line: string, arrivedAt?: number) => void) | undefined;
  /** When the chunk being handled came (`clockMs`). */
  #arrivedAt: number | undefined;
  #discard = false;
  #ended = defer<string>();
  #closed = false;

  constructor(socket: Socket) {
    this.socket = socket;
    socket.on("error", () => {});
    socket.on("close", () => {
      this.#closed = true;
      this.#ended.resolve("server closed the connection");
    });
  }

  abstract send(line: string): void;
  /** Bytes received; calls `emit` for each complete line or message. */
  protected abstract received(chunk: Buffer): void;

  protected emit(line: string): void {
    if (!this.#discard) this.#onLine?.(line, this.#arrivedAt);
  }

  /** Handles a chunk that came at `at`. */
  take(chunk: Buffer, at: number): void {
    this.#arrivedAt = at;
    this.received(chunk);
  }

  protected write(bytes: Buffer | string): void {
    if (this.#closed || this.socket.destroyed) throw new Error("channel closed");
    this.socket.write(bytes);
  }

  start(
    onLine: (line: string, arrivedAt?: number) => void,
    onClose: (reason: string) => void,
  ): void {
    this.#onLine = onLine;
    this.socket.on("data", (chunk: Buffer) => {
      arrivals.push({ lines: this, chunk, at: clockMs() });
      if (handling) return;
      handling = true;
      setImmediate(handleArrivals);
    });
    this.#ended.promise.then(onClose);
  }

  pause(): void {
    this.socket.pause();
  }

  async drainToEnd(ms: number): Promise<boolean> {
    this.#discard = true;
    this.socket.resume();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const ended = await Promise.race([
      this.#ended.promise.then(() => true),
      new Promise<boolean>((r) => timer = setTimeout(() => r(false), ms)),
    ]);
    clearTimeout(timer);
    return ended;
  }

  close(): void {
    this.#closed = true;
    this.socket.destroy();
  }
}

/** Newline-framed lines: UTF-8, or Latin-1 for sealed lines (base64url: ASCII, cheaper). */
export class TcpLines extends SocketLines {
  #rest: Buffer | undefined;
  #encoding: "utf8" | "latin1";

  private constructor(socket: Socket, encoding: "utf8" | "latin1") {
    super(socket);
    this.#encoding = encoding;
  }

  static async connect(host: string, port: number, encoding: "utf8" | "latin1" = "utf8") {
    return new TcpLines(await open(host, port), encoding);
  }

  send(line: string): void {
    this.write(line + "\n");
  }

  protected received(chunk: Buffer): void {
    const buf = this.#rest ? Buffer.concat([this.#rest, chunk]) : chunk;
    let start = 0;
    let nl;
    while ((nl = buf.indexOf(10, start)) !== -1) {
      const end = nl > start && buf[nl - 1] === 13 ? nl - 1 : nl;
      this.emit(buf.toString(this.#encoding, start, end));
      start = nl + 1;
    }
    this.#rest = start < buf.length ? buf.subarray(start) : undefined;
  }
}

/** A WebSocket client whose text messages are the lines. */
export class WsLines extends SocketLines {
  #rest: Buffer | undefined;
  #fragments: Buffer[] = [];

  private constructor(socket: Socket, rest: Buffer | undefined) {
    super(socket);
    this.#rest = rest;
  }

  /** Opens `ws://host:port/path` and completes the upgrade. */
  static async connect(url: string): Promise<WsLines> {
    const u = new URL(url);
    const socket = await open(u.hostname, Number(u.port || 80));
    const key = randomBytes(16).toString("base64");
    socket.write(
      `GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\n` +
        `Connection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    );
    const rest = await new Promise<Buffer>((resolve, reject) => {
      let head = Buffer.alloc(0);
      const onData = (chunk: Buffer) => {
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf("\r\n\r\n");
        if (end === -1) return;
        socket.off("data", onData);
        socket.off("close", onClose);
        socket.pause();
        const status = head.subarray(0, head.indexOf("\r\n")).toString("latin1");
        if (!/^HTTP\/1\.1 101 /.test(status)) {
          socket.destroy();
          reject(new Error(`WebSocket upgrade refused: ${status}`));
        } else resolve(head.subarray(end + 4));
      };
      const onClose = () => reject(new Error("cannot reach the server"));
      socket.on("data", onData);
      socket.once("close", onClose);
    });
    const lines = new WsLines(socket, rest.length ? rest : undefined);
    socket.resume();
    return lines;
  }

  override start(
    onLine: (line: string, arrivedAt?: number) => void,
    onClose: (reason: string) => void,
  ): void {
    super.start(onLine, onClose);
    const early = this.#rest;
    this.#rest = undefined;
    if (early) this.take(early, clockMs());
  }

  send(line: string): void {
    this.#frame(0x1, Buffer.from(line, "utf8"));
  }

  override close(): void {
    try {
      this.#frame(0x8, Buffer.from([0x03, 0xe8])); // 1000, normal closure
    } catch { /* closed already */ }
    super.close();
  }

  /** One masked frame, FIN set (clients must mask: RFC 6455 §5.3). */
  #frame(opcode: number, payload: Buffer): void {
    const n = payload.length;
    const head = Buffer.alloc(n < 126 ? 6 : n < 65536 ? 8 : 14);
    head[0] = 0x80 | opcode;
    let off = 2;
    if (n < 126) head[1] = 0x80 | n;
    else if (n < 65536) {
      head[1] = 0x80 | 126;
      head.writeUInt16BE(n, 2);
      off = 4;
    } else {
      head[1] = 0x80 | 127;
      head.writeBigUInt64BE(BigInt(n), 2);
      off = 10;
    }
    const mask = randomBytes(4);
    mask.copy(head, off);
    for (let i = 0; i < n; i++) payload[i] ^= mask[i & 3];
    this.write(Buffer.concat([head, payload]));
  }

  protected received(chunk: Buffer): void {
    let buf = this.#rest ? Buffer.concat([this.#rest, chunk]) : chunk;
    while (buf.length >= 2) {
      const fin = (buf[0] & 0x80) !== 0;
      const opcode = buf[0] & 0x0f;
      let len = buf[1] & 0x7f;
      let off = 2;
      if (len === 126) {
        if (buf.length < 4) break;
        len = buf.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (buf.length < 10) break;
        len = Number(buf.readBigUInt64BE(2));
        off = 10;
      }
      if (buf[1] & 0x80) off += 4; // a server must not mask; skip the key if it did
      if (buf.length < off + len) break;
      const payload = buf.subarray(off, off + len);
      buf = buf.subarray(off + len);
      if (opcode === 0x8) {
        this.socket.end();
        continue;
      }
      if (opcode === 0x9) {
        this.#frame(0xa, Buffer.from(payload));
        continue;
      }
      if (opcode === 0xa) continue;
      this.#fragments.push(payload);
      if (!fin) continue;
      const whole = this.#fragments.length === 1
        ? this.#fragments[0]
        : Buffer.concat(this.#fragments);
      this.#fragments = [];
      this.emit(whole.toString("utf8"));
    }
    this.#rest = buf.length ? Buffer.from(buf) : undefined;
  }
}
