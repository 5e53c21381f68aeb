/**
 * The server's long-term Ed25519 identity: created once, kept in the data directory as a PKCS#8
 * PEM file (what `openssl genpkey -algorithm ed25519` writes), used to sign every handshake.
 * This file is pure; reading and writing the file is `key_files.ts`.
 */
import { concatBytes, fromBase64, toBase64 } from "./_encoding.ts";
import { importEd25519, PKCS8_ED25519_PREFIX, randomBytes } from "./_webcrypto.ts";
import { fingerprint } from "./fingerprint.ts";
import { CryptoError } from "./errors.ts";

/** A loaded server identity. The private key is a non-extractable WebCrypto key. */
export interface ServerIdentity {
  /** Ed25519 private key, usable only to sign. */
  readonly privateKey: CryptoKey;
  /** The raw 32-byte public key. */
  readonly publicKey: Uint8Array;
  /** `SHA256:…` fingerprint of the public key, printed at start-up and pinned by clients. */
  readonly fingerprint: string;
}

/** 32 fresh random bytes: a new Ed25519 private key (RFC 8032 seed). */
export function generateIdentitySeed(): Uint8Array {
  return randomBytes(32);
}

/** The identity for a 32-byte Ed25519 seed. */
export async function identityFromSeed(seed: Uint8Array): Promise<ServerIdentity> {
  const pair = await importEd25519(seed);
  return {
    privateKey: pair.privateKey,
    publicKey: pair.publicKey,
    fingerprint: await fingerprint(pair.publicKey),
  };
}

const PEM_BEGIN = "-----BEGIN PRIVATE KEY-----";
const PEM_END = "-----END PRIVATE KEY-----";

/** The seed as a PKCS#8 PEM document (readable by `openssl pkey`). */
export function encodeIdentityPem(seed: Uint8Array): string {
  if (seed.length !== 32) throw new CryptoError("bad_key", "An Ed25519 seed is 32 bytes.");
  return `${PEM_BEGIN}\n${toBase64(concatBytes([PKCS8_ED25519_PREFIX, seed]))}\n${PEM_END}\n`;
}

/**
 * The seed inside a PKCS#8 PEM document holding an Ed25519 private key.
 * @throws {CryptoError} `bad_key` saying what is wrong.
 */
export function decodeIdentityPem(text: string): Uint8Array {
  const lines = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== "");
  const begin = lines.indexOf(PEM_BEGIN);
  const end = lines.indexOf(PEM_END);
  if (begin === -1 || end <= begin) {
    throw new CryptoError("bad_key", `expected a PEM block '${PEM_BEGIN}'`);
  }
  const der = fromBase64(lines.slice(begin + 1, end).join(""));
  if (!der) throw new CryptoError("bad_key", "the PEM body is not valid base64");
  const prefix = PKCS8_ED25519_PREFIX;
  if (der.length !== prefix.length + 32 || prefix.some((b, i) => der[i] !== b)) {
    throw new CryptoError("bad_key", "the PEM body is not a PKCS#8 Ed25519 private key");
  }
  return der.slice(prefix.length);
}
