/**
 * Identity fingerprints: `SHA256:` followed by the unpadded standard base64 of the SHA-256 of
 * the raw 32-byte Ed25519 public key — the look of an OpenSSH fingerprint, over Parley's own
 * input (OpenSSH hashes its key blob, so the values differ from `ssh-keygen`'s).
 */
import { bytesEqual, fromBase64, toBase64Unpadded, utf8 } from "./_encoding.ts";
import { sha256 } from "./_webcrypto.ts";
import { FINGERPRINT_PREFIX, KEY_BYTES } from "./constants.ts";
import { CryptoError } from "./errors.ts";

/**
 * The fingerprint of a raw Ed25519 public key, e.g.
 * `SHA256:If4x36FUomFia/hUBG/SJxt77UtqvkWqWId+9H+XIbk` (the RFC 8032 test 1 key).
 */
export async function fingerprint(publicKey: Uint8Array): Promise<string> {
  if (publicKey.length !== KEY_BYTES) {
    throw new CryptoError("bad_key", "An Ed25519 public key is 32 bytes.");
  }
  return FINGERPRINT_PREFIX + toBase64Unpadded(await sha256(publicKey));
}

/** True when `text` is a well-formed fingerprint (prefix and 43 base64 characters). */
export function isFingerprint(text: string): boolean {
  if (!text.startsWith(FINGERPRINT_PREFIX)) return false;
  const body = text.slice(FINGERPRINT_PREFIX.length);
  if (body.length !== 43) return false;
  const digest = fromBase64(body + "=");
  return digest !== undefined && digest.length === 32;
}

/** Compares two fingerprints without an early exit. */
export function fingerprintsEqual(a: string, b: string): boolean {
  return bytesEqual(utf8(a), utf8(b));
}

/** What the client learns about the server's identity during the handshake. */
export interface ServerIdentityInfo {
  /** The raw 32-byte Ed25519 public key. */
  publicKey: Uint8Array;
  /** Its fingerprint, see {@linkcode fingerprint}. */
  fingerprint: string;
}

/**
 * Decides whether a server identity is acceptable. Called only after the server proved it holds
 * the key (its signature verified). Only `true` accepts; `false` refuses with
 * `identity_refused`; a thrown error refuses with that error.
 */
export type IdentityVerifier = (identity: ServerIdentityInfo) => boolean | Promise<boolean>;

/**
 * A verifier that accepts exactly one fingerprint, as the browser does with the fingerprint
 * that came with the page.
 * @throws {CryptoError} `bad_key` when `expected` is not a fingerprint.
 */
export function pinFingerprint(expected: string): IdentityVerifier {
  if (!isFingerprint(expected)) {
    throw new CryptoError("bad_key", `Not a fingerprint: '${expected}'`);
  }
  return (identity) => {
    if (fingerprintsEqual(identity.fingerprint, expected)) return true;
    throw new CryptoError(
      "identity_changed",
      `The server presented identity ${identity.fingerprint}, not the expected ${expected}. ` +
        "Someone may be intercepting the connection; nothing was sent.",
    );
  };
}
