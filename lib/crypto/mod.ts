/**
 * Parley's cryptographic core, the same code in Deno and in the browser: the session handshake,
 * frame sealing, server identities and fingerprints, and at-rest sealing. Pure WebCrypto, no
 * transport and no Deno API. The files that touch the disk are imported directly:
 * `lib/crypto/key_files.ts` (server identity and data key files) and
 * `lib/crypto/known_servers.ts` (the terminal client's pins).
 *
 * docs/security.md specifies the protocol byte by byte.
 *
 * @module
 */
export { CRYPTO_ERROR_CODES, CryptoError, type CryptoErrorCode, isCryptoError } from "./errors.ts";
export {
  type ClientHandshake,
  clientHandshake,
  type ClientHandshakeOptions,
  type FixedEphemeral,
  serverHandshake,
  type ServerHandshakeOptions,
  type ServerHandshakeResult,
} from "./handshake.ts";
export { encodeHandshakeError } from "./handshake_frames.ts";
export { sealedLineLength, SecureSession, type SessionRole } from "./session.ts";
export {
  fingerprint,
  fingerprintsEqual,
  type IdentityVerifier,
  isFingerprint,
  pinFingerprint,
  type ServerIdentityInfo,
} from "./fingerprint.ts";
export {
  decodeIdentityPem,
  encodeIdentityPem,
  generateIdentitySeed,
  identityFromSeed,
  type ServerIdentity,
} from "./identity.ts";
export {
  DATA_KEY_BYTES,
  DataKey,
  type DataKeyOptions,
  generateDataKeyBytes,
  isSealedRecord,
  RECORD_OVERHEAD,
  recordAssociatedData,
} from "./data_key.ts";
export { PROTOCOL_VERSION } from "./constants.ts";
