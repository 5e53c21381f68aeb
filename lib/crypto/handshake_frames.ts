/**
 * The three plaintext frames of the handshake, as JSON objects on one line each (so the first
 * byte a client sends is `{` and the TCP listener picks JSON mode). Binary fields are base64url
 * without padding. docs/security.md §3 specifies them.
 */
import { fromBase64Url, toBase64Url } from "./_encoding.ts";
import {
  HANDSHAKE_NONCE_BYTES,
  KEY_BYTES,
  PROTOCOL_VERSION,
  SIGNATURE_BYTES,
} from "./constants.ts";
import { CryptoError, type CryptoErrorCode } from "./errors.ts";

/** The client's opening frame. */
export interface ClientHello {
  v: number;
  /** Ephemeral X25519 public key (32 bytes). */
  key: Uint8Array;
  /** Random nonce (32 bytes). */
  nonce: Uint8Array;
}

/** The server's answer. */
export interface ServerHello {
  v: number;
  /** Ephemeral X25519 public key (32 bytes). */
  key: Uint8Array;
  /** Random nonce (32 bytes). */
  nonce: Uint8Array;
  /** Long-term Ed25519 public key (32 bytes). */
  identity: Uint8Array;
  /** Ed25519 signature over the transcript (64 bytes). */
  sig: Uint8Array;
}

/** `{"type":"client_hello","v":1,"key":"…","nonce":"…"}` */
export function encodeClientHello(hello: ClientHello): string {
  return JSON.stringify({
    type: "client_hello",
    v: hello.v,
    key: toBase64Url(hello.key),
    nonce: toBase64Url(hello.nonce),
  });
}

/** `{"type":"server_hello","v":1,"key":"…","nonce":"…","identity":"…","sig":"…"}` */
export function encodeServerHello(hello: ServerHello): string {
  return JSON.stringify({
    type: "server_hello",
    v: hello.v,
    key: toBase64Url(hello.key),
    nonce: toBase64Url(hello.nonce),
    identity: toBase64Url(hello.identity),
    sig: toBase64Url(hello.sig),
  });
}

/**
 * The plaintext frame a server sends instead of `server_hello` when it refuses a hello:
 * `{"type":"error","code":"…","message":"…"}`. The server closes the connection after it.
 */
export function encodeHandshakeError(err: unknown): string {
  const code: CryptoErrorCode | "internal" = err instanceof CryptoError ? err.code : "internal";
  const message = err instanceof CryptoError ? err.message : "The handshake failed.";
  return JSON.stringify({ type: "error", code, message });
}

function parseObject(line: string, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw new CryptoError("malformed_handshake", `The ${what} is not JSON.`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new CryptoError("malformed_handshake", `The ${what} is not a JSON object.`);
  }
  return value as Record<string, unknown>;
}

function checkFields(obj: Record<string, unknown>, fields: readonly string[], what: string) {
  for (const k of Object.keys(obj)) {
    if (!fields.includes(k)) {
      throw new CryptoError("malformed_handshake", `The ${what} has an unknown field '${k}'.`);
    }
  }
  if (obj.v !== PROTOCOL_VERSION) {
    if (typeof obj.v === "number" && Number.isInteger(obj.v)) {
      throw new CryptoError(
        "unsupported_version",
        `The ${what} is for secure protocol version ${obj.v}; this side speaks version ` +
          `${PROTOCOL_VERSION}. Update the older side.`,
      );
    }
    throw new CryptoError("malformed_handshake", `The ${what} needs an integer 'v'.`);
  }
}

function bytesField(obj: Record<string, unknown>, name: string, size: number, what: string) {
  const text = obj[name];
  const bytes = typeof text === "string" ? fromBase64Url(text) : undefined;
  if (!bytes || bytes.length !== size) {
    throw new CryptoError(
      "malformed_handshake",
      `The ${what}'s '${name}' must be ${size} bytes in unpadded base64url.`,
    );
  }
  return bytes;
}

/**
 * Parses a `client_hello` line.
 * @throws {CryptoError} `malformed_handshake` or `unsupported_version`.
 */
export function decodeClientHello(line: string): ClientHello {
  const what = "client_hello";
  const obj = parseObject(line, what);
  if (obj.type !== "client_hello") {
    throw new CryptoError(
      "malformed_handshake",
      'The first frame on a JSON connection must be {"type":"client_hello",…}: this server ' +
        "encrypts every JSON session (see docs/security.md).",
    );
  }
  checkFields(obj, ["type", "v", "key", "nonce"], what);
  return {
    v: obj.v as number,
    key: bytesField(obj, "key", KEY_BYTES, what),
    nonce: bytesField(obj, "nonce", HANDSHAKE_NONCE_BYTES, what),
  };
}

/**
 * Parses the server's answer to a `client_hello`.
 * @throws {CryptoError} `server_refused` for an `error` frame (with the server's code and
 * message), `malformed_handshake`, `unsupported_version`.
 */
export function decodeServerHello(line: string): ServerHello {
  const what = "server_hello";
  // A refusal's text line: the server turned the connection away before it read a byte.
  if (line.startsWith("! ")) {
    throw new CryptoError("server_refused", `The server refused the connection: ${line.slice(2)}`);
  }
  const obj = parseObject(line, what);
  if (obj.type === "error") {
    const code = typeof obj.code === "string" ? obj.code : "unknown";
    const message = typeof obj.message === "string" ? obj.message : "";
    throw new CryptoError(
      "server_refused",
      `The server refused the secure handshake (${code})${message ? `: ${message}` : "."}`,
    );
  }
  if (obj.type !== "server_hello") {
    throw new CryptoError(
      "malformed_handshake",
      `Expected a server_hello, got a '${String(obj.type)}' frame: the server may be too old ` +
        "to encrypt sessions.",
    );
  }
  checkFields(obj, ["type", "v", "key", "nonce", "identity", "sig"], what);
  return {
    v: obj.v as number,
    key: bytesField(obj, "key", KEY_BYTES, what),
    nonce: bytesField(obj, "nonce", HANDSHAKE_NONCE_BYTES, what),
    identity: bytesField(obj, "identity", KEY_BYTES, what),
    sig: bytesField(obj, "sig", SIGNATURE_BYTES, what),
  };
}
