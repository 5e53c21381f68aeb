/**
 * AES-256-GCM through the system's OpenSSL (libcrypto 3) over Deno's FFI: the same cipher,
 * bytes and nonces as WebCrypto, at a fraction of the cost. A WebCrypto `encrypt` in Deno is
 * ~17-25 µs of CPU whatever the frame's size up to a few KiB (a hand-over to its blocking thread
 * pool and back), and the server seals once per connection per fan-out: it was 44% of a busy
 * server's time. One synchronous EVP call is ~1.7 µs for 200 bytes (docs/performance.md).
 *
 * Used by server sessions only, where the process may load libcrypto (`--allow-ffi` naming one
 * of {@linkcode LIBCRYPTO_PATHS}: `deno task start` does), to seal and open frames; everything
 * else stays on WebCrypto. Elsewhere (the browser, a client, no permission, no libcrypto 3)
 * {@linkcode openSslAead} is undefined and sessions use WebCrypto as before.
 * tests/crypto_openssl_test.ts checks that both give the same bytes.
 */
import { toHex } from "./_encoding.ts";
import { CryptoError } from "./errors.ts";

/**
 * Where distributions keep libcrypto 3: Debian and Ubuntu (merged /usr, and /lib without it),
 * Fedora and others (/usr/lib64), Arch (/usr/lib). The permission names exact files, not links.
 */
export const LIBCRYPTO_PATHS = [
  "/usr/lib/x86_64-linux-gnu/libcrypto.so.3",
  "/usr/lib/aarch64-linux-gnu/libcrypto.so.3",
  "/lib/x86_64-linux-gnu/libcrypto.so.3",
  "/lib/aarch64-linux-gnu/libcrypto.so.3",
  "/usr/lib64/libcrypto.so.3",
  "/usr/lib/libcrypto.so.3",
];

const SYMBOLS = {
  EVP_CIPHER_CTX_new: { parameters: [], result: "pointer" },
  EVP_aes_256_gcm: { parameters: [], result: "pointer" },
  EVP_EncryptInit_ex: {
    parameters: ["pointer", "pointer", "pointer", "buffer", "buffer"],
    result: "i32",
  },
  EVP_EncryptUpdate: {
    parameters: ["pointer", "buffer", "buffer", "buffer", "i32"],
    result: "i32",
  },
  EVP_EncryptFinal_ex: { parameters: ["pointer", "buffer", "buffer"], result: "i32" },
  EVP_CIPHER_CTX_ctrl: { parameters: ["pointer", "i32", "i32", "buffer"], result: "i32" },
  EVP_DecryptInit_ex: {
    parameters: ["pointer", "pointer", "pointer", "buffer", "buffer"],
    result: "i32",
  },
  EVP_DecryptUpdate: {
    parameters: ["pointer", "buffer", "buffer", "buffer", "i32"],
    result: "i32",
  },
  EVP_DecryptFinal_ex: { parameters: ["pointer", "buffer", "buffer"], result: "i32" },
} as const;

/** EVP_CTRL_GCM_GET_TAG and EVP_CTRL_GCM_SET_TAG (openssl/evp.h). */
const GET_TAG = 0x10;
const SET_TAG = 0x11;
const TAG_BYTES = 16;
/** Larger plaintexts than this go to WebCrypto (EVP takes an `int` length). */
const MAX_PLAINTEXT = 1 << 30;

/** Synchronous AES-256-GCM with a raw key. */
export interface SyncAead {
  /** Where it came from, for the log. */
  readonly library: string;
  /**
   * Ciphertext ‖ 16-byte tag of `plaintext` (a string is sealed as its UTF-8) under the 32-byte
   * `key` and 12-byte `nonce`, with no associated data: byte for byte what WebCrypto's `encrypt`
   * returns. `key`, `nonce` and `plaintext` are read before it returns, never kept.
   * @throws {CryptoError} `session_failed` when OpenSSL reports an error.
   */
  seal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array | string): Uint8Array;
  /**
   * As `seal`, into a buffer the process reuses: the bytes are valid only until the next call,
   * for a caller that encodes them at once (a sealed line's base64url). A server seals once per
   * reader per fan-out, and a fresh `Uint8Array` there cost more than the cipher (~0.5-1 µs in
   * Deno: a backing store, tracked by the GC).
   */
  sealTransient(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array | string): Uint8Array;
  /**
   * The plaintext of `sealed` (ciphertext ‖ tag), or undefined when it does not authenticate:
   * what WebCrypto's `decrypt` returns or rejects.
   * @throws {CryptoError} `session_failed` when OpenSSL reports an error other than that.
   */
  open(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array): Uint8Array | undefined;
}

const encoder = new TextEncoder();
/**
 * Text up to this many UTF-8 bytes is encoded into one buffer kept for the process, and sealed
 * bytes up to it written into another (`sealTransient`).
 */
const SCRATCH_BYTES = 64 * 1024;
let scratch: Uint8Array | undefined;
let sealedScratch: Uint8Array | undefined;

/**
 * UTF-8 of `text` for a seal that reads it at once: in a buffer reused by every seal (no
 * allocation per frame) when it fits, else a fresh one.
 */
function utf8Scratch(text: string): Uint8Array {
  if (text.length * 3 > SCRATCH_BYTES) return encoder.encode(text);
  scratch ??= new Uint8Array(SCRATCH_BYTES);
  return scratch.subarray(0, encoder.encodeInto(text, scratch).written);
}

let loaded: SyncAead | null | undefined;

/**
 * The process's OpenSSL sealer, loaded on first use; undefined where it cannot be (no Deno FFI,
 * no permission for libcrypto, no libcrypto 3).
 */
export function openSslAead(): SyncAead | undefined {
  if (loaded === undefined) loaded = load() ?? null;
  return loaded ?? undefined;
}

function load(): SyncAead | undefined {
  const deno = (globalThis as { Deno?: typeof Deno }).Deno;
  if (typeof deno?.dlopen !== "function" || deno.build.os !== "linux") return undefined;
  for (const path of LIBCRYPTO_PATHS) {
    try {
      if (deno.permissions.querySync({ name: "ffi", path }).state !== "granted") continue;
      return aeadOf(deno.dlopen(path, SYMBOLS), path);
    } catch {
      // Not there (another layout's path), or not OpenSSL 3: try the next.
    }
  }
  return undefined;
}

function aeadOf(lib: Deno.DynamicLibrary<typeof SYMBOLS>, library: string): SyncAead {
  const s = lib.symbols;
  const cipher = s.EVP_aes_256_gcm();
  // One context each way for the process, reused: seals and opens are synchronous, never
  // interleaved. The cipher is set once; each call sets only the key and nonce (setting the
  // cipher again on every call was a third of a seal's cost).
  const sealCtx = s.EVP_CIPHER_CTX_new();
  const openCtx = s.EVP_CIPHER_CTX_new();
  if (cipher === null || sealCtx === null || openCtx === null) {
    throw new Error("libcrypto has no AES-256-GCM");
  }
  if (
    s.EVP_EncryptInit_ex(sealCtx, cipher, null, null, null) !== 1 ||
    s.EVP_DecryptInit_ex(openCtx, cipher, null, null, null) !== 1
  ) throw new Error("libcrypto cannot set up AES-256-GCM");
  const outLen = new Uint8Array(4);
  const sealTag = new Uint8Array(TAG_BYTES);
  const failed = () => new CryptoError("session_failed", "Sealing a frame failed (OpenSSL).");
  /** Seals into `out` when it has room (then a view of it), else into a fresh buffer. */
  const sealInto = (
    key: Uint8Array,
    nonce: Uint8Array,
    plaintext: Uint8Array | string,
    into: Uint8Array | undefined,
  ): Uint8Array => {
    const bytes = typeof plaintext === "string" ? utf8Scratch(plaintext) : plaintext;
    checkSizes(key, nonce, bytes);
    const n = bytes.length;
    const out = into && into.length >= n + TAG_BYTES
      ? into.subarray(0, n + TAG_BYTES)
      : new Uint8Array(n + TAG_BYTES);
    // The default GCM IV length is 12 bytes: key and nonce set in one call.
    if (s.EVP_EncryptInit_ex(sealCtx, null, null, key, nonce) !== 1) throw failed();
    if (n > 0 && s.EVP_EncryptUpdate(sealCtx, out, outLen, bytes, n) !== 1) throw failed();
    // GCM's final writes no bytes: `out` only stands for a place to write them.
    if (s.EVP_EncryptFinal_ex(sealCtx, out, outLen) !== 1) throw failed();
    if (s.EVP_CIPHER_CTX_ctrl(sealCtx, GET_TAG, TAG_BYTES, sealTag) !== 1) throw failed();
    out.set(sealTag, n);
    return out;
  };
  const aead: SyncAead = {
    library,
    seal: (key, nonce, plaintext) => sealInto(key, nonce, plaintext, undefined),
    sealTransient: (key, nonce, plaintext) =>
      sealInto(key, nonce, plaintext, sealedScratch ??= new Uint8Array(SCRATCH_BYTES)),
    open(key, nonce, sealed) {
      checkSizes(key, nonce, sealed);
      if (sealed.length < TAG_BYTES) return undefined;
      const n = sealed.length - TAG_BYTES;
      const out = new Uint8Array(n);
      // The tag is copied: OpenSSL takes a pointer it may not write through, but a copy is cheap.
      const tag = sealed.slice(n);
      if (s.EVP_DecryptInit_ex(openCtx, null, null, key, nonce) !== 1) throw failed();
      if (n > 0 && s.EVP_DecryptUpdate(openCtx, out, outLen, sealed, n) !== 1) throw failed();
      if (s.EVP_CIPHER_CTX_ctrl(openCtx, SET_TAG, TAG_BYTES, tag) !== 1) throw failed();
      // Final checks the tag: 1 when it authenticates, 0 (or less) when it does not.
      return s.EVP_DecryptFinal_ex(openCtx, outLen, outLen) === 1 ? out : undefined;
    },
  };
  // Checked once against a known answer before any frame depends on it (the NIST GCM test
  // case 13: zero key, zero nonce, empty plaintext).
  const tag = aead.seal(new Uint8Array(32), new Uint8Array(12), new Uint8Array(0));
  const zero = [new Uint8Array(32), new Uint8Array(12)] as const;
  const forged = tag.slice();
  forged[0] ^= 1;
  if (
    toHex(tag) !== "530f8afbc74536b9a963b4f1c4cb738b" || aead.open(...zero, tag)?.length !== 0 ||
    aead.open(...zero, forged) !== undefined
  ) {
    throw new Error("libcrypto's AES-256-GCM gave a wrong answer");
  }
  return aead;
}

function checkSizes(key: Uint8Array, nonce: Uint8Array, data: Uint8Array): void {
  if (key.length !== 32 || nonce.length !== 12 || data.length > MAX_PLAINTEXT) {
    throw new CryptoError(
      "invalid_argument",
      "AES-256-GCM takes a 32-byte key, a 12-byte nonce and at most 1 GiB.",
    );
  }
}
