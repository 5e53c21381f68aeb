/**
 * Server sessions seal and open frames with OpenSSL (lib/crypto/_openssl.ts) where the process
 * may load libcrypto: it must give WebCrypto's bytes exactly, fail where WebCrypto fails, and be
 * off (WebCrypto as before) without the permission. The test task grants it (deno.json).
 */
import assert from "node:assert/strict";
import { LIBCRYPTO_PATHS, openSslAead } from "../lib/crypto/_openssl.ts";
import { aesGcmOpen, aesGcmSeal, importAesGcm } from "../lib/crypto/_webcrypto.ts";
import { createSession } from "../lib/crypto/session.ts";
import { CryptoError } from "../lib/crypto/errors.ts";

const available = LIBCRYPTO_PATHS.some((p) => {
  try {
    return Deno.statSync(p).isFile;
  } catch {
    return false;
  }
});

const random = (n: number) => {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 65536) crypto.getRandomValues(out.subarray(i, i + 65536));
  return out;
};

Deno.test({
  name: "OpenSSL AES-256-GCM gives WebCrypto's bytes, and refuses what WebCrypto refuses",
  ignore: !available,
  async fn() {
    const aead = openSslAead();
    assert.ok(aead, "libcrypto is loadable under the test task's --allow-ffi");
    for (const size of [0, 1, 15, 16, 17, 200, 4096, 70_000, 1 << 20]) {
      const key = random(32);
      const nonce = random(12);
      const plain = random(size);
      const ours = aead.seal(key, nonce, plain);
      const theirs = await aesGcmSeal(await importAesGcm(key), nonce, plain, new Uint8Array(0));
      assert.deepEqual(ours, theirs, `sealed ${size} bytes`);
      // Into the process's reused buffer (up to 64 KiB) or a fresh one (past it): the same bytes.
      assert.deepEqual(aead.sealTransient(key, nonce, plain), theirs, `${size} bytes, transient`);
      assert.deepEqual(aead.open(key, nonce, theirs), plain, `opened ${size} bytes`);
      const forged = ours.slice();
      forged[Math.floor(Math.random() * forged.length)] ^= 0x40;
      assert.equal(aead.open(key, nonce, forged), undefined, `a flipped bit in ${size} bytes`);
      assert.equal(
        await aesGcmOpen(await importAesGcm(key), nonce, forged, new Uint8Array(0)),
        undefined,
      );
      const otherNonce = nonce.slice();
      otherNonce[11] ^= 1;
      assert.equal(aead.open(key, otherNonce, ours), undefined, "another nonce");
    }
    // Text is sealed as its UTF-8, through a buffer the process reuses up to 64 KiB and past it.
    for (
      const text of ["", "héllo ✓ 😀", "x".repeat(21_000), "✓".repeat(21_846), "é".repeat(40_000)]
    ) {
      const key = random(32);
      const nonce = random(12);
      const bytes = new TextEncoder().encode(text);
      const theirs = await aesGcmSeal(await importAesGcm(key), nonce, bytes, new Uint8Array(0));
      assert.deepEqual(aead.seal(key, nonce, text), theirs, `sealed ${text.length} chars`);
      assert.deepEqual(aead.sealTransient(key, nonce, text), theirs, `${text.length}, transient`);
      // The reused buffer holds nothing of one seal into the next.
      assert.deepEqual(aead.seal(key, nonce, text), theirs, `sealed again`);
    }
    assert.equal(aead.open(random(32), random(12), random(15)), undefined, "shorter than a tag");
    assert.throws(() => aead.seal(random(16), random(12), random(1)), CryptoError);
  },
});

Deno.test({
  name: "a server session seals and opens with OpenSSL; the client's WebCrypto session agrees",
  ignore: !available,
  async fn() {
    const keys = { clientToServer: random(32), serverToClient: random(32) };
    const init = {
      keys,
      transcriptHash: random(32),
      server: { publicKey: random(32), fingerprint: "SHA256:x" },
    };
    const server = await createSession({ ...init, role: "server" });
    const client = await createSession({ ...init, role: "client" });
    assert.equal(server.sealsInline, true);
    assert.equal(client.sealsInline, false, "a client session keeps no raw key");
    for (let i = 0; i < 5; i++) {
      const batch = [`{"type":"message","n":${i}}`, `{"type":"presence","n":${i}}`];
      assert.deepEqual(await client.openFrames(await server.sealFrames(batch)), batch);
      const frame = `{"type":"send","n":${i},"text":"héllo"}`;
      assert.deepEqual(await server.openFrames(await client.seal(frame)), [frame]);
    }
    // A frame that does not open still gets its diagnosis, and the session fails for good.
    const sealed = await client.seal('{"type":"who"}');
    await server.openFrames(sealed).then(() => {}); // counter 5, fine
    await assert.rejects(server.openFrames(sealed), (e) => (e as CryptoError).code === "replayed");
    await assert.rejects(
      server.openFrames(await client.seal('{"type":"who"}')),
      (e) => (e as CryptoError).code === "session_failed",
    );
  },
});

Deno.test("without --allow-ffi for libcrypto, sessions seal with WebCrypto", async () => {
  const code = `
    import { openSslAead } from ${
    JSON.stringify(new URL("../lib/crypto/_openssl.ts", import.meta.url).href)
  };
    import { createSession } from ${
    JSON.stringify(new URL("../lib/crypto/session.ts", import.meta.url).href)
  };
    const k = crypto.getRandomValues(new Uint8Array(32));
    const init = { keys: { clientToServer: k, serverToClient: k }, transcriptHash: k,
      server: { publicKey: k, fingerprint: "SHA256:x" } };
    const s = await createSession({ ...init, role: "server" });
    const c = await createSession({ ...init, role: "client" });
    const ok = (await c.openFrames(await s.sealFrames(['{"a":1}'])))[0] === '{"a":1}';
    console.log(JSON.stringify({ aead: openSslAead() !== undefined, inline: s.sealsInline, ok }));
  `;
  const file = await Deno.makeTempFile({ suffix: ".ts" });
  await Deno.writeTextFile(file, code);
  // `deno run` with no permission flags: no FFI (nor a prompt: no TTY).
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-config", "--allow-read", file],
    stdout: "piped",
    stderr: "piped",
  }).output().finally(() => Deno.remove(file));
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  assert.deepEqual(JSON.parse(new TextDecoder().decode(out.stdout)), {
    aead: false,
    inline: false,
    ok: true,
  });
});
