/**
 * A secure session: the two frame keys of a finished handshake, and the counters that make
 * every frame's nonce. `seal` turns plaintext into one base64url line; `open` turns such a line
 * back, and fails for good on the first frame that was modified, replayed, reordered, truncated
 * or forged — after which the transport closes the connection.
 */
import { fromBase64Url, fromUtf8, toBase64Url, utf8 } from "./_encoding.ts";
import { aesGcmOpen, aesGcmSeal } from "./_webcrypto.ts";
import { openSslAead } from "./_openssl.ts";
import { RestingKeys } from "./resting_keys.ts";
import {
  DIAGNOSE_WINDOW,
  DIRECTION_CLIENT_TO_SERVER,
  DIRECTION_SERVER_TO_CLIENT,
  GCM_NONCE_BYTES,
  GCM_TAG_BYTES,
  MAX_FRAMES_PER_DIRECTION,
} from "./constants.ts";
import { CryptoError } from "./errors.ts";
import type { FrameKeys } from "./key_schedule.ts";
import type { ServerIdentityInfo } from "./fingerprint.ts";

const NO_AD = new Uint8Array(0);

/**
 * The chain of a direction with nothing in flight: one settled promise shared by every session,
 * so that a quiet session keeps none of its own (docs/performance.md §15).
 */
const SETTLED: Promise<unknown> = Promise.resolve();

/** Which end of the connection a session belongs to. */
export type SessionRole = "client" | "server";

/**
 * The 12-byte AES-GCM nonce of a frame: the direction byte, three zero bytes, and the frame
 * counter as a 64-bit big-endian integer.
 */
export function frameNonce(
  direction: number,
  counter: number,
  into: Uint8Array = new Uint8Array(GCM_NONCE_BYTES),
): Uint8Array {
  if (!Number.isSafeInteger(counter) || counter < 0) {
    throw new CryptoError("invalid_argument", "A frame counter is a non-negative integer.");
  }
  into[0] = direction;
  into[1] = into[2] = into[3] = 0;
  const high = Math.floor(counter / 2 ** 32);
  const low = counter >>> 0;
  into[4] = high >>> 24;
  into[5] = (high >>> 16) & 0xff;
  into[6] = (high >>> 8) & 0xff;
  into[7] = high & 0xff;
  into[8] = low >>> 24;
  into[9] = (low >>> 16) & 0xff;
  into[10] = (low >>> 8) & 0xff;
  into[11] = low & 0xff;
  return into;
}

/** The nonce and key of an inline seal or open (OpenSSL reads them during the call): one each for the process. */
const inlineNonce = new Uint8Array(GCM_NONCE_BYTES);
const inlineKey = new Uint8Array(32);

/**
 * Length of the sealed line (without its newline) for a plaintext of `plaintextBytes` bytes:
 * base64url of plaintext plus the 16-byte tag. Transports size their line limit with it.
 */
export function sealedLineLength(plaintextBytes: number): number {
  return Math.ceil(((plaintextBytes + GCM_TAG_BYTES) * 4) / 3);
}

/** What {@linkcode createSession} needs; the handshake supplies it. */
export interface SessionInit {
  role: SessionRole;
  keys: FrameKeys;
  transcriptHash: Uint8Array;
  /** Kept, not copied (a server shares one for all its sessions): nobody may change it after. */
  server: ServerIdentityInfo;
}

/** Builds a session from derived keys (the handshake calls this; tests and vectors too). */
export async function createSession(init: SessionInit): Promise<SecureSession> {
  const restable = init.role === "server";
  // Where frames are sealed and opened by OpenSSL from the raw keys, a server session imports
  // its CryptoKeys only if it ever needs them (to name a frame that failed to open): ~4.6 KiB
  // per connection otherwise held for nothing (docs/performance.md §11).
  const asleep = restable && openSslAead() !== undefined;
  const client = init.role === "client";
  const send = client ? init.keys.clientToServer : init.keys.serverToClient;
  const recv = client ? init.keys.serverToClient : init.keys.clientToServer;
  return new SecureSession(
    init,
    await RestingKeys.import(send, recv, restable, asleep),
    client ? DIRECTION_CLIENT_TO_SERVER : DIRECTION_SERVER_TO_CLIENT,
  );
}

/**
 * One end of an encrypted connection. Seal every outgoing frame, open every incoming one, and
 * write sealed frames in the order `seal` was called (the promises settle in that order too).
 * Any error from `open` is final: every later `open` fails with `session_failed`; close the
 * connection.
 */
export class SecureSession {
  /** `client` or `server`. */
  readonly role: SessionRole;
  // Kept compactly and shared, not copied: a server holds one session per connection. The
  // public key is the handshake's own (the server's identity, the same for every session); the
  // getters hand out copies.
  #server: ServerIdentityInfo;
  #transcriptHash: string;
  #keys: RestingKeys;
  /** The direction byte of sealed frames' nonces; opened frames carry the other. */
  #sendDirection: number;
  #sent = 0;
  #received = 0;
  #sendChain: Promise<unknown> = SETTLED;
  #recvChain: Promise<unknown> = SETTLED;
  #sendFailure: CryptoError | undefined;
  #recvFailure: CryptoError | undefined;

  /** Use {@linkcode clientHandshake} or {@linkcode serverHandshake} to get a session. */
  constructor(
    init: SessionInit,
    keys: RestingKeys,
    sendDirection: number,
  ) {
    this.role = init.role;
    this.#server = init.server;
    // As char codes: 32 characters, a third smaller than base64url.
    this.#transcriptHash = String.fromCharCode(...init.transcriptHash);
    this.#keys = keys;
    this.#sendDirection = sendDirection;
  }

  /**
   * SHA-256 of the handshake transcript: unique to this session, the same on both ends. Fit for
   * logs and for channel binding; not secret.
   */
  get transcriptHash(): Uint8Array {
    return Uint8Array.from(this.#transcriptHash, (c) => c.charCodeAt(0));
  }

  /** The server's identity as verified in the handshake. */
  get server(): ServerIdentityInfo {
    return { publicKey: this.#server.publicKey.slice(), fingerprint: this.#server.fingerprint };
  }

  /** Frames sealed so far (the counter of the next one). */
  get sent(): number {
    return this.#sent;
  }

  /** Frames handed to `open` so far (the counter the next one must carry). */
  get received(): number {
    return this.#received;
  }

  /** The error that ended the receiving side, if any. */
  get failure(): CryptoError | undefined {
    return this.#recvFailure ?? this.#sendFailure;
  }

  /**
   * Server sessions: drops the imported keys until the next frame needs them (it imports them
   * again), for a connection that has gone quiet. Frames in flight finish with the keys they
   * hold. Returns whether anything was dropped (a client session never rests).
   */
  rest(): boolean {
    return this.#keys.rest();
  }

  /**
   * Whether `seal` runs at once, synchronously, in this process (OpenSSL, see `_openssl.ts`:
   * server sessions where libcrypto may be loaded), rather than queued to WebCrypto: a seal then
   * costs a few µs instead of ~20, so a sender need not batch to save seals.
   */
  get sealsInline(): boolean {
    return this.#keys.restable && openSslAead() !== undefined;
  }

  /** Whether either key is imported (or being imported) now: false after `rest`, until a frame. */
  get awake(): boolean {
    return this.#keys.awake;
  }

  /**
   * Seals one frame (or a batch, see {@linkcode sealFrames}) into a base64url line, without
   * the newline. Strings are sealed as UTF-8.
   * @throws {CryptoError} `counter_exhausted` after 2^32 frames.
   */
  seal(plaintext: Uint8Array | string): Promise<string> {
    if (this.sealsInline) {
      // Every seal of this session takes this path, so the order of the calls is the order of
      // the frames, as on the queued path below.
      try {
        return Promise.resolve(this.sealNow(plaintext));
      } catch (err) {
        return Promise.reject(err);
      }
    }
    if (this.#sendFailure) return Promise.reject(this.#sendFailure);
    if (this.#sent >= MAX_FRAMES_PER_DIRECTION) {
      this.#sendFailure = new CryptoError("counter_exhausted");
      return Promise.reject(this.#sendFailure);
    }
    const nonce = frameNonce(this.#sendDirection, this.#sent++);
    // Copy now: the caller may reuse its buffer before the queued encryption runs.
    const bytes = typeof plaintext === "string" ? utf8(plaintext) : plaintext.slice();
    const result = this.#sendChain.then(async () => {
      return toBase64Url(await aesGcmSeal(await this.#keys.get("send"), nonce, bytes, NO_AD));
    });
    // Settled, never rejected, and without the sealed line: an idle session keeps no copy, and
    // once nothing is queued, not even a promise of its own.
    const settled = () => {
      if (this.#sendChain === chain) this.#sendChain = SETTLED;
    };
    const chain = result.then(settled, settled);
    this.#sendChain = chain;
    return result;
  }

  /**
   * Where the session {@linkcode sealsInline}: seals one frame (or a batch) now, as `seal` does,
   * without a promise: the server seals once per connection per fan-out, and the promises were
   * a fifth of that cost.
   * @throws {CryptoError} `invalid_argument` where the session does not seal inline;
   * `counter_exhausted` after 2^32 frames; `session_failed` when OpenSSL fails (then for every
   * later seal too).
   */
  sealNow(plaintext: Uint8Array | string): string {
    if (this.#sendFailure) throw this.#sendFailure;
    const fast = this.#keys.restable && openSslAead();
    if (!fast) throw new CryptoError("invalid_argument", "This session does not seal inline.");
    if (this.#sent >= MAX_FRAMES_PER_DIRECTION) {
      throw this.#sendFailure = new CryptoError("counter_exhausted");
    }
    const nonce = frameNonce(this.#sendDirection, this.#sent++, inlineNonce);
    try {
      const key = this.#keys.rawInto("send", inlineKey)!;
      return toBase64Url(fast.sealTransient(key, nonce, plaintext));
    } catch (err) {
      throw this.#sendFailure = err instanceof CryptoError
        ? err
        : new CryptoError("session_failed", "Sealing a frame failed.", { cause: err });
    }
  }

  /**
   * Seals several protocol frames as one batch: their texts joined by `\n`.
   * @throws {CryptoError} `invalid_argument` when a frame is empty or holds a newline.
   */
  sealFrames(frames: readonly string[]): Promise<string> {
    try {
      return this.seal(batchText(frames));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** {@linkcode sealFrames} now, where the session {@linkcode sealsInline}; as `sealNow`. */
  sealFramesNow(frames: readonly string[]): string {
    return this.sealNow(batchText(frames));
  }

  /**
   * Opens the next sealed frame. Frames must be opened in the order they arrived; each call
   * takes the next counter.
   * @throws {CryptoError} `malformed_frame`, `tampered`, `replayed`, `out_of_order`,
   * `counter_exhausted`, then `session_failed` for every later call.
   */
  open(sealed: string): Promise<Uint8Array> {
    return this.#enqueue(sealed, (plain) => plain);
  }

  /**
   * Opens the next sealed frame as UTF-8 text.
   * @throws {CryptoError} as {@linkcode open}, and `malformed_frame` for invalid UTF-8.
   */
  openText(sealed: string): Promise<string> {
    return this.#enqueue(sealed, (plain) => {
      const text = fromUtf8(plain);
      if (text === undefined) {
        throw new CryptoError("malformed_frame", "A sealed frame is not valid UTF-8.");
      }
      return text;
    });
  }

  /**
   * Opens the next sealed frame as a batch: the protocol frames it carries, split at `\n`,
   * empty lines dropped. A frame that was sealed alone comes back as a batch of one.
   */
  async openFrames(sealed: string): Promise<string[]> {
    return (await this.openText(sealed)).split("\n").filter((f) => f !== "");
  }

  #enqueue<T>(sealed: string, decode: (plain: Uint8Array) => T): Promise<T> {
    const counter = this.#received++;
    const result = this.#recvChain.then(async () => {
      try {
        return decode(await this.#openAt(sealed, counter));
      } catch (err) {
        this.#recvFailure ??= err instanceof CryptoError
          ? err
          : new CryptoError("session_failed", "Opening a frame failed.", { cause: err });
        throw err;
      }
    });
    const settled = () => {
      if (this.#recvChain === chain) this.#recvChain = SETTLED;
    };
    const chain = result.then(settled, settled);
    this.#recvChain = chain;
    return result;
  }

  async #openAt(sealed: string, counter: number): Promise<Uint8Array> {
    if (this.#recvFailure) {
      throw new CryptoError(
        "session_failed",
        `The secure session already failed (${this.#recvFailure.code}); close the connection.`,
        { cause: this.#recvFailure },
      );
    }
    if (counter >= MAX_FRAMES_PER_DIRECTION) throw new CryptoError("counter_exhausted");
    const bytes = fromBase64Url(sealed);
    if (bytes === undefined || bytes.length < GCM_TAG_BYTES) {
      const hint = sealed.startsWith("{")
        ? "A plaintext frame arrived after the handshake; every later frame must be sealed."
        : bytes === undefined
        ? "A sealed frame is not canonical base64url."
        : "A sealed frame is shorter than its 16-byte tag.";
      throw new CryptoError("malformed_frame", hint);
    }
    const nonce = frameNonce(this.#recvDirection(), counter);
    const fast = this.#keys.restable && openSslAead();
    if (fast) {
      const plain = fast.open(this.#keys.rawInto("recv", inlineKey)!, nonce, bytes);
      if (plain) return plain;
    }
    const key = await this.#keys.get("recv");
    const plain = fast ? undefined : await aesGcmOpen(key, nonce, bytes, NO_AD);
    if (plain) return plain;
    throw await this.#diagnose(key, bytes, counter);
  }

  /** The direction byte of the frames this end opens. */
  #recvDirection(): number {
    return this.#sendDirection === DIRECTION_CLIENT_TO_SERVER
      ? DIRECTION_SERVER_TO_CLIENT
      : DIRECTION_CLIENT_TO_SERVER;
  }

  /** Names a failure by trying nearby counters; the frame itself is never accepted. */
  async #diagnose(key: CryptoKey, bytes: Uint8Array, counter: number): Promise<CryptoError> {
    for (let d = 1; d <= DIAGNOSE_WINDOW; d++) {
      if (counter - d >= 0) {
        const nonce = frameNonce(this.#recvDirection(), counter - d);
        if (await aesGcmOpen(key, nonce, bytes, NO_AD)) {
          return new CryptoError(
            "replayed",
            `Sealed frame #${counter} is a replay of frame #${counter - d}.`,
          );
        }
      }
      const ahead = frameNonce(this.#recvDirection(), counter + d);
      if (await aesGcmOpen(key, ahead, bytes, NO_AD)) {
        return new CryptoError(
          "out_of_order",
          `Sealed frame #${counter + d} arrived where #${counter} was expected: ` +
            `${d === 1 ? "a frame was" : `${d} frames were`} dropped or reordered.`,
        );
      }
    }
    return new CryptoError(
      "tampered",
      `Sealed frame #${counter} failed authentication: it was modified, truncated or forged.`,
    );
  }
}

/** The text of a batch of frames: joined by `\n`, each non-empty and without one. */
function batchText(frames: readonly string[]): string {
  if (frames.length === 0) throw new CryptoError("invalid_argument", "A batch needs a frame.");
  for (const f of frames) {
    if (f === "" || f.includes("\n")) {
      throw new CryptoError(
        "invalid_argument",
        "A batched frame must be non-empty, without '\\n'.",
      );
    }
  }
  return frames.length === 1 ? frames[0] : frames.join("\n");
}
