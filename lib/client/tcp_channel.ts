import { decodeUtf8, LineSplitter } from "../protocol/lines.ts";
import type { FrameChannel } from "./client.ts";

const utf8 = new TextEncoder();

export interface TcpChannelOptions {
  hostname?: string;
  port: number;
  /** Longest frame accepted from the server. @default 1 MiB */
  maxFrameBytes?: number;
}

/**
 * A FrameChannel over a TCP socket in JSON mode: newline-framed JSON, written in order.
 * Lines that are not JSON (a text greeting that raced the first frame) are skipped by the client.
 */
export class TcpChannel implements FrameChannel {
  #conn: Deno.Conn;
  #writes: Promise<unknown> = Promise.resolve();
  #closed = false;
  #maxFrameBytes: number;

  private constructor(conn: Deno.Conn, maxFrameBytes: number) {
    this.#conn = conn;
    this.#maxFrameBytes = maxFrameBytes;
  }

  /** Dials the server; rejects when nobody listens. */
  static async connect(options: TcpChannelOptions): Promise<TcpChannel> {
    const conn = await Deno.connect({
      hostname: options.hostname ?? "127.0.0.1",
      port: options.port,
    });
    conn.setNoDelay(true);
    return new TcpChannel(conn, options.maxFrameBytes ?? 1 << 20);
  }

  send(frame: string): void {
    if (this.#closed) throw new Error("channel closed");
    const bytes = utf8.encode(frame + "\n");
    this.#writes = this.#writes.then(() => this.#writeAll(bytes)).catch(() => this.close());
  }

  start(onFrame: (frame: string) => void, onClose: (reason: string) => void): void {
    (async () => {
      const splitter = new LineSplitter(this.#maxFrameBytes);
      const buf = new Uint8Array(64 * 1024);
      let reason = "server closed the connection";
      try {
        while (true) {
          const n = await this.#conn.read(buf);
          if (n === null) break;
          for (const item of splitter.push(buf.slice(0, n))) {
            if (item.overlong) continue;
            const line = decodeUtf8(item.line);
            if (line !== undefined) onFrame(line);
          }
        }
      } catch (err) {
        if (!this.#closed) reason = (err as Error).message;
        else reason = "closed";
      } finally {
        this.close();
        onClose(reason);
      }
    })();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn.close();
    } catch { /* already closed */ }
  }

  async #writeAll(bytes: Uint8Array) {
    let off = 0;
    while (off < bytes.length) off += await this.#conn.write(bytes.subarray(off));
  }
}
