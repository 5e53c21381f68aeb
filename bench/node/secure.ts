/**
 * The client side of Parley's secure session (docs/security.md §3-§5) on `node:crypto`, for the
 * Node load generator: X25519, Ed25519, HKDF-SHA256 and AES-256-GCM through OpenSSL, each call
 * synchronous and a few microseconds, where WebCrypto in Deno costs ~25 µs a call. Checked
 * against the test vectors of docs/security.md §13 (tests/bench_node_test.ts). Only `node:`
 * APIs: it is bundled and run by Node (bench/node/worker.ts).
 */
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  type KeyObject,
  randomBytes,
  verify,
} from "node:crypto";
import { Buffer } from "node:buffer";

const VERSION = 1;
const TAG_BYTES = 16;
const CLIENT_TO_SERVER = 0x01;
const SERVER_TO_CLIENT = 0x02;

/** The DER prefix of a PKCS#8 X25519 private key; the raw 32 bytes follow. */
const X25519_PKCS8 = Buffer.from("302e020100300506032b656e04220420", "hex");

const b64url = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64url");
const unb64url = (text: string) => Buffer.from(text, "base64url");

function rawPublic(key: KeyObject): Buffer {
  return unb64url(key.export({ format: "jwk" }).x!);
}

function okpPublic(crv: "X25519" | "Ed25519", raw: Uint8Array): KeyObject {
  return createPublicKey({ key: { kty: "OKP", crv, x: b64url(raw) }, format: "jwk" });
}

/** `SHA256:` and the unpadded standard base64 of the SHA-256 of the raw identity key. */
export function fingerprintOf(identity: Uint8Array): string {
  return "SHA256:" + createHash("sha256").update(identity).digest("base64").replace(/=+$/, "");
}

/** Frame nonce: direction byte, three zero bytes, the counter as u64 big-endian. */
function nonce(direction: number, counter: number): Buffer {
  const n = Buffer.alloc(12);
  n[0] = direction;
  n.writeUInt32BE(Math.floor(counter / 2 ** 32), 4);
  n.writeUInt32BE(counter >>> 0, 8);
  return n;
}

/** One end's keys and counters after the handshake: seals what it sends, opens what it gets. */
export class ClientSession {
  #sendKey: Buffer;
  #recvKey: Buffer;
  #sent = 0;
  #received = 0;

  constructor(sendKey: Buffer, recvKey: Buffer) {
    this.#sendKey = sendKey;
    this.#recvKey = recvKey;
  }

  /** One frame (or frames joined by `\n`) as a base64url line. */
  seal(plaintext: string): string {
    const c = createCipheriv("aes-256-gcm", this.#sendKey, nonce(CLIENT_TO_SERVER, this.#sent++));
    const body = Buffer.concat([c.update(plaintext, "utf8"), c.final(), c.getAuthTag()]);
    return body.toString("base64url");
  }

  /** The frames of the next sealed line, in order; throws when it does not open (final). */
  open(line: string): string[] {
    const bytes = unb64url(line);
    if (bytes.length < TAG_BYTES) throw new Error("a sealed line shorter than its tag");
    const d = createDecipheriv(
      "aes-256-gcm",
      this.#recvKey,
      nonce(SERVER_TO_CLIENT, this.#received++),
    );
    d.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
    const plain = Buffer.concat([d.update(bytes.subarray(0, bytes.length - TAG_BYTES)), d.final()])
      .toString("utf8");
    return plain.split("\n").filter((f) => f !== "");
  }
}

/** Fixed ephemeral secret and nonce: test vectors only. */
export interface Fixed {
  ephemeralSecret: Uint8Array;
  nonce: Uint8Array;
}

/** A client handshake in progress: send `hello`, then `finish` with the server's answer. */
export class ClientHandshake {
  readonly hello: string;
  #private: KeyObject;
  #public: Buffer;
  #nonce: Buffer;

  constructor(fixed?: Fixed) {
    if (fixed) {
      this.#private = createPrivateKey({
        key: Buffer.concat([X25519_PKCS8, fixed.ephemeralSecret]),
        format: "der",
        type: "pkcs8",
      });
      this.#public = rawPublic(createPublicKey(this.#private));
      this.#nonce = Buffer.from(fixed.nonce);
    } else {
      const pair = generateKeyPairSync("x25519");
      this.#private = pair.privateKey;
      this.#public = rawPublic(pair.publicKey);
      this.#nonce = randomBytes(32);
    }
    this.hello = JSON.stringify({
      type: "client_hello",
      v: VERSION,
      key: b64url(this.#public),
      nonce: b64url(this.#nonce),
    });
  }

  /**
   * Checks the `server_hello` (signature, and the identity against `fingerprint`) and derives
   * the session; throws with the server's refusal or on any mismatch.
   */
  finish(reply: string, fingerprint: string): ClientSession {
    const s = JSON.parse(reply);
    if (s.type === "error") throw new Error(`server refused the handshake: ${s.code}`);
    if (s.type !== "server_hello" || s.v !== VERSION) throw new Error("not a server_hello");
    const serverKey = unb64url(s.key);
    const identity = unb64url(s.identity);
    const transcript = Buffer.concat([
      Buffer.from("parley/1 handshake\0", "utf8"),
      Buffer.from([VERSION]),
      this.#public,
      this.#nonce,
      serverKey,
      unb64url(s.nonce),
      identity,
    ]);
    const hash = createHash("sha256").update(transcript).digest();
    const signed = Buffer.concat([Buffer.from("parley/1 server signature\0", "utf8"), hash]);
    if (!verify(null, signed, okpPublic("Ed25519", identity), unb64url(s.sig))) {
      throw new Error("the server's handshake signature does not verify");
    }
    if (fingerprintOf(identity) !== fingerprint) {
      throw new Error(`unexpected server identity ${fingerprintOf(identity)}`);
    }
    const shared = diffieHellman({
      privateKey: this.#private,
      publicKey: okpPublic("X25519", serverKey),
    });
    const key = (info: string) => Buffer.from(hkdfSync("sha256", shared, hash, info, 32));
    return new ClientSession(key("parley/1 client to server"), key("parley/1 server to client"));
  }
}
