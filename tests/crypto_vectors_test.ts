/**
 * docs/security.md must stay true: its test vectors are recomputed from lib/crypto and compared
 * with the document, its label table is compared with lib/crypto/constants.ts, and every vector
 * is checked again with plain WebCrypto following the document's byte layouts (not lib/crypto),
 * as an independent client would.
 */
import assert from "node:assert/strict";
import * as constants from "../lib/crypto/constants.ts";
import { computeTestVectors, renderTestVectors } from "../lib/crypto/test_vectors.ts";

const DOC = new URL("../docs/security.md", import.meta.url);

async function docVectorBlock(): Promise<string> {
  const doc = await Deno.readTextFile(DOC);
  const m = doc.match(
    /<!-- test-vectors:begin -->\s*```\n([\s\S]*?)\n```\s*<!-- test-vectors:end -->/,
  );
  assert.ok(m, "docs/security.md has a test-vectors block");
  return m[1];
}

/** The block as a map: hex values as bytes-in-hex (wrapped lines joined), text values decoded. */
function parseVectors(block: string): Map<string, string> {
  const out = new Map<string, string>();
  let current: string | undefined;
  for (const line of block.split("\n")) {
    if (line.startsWith("  ")) {
      assert.ok(current, "a continuation line follows a name");
      out.set(current, out.get(current)! + line.trim());
      continue;
    }
    const at = line.indexOf(":");
    const name = line.slice(0, at);
    const value = line.slice(at + 1).trim();
    out.set(name, value.startsWith('"') ? JSON.parse(value) : value);
    current = name;
  }
  return out;
}

Deno.test("docs/security.md test vectors match what lib/crypto computes", async () => {
  const expected = renderTestVectors(await computeTestVectors());
  assert.equal(
    await docVectorBlock(),
    expected,
    "docs/security.md §13 is stale: regenerate with `deno run lib/crypto/test_vectors.ts`",
  );
});

Deno.test("docs/security.md label table matches lib/crypto/constants.ts", async () => {
  const doc = await Deno.readTextFile(DOC);
  const rows = [...doc.matchAll(/^\| `([A-Z_]+)` +\| `([^`]+)` +\|/gm)];
  assert.ok(rows.length >= 8);
  const table = constants as unknown as Record<string, unknown>;
  for (const [, name, value] of rows) {
    assert.equal(table[name], value, `${name} in the document`);
  }
});

// ---------------------------------------------------------------------------------------------
// The document's vectors, checked with plain WebCrypto from the document's own description.

type Bytes = Uint8Array<ArrayBuffer>;
const s = crypto.subtle;
const enc = new TextEncoder();
const hex = (h: string): Bytes => Uint8Array.from(h.match(/../g) ?? [], (b) => parseInt(b, 16));
const toHex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
const cat = (...parts: Uint8Array[]): Bytes => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) (out.set(p, at), at += p.length);
  return out;
};
const b64url = (t: string): Bytes =>
  Uint8Array.from(atob(t.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));
const b64 = (b: Uint8Array) => btoa(String.fromCharCode(...b));
const u32be = (n: number) => Uint8Array.of(n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255);
const sha256 = async (b: Bytes) => new Uint8Array(await s.digest("SHA-256", b));
async function hkdf(ikm: Bytes, salt: Bytes, info: string): Promise<Bytes> {
  const key = await s.importKey("raw", ikm, "HKDF", false, ["deriveBits"]);
  return new Uint8Array(
    await s.deriveBits({ name: "HKDF", hash: "SHA-256", salt, info: enc.encode(info) }, key, 256),
  );
}
async function gcmOpen(
  key: Bytes,
  nonce: Bytes,
  sealed: Bytes,
  ad = new Uint8Array(),
) {
  const k = await s.importKey("raw", key, "AES-GCM", false, ["decrypt"]);
  return new Uint8Array(
    await s.decrypt({ name: "AES-GCM", iv: nonce, additionalData: ad }, k, sealed),
  );
}

Deno.test("the handshake vectors follow §3 and §4 byte for byte", async () => {
  const v = parseVectors(await docVectorBlock());
  const hello = JSON.parse(v.get("client_hello")!);
  const reply = JSON.parse(v.get("server_hello")!);
  assert.deepEqual(Object.keys(hello), ["type", "v", "key", "nonce"]);
  assert.equal(toHex(b64url(hello.key)), v.get("client_ephemeral_public"));
  assert.equal(toHex(b64url(hello.nonce)), v.get("client_nonce"));
  assert.equal(toHex(b64url(reply.key)), v.get("server_ephemeral_public"));
  assert.equal(toHex(b64url(reply.nonce)), v.get("server_nonce"));
  assert.equal(toHex(b64url(reply.identity)), v.get("server_identity_public"));

  // Transcript and hash (§4).
  const transcript = cat(
    enc.encode("parley/1 handshake"),
    Uint8Array.of(0, 1),
    b64url(hello.key),
    b64url(hello.nonce),
    b64url(reply.key),
    b64url(reply.nonce),
    b64url(reply.identity),
  );
  assert.equal(transcript.length, 180);
  assert.equal(toHex(transcript), v.get("transcript"));
  const h = await sha256(transcript);
  assert.equal(toHex(h), v.get("transcript_hash"));

  // Signature.
  const signed = cat(enc.encode("parley/1 server signature"), Uint8Array.of(0), h);
  assert.equal(toHex(signed), v.get("signed_message"));
  const identity = await s.importKey("raw", b64url(reply.identity), "Ed25519", false, ["verify"]);
  assert.ok(await s.verify("Ed25519", identity, b64url(reply.sig), signed));

  // Fingerprint (§7).
  const fp = "SHA256:" + b64(await sha256(b64url(reply.identity))).replace(/=+$/, "");
  assert.equal(fp, v.get("server_fingerprint"));

  // Shared secret: PKCS#8 of the fixed X25519 secret, raw peer key (RFC 7748 §6.1).
  const pkcs8 = cat(
    hex("302e020100300506032b656e04220420"),
    hex(v.get("client_ephemeral_secret")!),
  );
  const mine = await s.importKey("pkcs8", pkcs8, "X25519", false, ["deriveBits"]);
  const peer = await s.importKey("raw", b64url(reply.key), "X25519", false, []);
  const shared = new Uint8Array(await s.deriveBits({ name: "X25519", public: peer }, mine, 256));
  assert.equal(toHex(shared), "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
  assert.equal(toHex(shared), v.get("shared_secret"));

  // Frame keys.
  assert.equal(
    toHex(await hkdf(shared, h, "parley/1 client to server")),
    v.get("key_client_to_server"),
  );
  assert.equal(
    toHex(await hkdf(shared, h, "parley/1 server to client")),
    v.get("key_server_to_client"),
  );
});

Deno.test("the sealed frame vectors follow §5: nonce, AES-256-GCM, base64url, batches", async () => {
  const v = parseVectors(await docVectorBlock());
  const nonce = (dir: number, n: number) => cat(Uint8Array.of(dir, 0, 0, 0), u32be(0), u32be(n));
  const frames: [string, number, number, string][] = [
    ["frame_c2s_0", 1, 0, "key_client_to_server"],
    ["frame_c2s_1", 1, 1, "key_client_to_server"],
    ["frame_s2c_0", 2, 0, "key_server_to_client"],
  ];
  for (const [name, dir, n, key] of frames) {
    assert.equal(toHex(nonce(dir, n)), v.get(`${name}_nonce`));
    const line = v.get(`${name}_sealed`)!;
    assert.match(line, /^[A-Za-z0-9_-]+$/);
    const plain = await gcmOpen(hex(v.get(key)!), nonce(dir, n), b64url(line));
    assert.equal(new TextDecoder().decode(plain), v.get(`${name}_plaintext`));
    assert.equal(line.length, Math.ceil((plain.length + 16) * 4 / 3));
  }
  const batch = v.get("frame_s2c_0_plaintext")!.split("\n");
  assert.equal(batch.length, 2);
  for (const frame of batch) assert.equal(typeof JSON.parse(frame).type, "string");
});

Deno.test("the at-rest vectors follow §9: derived keys, key check, associated data, record", async () => {
  const v = parseVectors(await docVectorBlock());
  const dataKey = hex(v.get("data_key")!);
  const none = new Uint8Array(0);
  const recordKey = await hkdf(dataKey, none, "parley/1 at-rest records");
  assert.equal(toHex(recordKey), v.get("data_record_key"));
  const check = await hkdf(dataKey, none, "parley/1 at-rest key check");
  const kcv = "kcv1:" + b64(check).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
  assert.equal(kcv, v.get("data_key_check"));
  assert.equal(toHex(check.subarray(0, 4)), v.get("data_key_id"));

  const encodeParts = (parts: string[]) =>
    cat(
      enc.encode("parley/1 record"),
      Uint8Array.of(0, 1),
      ...parts.flatMap((p) => [u32be(enc.encode(p).length), enc.encode(p)]),
    );
  const ad = encodeParts(JSON.parse(v.get("record_binding")!));
  assert.equal(toHex(ad), v.get("record_associated_data"));
  const record = hex(v.get("sealed_record")!);
  assert.equal(record[0], 1);
  assert.equal(toHex(record.subarray(1, 13)), v.get("record_nonce"));
  const plain = await gcmOpen(recordKey, record.subarray(1, 13), record.subarray(13), ad);
  assert.equal(new TextDecoder().decode(plain), v.get("record_plaintext"));

  const lookupKey = await hkdf(dataKey, none, "parley/1 at-rest lookup");
  const hmac = await s.importKey("raw", lookupKey, { name: "HMAC", hash: "SHA-256" }, false, [
    "sign",
  ]);
  const tag = new Uint8Array(
    await s.sign("HMAC", hmac, encodeParts(JSON.parse(v.get("lookup_parts")!))),
  );
  assert.equal(
    b64(tag).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_"),
    v.get("lookup_key"),
  );
});
