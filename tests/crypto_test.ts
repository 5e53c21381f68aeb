/**
 * Tests of the cryptographic core (lib/crypto/): the handshake, frame sealing and its failure
 * modes, server identities and key files, known-servers pinning, and at-rest sealing. No
 * sockets: the handshake is a state machine, so frames are handed across directly.
 */
import assert from "node:assert/strict";
import {
  clientHandshake,
  CryptoError,
  type CryptoErrorCode,
  DataKey,
  encodeHandshakeError,
  fingerprint,
  generateDataKeyBytes,
  generateIdentitySeed,
  identityFromSeed,
  type IdentityVerifier,
  isCryptoError,
  isFingerprint,
  pinFingerprint,
  recordAssociatedData,
  sealedLineLength,
  type SecureSession,
  serverHandshake,
  type ServerIdentity,
} from "../lib/crypto/mod.ts";
import {
  DATA_KEY_ENV,
  DATA_KEY_FILE,
  IDENTITY_FILE,
  loadOrCreateDataKey,
  loadOrCreateIdentity,
} from "../lib/crypto/key_files.ts";
import {
  defaultKnownServersPath,
  IdentityChangedError,
  KnownServers,
  serverName,
} from "../lib/crypto/known_servers.ts";
import { fromBase64Url, toBase64Url } from "../lib/crypto/_encoding.ts";

const acceptAny: IdentityVerifier = () => true;

let sharedIdentity: Promise<ServerIdentity> | undefined;
function serverIdentity(): Promise<ServerIdentity> {
  return sharedIdentity ??= identityFromSeed(generateIdentitySeed());
}

/** A finished handshake: both sessions. */
async function connect(
  verifyIdentity: IdentityVerifier = acceptAny,
  identity?: ServerIdentity,
): Promise<{ client: SecureSession; server: SecureSession }> {
  const hs = await clientHandshake({ verifyIdentity });
  const { reply, session: server } = await serverHandshake(
    identity ?? await serverIdentity(),
    hs.hello,
  );
  return { client: await hs.finish(reply), server };
}

/** Asserts that `promise` rejects with a CryptoError of `code`; returns the error. */
async function rejectsWith(promise: Promise<unknown>, code: CryptoErrorCode): Promise<CryptoError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(isCryptoError(err), `expected a CryptoError ${code}, got ${err}`);
    assert.equal(err.code, code, err.message);
    return err;
  }
  assert.fail(`expected a CryptoError ${code}, but it succeeded`);
}

function throwsWith(fn: () => unknown, code: CryptoErrorCode): CryptoError {
  try {
    fn();
  } catch (err) {
    assert.ok(isCryptoError(err), `expected a CryptoError ${code}, got ${err}`);
    assert.equal(err.code, code, err.message);
    return err;
  }
  assert.fail(`expected a CryptoError ${code}, but it succeeded`);
}

/** Flips one bit of the decoded bytes of a base64url frame. */
function flipBit(sealed: string, byte: number, bit = 0): string {
  const bytes = fromBase64Url(sealed)!;
  bytes[byte] ^= 1 << bit;
  return toBase64Url(bytes);
}

/** Edits one field of a handshake JSON frame. */
function editFrame(line: string, edit: (obj: Record<string, unknown>) => void): string {
  const obj = JSON.parse(line);
  edit(obj);
  return JSON.stringify(obj);
}

function tempDir(): Promise<string> {
  return Deno.makeTempDir({ prefix: "parley-crypto-" });
}

async function mode(path: string): Promise<number> {
  return (await Deno.stat(path)).mode! & 0o777;
}

// ---------------------------------------------------------------------------------------------
// Handshake and sessions

Deno.test("clientHandshake() and serverHandshake() agree on a session both ways", async () => {
  const identity = await serverIdentity();
  const hs = await clientHandshake({ verifyIdentity: acceptAny });
  assert.equal(hs.hello[0], "{", "JSON mode is picked by the first byte");
  assert.ok(!hs.hello.includes("\n"));
  const hello = JSON.parse(hs.hello);
  assert.deepEqual(Object.keys(hello), ["type", "v", "key", "nonce"]);
  assert.equal(hello.type, "client_hello");
  const { reply, session: server } = await serverHandshake(identity, hs.hello);
  assert.equal(reply[0], "{");
  assert.deepEqual(Object.keys(JSON.parse(reply)), [
    "type",
    "v",
    "key",
    "nonce",
    "identity",
    "sig",
  ]);
  const client = await hs.finish(reply);

  assert.deepEqual(client.transcriptHash, server.transcriptHash);
  assert.equal(client.server.fingerprint, identity.fingerprint);
  assert.deepEqual(client.server.publicKey, identity.publicKey);
  assert.equal(client.role, "client");
  assert.equal(server.role, "server");

  const up = await client.seal('{"type":"who"}');
  assert.match(up, /^[A-Za-z0-9_-]+$/, "a sealed frame is one base64url line");
  assert.ok(!up.includes("who"));
  assert.equal(up.length, sealedLineLength(14));
  assert.equal(await server.openText(up), '{"type":"who"}');

  const bytes = new Uint8Array([0, 1, 2, 255]);
  assert.deepEqual(await server.open(await client.seal(bytes)), bytes);
  assert.equal(await client.openText(await server.seal("héllo ✓")), "héllo ✓");
  assert.equal(await client.openText(await server.seal("")), "", "an empty frame is allowed");
  assert.equal(client.sent, 2);
  assert.equal(server.received, 2);
  assert.equal(server.sent, 2);
});

Deno.test("every handshake makes fresh keys: the same plaintext seals differently", async () => {
  const a = await connect();
  const b = await connect();
  assert.notDeepEqual(a.client.transcriptHash, b.client.transcriptHash);
  assert.notEqual(await a.client.seal("same"), await b.client.seal("same"));
});

Deno.test("sealFrames() carries a batch that openFrames() splits; a lone frame is a batch of one", async () => {
  const { client, server } = await connect();
  const frames = ['{"type":"message","text":"a"}', '{"type":"message","text":"b\\nc"}'];
  assert.deepEqual(await client.openFrames(await server.sealFrames(frames)), frames);
  assert.deepEqual(await client.openFrames(await server.seal('{"type":"pong"}')), [
    '{"type":"pong"}',
  ]);
  await rejectsWith(server.sealFrames(["a\nb"]), "invalid_argument");
  await rejectsWith(server.sealFrames([]), "invalid_argument");
  await rejectsWith(server.sealFrames([""]), "invalid_argument");
  // The refused batches took no counter: the next frame still opens.
  assert.equal(await client.openText(await server.seal("next")), "next");
});

Deno.test("concurrent seal() calls settle in call order and open in that order", async () => {
  const { client, server } = await connect();
  const texts = Array.from({ length: 50 }, (_, i) => `frame ${i} ${"x".repeat(i * 37)}`);
  const order: number[] = [];
  const sealed = await Promise.all(
    texts.map((t, i) => client.seal(t).then((s) => (order.push(i), s))),
  );
  assert.deepEqual(order, texts.map((_, i) => i));
  const opened = await Promise.all(sealed.map((s) => server.openText(s)));
  assert.deepEqual(opened, texts);
});

Deno.test("a session at rest drops its keys and goes on, in order, when frames come again", async () => {
  const { client, server } = await connect();
  // A server sealing with OpenSSL starts asleep (see the next test).
  assert.equal(server.awake, !server.sealsInline);
  assert.equal(await server.openText(await client.seal("before")), "before");
  // Only the server rests: a client keeps just its CryptoKeys (docs/security.md §6).
  assert.equal(client.rest(), false);
  assert.equal(client.awake, true);
  // Rest while seals are queued, and again while one is importing its key: each finishes with
  // the key it holds or imports anew, in order.
  const replies = [server.seal("reply 1")];
  // With OpenSSL nothing was imported to drop.
  assert.equal(server.rest(), !server.sealsInline);
  assert.equal(server.awake, false);
  assert.equal(server.rest(), false, "nothing left to drop");
  replies.push(server.seal("reply 2"));
  await Promise.resolve();
  server.rest();
  replies.push(server.seal("reply 3"));
  const opened = [];
  for (const r of replies) opened.push(await client.openText(await r));
  assert.deepEqual(opened, ["reply 1", "reply 2", "reply 3"]);
  // After a rest the next frame in imports the receiving key again (where the server opens with
  // WebCrypto; with OpenSSL it opens from the raw key and imports nothing); the counters carry on.
  server.rest();
  assert.equal(await server.openText(await client.seal("after")), "after");
  assert.equal(server.awake, !server.sealsInline);
  assert.equal(client.sent, 2);
  assert.equal(server.received, 2);
  assert.equal(server.sent, 3);
  // A rested session still tells a replay from a forgery.
  const again = await client.seal("again");
  assert.equal(await server.openText(again), "again");
  server.rest();
  await rejectsWith(server.open(again), "replayed");
});

Deno.test("a server session sealing with OpenSSL imports no WebCrypto key until one is needed", async () => {
  const { client, server } = await connect();
  // Only where libcrypto is loaded (`deno task test` grants it); elsewhere keys are imported.
  if (!server.sealsInline) return;
  assert.equal(server.awake, false, "no CryptoKey imported at creation");
  assert.equal(server.rest(), false, "nothing to drop");
  assert.equal(await server.openText(await client.seal("hello")), "hello");
  assert.equal(await client.openText(await server.seal("welcome")), "welcome");
  assert.equal(server.awake, false, "OpenSSL sealed and opened from the raw keys");
  // A frame that fails to open is named with WebCrypto: the key is imported then.
  const again = await client.seal("again");
  assert.equal(await server.openText(again), "again");
  await rejectsWith(server.open(again), "replayed");
  assert.equal(server.awake, true);
});

Deno.test("seal() copies its input: reusing the buffer afterwards changes nothing", async () => {
  const { client, server } = await connect();
  const buf = new TextEncoder().encode("original");
  const pending = client.seal(buf);
  buf.fill(0x41);
  assert.equal(await server.openText(await pending), "original");
});

Deno.test("a flipped bit in a sealed frame fails as tampered, and the session stays failed", async () => {
  const { client, server } = await connect();
  const sealed = await client.seal('{"type":"say","text":"pay bob 10"}');
  for (const at of [0, 5, fromBase64Url(sealed)!.length - 1]) {
    const fresh = await connect();
    const s = await fresh.client.seal('{"type":"say","text":"pay bob 10"}');
    const err = await rejectsWith(fresh.server.open(flipBit(s, at, 3)), "tampered");
    assert.match(err.message, /#0 failed authentication/);
  }
  await rejectsWith(server.open(flipBit(sealed, 2)), "tampered");
  // Once failed, even the genuine frame is refused: the transport must close.
  const after = await rejectsWith(server.open(sealed), "session_failed");
  assert.equal((after.cause as CryptoError).code, "tampered");
  assert.equal(server.failure?.code, "tampered");
});

Deno.test("a replayed frame fails as replayed", async () => {
  const { client, server } = await connect();
  const first = await client.seal('{"type":"say","text":"hi"}');
  const second = await client.seal('{"type":"who"}');
  await server.open(first);
  await server.open(second);
  const err = await rejectsWith(server.open(first), "replayed");
  assert.match(err.message, /#2 is a replay of frame #0/);
});

Deno.test("a frame replayed right away fails as replayed", async () => {
  const { client, server } = await connect();
  const first = await client.seal("one");
  await server.open(first);
  await rejectsWith(server.open(first), "replayed");
});

Deno.test("reordered frames fail as out_of_order", async () => {
  const { client, server } = await connect();
  const a = await client.seal("a");
  const b = await client.seal("b");
  const err = await rejectsWith(server.open(b), "out_of_order");
  assert.match(err.message, /#1 arrived where #0 was expected/);
  await rejectsWith(server.open(a), "session_failed");
});

Deno.test("a dropped frame makes the next one fail as out_of_order", async () => {
  const { client, server } = await connect();
  const frames = await Promise.all(["a", "b", "c", "d", "e"].map((t) => client.seal(t)));
  assert.equal(await server.openText(frames[0]), "a");
  // frames[1..3] are dropped by an attacker.
  const err = await rejectsWith(server.open(frames[4]), "out_of_order");
  assert.match(err.message, /3 frames were dropped or reordered/);
});

Deno.test("a truncated frame fails: short ones as malformed_frame, longer ones as tampered", async () => {
  const { client, server } = await connect();
  const sealed = await client.seal('{"type":"say","text":"a longer message"}');
  const bytes = fromBase64Url(sealed)!;
  await rejectsWith(server.open(toBase64Url(bytes.subarray(0, bytes.length - 3))), "tampered");
  const fresh = await connect();
  const s = await fresh.client.seal("x");
  await rejectsWith(fresh.server.open(s.slice(0, 10)), "malformed_frame");
  const again = await connect();
  await rejectsWith(again.server.open(""), "malformed_frame");
});

Deno.test("a plaintext or non-base64url line after the handshake fails as malformed_frame", async () => {
  const a = await connect();
  const err = await rejectsWith(a.server.open('{"type":"who"}'), "malformed_frame");
  assert.match(err.message, /plaintext frame/);
  const b = await connect();
  await rejectsWith(b.server.open("abc+/def=ghijklmnopqrstuvwxyz0123"), "malformed_frame");
  const c = await connect();
  await rejectsWith(c.server.open((await c.client.seal("x")) + "\r"), "malformed_frame");
});

Deno.test("a frame reflected back to its sender does not open (one key per direction)", async () => {
  const { client } = await connect();
  const sealed = await client.seal("to the server");
  await rejectsWith(client.open(sealed), "tampered");
});

Deno.test("a frame from another session does not open", async () => {
  const a = await connect();
  const b = await connect();
  await rejectsWith(b.server.open(await a.client.seal("hi")), "tampered");
});

Deno.test("openText() refuses authentic bytes that are not UTF-8", async () => {
  const { client, server } = await connect();
  await rejectsWith(
    server.openText(await client.seal(new Uint8Array([0xff, 0xfe]))),
    "malformed_frame",
  );
  await rejectsWith(server.openText(await client.seal("ok")), "session_failed");
});

// ---------------------------------------------------------------------------------------------
// Handshake failures

Deno.test("a modified server signature is refused as bad_signature", async () => {
  const hs = await clientHandshake({ verifyIdentity: acceptAny });
  const { reply } = await serverHandshake(await serverIdentity(), hs.hello);
  const sig = fromBase64Url(JSON.parse(reply).sig)!;
  sig[10] ^= 1;
  const err = await rejectsWith(
    hs.finish(editFrame(reply, (o) => o.sig = toBase64Url(sig))),
    "bad_signature",
  );
  assert.match(err.message, /Nothing was sent/);
});

Deno.test("a man in the middle who swaps either ephemeral key fails the signature", async () => {
  const identity = await serverIdentity();
  const mitmKey = JSON.parse((await clientHandshake({ verifyIdentity: acceptAny })).hello).key;

  // The server's ephemeral key replaced in transit.
  const a = await clientHandshake({ verifyIdentity: acceptAny });
  const { reply } = await serverHandshake(identity, a.hello);
  await rejectsWith(a.finish(editFrame(reply, (o) => o.key = mitmKey)), "bad_signature");

  // The client's ephemeral key replaced in transit: the server signs a transcript the client
  // never saw.
  const b = await clientHandshake({ verifyIdentity: acceptAny });
  const forged = editFrame(b.hello, (o) => o.key = mitmKey);
  const { reply: reply2 } = await serverHandshake(identity, forged);
  await rejectsWith(b.finish(reply2), "bad_signature");

  // A nonce replaced in transit.
  const c = await clientHandshake({ verifyIdentity: acceptAny });
  const { reply: reply3 } = await serverHandshake(identity, c.hello);
  await rejectsWith(
    c.finish(editFrame(reply3, (o) => o.nonce = toBase64Url(new Uint8Array(32)))),
    "bad_signature",
  );
});

Deno.test("an identity key swapped in the server_hello is refused as bad_signature", async () => {
  const other = await identityFromSeed(generateIdentitySeed());
  const hs = await clientHandshake({ verifyIdentity: acceptAny });
  const { reply } = await serverHandshake(await serverIdentity(), hs.hello);
  await rejectsWith(
    hs.finish(editFrame(reply, (o) => o.identity = toBase64Url(other.publicKey))),
    "bad_signature",
  );
});

Deno.test("a server with another identity is refused by a pinned fingerprint", async () => {
  const real = await serverIdentity();
  const impostor = await identityFromSeed(generateIdentitySeed());
  const pin = pinFingerprint(real.fingerprint);
  const ok = await connect(pin, real);
  assert.equal(ok.client.server.fingerprint, real.fingerprint);
  const hs = await clientHandshake({ verifyIdentity: pin });
  const { reply } = await serverHandshake(impostor, hs.hello);
  const err = await rejectsWith(hs.finish(reply), "identity_changed");
  assert.ok(err.message.includes(impostor.fingerprint) && err.message.includes(real.fingerprint));
  throwsWith(() => pinFingerprint("SHA256:nope"), "bad_key");
});

Deno.test("only a verifier's true accepts: false or undefined is identity_refused", async () => {
  for (const verdict of [false, undefined, "yes", 1]) {
    const hs = await clientHandshake({ verifyIdentity: () => verdict as boolean });
    const { reply } = await serverHandshake(await serverIdentity(), hs.hello);
    await rejectsWith(hs.finish(reply), "identity_refused");
  }
  await rejectsWith(
    clientHandshake({} as unknown as { verifyIdentity: IdentityVerifier }),
    "invalid_argument",
  );
});

Deno.test("the verifier sees the identity only after the signature verified", async () => {
  let calls = 0;
  const hs = await clientHandshake({ verifyIdentity: () => (calls++, true) });
  const { reply } = await serverHandshake(await serverIdentity(), hs.hello);
  await rejectsWith(
    hs.finish(editFrame(reply, (o) => o.sig = toBase64Url(new Uint8Array(64)))),
    "bad_signature",
  );
  assert.equal(calls, 0);
});

Deno.test("finish() may be called once", async () => {
  const hs = await clientHandshake({ verifyIdentity: acceptAny });
  const { reply } = await serverHandshake(await serverIdentity(), hs.hello);
  await hs.finish(reply);
  await rejectsWith(hs.finish(reply), "handshake_state");
});

Deno.test("serverHandshake() refuses malformed hellos and other versions", async () => {
  const identity = await serverIdentity();
  const { hello } = await clientHandshake({ verifyIdentity: acceptAny });
  const cases: [string, CryptoErrorCode][] = [
    ["not json", "malformed_handshake"],
    ["[1,2]", "malformed_handshake"],
    ['{"type":"login","name":"a"}', "malformed_handshake"],
    [editFrame(hello, (o) => o.v = 2), "unsupported_version"],
    [editFrame(hello, (o) => o.v = "1"), "malformed_handshake"],
    [editFrame(hello, (o) => delete o.nonce), "malformed_handshake"],
    [editFrame(hello, (o) => o.key = (o.key as string).slice(1)), "malformed_handshake"],
    [editFrame(hello, (o) => o.key = (o.key as string) + "="), "malformed_handshake"],
    [editFrame(hello, (o) => o.extra = 1), "malformed_handshake"],
    // All-zero and other low-order X25519 points give an all-zero shared secret.
    [editFrame(hello, (o) => o.key = toBase64Url(new Uint8Array(32))), "malformed_handshake"],
    [
      editFrame(hello, (o) => o.key = toBase64Url(Uint8Array.of(1, ...new Uint8Array(31)))),
      "malformed_handshake",
    ],
  ];
  for (const [line, code] of cases) {
    const err = await rejectsWith(serverHandshake(identity, line), code);
    const frame = JSON.parse(encodeHandshakeError(err));
    assert.deepEqual(frame, { type: "error", code, message: err.message });
  }
  assert.deepEqual(JSON.parse(encodeHandshakeError(new Error("secret detail"))), {
    type: "error",
    code: "internal",
    message: "The handshake failed.",
  });
});

Deno.test("finish() reports a server's error frame as server_refused, other frames as malformed", async () => {
  const hs = await clientHandshake({ verifyIdentity: acceptAny });
  const refusal = encodeHandshakeError(new CryptoError("unsupported_version", "too new"));
  const err = await rejectsWith(hs.finish(refusal), "server_refused");
  assert.match(err.message, /unsupported_version.*too new/);
  const old = await clientHandshake({ verifyIdentity: acceptAny });
  const e2 = await rejectsWith(
    old.finish('{"type":"hello","server":"parley","version":"0.1.0","loginTimeout":30}'),
    "malformed_handshake",
  );
  assert.match(e2.message, /too old/);
  const v2 = await clientHandshake({ verifyIdentity: acceptAny });
  const { reply } = await serverHandshake(await serverIdentity(), v2.hello);
  await rejectsWith(v2.finish(editFrame(reply, (o) => o.v = 9)), "unsupported_version");
});

// ---------------------------------------------------------------------------------------------
// Fingerprints and identity files

Deno.test("fingerprint() is SHA256: and unpadded base64 of the key's SHA-256", async () => {
  const identity = await serverIdentity();
  assert.match(identity.fingerprint, /^SHA256:[A-Za-z0-9+/]{43}$/);
  assert.equal(await fingerprint(identity.publicKey), identity.fingerprint);
  assert.ok(isFingerprint(identity.fingerprint));
  assert.ok(!isFingerprint(identity.fingerprint.slice(0, -1)));
  assert.ok(!isFingerprint("sha256:" + identity.fingerprint.slice(7)));
  await rejectsWith(fingerprint(new Uint8Array(31)), "bad_key");
});

Deno.test("loadOrCreateIdentity() creates a 0600 key on first start and reloads it", async () => {
  const dir = await tempDir();
  try {
    const first = await loadOrCreateIdentity(`${dir}/data`);
    assert.equal(first.created, true);
    assert.equal(first.path, `${dir}/data/${IDENTITY_FILE}`);
    assert.equal(await mode(first.path), 0o600);
    assert.match(await Deno.readTextFile(first.path), /^-----BEGIN PRIVATE KEY-----\n/);
    assert.deepEqual([...Deno.readDirSync(`${dir}/data`)].map((e) => e.name), [IDENTITY_FILE]);

    const again = await loadOrCreateIdentity(`${dir}/data`);
    assert.equal(again.created, false);
    assert.equal(again.identity.fingerprint, first.identity.fingerprint);
    // The reloaded key signs handshakes the client accepts under the first key's pin.
    const s = await connect(pinFingerprint(first.identity.fingerprint), again.identity);
    assert.equal(s.client.server.fingerprint, first.identity.fingerprint);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadOrCreateIdentity() refuses a key file readable by others, saying how to fix it", async () => {
  const dir = await tempDir();
  try {
    const { path } = await loadOrCreateIdentity(dir);
    await Deno.chmod(path, 0o644);
    const err = await rejectsWith(loadOrCreateIdentity(dir), "key_file_insecure");
    assert.match(err.message, /mode 0644/);
    assert.ok(err.message.includes(`chmod 600 ${path}`));
    await Deno.chmod(path, 0o640);
    await rejectsWith(loadOrCreateIdentity(dir), "key_file_insecure");
    await Deno.chmod(path, 0o400);
    assert.equal((await loadOrCreateIdentity(dir)).created, false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadOrCreateIdentity() refuses a corrupt key file and never replaces it", async () => {
  const dir = await tempDir();
  try {
    const path = `${dir}/${IDENTITY_FILE}`;
    for (
      const content of [
        "",
        "garbage",
        "-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n",
        // An RSA-sized body: valid base64, not an Ed25519 PKCS#8 key.
        `-----BEGIN PRIVATE KEY-----\n${btoa("x".repeat(60))}\n-----END PRIVATE KEY-----\n`,
      ]
    ) {
      await Deno.writeTextFile(path, content, { mode: 0o600 });
      const err = await rejectsWith(loadOrCreateIdentity(dir), "key_file_corrupt");
      assert.ok(err.message.includes(path));
      assert.match(err.message, /Restore it from a backup/);
      assert.equal(await Deno.readTextFile(path), content, "the file is left alone");
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the identity file is a PKCS#8 key that OpenSSL reads to the same public key", {
  ignore: !hasCommand("openssl"),
}, async () => {
  const dir = await tempDir();
  try {
    const { identity, path } = await loadOrCreateIdentity(dir);
    const out = await new Deno.Command("openssl", {
      args: ["pkey", "-in", path, "-pubout", "-outform", "DER"],
    }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    assert.deepEqual(out.stdout.slice(-32), identity.publicKey);
    // And a key made by OpenSSL loads as a Parley identity.
    await Deno.remove(path);
    const gen = await new Deno.Command("openssl", {
      args: ["genpkey", "-algorithm", "ed25519", "-out", path],
    }).output();
    assert.equal(gen.code, 0);
    await Deno.chmod(path, 0o600);
    const loaded = await loadOrCreateIdentity(dir);
    assert.equal(loaded.created, false);
    assert.ok(isFingerprint(loaded.identity.fingerprint));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

function hasCommand(name: string): boolean {
  try {
    return new Deno.Command(name, { args: ["version"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// Known servers (trust on first use)

Deno.test("KnownServers pins on first use, passes the same key, refuses a changed one", async () => {
  const dir = await tempDir();
  try {
    const path = `${dir}/cfg/parley/known_servers`;
    const known = new KnownServers(path);
    const real = await serverIdentity();
    const impostor = await identityFromSeed(generateIdentitySeed());
    const server = serverName("Chat.Example.org", 7000);
    assert.equal(server, "chat.example.org:7000");

    const pinned: string[] = [];
    const first = await connect(known.verifier(server, (fp) => pinned.push(fp)), real);
    assert.equal(first.client.server.fingerprint, real.fingerprint);
    assert.deepEqual(pinned, [real.fingerprint]);
    assert.equal(await mode(path), 0o600);
    assert.equal(await mode(`${dir}/cfg/parley`), 0o700);
    const text = await Deno.readTextFile(path);
    assert.ok(text.endsWith(`chat.example.org:7000 ${real.fingerprint}\n`));
    assert.ok(text.startsWith("# "));

    // Same key: accepted without a new pin.
    await connect(known.verifier(server, (fp) => pinned.push(fp)), real);
    assert.equal(pinned.length, 1);
    // Another server is pinned separately, even with the same key.
    assert.equal(await known.check(serverName("127.0.0.1", 7000), impostor.fingerprint), "pinned");

    // Changed key: refused, loudly, with the exact line to remove.
    const hs = await clientHandshake({ verifyIdentity: known.verifier(server) });
    const { reply } = await serverHandshake(impostor, hs.hello);
    const err = await rejectsWith(hs.finish(reply), "identity_changed");
    assert.ok(err instanceof IdentityChangedError);
    const line = text.split("\n").findIndex((l) => l.startsWith("chat.example.org:7000")) + 1;
    assert.equal(err.line, line);
    assert.equal(err.path, path);
    assert.equal(err.pinned, real.fingerprint);
    assert.equal(err.presented, impostor.fingerprint);
    assert.match(err.message, /WARNING: THE IDENTITY OF THIS PARLEY SERVER HAS CHANGED!/);
    assert.match(err.message, /man-in-the-middle/);
    assert.ok(err.message.includes(`remove line ${line} of ${path}:`));
    assert.ok(err.message.includes(`chat.example.org:7000 ${real.fingerprint}`));
    assert.ok(err.message.includes(impostor.fingerprint));
    assert.match(err.message, /sent nothing/);

    // Following the instructions: remove the line, and the new key is pinned.
    const kept = (await Deno.readTextFile(path)).split("\n").filter((_, i) => i !== line - 1);
    await Deno.writeTextFile(path, kept.join("\n"));
    assert.equal(await known.check(server, impostor.fingerprint), "pinned");
    assert.equal(await known.check(server, impostor.fingerprint), "known");
    await rejectsWith(known.check(server, real.fingerprint), "identity_changed");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("KnownServers skips comments and malformed lines, and refuses a world-writable file", async () => {
  const dir = await tempDir();
  try {
    const path = `${dir}/known_servers`;
    const fp = (await serverIdentity()).fingerprint;
    await Deno.writeTextFile(
      path,
      `# comment\n\nbroken line here\nhost:1 not-a-fingerprint\n[::1]:7000 ${fp}`,
      { mode: 0o600 },
    );
    const known = new KnownServers(path);
    assert.deepEqual(await known.entries(), [{ server: "[::1]:7000", fingerprint: fp, line: 5 }]);
    assert.equal(serverName("::1", 7000), "[::1]:7000");
    assert.equal(await known.check(serverName("[::1]", 7000), fp), "known");
    assert.equal(await known.check("host:1", fp), "pinned");
    assert.ok((await Deno.readTextFile(path)).endsWith(`${fp}\nhost:1 ${fp}\n`));
    await Deno.chmod(path, 0o666);
    const err = await rejectsWith(known.entries(), "key_file_insecure");
    assert.ok(err.message.includes(`chmod 600 ${path}`));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("defaultKnownServersPath() follows XDG_CONFIG_HOME, then HOME", () => {
  const env = (vars: Record<string, string>) => (n: string) => vars[n];
  assert.equal(
    defaultKnownServersPath(env({ XDG_CONFIG_HOME: "/x", HOME: "/h" })),
    "/x/parley/known_servers",
  );
  assert.equal(defaultKnownServersPath(env({ HOME: "/h" })), "/h/.config/parley/known_servers");
  throwsWith(() => defaultKnownServersPath(env({})), "invalid_argument");
});

// ---------------------------------------------------------------------------------------------
// At rest

Deno.test("DataKey seals records that open only with the same binding", async () => {
  const key = await DataKey.fromBytes(generateDataKeyBytes());
  const binding = ["offline", "01J5", "bob", "alice"];
  const a = await key.seal("meet at 6", binding);
  const b = await key.seal("meet at 6", binding);
  assert.notDeepEqual(a, b, "a random nonce per record");
  assert.equal(a[0], 1);
  assert.equal(a.length, 1 + 12 + 9 + 16);
  assert.ok(!new TextDecoder().decode(a).includes("meet"));
  assert.equal(await key.openText(a, binding), "meet at 6");
  assert.deepEqual(
    await key.open(await key.seal(new Uint8Array([0, 255]), []), []),
    Uint8Array.of(0, 255),
  );

  // Swapped rows: the same body under another message id or recipient does not open.
  await rejectsWith(key.open(a, ["offline", "01J6", "bob", "alice"]), "record_tampered");
  await rejectsWith(key.open(a, ["offline", "01J5", "bob", "carol"]), "record_tampered");
  // Parts are length-prefixed: moving a boundary changes the associated data.
  await rejectsWith(key.open(a, ["offline", "01J5b", "ob", "alice"]), "record_tampered");
  assert.notDeepEqual(recordAssociatedData(["ab", "c"]), recordAssociatedData(["a", "bc"]));
  const flipped = a.slice();
  flipped[20] ^= 1;
  await rejectsWith(key.open(flipped, binding), "record_tampered");
  await rejectsWith(
    key.open(new TextEncoder().encode("plaintext row"), binding),
    "record_tampered",
  );
  await rejectsWith(key.open(a.slice(0, 20), binding), "record_tampered");
});

Deno.test("a wrong data key is caught by the key check, and cannot open records", async () => {
  const right = await DataKey.fromBytes(generateDataKeyBytes());
  const wrong = await DataKey.fromBytes(generateDataKeyBytes(), { source: DATA_KEY_ENV });
  const check = right.keyCheck();
  assert.match(check, /^kcv1:[A-Za-z0-9_-]{43}$/);
  right.verifyKeyCheck(check);
  const err = throwsWith(() => wrong.verifyKeyCheck(check), "wrong_data_key");
  assert.ok(err.message.includes(`PARLEY_DATA_KEY (id ${wrong.keyId})`));
  assert.ok(err.message.includes(`(id ${right.keyId})`));
  assert.match(err.message, /restore the data key file from a backup/);
  throwsWith(() => right.verifyKeyCheck("kcv1:short"), "bad_key");
  throwsWith(() => right.verifyKeyCheck(""), "bad_key");
  await rejectsWith(wrong.open(await right.seal("x", ["r"]), ["r"]), "record_tampered");
});

Deno.test("DataKey.fromBase64() takes `openssl rand -base64 32` output and refuses the rest", async () => {
  const bytes = generateDataKeyBytes();
  const std = btoa(String.fromCharCode(...bytes));
  const a = await DataKey.fromBase64(` ${std}\n`);
  const b = await DataKey.fromBase64(toBase64Url(bytes));
  assert.equal(a.keyCheck(), b.keyCheck());
  const short = await rejectsWith(DataKey.fromBase64(btoa("16 bytes only!!!")), "bad_key");
  assert.match(short.message, /32 bytes; it is 16/);
  await rejectsWith(DataKey.fromBase64("not base64 at all!"), "bad_key");
});

Deno.test("loadOrCreateDataKey() makes a 0600 key file, reloads it, and prefers the environment", async () => {
  const dir = await tempDir();
  try {
    const first = await loadOrCreateDataKey(dir);
    assert.equal(first.created, true);
    assert.equal(first.source, "file");
    assert.equal(first.path, `${dir}/${DATA_KEY_FILE}`);
    assert.equal(await mode(first.path), 0o600);
    const again = await loadOrCreateDataKey(dir, { create: false });
    assert.equal(again.created, false);
    assert.equal(again.key.keyCheck(), first.key.keyCheck());
    const opened = await again.key.openText(await first.key.seal("kept", ["m"]), ["m"]);
    assert.equal(opened, "kept");

    const envBytes = generateDataKeyBytes();
    const fromEnv = await loadOrCreateDataKey(dir, {
      envValue: btoa(String.fromCharCode(...envBytes)),
    });
    assert.equal(fromEnv.source, "env");
    assert.equal(fromEnv.key.source, DATA_KEY_ENV);
    throwsWith(() => fromEnv.key.verifyKeyCheck(first.key.keyCheck()), "wrong_data_key");
    await rejectsWith(loadOrCreateDataKey(dir, { envValue: "bad" }), "bad_key");

    await Deno.chmod(first.path, 0o604);
    await rejectsWith(loadOrCreateDataKey(dir), "key_file_insecure");
    await Deno.writeTextFile(first.path, "not a key\n", { mode: 0o600 });
    await Deno.chmod(first.path, 0o600);
    const corrupt = await rejectsWith(loadOrCreateDataKey(dir), "key_file_corrupt");
    assert.match(corrupt.message, /Restore it from a backup/);

    // A store that already holds sealed records must not get a fresh key silently.
    await Deno.remove(first.path);
    const lost = await rejectsWith(loadOrCreateDataKey(dir, { create: false }), "wrong_data_key");
    assert.ok(lost.message.includes(first.path) && lost.message.includes(DATA_KEY_ENV));
    await assert.rejects(Deno.stat(first.path), Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// ---------------------------------------------------------------------------------------------
// Portability

Deno.test("lib/crypto uses no Deno API outside its disk files, and imports nothing outside", async () => {
  const diskFiles = new Set(["key_files.ts", "known_servers.ts"]);
  // OpenSSL through FFI: the server's, found through `globalThis` so that a browser (no Deno)
  // loads the module and does without it.
  const guarded = "_openssl.ts";
  const dir = new URL("../lib/crypto/", import.meta.url);
  const files = [...Deno.readDirSync(dir)].filter((e) => e.isFile && e.name.endsWith(".ts"));
  assert.ok(files.length >= 10);
  for (const { name } of files) {
    const source = await Deno.readTextFile(new URL(name, dir));
    const code = source.replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, ""); // comments may say "Deno"
    const imports = [...code.matchAll(/from\s+"([^"]+)"/g)].map((m) => m[1]);
    for (const spec of imports) {
      assert.match(
        spec,
        /^\.\/[a-z_]+\.ts$/,
        `${name} imports ${spec}: keep lib/crypto self-contained`,
      );
    }
    if (diskFiles.has(name)) continue;
    if (name === guarded) {
      // Only type annotations name Deno; at run time it is `globalThis.Deno`, when there is one.
      const typesOut = code.replace(/:\s*Deno\.\w+/g, "");
      assert.ok(!/\bDeno\s*\./.test(typesOut), `${name} uses Deno without the globalThis guard`);
      assert.match(code, /\(globalThis as \{ Deno\?: typeof Deno \}\)\.Deno/);
      continue;
    }
    assert.ok(!/\bDeno\s*\./.test(code), `${name} uses a Deno API; only ${[...diskFiles]} may`);
    for (const spec of imports) {
      assert.ok(!diskFiles.has(spec.slice(2)), `${name} imports ${spec}, which uses Deno APIs`);
    }
  }
});
