/**
 * The encrypted session on the client side (docs/security.md §6), over any line channel: TCP
 * lines (tcp_channel.ts) or WebSocket text messages (ws_channel.ts). It runs the
 * handshake before the ParleyClient sees anything, then seals every frame it sends and opens
 * every line it receives. No Deno API, so the browser bundle shares it.
 */
import {
  clientHandshake,
  type IdentityVerifier,
  isCryptoError,
  type SecureSession,
} from "../crypto/mod.ts";
import type { FrameChannel } from "./client.ts";

/** A channel of raw lines (TCP) or text messages (WebSocket): the same shape as a FrameChannel. */
export type LineChannel = FrameChannel;

export interface SecureChannelOptions {
  /**
   * Decides whether the server's identity is acceptable: `KnownServers.verifier(...)` in the
   * terminal client, `pinFingerprint(fp)` in the browser and in tests.
   */
  verifyIdentity: IdentityVerifier;
  /** Milliseconds the handshake may take. @default 10000 */
  timeoutMs?: number;
}

/** A FrameChannel whose frames travel sealed inside an encrypted session. */
export class SecureChannel implements FrameChannel {
  /** The session: keys, counters, and the server's verified identity. */
  readonly session: SecureSession;
  #raw: LineChannel;
  #inbound: Promise<void> = Promise.resolve();
  #early: string[] = [];
  #onFrame: ((frame: string) => void) | undefined;
  #onClose: ((reason: string) => void) | undefined;
  #failure: string | undefined;
  #closedReason: string | undefined;
  #closed = false;

  private constructor(raw: LineChannel, session: SecureSession) {
    this.#raw = raw;
    this.session = session;
  }

  /** The server's fingerprint, as verified in the handshake. */
  get fingerprint(): string {
    return this.session.server.fingerprint;
  }

  /**
   * Runs the handshake over `raw` (which must not be started yet): sends the `client_hello`,
   * skips lines that do not start with `{` (a text greeting that raced it), and finishes with
   * the server's answer. Rejects with the `CryptoError` (for example `identity_changed`, whose
   * message says what to do) and closes `raw` when the server cannot be trusted.
   */
  static async establish(raw: LineChannel, options: SecureChannelOptions): Promise<SecureChannel> {
    let hs;
    try {
      hs = await clientHandshake({ verifyIdentity: options.verifyIdentity });
    } catch (err) {
      raw.close();
      throw err;
    }
    return await new Promise<SecureChannel>((resolve, reject) => {
      let channel: SecureChannel | undefined;
      let finishing: Promise<unknown> | undefined;
      const early: string[] = [];
      const timer = setTimeout(() => {
        if (finishing) return;
        raw.close();
        reject(new Error("the server did not answer the secure handshake in time"));
      }, options.timeoutMs ?? 10_000);
      raw.start((line) => {
        if (channel) return channel.#incoming(line);
        if (finishing) return void early.push(line);
        if (!line.startsWith("{")) return; // a text-mode greeting that raced the hello
        clearTimeout(timer);
        finishing = hs.finish(line).then((session) => {
          channel = new SecureChannel(raw, session);
          for (const l of early) channel.#incoming(l);
          resolve(channel);
        }, (err) => {
          raw.close();
          reject(err);
        });
      }, (reason) => {
        if (channel) return channel.#ended(reason);
        if (finishing) {
          finishing.then(() => {
            if (channel) channel.#ended(reason);
          });
          return;
        }
        clearTimeout(timer);
        reject(new Error(`connection closed during the secure handshake: ${reason}`));
      });
      try {
        raw.send(hs.hello);
      } catch (err) {
        // A refusal (a full server) can arrive and close the channel before the hello goes
        // out: its answer, already being read, says why; let it win.
        if (finishing) return;
        clearTimeout(timer);
        reject(err);
      }
    });
  }

  send(frame: string): void {
    if (this.#closed || this.#failure) throw new Error("channel closed");
    // Sealed in call order; the promises settle in that order, so the writes keep it.
    this.session.seal(frame).then((line) => {
      try {
        this.#raw.send(line);
      } catch { /* closed meanwhile; onClose tells the client */ }
    }, (err) => this.#fail(err));
  }

  start(onFrame: (frame: string) => void, onClose: (reason: string) => void): void {
    this.#onFrame = onFrame;
    this.#onClose = onClose;
    for (const frame of this.#early.splice(0)) onFrame(frame);
    if (this.#closedReason !== undefined) onClose(this.#closedReason);
  }

  close(): void {
    this.#closed = true;
    this.#raw.close();
  }

  #incoming(line: string): void {
    if (this.#failure) return;
    const opened = this.session.openFrames(line);
    opened.catch(() => {}); // handled in order below
    this.#inbound = this.#inbound.then(() => opened).then((frames) => {
      if (this.#failure) return;
      for (const frame of frames) {
        if (this.#onFrame) this.#onFrame(frame);
        else this.#early.push(frame);
      }
    }, (err) => this.#fail(err));
  }

  #fail(err: unknown): void {
    if (this.#failure) return;
    this.#failure = isCryptoError(err)
      ? `secure session failed (${err.code}): ${err.message}`
      : `secure session failed: ${(err as Error)?.message ?? err}`;
    this.#raw.close();
  }

  #ended(reason: string): void {
    // After every frame that arrived before the end has been opened and delivered.
    this.#inbound = this.#inbound.then(() => {
      if (this.#closedReason !== undefined) return;
      this.#closedReason = this.#failure ?? reason;
      this.#onClose?.(this.#closedReason);
    });
  }
}
