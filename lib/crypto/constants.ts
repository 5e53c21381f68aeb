/**
 * Every fixed number and label of the secure protocol, in one place. docs/security.md quotes
 * them; tests/crypto_vectors_test.ts checks that the document and the code agree.
 */

/** The secure protocol version carried in `client_hello.v` and `server_hello.v`. */
export const PROTOCOL_VERSION = 1;

/** Bytes in an X25519 public key, an Ed25519 public key, and a handshake nonce. */
export const KEY_BYTES = 32;
/** Bytes of random nonce each side contributes to the handshake. */
export const HANDSHAKE_NONCE_BYTES = 32;
/** Bytes in an Ed25519 signature. */
export const SIGNATURE_BYTES = 64;
/** Bytes in an AES-GCM nonce. */
export const GCM_NONCE_BYTES = 12;
/** Bytes in an AES-GCM tag. */
export const GCM_TAG_BYTES = 16;

/** Prefix of the handshake transcript (followed by one zero byte). */
export const TRANSCRIPT_LABEL = "parley/1 handshake";
/** Prefix of the message the server signs (followed by one zero byte, then the transcript hash). */
export const SIGNATURE_LABEL = "parley/1 server signature";
/** HKDF `info` of the client-to-server frame key. */
export const KEY_INFO_CLIENT_TO_SERVER = "parley/1 client to server";
/** HKDF `info` of the server-to-client frame key. */
export const KEY_INFO_SERVER_TO_CLIENT = "parley/1 server to client";

/** First nonce byte of frames the client seals. */
export const DIRECTION_CLIENT_TO_SERVER = 0x01;
/** First nonce byte of frames the server seals. */
export const DIRECTION_SERVER_TO_CLIENT = 0x02;
/**
 * Frames one session may seal in each direction. The nonce has room for 2^64; Parley stops at
 * 2^32 so a single key never protects more than a few hundred GiB (well inside AES-GCM's limits);
 * a session that reaches it fails with `counter_exhausted` and the client reconnects.
 */
export const MAX_FRAMES_PER_DIRECTION = 2 ** 32;
/**
 * How far back and ahead a frame that fails to open is tried again, only to name the failure
 * (`replayed`, `out_of_order`) instead of the generic `tampered`.
 */
export const DIAGNOSE_WINDOW = 16;

/** HKDF `info` of the at-rest record key derived from the data key. */
export const DATA_KEY_INFO_RECORDS = "parley/1 at-rest records";
/** HKDF `info` of the data key's check value. */
export const DATA_KEY_INFO_CHECK = "parley/1 at-rest key check";
/** HKDF `info` of the key of `DataKey.lookupKey` (keyed hashes for lookups). */
export const DATA_KEY_INFO_LOOKUP = "parley/1 at-rest lookup";
/** Prefix of a sealed record's associated data (followed by one zero byte and the binding). */
export const RECORD_AD_LABEL = "parley/1 record";
/** First byte of a sealed record: the at-rest format version. */
export const RECORD_FORMAT_VERSION = 0x01;
/** Prefix of a key check value as stored in the store's meta table. */
export const KEY_CHECK_PREFIX = "kcv1:";

/** Prefix of every identity fingerprint. */
export const FINGERPRINT_PREFIX = "SHA256:";
