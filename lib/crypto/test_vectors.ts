/**
 * Computes the test vectors printed in docs/security.md §13 from fixed inputs, through the real
 * handshake, session and data key code. tests/crypto_vectors_test.ts checks that the document
 * still matches; after an intended change, regenerate the block with
 * `deno run lib/crypto/test_vectors.ts` and paste it between the markers.
 */
import { concatBytes, fromHex, toHex, utf8 } from "./_encoding.ts";
import { aesGcmSeal, hkdf, importAesGcm, importX25519, x25519 } from "./_webcrypto.ts";
import {
  DATA_KEY_INFO_RECORDS,
  DIRECTION_CLIENT_TO_SERVER,
  DIRECTION_SERVER_TO_CLIENT,
  PROTOCOL_VERSION,
  RECORD_FORMAT_VERSION,
} from "./constants.ts";
import { DataKey, recordAssociatedData } from "./data_key.ts";
import { clientHandshake, serverHandshake } from "./handshake.ts";
import { identityFromSeed } from "./identity.ts";
import { deriveFrameKeys, signedMessage, transcriptBytes, transcriptHash } from "./key_schedule.ts";
import { frameNonce } from "./session.ts";

function hex(text: string): Uint8Array {
  const bytes = fromHex(text.replace(/\s+/g, ""));
  if (!bytes) throw new Error(`bad hex in a vector input: ${text}`);
  return bytes;
}

function range(from: number, n: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (from + i) & 0xff);
}

/** The fixed inputs (RFC 7748 §6.1 X25519 keys, RFC 8032 §7.1 test 1 Ed25519 seed). */
export const VECTOR_INPUTS = {
  clientEphemeralSecret: hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"),
  clientNonce: range(0x00, 32),
  serverEphemeralSecret: hex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"),
  serverNonce: range(0x20, 32),
  identitySeed: hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"),
  clientFrames: [
    '{"type":"login","name":"alice","password":"correct horse"}',
    '{"type":"who"}',
  ],
  serverBatch: [
    '{"type":"welcome","user":"alice"}',
    '{"type":"presence","user":"bob","state":"online"}',
  ],
  dataKey: range(0x40, 32),
  recordNonce: range(0xa0, 12),
  recordBinding: ["offline", "01J0000000000000000000000A", "bob", "alice", "1718000000000"],
  recordPlaintext: "hi alice, see you at 6",
  lookupParts: ["translation", "apertium", "es", "hi alice, see you at 6"],
} as const;

/** The vectors as ordered `[name, value]` pairs; text values are JSON strings. */
export async function computeTestVectors(): Promise<[string, string][]> {
  const v = VECTOR_INPUTS;
  const out: [string, string][] = [];
  const put = (name: string, value: Uint8Array | string) =>
    out.push([name, typeof value === "string" ? JSON.stringify(value) : toHex(value)]);

  const identity = await identityFromSeed(v.identitySeed);
  const clientEph = await importX25519(v.clientEphemeralSecret);
  const serverEph = await importX25519(v.serverEphemeralSecret);
  put("client_ephemeral_secret", v.clientEphemeralSecret);
  put("client_ephemeral_public", clientEph.publicKey);
  put("client_nonce", v.clientNonce);
  put("server_ephemeral_secret", v.serverEphemeralSecret);
  put("server_ephemeral_public", serverEph.publicKey);
  put("server_nonce", v.serverNonce);
  put("server_identity_seed", v.identitySeed);
  put("server_identity_public", identity.publicKey);
  put("server_fingerprint", identity.fingerprint);

  const client = await clientHandshake({
    verifyIdentity: () => true,
    fixed: { ephemeralSecret: v.clientEphemeralSecret, nonce: v.clientNonce },
  });
  put("client_hello", client.hello);
  const fields = {
    version: PROTOCOL_VERSION,
    clientKey: clientEph.publicKey,
    clientNonce: v.clientNonce,
    serverKey: serverEph.publicKey,
    serverNonce: v.serverNonce,
    serverIdentity: identity.publicKey,
  };
  const hash = await transcriptHash(fields);
  put("transcript", transcriptBytes(fields));
  put("transcript_hash", hash);
  put("signed_message", signedMessage(hash));
  const { reply, session: server } = await serverHandshake(identity, client.hello, {
    fixed: { ephemeralSecret: v.serverEphemeralSecret, nonce: v.serverNonce },
  });
  put("server_hello", reply);
  const session = await client.finish(reply);

  const shared = await x25519(clientEph.privateKey, serverEph.publicKey);
  const keys = await deriveFrameKeys(shared, hash);
  put("shared_secret", shared);
  put("key_client_to_server", keys.clientToServer);
  put("key_server_to_client", keys.serverToClient);

  for (let i = 0; i < v.clientFrames.length; i++) {
    put(`frame_c2s_${i}_nonce`, frameNonce(DIRECTION_CLIENT_TO_SERVER, i));
    put(`frame_c2s_${i}_plaintext`, v.clientFrames[i]);
    put(`frame_c2s_${i}_sealed`, await session.seal(v.clientFrames[i]));
  }
  put("frame_s2c_0_nonce", frameNonce(DIRECTION_SERVER_TO_CLIENT, 0));
  put("frame_s2c_0_plaintext", v.serverBatch.join("\n"));
  put("frame_s2c_0_sealed", await server.sealFrames(v.serverBatch));

  const dataKey = await DataKey.fromBytes(v.dataKey);
  const recordKey = await hkdf(v.dataKey, new Uint8Array(0), utf8(DATA_KEY_INFO_RECORDS), 32);
  const ad = recordAssociatedData(v.recordBinding);
  put("data_key", v.dataKey);
  put("data_record_key", recordKey);
  put("data_key_check", dataKey.keyCheck());
  put("data_key_id", dataKey.keyId);
  put("record_binding", JSON.stringify(v.recordBinding));
  put("record_associated_data", ad);
  put("record_nonce", v.recordNonce);
  put("record_plaintext", v.recordPlaintext);
  const body = await aesGcmSeal(
    await importAesGcm(recordKey),
    v.recordNonce,
    utf8(v.recordPlaintext),
    ad,
  );
  put("sealed_record", concatBytes([new Uint8Array([RECORD_FORMAT_VERSION]), v.recordNonce, body]));
  put("lookup_parts", JSON.stringify(v.lookupParts));
  put("lookup_key", await dataKey.lookupKey(v.lookupParts));
  return out;
}

/** The vectors as the text block of docs/security.md: `name: value` lines, long hex wrapped. */
export function renderTestVectors(vectors: [string, string][]): string {
  const lines: string[] = [];
  for (const [name, value] of vectors) {
    if (value.startsWith('"') || value.length <= 64) {
      lines.push(`${name}: ${value}`);
    } else {
      lines.push(`${name}:`);
      for (let i = 0; i < value.length; i += 64) lines.push(`  ${value.slice(i, i + 64)}`);
    }
  }
  return lines.join("\n");
}

if (import.meta.main) {
  console.log(renderTestVectors(await computeTestVectors()));
}
