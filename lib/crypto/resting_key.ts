/**
 * A frame key that can be put to rest. An imported CryptoKey costs a few KiB of memory in Deno
 * (about 2.3 KiB of RSS each, measured with 2,000 sessions), and a quiet connection holds two for
 * nothing; at 10,000 idle connections that is tens of MB. So a server session keeps the raw key
 * too, and a quiet connection drops the imported key until its next frame imports it again
 * (~26 µs).
 *
 * Only the server does this. In Deno an imported key's bytes are in the JavaScript heap anyway,
 * so keeping them there as well exposes nothing new; a browser keeps a non-extractable key's
 * bytes out of reach, so a client session keeps only the CryptoKey and never rests.
 */
import { importAesGcm } from "./_webcrypto.ts";
import { CryptoError } from "./errors.ts";

export class RestingKey {
  /** The key's bytes, when it may rest. */
  #raw: Uint8Array | undefined;
  #key: Promise<CryptoKey> | undefined;

  private constructor(raw: Uint8Array | undefined, key: Promise<CryptoKey> | undefined) {
    this.#raw = raw;
    this.#key = key;
  }

  /**
   * Imports a 32-byte AES-256-GCM key; with `restable`, keeps a copy of its bytes so that it can
   * rest. With `asleep` (restable only), starts at rest: nothing is imported until `get`, for a
   * session that seals and opens from the raw bytes (OpenSSL) and may never need the CryptoKey.
   * With `copied`, `raw` is the caller's own copy, kept as it is (a session keeps both its keys
   * in one buffer).
   * @throws {CryptoError} `bad_key` when it is not 32 bytes.
   */
  static async import(
    raw: Uint8Array,
    restable: boolean,
    asleep = false,
    copied = false,
  ): Promise<RestingKey> {
    const copy = restable ? (copied ? raw : raw.slice()) : undefined;
    if (copy && asleep) {
      if (copy.length !== 32) throw new CryptoError("bad_key", "An AES-256 key is 32 bytes.");
      return new RestingKey(copy, undefined);
    }
    const key = importAesGcm(raw);
    await key;
    return new RestingKey(copy, key);
  }

  /** The imported key, importing it again after a rest. */
  get(): Promise<CryptoKey> {
    if (this.#key) return this.#key;
    const key = importAesGcm(this.#raw!);
    this.#key = key;
    // A failed import is not kept: the next frame tries again.
    key.catch(() => {
      if (this.#key === key) this.#key = undefined;
    });
    return key;
  }

  /** Drops the imported key, if it may rest; operations already holding it finish with it. */
  rest(): boolean {
    if (!this.#raw || !this.#key) return false;
    this.#key = undefined;
    return true;
  }

  /** The key's bytes, kept when it may rest (server sessions); undefined otherwise. */
  get raw(): Uint8Array | undefined {
    return this.#raw;
  }

  /** Whether the key is imported (or being imported) now. */
  get awake(): boolean {
    return this.#key !== undefined;
  }
}
