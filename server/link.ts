/**
 * The one server-side link between a line transport (TCP, WebSocket) and the router: what the
 * router sees of a connection. In text mode it hands lines to the session as they come. In JSON
 * mode (docs/security.md §6) it runs the secure session: the handshake under the sign-in
 * deadline, the plaintext `server_hello`, then every line both ways sealed; a line that fails to
 * open ends the session. The client's side is lib/client/secure_channel.ts.
 *
 * A link holds its state in fields and keeps no closure or promise while its connection is quiet
 * (docs/performance.md): the handshake deadline is a timer with the link as its argument, and
 * the promise of the lines being opened is dropped once they are.
 */
import {
  CryptoError,
  encodeHandshakeError,
  isCryptoError,
  sealedLineLength,
  type SecureSession,
  serverHandshake,
  type ServerIdentity,
} from "../lib/crypto/mod.ts";
import type { Logger } from "../lib/log.ts";
import type { Dialect } from "../lib/protocol/types.ts";
import type { ClientSession, Connection, ReaderProgress, Router } from "../lib/router/mod.ts";
import type { UserRecord } from "../lib/store/store.ts";
import type { LineTransport } from "./line_transport.ts";
import { FrameSealer, type SealedLines } from "./secure_transport.ts";

/** A line the transport could not read as text: too long, or not UTF-8 (a binary message). */
export const LINE_TOO_LONG: unique symbol = Symbol("line too long");
export const NOT_TEXT: unique symbol = Symbol("not text");

/** What a transport hands its link: a line of text, or why it has none. */
export type LineInput = string | typeof LINE_TOO_LONG | typeof NOT_TEXT;

/** What every link of a server shares. */
export interface LinkContext {
  router: Router;
  logger: Logger;
  identity: ServerIdentity;
  /** Plaintext bytes a line (a frame, in JSON mode) may have. */
  maxLineBytes: number;
}

/**
 * A browser's web login, given by its session cookie: the connection is signed in as its account
 * once the handshake is done, if the login is still valid then (a logout during the handshake
 * finds no session to close, so it is checked as late as that).
 */
export interface WebLogin {
  /** The hash of the cookie's token: `Router.closeWebLogin` closes the link's session by it. */
  tokenHash: string;
  /** The login's account, or undefined when the login ended. */
  user(): Promise<UserRecord | undefined>;
  /** The browser tab's device id (`/ws?device=`), for its cursor and catch-up. */
  device?: string;
}

export interface LinkOptions {
  /** `text` for a person with nc; `json` runs the secure session. */
  dialect: Dialect;
  /** performance.now() when the socket opened: the sign-in deadline runs from here. */
  connectedAt: number;
  /** Text mode: the transport already showed the greeting. */
  greeted?: boolean;
  /** JSON mode: the web login the connection came with. */
  webLogin?: WebLogin;
}

/** The longest a session whose input ended may take to answer what it was sent. */
const INPUT_END_GRACE_MS = 10_000;

export class Link implements Connection, SealedLines {
  readonly dialect: Dialect;
  /** Lines read and waiting to be opened (see ReaderProgress.inputPending). */
  inputPending = 0;
  #context: LinkContext;
  #transport: LineTransport;
  #connectedAt: number;
  #session: ClientSession | undefined;
  #sealer: FrameSealer | undefined;
  #webLogin: WebLogin | undefined;
  #deadline: ReturnType<typeof setTimeout> | undefined;
  /**
   * JSON mode: lines waiting their turn (undefined when none: a quiet link keeps no array), and
   * the work that opens them (while there is some).
   */
  #inbox: LineInput[] | undefined;
  #working: Promise<boolean> | undefined;
  /** The session failed or the handshake was refused: nothing more is read. */
  #failed = false;
  #sent = 0;

  constructor(context: LinkContext, transport: LineTransport, options: LinkOptions) {
    this.#context = context;
    this.#transport = transport;
    this.dialect = options.dialect;
    this.#connectedAt = options.connectedAt;
    if (options.dialect === "text") {
      this.#session = context.router.attach(this, {
        greeted: options.greeted,
        connectedAt: options.connectedAt,
      });
      return;
    }
    this.#webLogin = options.webLogin;
    // The sign-in deadline covers the handshake.
    const left = context.router.limits.loginTimeoutMs - (performance.now() - options.connectedAt);
    this.#deadline = setTimeout(handshakeTooLate, Math.max(0, left), this);
  }

  get transport(): string {
    return this.#transport.transport;
  }

  get remoteAddr(): string {
    return this.#transport.remoteAddr;
  }

  /** The transport's progress, with the lines this link still has to open. */
  progress(): ReaderProgress {
    const transport = this.#transport;
    return {
      accepted: transport.accepted,
      handedOver: transport.handedOver,
      inputPending: this.inputPending,
      tooSlow: transport.tooSlow,
    };
  }

  inputWaiting(): boolean {
    return this.#transport.inputWaiting?.() ?? false;
  }

  /**
   * Takes one line the transport read. Returns whether to read on; a promise of it while lines
   * are being opened (JSON mode), which a transport that can wait for it (TCP) awaits before it
   * reads more. Lines are handled strictly in the order taken either way.
   */
  take(input: LineInput): boolean | Promise<boolean> {
    if (this.dialect === "text") return this.#takeText(input);
    if (this.#failed || this.#transport.closing) return false;
    (this.#inbox ??= []).push(input);
    this.inputPending++;
    return this.#working ??= this.#work();
  }

  /** Text mode: a line goes to the session; one it cannot read is refused and skipped. */
  #takeText(input: LineInput): boolean {
    if (this.#transport.closing) return false;
    const session = this.#session!;
    if (input === LINE_TOO_LONG) {
      const max = this.#context.maxLineBytes;
      session.reject("line_too_long", `Line longer than ${max} bytes; it was discarded.`);
    } else if (input === NOT_TEXT) {
      session.reject("bad_utf8", "That line is not valid UTF-8; it was discarded.");
    } else session.receive(input);
    return !this.#transport.closing;
  }

  async #work(): Promise<boolean> {
    try {
      while (this.#inbox?.length && !this.#failed && !this.#transport.closing) {
        const input = this.#inbox.shift()!;
        try {
          if (this.#session) await this.#open(input);
          else await this.#shakeHands(input);
        } finally {
          this.inputPending--;
        }
      }
    } catch (err) {
      this.#context.logger.error("link input failed", { transport: this.transport, error: err });
      this.#failed = true;
    } finally {
      this.inputPending -= this.#inbox?.length ?? 0;
      if (this.#failed || this.#transport.closing || !this.#inbox?.length) this.#inbox = undefined;
      this.#working = undefined; // not kept while the connection is quiet
    }
    return !this.#failed && !this.#transport.closing;
  }

  /** The first line: the client_hello. Answers it and attaches the session, or refuses it. */
  async #shakeHands(input: LineInput): Promise<void> {
    let secure: SecureSession;
    let user: UserRecord | undefined;
    try {
      if (typeof input !== "string") {
        throw new CryptoError(
          "malformed_handshake",
          "The first line must be a client_hello (docs/security.md §3).",
        );
      }
      const hs = await serverHandshake(this.#context.identity, input);
      user = await this.#webLogin?.user();
      if (this.#transport.closing) return;
      this.#transport.writeLine(hs.reply, 0, true);
      secure = hs.session;
    } catch (err) {
      this.#failed = true;
      const { code } = sessionFailure(err);
      this.#context.logger.info("handshake refused", {
        transport: this.transport,
        remoteAddr: this.remoteAddr,
        code,
      });
      this.#transport.writeLine(encodeHandshakeError(err), 0, true);
      this.#transport.close(`handshake refused (${code})`);
      return;
    }
    clearTimeout(this.#deadline);
    this.#deadline = undefined;
    const { maxBatchBytes, maxLazyBatchBytes } = this.#transport;
    this.#sealer = new FrameSealer(secure, this, maxBatchBytes, maxLazyBatchBytes);
    const webLogin = user && this.#webLogin?.tokenHash;
    const device = user && this.#webLogin?.device;
    this.#webLogin = undefined; // not kept for the connection's life
    this.#session = this.#context.router.attach(this, {
      connectedAt: this.#connectedAt,
      user,
      webLogin,
      device,
    });
  }

  /** A sealed line: opens it and hands its frames to the session; a failure ends the session. */
  async #open(input: LineInput): Promise<void> {
    const session = this.#session!;
    const max = this.#context.maxLineBytes;
    try {
      if (input === LINE_TOO_LONG) {
        throw new CryptoError(
          "malformed_frame",
          `A sealed line is longer than ${sealedLineLength(max)} characters (${max} bytes sealed).`,
        );
      }
      if (input === NOT_TEXT) {
        throw new CryptoError("malformed_frame", "A sealed line must be valid UTF-8 text.");
      }
      for (const frame of await this.#sealer!.open(input)) {
        // Only a frame of over `max / 3` characters can be too long: most are never measured.
        if (frame.length * 3 > max && utf8.encode(frame).length > max) {
          session.reject("line_too_long", `Frame longer than ${max} bytes; it was discarded.`);
        } else session.receive(frame);
      }
    } catch (err) {
      // The log gets the code (never the line), the client a sealed `error`, then the goodbye.
      this.#failed = true;
      const { code, message } = sessionFailure(err);
      this.#context.logger.info("secure session failed", {
        transport: this.transport,
        remoteAddr: this.remoteAddr,
        session: session.id,
        code,
      });
      this.send(JSON.stringify({ type: "error", code, message }));
      session.close(`secure session failed (${code})`);
    }
  }

  /** The handshake did not finish within the sign-in deadline. */
  expire(): void {
    this.#deadline = undefined;
    if (!this.#session) this.#transport.close("handshake timeout");
  }

  /**
   * The peer ended its input but may still read: a half-close, as `printf ... | nc` makes, or a
   * script's `closeWrite()`. Both modes answer every line it sent, then say goodbye (within
   * `INPUT_END_GRACE_MS`): a reply the peer waits for is never cut off by its own half-close.
   */
  async inputEnded(): Promise<void> {
    const session = this.#session;
    if (!session || session.closed || this.#failed) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      session.idle().catch(() => {}),
      new Promise((resolve) => timer = setTimeout(resolve, INPUT_END_GRACE_MS)),
    ]).finally(() => clearTimeout(timer));
    session.close("your input ended");
  }

  /** Called by the transport once its socket is gone (or given up on); idempotent. */
  ended(): void {
    clearTimeout(this.#deadline);
    this.#deadline = undefined;
    // A failed session is closing already (its goodbye flushes first); a vanished peer at once.
    this.#session?.detach();
  }

  send(frame: string, lazy = false): number {
    const index = this.#sent++;
    // In JSON mode every frame is sealed (in order; at once when nothing is in flight, else
    // batched per turn) before it is written.
    if (this.#sealer) this.#sealer.push(frame, lazy);
    else this.#transport.writeLine(frame, 1, true);
    return index;
  }

  /** For the FrameSealer. */
  get writeBusy(): boolean {
    return this.#transport.busy;
  }

  /** For the FrameSealer. */
  sealedLine(line: string, frames: number, first: boolean): void {
    this.#transport.writeLine(line, frames, first);
  }

  /** For the FrameSealer. */
  sealFailed(): void {
    this.#transport.hangUp("seal failed");
  }

  rest(): boolean {
    this.#session?.rest();
    return this.#sealer?.rest() ?? false;
  }

  async flushed(): Promise<void> {
    await this.#sealer?.settled();
    await this.#transport.flushed();
  }

  abort(why: string): void {
    this.#transport.abort(why);
  }

  close(reason: string): void {
    if (this.#transport.closing) return;
    this.#transport.close(reason, this.#sealer?.settled());
  }
}

/** A timer's callback with the link as its argument: no closure per connection. */
function handshakeTooLate(link: Link): void {
  link.expire();
}

/** The code and message to log and to tell the client when a sealed line or handshake fails. */
function sessionFailure(err: unknown): { code: string; message: string } {
  if (isCryptoError(err)) return { code: err.code, message: err.message };
  return { code: "internal", message: "The secure session failed." };
}

const utf8 = new TextEncoder();
