/**
 * A session's two frame keys, able to rest. An imported CryptoKey costs a few KiB of memory in
 * Deno (about 2.3 KiB of RSS each, measured with 2,000 sessions), and a quiet connection holds two
 * for nothing; at 10,000 idle connections that is tens of MB. So a server session keeps the raw
 * keys too, and a quiet connection drops the imported keys until its next frame imports them
 * again (~26 µs).
 *
 * Only the server does this. In Deno an imported key's bytes are in the JavaScript heap anyway,
 * so keeping them there as well exposes nothing new; a browser keeps a non-extractable key's
 * bytes out of reach, so a client session keeps only the CryptoKeys and never rests.
 *
 * The raw keys are one 64-character string of byte values (send key, then receive key), copied
 * into the caller's buffer for each use: a string is one small object on the JavaScript heap,
 * where a `Uint8Array` handed to OpenSSL is a view, an `ArrayBuffer` and a native backing store
 * with its bookkeeping (~0.5 KB per session, docs/performance.md §21).
 */
import { importAesGcm } from "./_webcrypto.ts";
import { CryptoError } from "./errors.ts";

const KEY_BYTES = 32;

/** Which of the two keys: the one frames are sealed with, or the one they are opened with. */
export type KeyUse = "send" | "recv";

export class RestingKeys {
  /** Both keys' bytes as char codes, send key first, when they may rest. */
  #raw: string | undefined;
  #send: Promise<CryptoKey> | undefined;
  #recv: Promise<CryptoKey> | undefined;

  private constructor(
    raw: string | undefined,
    send: Promise<CryptoKey> | undefined,
    recv: Promise<CryptoKey> | undefined,
  ) {
    this.#raw = raw;
    this.#send = send;
    this.#recv = recv;
  }

  /**
   * Imports two 32-byte AES-256-GCM keys; with `restable`, keeps their bytes so that they can
   * rest. With `asleep` (restable only), starts at rest: nothing is imported until `get`, for a
   * session that seals and opens from the raw bytes (OpenSSL) and may never need the CryptoKeys.
   * The caller's arrays are not kept.
   * @throws {CryptoError} `bad_key` when a key is not 32 bytes.
   */
  static async import(
    send: Uint8Array,
    recv: Uint8Array,
    restable: boolean,
    asleep = false,
  ): Promise<RestingKeys> {
    if (send.length !== KEY_BYTES || recv.length !== KEY_BYTES) {
      throw new CryptoError("bad_key", "An AES-256 key is 32 bytes.");
    }
    const raw = restable ? String.fromCharCode(...send, ...recv) : undefined;
    if (raw !== undefined && asleep) return new RestingKeys(raw, undefined, undefined);
    const sendKey = importAesGcm(send);
    const recvKey = importAesGcm(recv);
    await Promise.all([sendKey, recvKey]);
    return new RestingKeys(raw, sendKey, recvKey);
  }

  /** The imported key for `use`, importing it again after a rest. */
  get(use: KeyUse): Promise<CryptoKey> {
    const kept = use === "send" ? this.#send : this.#recv;
    if (kept) return kept;
    const key = importAesGcm(this.rawInto(use, new Uint8Array(KEY_BYTES))!);
    this.#keep(use, key);
    // A failed import is not kept: the next frame tries again.
    key.catch(() => {
      if ((use === "send" ? this.#send : this.#recv) === key) this.#keep(use, undefined);
    });
    return key;
  }

  #keep(use: KeyUse, key: Promise<CryptoKey> | undefined): void {
    if (use === "send") this.#send = key;
    else this.#recv = key;
  }

  /**
   * Writes the bytes of the key for `use` into `into` (32 bytes or more) and returns its first
   * 32 bytes; undefined where the keys may not rest (client sessions keep no bytes).
   */
  rawInto(use: KeyUse, into: Uint8Array): Uint8Array | undefined {
    const raw = this.#raw;
    if (raw === undefined) return undefined;
    const from = use === "send" ? 0 : KEY_BYTES;
    for (let i = 0; i < KEY_BYTES; i++) into[i] = raw.charCodeAt(from + i);
    return into.length === KEY_BYTES ? into : into.subarray(0, KEY_BYTES);
  }

  /** Whether the keys' bytes are kept (server sessions). */
  get restable(): boolean {
    return this.#raw !== undefined;
  }

  /** Drops the imported keys, if they may rest; operations already holding one finish with it. */
  rest(): boolean {
    if (this.#raw === undefined || (!this.#send && !this.#recv)) return false;
    this.#send = this.#recv = undefined;
    return true;
  }

  /** Whether either key is imported (or being imported) now. */
  get awake(): boolean {
    return this.#send !== undefined || this.#recv !== undefined;
  }
}
