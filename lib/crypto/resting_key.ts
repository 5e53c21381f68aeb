/**
 * A frame key that can be put to rest. An imported CryptoKey costs a few KiB of memory in Deno
 * (about 2.3 KiB of RSS each, measured with 2,000 sessions), and a quiet connection holds two for
 * nothing; at 10,000 idle connections that is tens of MB. So a session keeps the raw key too, and
 * a quiet connection drops the imported key until its next frame imports it again (~26 µs).
 *
 * The raw bytes are no more exposed than the CryptoKey was: Deno keeps an imported key's bytes
 * in the JS heap as well, and both live only as long as the session.
 */
import { importAesGcm } from "./_webcrypto.ts";

export class RestingKey {
  #raw: Uint8Array;
  #key: Promise<CryptoKey> | undefined;

  private constructor(raw: Uint8Array, key: Promise<CryptoKey>) {
    this.#raw = raw;
    this.#key = key;
  }

  /**
   * Imports a 32-byte AES-256-GCM key (keeping a copy of its bytes).
   * @throws {CryptoError} `bad_key` when it is not 32 bytes.
   */
  static async import(raw: Uint8Array): Promise<RestingKey> {
    const copy = raw.slice();
    const key = importAesGcm(copy);
    await key;
    return new RestingKey(copy, key);
  }

  /** The imported key, importing it again after a rest. */
  get(): Promise<CryptoKey> {
    return this.#key ??= importAesGcm(this.#raw);
  }

  /** Drops the imported key; operations already holding it finish with it. */
  rest(): void {
    this.#key = undefined;
  }

  /** Whether the key is imported now. */
  get awake(): boolean {
    return this.#key !== undefined;
  }
}
