/**
 * The handshake transcript, the message the server signs, and the derivation of the two frame
 * keys. docs/security.md §4 specifies each byte; the test vectors pin them.
 */
import { concatBytes, utf8 } from "./_encoding.ts";
import { hkdf, sha256 } from "./_webcrypto.ts";
import {
  HANDSHAKE_NONCE_BYTES,
  KEY_BYTES,
  KEY_INFO_CLIENT_TO_SERVER,
  KEY_INFO_SERVER_TO_CLIENT,
  SIGNATURE_LABEL,
  TRANSCRIPT_LABEL,
} from "./constants.ts";
import { CryptoError } from "./errors.ts";

/** Every value both sides exchanged, in the order they enter the transcript. */
export interface TranscriptFields {
  version: number;
  clientKey: Uint8Array;
  clientNonce: Uint8Array;
  serverKey: Uint8Array;
  serverNonce: Uint8Array;
  serverIdentity: Uint8Array;
}

/**
 * The transcript bytes:
 * `"parley/1 handshake" ‖ 0x00 ‖ version (1 byte) ‖ client key (32) ‖ client nonce (32) ‖
 * server key (32) ‖ server nonce (32) ‖ server identity key (32)`, 180 bytes in all.
 */
export function transcriptBytes(f: TranscriptFields): Uint8Array {
  const sized: [Uint8Array, number, string][] = [
    [f.clientKey, KEY_BYTES, "client key"],
    [f.clientNonce, HANDSHAKE_NONCE_BYTES, "client nonce"],
    [f.serverKey, KEY_BYTES, "server key"],
    [f.serverNonce, HANDSHAKE_NONCE_BYTES, "server nonce"],
    [f.serverIdentity, KEY_BYTES, "server identity"],
  ];
  for (const [bytes, size, name] of sized) {
    if (bytes.length !== size) {
      throw new CryptoError("malformed_handshake", `The ${name} must be ${size} bytes.`);
    }
  }
  if (!Number.isInteger(f.version) || f.version < 0 || f.version > 255) {
    throw new CryptoError("malformed_handshake", "The version must be a byte.");
  }
  return concatBytes([
    utf8(TRANSCRIPT_LABEL),
    new Uint8Array([0, f.version]),
    ...sized.map(([bytes]) => bytes),
  ]);
}

/** SHA-256 of {@linkcode transcriptBytes}. */
export async function transcriptHash(f: TranscriptFields): Promise<Uint8Array> {
  return await sha256(transcriptBytes(f));
}

/** What the server signs: `"parley/1 server signature" ‖ 0x00 ‖ transcript hash (32)`. */
export function signedMessage(transcriptHash: Uint8Array): Uint8Array {
  return concatBytes([utf8(SIGNATURE_LABEL), new Uint8Array([0]), transcriptHash]);
}

/** The two raw 32-byte frame keys of a session. */
export interface FrameKeys {
  clientToServer: Uint8Array;
  serverToClient: Uint8Array;
}

/**
 * HKDF-SHA256 with the X25519 shared secret as input key material, the transcript hash as salt,
 * and one `info` label per direction; 32 bytes each.
 */
export async function deriveFrameKeys(
  sharedSecret: Uint8Array,
  transcriptHash: Uint8Array,
): Promise<FrameKeys> {
  return {
    clientToServer: await hkdf(sharedSecret, transcriptHash, utf8(KEY_INFO_CLIENT_TO_SERVER), 32),
    serverToClient: await hkdf(sharedSecret, transcriptHash, utf8(KEY_INFO_SERVER_TO_CLIENT), 32),
  };
}
