/**
 * Sealing stored records at rest (message bodies waiting for offline delivery, history) with
 * AES-256-GCM under the data key. Each record gets a random 96-bit nonce and associated data
 * that binds it to its row (message id, recipient, …), so rows cannot be swapped or moved. A
 * key check value, kept in the store's meta table, makes a wrong key fail at start-up instead of
 * at the first read. docs/security.md §9 specifies the format.
 */
import {
  bytesEqual,
  concatBytes,
  fromBase64,
  fromBase64Url,
  fromUtf8,
  toBase64Url,
  toHex,
  u32be,
  utf8,
} from "./_encoding.ts";
import {
  aesGcmOpen,
  aesGcmSeal,
  hkdf,
  hmacSha256,
  importAesGcm,
  importHmac,
  randomBytes,
} from "./_webcrypto.ts";
import {
  DATA_KEY_INFO_CHECK,
  DATA_KEY_INFO_LOOKUP,
  DATA_KEY_INFO_RECORDS,
  GCM_NONCE_BYTES,
  GCM_TAG_BYTES,
  KEY_CHECK_PREFIX,
  RECORD_AD_LABEL,
  RECORD_FORMAT_VERSION,
} from "./constants.ts";
import { CryptoError } from "./errors.ts";

/** Bytes in a data key. */
export const DATA_KEY_BYTES = 32;
/** Bytes a sealed record adds to its plaintext: version, nonce and tag. */
export const RECORD_OVERHEAD = 1 + GCM_NONCE_BYTES + GCM_TAG_BYTES;

/** 32 fresh random bytes: a new data key. */
export function generateDataKeyBytes(): Uint8Array {
  return randomBytes(DATA_KEY_BYTES);
}

/**
 * The associated data of a record:
 * `"parley/1 record" ‖ 0x00 ‖ format version (1 byte) ‖ for each part: length (u32 BE) ‖ UTF-8`.
 */
export function recordAssociatedData(binding: readonly string[]): Uint8Array {
  const parts: Uint8Array[] = [utf8(RECORD_AD_LABEL), new Uint8Array([0, RECORD_FORMAT_VERSION])];
  for (const part of binding) {
    if (typeof part !== "string") {
      throw new CryptoError("invalid_argument", "A record binding is a list of strings.");
    }
    const bytes = utf8(part);
    parts.push(u32be(bytes.length), bytes);
  }
  return concatBytes(parts);
}

/** True when `bytes` has the shape of a sealed record (it may still fail to open). */
export function isSealedRecord(bytes: Uint8Array): boolean {
  return bytes.length >= RECORD_OVERHEAD && bytes[0] === RECORD_FORMAT_VERSION;
}

/** Options of {@linkcode DataKey.fromBytes}. */
export interface DataKeyOptions {
  /**
   * Where the key came from, for error messages: e.g. `PARLEY_DATA_KEY` or the key file's path.
   * @default "the data key"
   */
  source?: string;
}

/** The key that seals stored records. Create it with {@linkcode DataKey.fromBytes}. */
export class DataKey {
  /** Where the key came from, as given. */
  readonly source: string;
  /** A short public id of the key (8 hex digits of its check value), for logs and errors. */
  readonly keyId: string;
  #key: CryptoKey;
  #lookup: CryptoKey;
  #check: Uint8Array;

  private constructor(key: CryptoKey, lookup: CryptoKey, check: Uint8Array, source: string) {
    this.#key = key;
    this.#lookup = lookup;
    this.#check = check;
    this.source = source;
    this.keyId = toHex(check.subarray(0, 4));
  }

  /**
   * A data key from its 32 raw bytes. The record key and the check value are derived with
   * HKDF-SHA256; the raw bytes are not kept.
   * @throws {CryptoError} `bad_key` when not 32 bytes.
   */
  static async fromBytes(bytes: Uint8Array, options: DataKeyOptions = {}): Promise<DataKey> {
    const source = options.source ?? "the data key";
    if (bytes.length !== DATA_KEY_BYTES) {
      throw new CryptoError(
        "bad_key",
        `${source} must be ${DATA_KEY_BYTES} bytes; it is ${bytes.length}. Make one with ` +
          "`openssl rand -base64 32`.",
      );
    }
    const none = new Uint8Array(0);
    const recordKey = await hkdf(bytes, none, utf8(DATA_KEY_INFO_RECORDS), 32);
    const lookupKey = await hkdf(bytes, none, utf8(DATA_KEY_INFO_LOOKUP), 32);
    const check = await hkdf(bytes, none, utf8(DATA_KEY_INFO_CHECK), 32);
    return new DataKey(await importAesGcm(recordKey), await importHmac(lookupKey), check, source);
  }

  /**
   * A data key from base64 text (standard with padding, as `openssl rand -base64 32` prints it,
   * or unpadded base64url); surrounding whitespace is ignored.
   * @throws {CryptoError} `bad_key` when not base64 of 32 bytes.
   */
  static async fromBase64(text: string, options: DataKeyOptions = {}): Promise<DataKey> {
    const trimmed = text.trim();
    const bytes = fromBase64(trimmed) ?? fromBase64Url(trimmed);
    if (!bytes) {
      throw new CryptoError(
        "bad_key",
        `${options.source ?? "The data key"} is not valid base64. Make one with ` +
          "`openssl rand -base64 32`.",
      );
    }
    return await DataKey.fromBytes(bytes, options);
  }

  /**
   * The key check value to store once in the store's meta table: `kcv1:` followed by the
   * base64url of HKDF(data key, info "parley/1 at-rest key check"). It reveals nothing about
   * the key.
   */
  keyCheck(): string {
    return KEY_CHECK_PREFIX + toBase64Url(this.#check);
  }

  /**
   * Checks a stored key check value against this key. Call it at start-up, before serving.
   * @throws {CryptoError} `wrong_data_key` with what to do, or `bad_key` for a value that is not
   * a key check.
   */
  verifyKeyCheck(stored: string): void {
    const body = stored.startsWith(KEY_CHECK_PREFIX)
      ? fromBase64Url(stored.slice(KEY_CHECK_PREFIX.length))
      : undefined;
    if (!body || body.length !== 32) {
      throw new CryptoError(
        "bad_key",
        `The store's data key check '${stored.slice(0, 12)}…' is malformed: the store's meta ` +
          "table is damaged.",
      );
    }
    if (!bytesEqual(body, this.#check)) {
      throw new CryptoError(
        "wrong_data_key",
        `The data key from ${this.source} (id ${this.keyId}) is not the key this store was ` +
          `sealed with (id ${toHex(body.subarray(0, 4))}). Start Parley with the original key: ` +
          "set PARLEY_DATA_KEY to it, or restore the data key file from a backup. Without it " +
          "the stored messages cannot be read; Parley will not start rather than lose them.",
      );
    }
  }

  /**
   * A keyed hash for looking records up by content without storing the content or a plain hash
   * of it (a plain SHA-256 of a short message is easy to guess): base64url of
   * HMAC-SHA256(HKDF(data key, info "parley/1 at-rest lookup"), associated-data encoding of
   * `parts`). Use it, for example, as the translation cache's key:
   * `lookupKey(["translation", provider, lang, text])`.
   */
  async lookupKey(parts: readonly string[]): Promise<string> {
    return toBase64Url(await hmacSha256(this.#lookup, recordAssociatedData(parts)));
  }

  /**
   * Seals a record: `0x01 ‖ nonce (12 random bytes) ‖ AES-256-GCM ciphertext ‖ tag (16)`,
   * with {@linkcode recordAssociatedData}(binding) as associated data.
   * @param binding what the record belongs to, e.g. `["offline", id, from, toKey]`; the same
   * list must be given to {@linkcode open}.
   */
  async seal(plaintext: Uint8Array | string, binding: readonly string[]): Promise<Uint8Array> {
    const nonce = randomBytes(GCM_NONCE_BYTES);
    const bytes = typeof plaintext === "string" ? utf8(plaintext) : plaintext;
    const sealed = await aesGcmSeal(this.#key, nonce, bytes, recordAssociatedData(binding));
    return concatBytes([new Uint8Array([RECORD_FORMAT_VERSION]), nonce, sealed]);
  }

  /**
   * Opens a sealed record.
   * @throws {CryptoError} `record_tampered` when the record was modified, moved to another row
   * (different binding), or sealed under another key.
   */
  async open(sealed: Uint8Array, binding: readonly string[]): Promise<Uint8Array> {
    if (!isSealedRecord(sealed)) {
      throw new CryptoError(
        "record_tampered",
        "A stored record is not sealed (wrong format version or too short).",
      );
    }
    const nonce = sealed.subarray(1, 1 + GCM_NONCE_BYTES);
    const body = sealed.subarray(1 + GCM_NONCE_BYTES);
    const plain = await aesGcmOpen(this.#key, nonce, body, recordAssociatedData(binding));
    if (!plain) {
      throw new CryptoError(
        "record_tampered",
        "A stored record failed authentication: it was modified, moved to another row, or " +
          "sealed under another key.",
      );
    }
    return plain;
  }

  /**
   * Opens a sealed record as UTF-8 text.
   * @throws {CryptoError} as {@linkcode open}, and `record_tampered` for invalid UTF-8.
   */
  async openText(sealed: Uint8Array, binding: readonly string[]): Promise<string> {
    const text = fromUtf8(await this.open(sealed, binding));
    if (text === undefined) throw new CryptoError("record_tampered", "A record is not UTF-8.");
    return text;
  }
}
