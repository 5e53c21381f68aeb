/**
 * The handshake as two pure state machines over any frame transport:
 *
 * ```ts
 * // client
 * const hs = await clientHandshake({ verifyIdentity });
 * send(hs.hello);
 * const session = await hs.finish(await receiveLine());
 *
 * // server
 * const { reply, session } = await serverHandshake(identity, await receiveLine());
 * send(reply);
 * ```
 *
 * Both sides make ephemeral X25519 keys and random nonces; the server signs the transcript with
 * its Ed25519 identity key; the client verifies the signature, asks `verifyIdentity` about the
 * key (pinning), and both derive one AES-256-GCM key per direction.
 */
import {
  ed25519Sign,
  ed25519Verify,
  generateX25519,
  importX25519,
  randomBytes,
  x25519,
  type X25519KeyPair,
} from "./_webcrypto.ts";
import { HANDSHAKE_NONCE_BYTES, PROTOCOL_VERSION } from "./constants.ts";
import { CryptoError } from "./errors.ts";
import { fingerprint, type IdentityVerifier, type ServerIdentityInfo } from "./fingerprint.ts";
import {
  decodeClientHello,
  decodeServerHello,
  encodeClientHello,
  encodeServerHello,
} from "./handshake_frames.ts";
import type { ServerIdentity } from "./identity.ts";
import { deriveFrameKeys, signedMessage, transcriptHash } from "./key_schedule.ts";
import { createSession, type SecureSession } from "./session.ts";

/**
 * Fixed ephemeral secrets, for reproducible test vectors only. Reusing an ephemeral key or
 * nonce in production would void the protocol's guarantees.
 */
export interface FixedEphemeral {
  /** The 32-byte X25519 private key. */
  ephemeralSecret: Uint8Array;
  /** The 32-byte handshake nonce. */
  nonce: Uint8Array;
}

/** Options of {@linkcode clientHandshake}. */
export interface ClientHandshakeOptions {
  /**
   * Decides whether the server's identity key is acceptable (pinning, trust on first use). Only
   * `true` accepts. Use `KnownServers.verifier(hostPort)` in the terminal client and
   * `pinFingerprint(fp)` in the browser.
   */
  verifyIdentity: IdentityVerifier;
  /** Test vectors only: fixed ephemeral key and nonce. */
  fixed?: FixedEphemeral;
}

/** A client handshake in progress. */
export interface ClientHandshake {
  /** The `client_hello` line to send first (no newline). */
  readonly hello: string;
  /**
   * Consumes the server's answer and returns the session.
   * @throws {CryptoError} `server_refused`, `malformed_handshake`, `unsupported_version`,
   * `bad_signature`, `identity_refused` (or the verifier's own error, such as
   * `identity_changed`), `handshake_state` when called twice.
   */
  finish(reply: string): Promise<SecureSession>;
}

async function ephemeral(fixed?: FixedEphemeral): Promise<[X25519KeyPair, Uint8Array]> {
  if (!fixed) return [await generateX25519(), randomBytes(HANDSHAKE_NONCE_BYTES)];
  if (fixed.nonce.length !== HANDSHAKE_NONCE_BYTES) {
    throw new CryptoError("invalid_argument", "A handshake nonce is 32 bytes.");
  }
  return [await importX25519(fixed.ephemeralSecret), fixed.nonce.slice()];
}

/** Starts a client handshake: makes the ephemeral key and the `client_hello`. */
export async function clientHandshake(options: ClientHandshakeOptions): Promise<ClientHandshake> {
  if (typeof options?.verifyIdentity !== "function") {
    throw new CryptoError(
      "invalid_argument",
      "clientHandshake needs a verifyIdentity callback: a client must decide which server " +
        "identities it trusts.",
    );
  }
  const [keys, nonce] = await ephemeral(options.fixed);
  const hello = encodeClientHello({ v: PROTOCOL_VERSION, key: keys.publicKey, nonce });
  let used = false;
  return {
    hello,
    async finish(reply: string): Promise<SecureSession> {
      if (used) throw new CryptoError("handshake_state", "This handshake already finished.");
      used = true;
      const server = decodeServerHello(reply);
      const hash = await transcriptHash({
        version: server.v,
        clientKey: keys.publicKey,
        clientNonce: nonce,
        serverKey: server.key,
        serverNonce: server.nonce,
        serverIdentity: server.identity,
      });
      if (!await ed25519Verify(server.identity, server.sig, signedMessage(hash))) {
        throw new CryptoError(
          "bad_signature",
          "The server's handshake signature does not verify: the connection may have been " +
            "tampered with. Nothing was sent.",
        );
      }
      const identity: ServerIdentityInfo = {
        publicKey: server.identity,
        fingerprint: await fingerprint(server.identity),
      };
      if (await options.verifyIdentity(identity) !== true) {
        throw new CryptoError(
          "identity_refused",
          `The server's identity ${identity.fingerprint} was not accepted.`,
        );
      }
      const shared = await x25519(keys.privateKey, server.key);
      return await createSession({
        role: "client",
        keys: await deriveFrameKeys(shared, hash),
        transcriptHash: hash,
        // Not the object the callback saw (it may keep or change it): the bytes that were verified.
        server: { publicKey: server.identity.slice(), fingerprint: identity.fingerprint },
      });
    },
  };
}

/** Options of {@linkcode serverHandshake}. */
export interface ServerHandshakeOptions {
  /** Test vectors only: fixed ephemeral key and nonce. */
  fixed?: FixedEphemeral;
}

/** What the server sends and keeps after a `client_hello`. */
export interface ServerHandshakeResult {
  /** The `server_hello` line to send (no newline). */
  reply: string;
  /** The session; it opens the client's frames and seals the server's. */
  session: SecureSession;
}

/**
 * Answers a `client_hello`. On error, send `encodeHandshakeError(err)` and close.
 * @throws {CryptoError} `malformed_handshake` or `unsupported_version`.
 */
export async function serverHandshake(
  identity: ServerIdentity,
  hello: string,
  options: ServerHandshakeOptions = {},
): Promise<ServerHandshakeResult> {
  const client = decodeClientHello(hello);
  const [keys, nonce] = await ephemeral(options.fixed);
  const shared = await x25519(keys.privateKey, client.key);
  const hash = await transcriptHash({
    version: PROTOCOL_VERSION,
    clientKey: client.key,
    clientNonce: client.nonce,
    serverKey: keys.publicKey,
    serverNonce: nonce,
    serverIdentity: identity.publicKey,
  });
  const sig = await ed25519Sign(identity.privateKey, signedMessage(hash));
  const reply = encodeServerHello({
    v: PROTOCOL_VERSION,
    key: keys.publicKey,
    nonce,
    identity: identity.publicKey,
    sig,
  });
  const session = await createSession({
    role: "server",
    keys: await deriveFrameKeys(shared, hash),
    transcriptHash: hash,
    server: publicPart(identity),
  });
  return { reply, session };
}

/** One frozen public part per identity, shared by all its sessions (one per connection). */
const publicParts = new WeakMap<ServerIdentity, ServerIdentityInfo>();

function publicPart(identity: ServerIdentity): ServerIdentityInfo {
  let info = publicParts.get(identity);
  if (!info) {
    info = Object.freeze({
      publicKey: identity.publicKey.slice(),
      fingerprint: identity.fingerprint,
    });
    publicParts.set(identity, info);
  }
  return info;
}
