import { decodeUtf8, LineSplitter } from "../protocol/lines.ts";
import { type IdentityVerifier, sealedLineLength } from "../crypto/mod.ts";
import type { FrameChannel } from "./client.ts";
import { SecureChannel } from "./secure_channel.ts";

const utf8 = new TextEncoder();

export interface TcpChannelOptions {
  hostname?: string;
  port: number;
  /** Longest frame accepted from the server. @default 1 MiB */
  maxFrameBytes?: number;
  /**
   * Connect over TLS (a server started with --tls-cert/--tls-key). `caCerts` (PEM) replaces the
   * system's roots, e.g. to trust a self-signed certificate.
   */
  tls?: { caCerts?: string[] };
  /**
   * Decides whether the server's identity is acceptable (docs/security.md §8):
   * `KnownServers.verifier(serverName(host, port))` in the terminal client, `pinFingerprint(fp)`
   * where the fingerprint is known. Required: there is no unauthenticated JSON mode.
   */
  verifyIdentity: IdentityVerifier;
}

/** JSON mode over TCP: the encrypted session (secure_channel.ts) over a {@linkcode TcpLineChannel}. */
export const TcpChannel = {
  /**
   * Dials the server and runs the handshake; rejects when nobody listens or the server cannot
   * be trusted (a `CryptoError` such as `identity_changed`, whose message says what to do).
   */
  async connect(options: TcpChannelOptions): Promise<SecureChannel> {
    const { verifyIdentity, ...rest } = options;
    // A sealed line is a third longer than the frames it carries, plus the tag.
    const maxFrameBytes = Math.ceil((options.maxFrameBytes ?? 1 << 20) * 4 / 3) + 64;
    const raw = await TcpLineChannel.connect({ ...rest, maxFrameBytes });
    return await SecureChannel.establish(raw, { verifyIdentity });
  },
};

/**
 * Lines over a TCP socket, written in order: the transport under the encrypted session. Lines
 * that are not UTF-8 or too long are skipped (a sealed session then fails on the next line).
 */
export class TcpLineChannel implements FrameChannel {
  #conn: Deno.Conn;
  #writes: Promise<unknown> = Promise.resolve();
  #closed = false;
  #maxFrameBytes: number;

  private constructor(conn: Deno.Conn, maxFrameBytes: number) {
    this.#conn = conn;
    this.#maxFrameBytes = maxFrameBytes;
  }

  /** Dials the server; rejects when nobody listens. */
  static async connect(
    options: Omit<TcpChannelOptions, "verifyIdentity">,
  ): Promise<TcpLineChannel> {
    const target = { hostname: options.hostname ?? "127.0.0.1", port: options.port };
    const conn = options.tls
      ? await Deno.connectTls({ ...target, caCerts: options.tls.caCerts })
      : await Deno.connect(target);
    if ("setNoDelay" in conn) conn.setNoDelay(true);
    // Lines, not frames: by default as long as a sealed batch of the server's largest, 1 MiB
    // (docs/protocol.md), which is a third longer than the plaintext it carries.
    return new TcpLineChannel(conn, options.maxFrameBytes ?? sealedLineLength(1 << 20));
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
