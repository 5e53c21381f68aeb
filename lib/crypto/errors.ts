/**
 * Typed errors of the cryptographic core. Every failure has a stable `code` that transports,
 * clients and tests can branch on; the `message` is safe to show to the person at the keyboard
 * (it never holds key material) and says what to do where there is something to do.
 */

/** Every code a {@linkcode CryptoError} can carry, with what it means. */
export const CRYPTO_ERROR_CODES = {
  // Handshake
  malformed_handshake: "The handshake frame is malformed.",
  unsupported_version: "The peer speaks a protocol version this side does not support.",
  server_refused: "The server refused the handshake.",
  bad_signature: "The server's handshake signature does not verify.",
  identity_refused: "The server's identity key was refused.",
  identity_changed: "The server's identity key differs from the one pinned for it.",
  handshake_state: "The handshake was used out of order.",
  // Sealed frames
  malformed_frame: "The sealed frame is malformed.",
  tampered: "A sealed frame failed authentication: it was modified, truncated or forged.",
  replayed: "A sealed frame was replayed.",
  out_of_order: "A sealed frame arrived out of order, or an earlier frame was dropped.",
  session_failed: "The secure session already failed; close the connection.",
  counter_exhausted: "The session has sealed as many frames as it may; reconnect.",
  invalid_argument: "An argument is invalid.",
  // Keys and files
  bad_key: "The key material is malformed.",
  key_file_corrupt: "A key file is corrupt.",
  key_file_insecure: "A key file is readable by others than its owner.",
  wrong_data_key: "The data key does not match the store.",
  record_tampered: "A sealed record failed authentication.",
  unsupported_runtime: "This runtime lacks the WebCrypto algorithms Parley needs.",
} as const;

/** A stable error code; see {@linkcode CRYPTO_ERROR_CODES}. */
export type CryptoErrorCode = keyof typeof CRYPTO_ERROR_CODES;

/** The error every function of `lib/crypto/` throws for an expected failure. */
export class CryptoError extends Error {
  /** Stable, machine-readable code. */
  readonly code: CryptoErrorCode;

  /**
   * @param code the stable code
   * @param message what happened and, where useful, what to do; defaults to the code's text
   * @param options `cause` keeps the underlying error (for logs, never for peers)
   */
  constructor(code: CryptoErrorCode, message?: string, options?: { cause?: unknown }) {
    super(
      message ?? CRYPTO_ERROR_CODES[code],
      options?.cause === undefined ? undefined : { cause: options.cause },
    );
    this.name = "CryptoError";
    this.code = code;
  }
}

/** True when `err` is a {@linkcode CryptoError}, optionally with the given code. */
export function isCryptoError(err: unknown, code?: CryptoErrorCode): err is CryptoError {
  return err instanceof CryptoError && (code === undefined || err.code === code);
}
