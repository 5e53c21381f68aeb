/**
 * What one AES-256-GCM seal of a frame costs the server, in CPU µs, by how it is done: WebCrypto
 * awaited one at a time, WebCrypto with 500 in flight (a fan-out round), `node:crypto` in Deno,
 * and OpenSSL over FFI (lib/crypto/_openssl.ts, what the server uses where it may). CPU time,
 * not wall time, so the figures hold up on a shared machine.
 *
 * The last two columns are what a fan-out does: one seal per reader, each under its own key (500
 * keys in turn), the sealed bytes in a fresh buffer (`seal`) or in one the process reuses
 * (`sealTransient`, what the server does since docs/performance.md §20).
 *
 *   deno run --allow-ffi bench/seal_cost.ts
 */
import { createCipheriv } from "node:crypto";
import { cpuUsage } from "node:process";
import { openSslAead } from "../lib/crypto/_openssl.ts";

const cpuUs = () => {
  const u = cpuUsage();
  return u.user + u.system;
};
const key = crypto.getRandomValues(new Uint8Array(32));
const webKey = await crypto.subtle.importKey("raw", key, "AES-GCM", false, ["encrypt"]);
const iv = new Uint8Array(12);
const keys = Array.from({ length: 500 }, () => crypto.getRandomValues(new Uint8Array(32)));
const aead = openSslAead();
const N = 2000;

async function perSeal(run: () => Promise<void> | void, n = N): Promise<number> {
  await run(); // warm
  const c0 = cpuUs();
  for (let i = 0; i < n; i++) await run();
  return (cpuUs() - c0) / n;
}

console.log(
  "plaintext B | WebCrypto 1 at a time | WebCrypto 500 in flight | node:crypto | OpenSSL FFI" +
    " | OpenSSL FFI, 500 keys | the same, reused buffer",
);
for (const size of [200, 2000, 20000]) {
  const data = crypto.getRandomValues(new Uint8Array(size));
  const web = () => crypto.subtle.encrypt({ name: "AES-GCM", iv }, webKey, data).then(() => {});
  const one = await perSeal(web);
  const round = await perSeal(
    () => Promise.all(Array.from({ length: 500 }, web)).then(() => {}),
    N / 500,
  ) / 500;
  const node = await perSeal(() => {
    const c = createCipheriv("aes-256-gcm", key, iv);
    c.update(data);
    c.final();
    c.getAuthTag();
  });
  const ffi = aead ? await perSeal(() => void aead.seal(key, iv, data), N * 5) : NaN;
  let k = 0;
  const nextKey = () => keys[k = (k + 1) % keys.length];
  const fanout = aead ? await perSeal(() => void aead.seal(nextKey(), iv, data), N * 5) : NaN;
  const reused = aead
    ? await perSeal(() => void aead.sealTransient(nextKey(), iv, data), N * 5)
    : NaN;
  console.log(
    [size, one, round, node, ffi, fanout, reused].map((v, i) => i ? v.toFixed(2) : String(v)).join(
      " | ",
    ),
  );
}
if (!aead) console.log("(no OpenSSL: run with --allow-ffi on a machine with libcrypto 3)");
