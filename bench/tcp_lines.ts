/**
 * Lines over a TCP socket that can stop being read: the transport of the bench's slow clients
 * (under a SecureChannel) and of its baseline TCP clients. Like lib/client's TcpLineChannel, plus
 * `pause()` (stop reading, so the server's writes pile up) and `drainToEnd()`.
 */
import { decodeUtf8, LineSplitter } from "../lib/protocol/lines.ts";
import type { LineChannel } from "../lib/client/mod.ts";
import { concatBytes } from "../lib/bytes.ts";

const utf8 = new TextEncoder();

export class TcpLines implements LineChannel {
  #conn: Deno.Conn;
  #queue: Uint8Array[] = [];
  #writing = false;
  #closed = false;
  #paused = false;
  #discard = false;
  #resume: (() => void) | undefined;
  #ended = Promise.withResolvers<string>();

  private constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  static async connect(hostname: string, port: number): Promise<TcpLines> {
    const conn = await Deno.connect({ hostname, port });
    conn.setNoDelay(true);
    return new TcpLines(conn);
  }

  /** Resolves with the reason once the connection has ended. */
  get ended(): Promise<string> {
    return this.#ended.promise;
  }

  send(line: string): void {
    if (this.#closed) throw new Error("channel closed");
    this.#queue.push(utf8.encode(line + "\n"));
    if (!this.#writing) this.#flush();
  }

  start(onFrame: (frame: string) => void, onClose: (reason: string) => void): void {
    (async () => {
      const splitter = new LineSplitter(4 << 20);
      const buf = new Uint8Array(64 * 1024);
      let reason = "server closed the connection";
      try {
        while (true) {
          if (this.#paused) await new Promise<void>((r) => this.#resume = r);
          const n = await this.#conn.read(buf);
          if (n === null) break;
          if (this.#discard) continue;
          for (const item of splitter.push(buf.subarray(0, n))) {
            if (item.overlong) continue;
            const line = decodeUtf8(item.line);
            if (line !== undefined) onFrame(line);
          }
        }
      } catch (err) {
        reason = this.#closed ? "closed" : (err as Error).message;
      } finally {
        this.close();
        this.#ended.resolve(reason);
        onClose(reason);
      }
    })();
  }

  /** Stops reading: what the server sends waits in the socket buffers, then in the server. */
  pause(): void {
    this.#paused = true;
  }

  /**
   * Reads again, discarding everything, and tells whether the connection ends within `ms`:
   * whether the server had dropped this reader.
   */
  async drainToEnd(ms: number): Promise<boolean> {
    this.#discard = true;
    this.#paused = false;
    this.#resume?.();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const ended = await Promise.race([
      this.#ended.promise.then(() => true),
      new Promise<boolean>((r) => timer = setTimeout(() => r(false), ms)),
    ]);
    clearTimeout(timer);
    return ended;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#resume?.();
    try {
      this.#conn.close();
    } catch { /* already closed */ }
  }

  async #flush(): Promise<void> {
    this.#writing = true;
    try {
      while (this.#queue.length && !this.#closed) {
        const chunks = this.#queue;
        this.#queue = [];
        const bytes = chunks.length === 1 ? chunks[0] : concatBytes(chunks);
        let off = 0;
        while (off < bytes.length) off += await this.#conn.write(bytes.subarray(off));
      }
    } catch {
      this.close();
    } finally {
      this.#writing = false;
    }
  }
}
