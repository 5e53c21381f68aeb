/** The text-mode plaintext policy (docs/security.md §11), as a pure function. */
import assert from "node:assert/strict";
import { isLoopback, plaintextRefusal, textModeDecision } from "../server/plaintext_policy.ts";

const LOOPBACK = [
  "127.0.0.1",
  "127.0.0.2",
  "127.1.2.3",
  "127.255.255.255",
  "127.0.0.0",
  "::1",
  "0:0:0:0:0:0:0:1",
  "0000:0000:0000:0000:0000:0000:0000:0001",
  "::0:1",
  "[::1]",
  "::1%lo",
  "::ffff:127.0.0.1",
  "::FFFF:127.0.0.1",
  "::ffff:127.10.20.30",
  "0:0:0:0:0:ffff:127.0.0.1",
  "::ffff:7f00:1",
  "::ffff:7fff:ffff",
  " 127.0.0.1 ",
];

const NOT_LOOPBACK = [
  "10.0.0.1",
  "192.168.1.10",
  "172.16.0.1",
  "192.0.2.7",
  "128.0.0.1",
  "126.255.255.255",
  "0.0.0.0",
  "255.255.255.255",
  "1.127.0.0",
  "::",
  "::2",
  "::0:2",
  "1::1",
  "fe80::1",
  "fe80::1%eth0",
  "2001:db8::1",
  "::ffff:10.0.0.1",
  "::ffff:128.0.0.1",
  "::ffff:8000:1",
  "::ffff:7f00:1:1",
  "::127.0.0.1", // IPv4-compatible, deprecated: not loopback
  "64:ff9b::127.0.0.1", // NAT64: a remote host's address
  "64:ff9b::7f00:1",
  "::fffe:127.0.0.1",
  "1:0:0:0:0:ffff:127.0.0.1",
  // Anything unparsable fails closed.
  "",
  "localhost",
  "127.0.0.1.evil.example",
  "127.0.0",
  "127.0.0.1.1",
  "127.000.0.1",
  "0127.0.0.1",
  "127.0.0.256",
  "127.0.0.-1",
  "127.0.0.1/8",
  "0x7f.0.0.1",
  "2130706433",
  ":::1",
  "::1::",
  ":1",
  "1:2:3:4:5:6:7:8:9",
  "::ffff:127.0.0.1:1",
  "::ffff:127.0.0",
  "::g",
  "12345::1",
];

Deno.test("isLoopback() accepts 127.0.0.0/8, ::1 and ::ffff:127.0.0.0/104 in any spelling", () => {
  for (const a of LOOPBACK) assert.equal(isLoopback(a), true, a);
});

Deno.test("isLoopback() refuses every other address, and anything it cannot parse", () => {
  for (const a of NOT_LOOPBACK) assert.equal(isLoopback(a), false, JSON.stringify(a));
});

Deno.test("textModeDecision(): loopback, TLS or --allow-plaintext, else refused", () => {
  const d = (peer: string, tls: boolean, allowPlaintext: boolean) =>
    textModeDecision({ peer, tls, allowPlaintext });
  for (const peer of LOOPBACK) {
    assert.deepEqual(d(peer, false, false), { allowed: true, reason: "loopback" }, peer);
  }
  for (const peer of NOT_LOOPBACK) {
    assert.deepEqual(d(peer, false, false), { allowed: false, reason: "not_loopback" }, peer);
    assert.deepEqual(d(peer, false, true), { allowed: true, reason: "operator" }, peer);
    assert.deepEqual(d(peer, true, false), { allowed: true, reason: "tls" }, peer);
    assert.deepEqual(d(peer, true, true), { allowed: true, reason: "tls" }, peer);
  }
  assert.deepEqual(d("127.0.0.1", true, false), { allowed: true, reason: "tls" });
});

Deno.test("plaintextRefusal() is one line that says why and how to connect securely", () => {
  const line = plaintextRefusal("192.0.2.2", 7000);
  assert.ok(!line.includes("\n"));
  assert.match(line, /^! Text mode is not encrypted/);
  assert.match(line, /deno task client --host 192\.0\.2\.2 --port 7000/);
  assert.match(line, /openssl s_client -quiet -connect 192\.0\.2\.2:7000/);
  assert.match(line, /socat - OPENSSL:192\.0\.2\.2:7000/);
  assert.match(line, /--allow-plaintext/);
  assert.match(plaintextRefusal("2001:db8::2", 7000), /-connect \[2001:db8::2\]:7000/);
});
