/**
 * Thin wrappers over WebCrypto (`crypto.subtle`) for the algorithms Parley uses: X25519,
 * Ed25519, SHA-256, HKDF-SHA256 and AES-256-GCM. Private keys are imported non-extractable.
 * Works in Deno and in browsers with Curve25519 in WebCrypto (Chrome and Edge 137+, current
 * Firefox and Safari); a browser without it, or a page outside a secure context, gets
 * `unsupported_runtime`.
 */
import { buf, concatBytes, fromBase64Url } from "./_encoding.ts";
import { CryptoError } from "./errors.ts";

/** DER prefix of a PKCS#8 PrivateKeyInfo for X25519 (OID 1.3.101.110), then 32 key bytes. */
export const PKCS8_X25519_PREFIX = new Uint8Array([
  0x30,
  0x2e,
  0x02,
  0x01,
  0x00,
  0x30,
  0x05,
  0x06,
  0x03,
  0x2b,
  0x65,
  0x6e,
  0x04,
  0x22,
  0x04,
  0x20,
]);
/** DER prefix of a PKCS#8 PrivateKeyInfo for Ed25519 (OID 1.3.101.112), then the 32-byte seed. */
export const PKCS8_ED25519_PREFIX = new Uint8Array([
  0x30,
  0x2e,
  0x02,
  0x01,
  0x00,
  0x30,
  0x05,
  0x06,
  0x03,
  0x2b,
  0x65,
  0x70,
  0x04,
  0x22,
  0x04,
  0x20,
]);

/** `crypto.subtle`, or a clear error where it is missing (a page outside a secure context). */
export function subtle(): SubtleCrypto {
  const s = globalThis.crypto?.subtle;
  if (!s) {
    throw new CryptoError(
      "unsupported_runtime",
      "WebCrypto is unavailable here. In a browser it needs a secure context: open the page over " +
        "HTTPS, or on localhost.",
    );
  }
  return s;
}

/** Runs a WebCrypto call, turning "algorithm not supported" into `unsupported_runtime`. */
async function call<T>(algorithm: string, op: () => Promise<T>): Promise<T> {
  try {
    return await op();
  } catch (err) {
    if (err instanceof DOMException && err.name === "NotSupportedError") {
      throw new CryptoError(
        "unsupported_runtime",
        `This runtime's WebCrypto does not support ${algorithm}. Use Deno 2, or a current ` +
          "browser (Chrome or Edge 137+, or a current Firefox or Safari).",
        { cause: err },
      );
    }
    throw err;
  }
}

/** Fresh random bytes. */
export function randomBytes(n: number): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(n));
}

/** SHA-256 of the concatenated parts. */
export async function sha256(...parts: Uint8Array[]): Promise<Uint8Array> {
  const data = parts.length === 1 ? parts[0] : concatBytes(parts);
  return new Uint8Array(await subtle().digest("SHA-256", buf(data)));
}

/** An X25519 key pair: the private key stays inside WebCrypto; the public key is raw bytes. */
export interface X25519KeyPair {
  privateKey: CryptoKey;
  /** The 32-byte u-coordinate (RFC 7748). */
  publicKey: Uint8Array;
}

/** A fresh ephemeral X25519 key pair. */
export async function generateX25519(): Promise<X25519KeyPair> {
  return await call("X25519", async () => {
    const pair = await subtle().generateKey({ name: "X25519" }, false, [
      "deriveBits",
    ]) as CryptoKeyPair;
    const publicKey = new Uint8Array(await subtle().exportKey("raw", pair.publicKey));
    return { privateKey: pair.privateKey, publicKey };
  });
}

/** An X25519 key pair from a fixed 32-byte secret (test vectors only). */
export async function importX25519(secret: Uint8Array): Promise<X25519KeyPair> {
  if (secret.length !== 32) throw new CryptoError("bad_key", "An X25519 secret is 32 bytes.");
  return await call("X25519", async () => {
    const pkcs8 = buf(concatBytes([PKCS8_X25519_PREFIX, secret]));
    const extractable = await subtle().importKey("pkcs8", pkcs8, { name: "X25519" }, true, [
      "deriveBits",
    ]);
    const publicKey = await publicFromJwk(extractable);
    const privateKey = await subtle().importKey("pkcs8", pkcs8, { name: "X25519" }, false, [
      "deriveBits",
    ]);
    return { privateKey, publicKey };
  });
}

/**
 * X25519(private, peer): the 32-byte shared secret.
 * @throws {CryptoError} `malformed_handshake` when the peer key is a low-order point (the result
 * would be all zeros; RFC 7748 §6.1).
 */
export async function x25519(privateKey: CryptoKey, peerPublic: Uint8Array): Promise<Uint8Array> {
  let shared: Uint8Array;
  try {
    const peer = await call(
      "X25519",
      () => subtle().importKey("raw", buf(peerPublic), { name: "X25519" }, true, []),
    );
    shared = new Uint8Array(
      await subtle().deriveBits({ name: "X25519", public: peer }, privateKey, 256),
    );
  } catch (err) {
    if (err instanceof CryptoError) throw err;
    throw new CryptoError(
      "malformed_handshake",
      "The peer's X25519 key is invalid (a low-order point).",
      { cause: err },
    );
  }
  if (shared.every((b) => b === 0)) {
    throw new CryptoError(
      "malformed_handshake",
      "The peer's X25519 key is invalid (a low-order point).",
    );
  }
  return shared;
}

/** An Ed25519 signing key: private key inside WebCrypto (not extractable), raw public key. */
export interface Ed25519KeyPair {
  privateKey: CryptoKey;
  /** The 32-byte public key (RFC 8032 encoding). */
  publicKey: Uint8Array;
}

/** Imports an Ed25519 private key from its 32-byte seed (RFC 8032 §5.1.5). */
export async function importEd25519(seed: Uint8Array): Promise<Ed25519KeyPair> {
  if (seed.length !== 32) {
    throw new CryptoError("bad_key", "An Ed25519 private key (seed) is 32 bytes.");
  }
  return await call("Ed25519", async () => {
    const pkcs8 = buf(concatBytes([PKCS8_ED25519_PREFIX, seed]));
    const extractable = await subtle().importKey("pkcs8", pkcs8, { name: "Ed25519" }, true, [
      "sign",
    ]);
    const publicKey = await publicFromJwk(extractable);
    const privateKey = await subtle().importKey("pkcs8", pkcs8, { name: "Ed25519" }, false, [
      "sign",
    ]);
    return { privateKey, publicKey };
  });
}

async function publicFromJwk(privateKey: CryptoKey): Promise<Uint8Array> {
  const jwk = await subtle().exportKey("jwk", privateKey);
  const x = typeof jwk.x === "string" ? fromBase64Url(jwk.x) : undefined;
  if (!x || x.length !== 32) throw new CryptoError("bad_key", "Could not derive the public key.");
  return x;
}

/** Ed25519 signature (64 bytes) of `message`. */
export async function ed25519Sign(privateKey: CryptoKey, message: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await subtle().sign({ name: "Ed25519" }, privateKey, buf(message)));
}

/** True when `signature` is a valid Ed25519 signature of `message` by `publicKey`. */
export async function ed25519Verify(
  publicKey: Uint8Array,
  signature: Uint8Array,
  message: Uint8Array,
): Promise<boolean> {
  let key: CryptoKey;
  try {
    key = await call(
      "Ed25519",
      () => subtle().importKey("raw", buf(publicKey), { name: "Ed25519" }, false, ["verify"]),
    );
  } catch (err) {
    if (err instanceof CryptoError) throw err;
    return false; // not a valid curve point
  }
  try {
    return await subtle().verify({ name: "Ed25519" }, key, buf(signature), buf(message));
  } catch {
    return false;
  }
}

/** HKDF-SHA256 (RFC 5869): `length` bytes from `ikm`, `salt` and `info`. */
export async function hkdf(
  ikm: Uint8Array,
  salt: Uint8Array,
  info: Uint8Array,
  length: number,
): Promise<Uint8Array> {
  const key = await subtle().importKey("raw", buf(ikm), "HKDF", false, ["deriveBits"]);
  return new Uint8Array(
    await subtle().deriveBits(
      { name: "HKDF", hash: "SHA-256", salt: buf(salt), info: buf(info) },
      key,
      length * 8,
    ),
  );
}

/** Imports a key for HMAC-SHA256 signing, not extractable. */
export async function importHmac(key: Uint8Array): Promise<CryptoKey> {
  return await subtle().importKey("raw", buf(key), { name: "HMAC", hash: "SHA-256" }, false, [
    "sign",
  ]);
}

/** HMAC-SHA256 of `data`. */
export async function hmacSha256(key: CryptoKey, data: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await subtle().sign("HMAC", key, buf(data)));
}

/** Imports a 32-byte AES-256-GCM key, not extractable. */
export async function importAesGcm(key: Uint8Array): Promise<CryptoKey> {
  if (key.length !== 32) throw new CryptoError("bad_key", "An AES-256 key is 32 bytes.");
  return await subtle().importKey("raw", buf(key), { name: "AES-GCM" }, false, [
    "encrypt",
    "decrypt",
  ]);
}

/** AES-GCM encryption with a 128-bit tag: returns ciphertext ‖ tag. */
export async function aesGcmSeal(
  key: CryptoKey,
  nonce: Uint8Array,
  plaintext: Uint8Array,
  additionalData: Uint8Array,
): Promise<Uint8Array> {
  return new Uint8Array(
    await subtle().encrypt(
      { name: "AES-GCM", iv: buf(nonce), additionalData: buf(additionalData), tagLength: 128 },
      key,
      buf(plaintext),
    ),
  );
}

/** AES-GCM decryption of ciphertext ‖ tag; undefined when authentication fails. */
export async function aesGcmOpen(
  key: CryptoKey,
  nonce: Uint8Array,
  sealed: Uint8Array,
  additionalData: Uint8Array,
): Promise<Uint8Array | undefined> {
  try {
    return new Uint8Array(
      await subtle().decrypt(
        { name: "AES-GCM", iv: buf(nonce), additionalData: buf(additionalData), tagLength: 128 },
        key,
        buf(sealed),
      ),
    );
  } catch {
    return undefined;
  }
}
