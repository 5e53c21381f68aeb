/**
 * Unit tests for the small pieces bad input meets first: the line splitter, the token bucket
 * and the login throttle. No sockets; clocks are fake.
 */
import assert from "node:assert/strict";
import { decodeUtf8, DEFAULT_MAX_LINE_BYTES, LineSplitter } from "../lib/protocol/lines.ts";
import { TokenBucket } from "../lib/token_bucket.ts";
import { LoginThrottle } from "../lib/accounts/throttle.ts";

const utf8 = new TextEncoder();
const bytes = (s: string) => utf8.encode(s);

/** The lines as strings, `<overlong>` for a refused one. */
function show(items: ReturnType<LineSplitter["push"]>): string[] {
  return items.map((i) => i.overlong ? "<overlong>" : new TextDecoder().decode(i.line));
}

function fakeClock(start = 1000) {
  const clock = { t: start, now: () => clock.t };
  return clock;
}

// ---------------------------------------------------------------------------------------------
// LineSplitter

Deno.test("LineSplitter splits lines, strips one trailing CR and keeps partial lines", () => {
  const s = new LineSplitter();
  assert.deepEqual(show(s.push(bytes("one\ntwo\r\nthr"))), ["one", "two"]);
  assert.equal(s.buffered, 3);
  assert.deepEqual(show(s.push(bytes("ee\n\n\r\n"))), ["three", "", ""]);
  assert.equal(s.buffered, 0);
  // Only a CR right before the newline is framing; one inside the line is content.
  assert.deepEqual(show(s.push(bytes("a\rb\r\r\n"))), ["a\rb\r"]);
  assert.deepEqual(show(s.push(new Uint8Array())), []);
});

Deno.test("LineSplitter: the end of input ends the unfinished line, unless it was overlong", () => {
  const s = new LineSplitter(10);
  assert.deepEqual(show(s.push(bytes("one\ntw"))), ["one"]);
  assert.deepEqual(show([s.end()!]), ["tw"]);
  assert.equal(s.buffered, 0);
  assert.equal(s.end(), undefined, "nothing waits: no empty last line");
  assert.deepEqual(show(s.push(bytes("three\r"))), []);
  assert.deepEqual(show([s.end()!]), ["three"], "a CR before the end is framing too");
  // The rest of an overlong line was reported when it began: it is not a line of its own.
  assert.deepEqual(show(s.push(bytes("x".repeat(20)))), ["<overlong>"]);
  assert.equal(s.end(), undefined);
  assert.deepEqual(show(s.push(bytes("next\n"))), ["next"]);
});

Deno.test("LineSplitter accepts a line of exactly the limit and refuses one byte more", () => {
  assert.equal(DEFAULT_MAX_LINE_BYTES, 8192);
  const s = new LineSplitter();
  const max = "x".repeat(8192);
  const [ok] = s.push(bytes(max + "\n"));
  assert.ok(!ok.overlong && ok.line.length === 8192);
  const [withCr] = s.push(bytes(max + "\r\n"));
  assert.ok(!withCr.overlong && withCr.line.length === 8192, "the CR does not count");
  assert.deepEqual(show(s.push(bytes(max + "y\n"))), ["<overlong>"]);
  assert.deepEqual(show(s.push(bytes(max + "y\r\n"))), ["<overlong>"]);
  assert.deepEqual(show(s.push(bytes("next\n"))), ["next"]);
});

Deno.test("LineSplitter reports an overlong line once, however many chunks it spans", () => {
  const s = new LineSplitter(100);
  const out: string[] = [];
  out.push(...show(s.push(bytes("ok\n"))));
  for (let i = 0; i < 50; i++) out.push(...show(s.push(bytes("z".repeat(37)))));
  assert.ok(s.buffered <= 101, `memory stays bounded (${s.buffered} bytes buffered)`);
  out.push(...show(s.push(bytes("zz\nafter\n"))));
  assert.deepEqual(out, ["ok", "<overlong>", "after"]);

  // Split one byte at a time: the exact limit still passes, one more does not.
  const t = new LineSplitter(10);
  const got: string[] = [];
  for (const b of bytes("0123456789\r\n0123456789A\nend\n")) {
    got.push(...show(t.push(Uint8Array.of(b))));
  }
  assert.deepEqual(got, ["0123456789", "<overlong>", "end"]);
});

Deno.test("LineSplitter keeps no reference into a chunk the caller reuses", () => {
  const s = new LineSplitter();
  const buf = new Uint8Array(16);
  buf.set(bytes("hello "));
  assert.deepEqual(s.push(buf.subarray(0, 6)), []);
  buf.fill(0x21); // the caller reads the next chunk into the same buffer
  buf.set(bytes("world\n"));
  assert.deepEqual(show(s.push(buf.subarray(0, 6))), ["hello world"]);

  buf.set(bytes("ab"));
  s.push(buf.subarray(0, 2));
  buf.set(bytes("cd"));
  s.push(buf.subarray(0, 2));
  buf.set(bytes("e\n"));
  assert.deepEqual(show(s.push(buf.subarray(0, 2))), ["abcde"]);
});

Deno.test("LineSplitter and decodeUtf8: a character split across chunks decodes whole", () => {
  const s = new LineSplitter();
  const word = bytes("héllo wörld €\n");
  const lines = [];
  for (let i = 0; i < word.length; i += 3) lines.push(...s.push(word.subarray(i, i + 3)));
  assert.equal(lines.length, 1);
  assert.ok(!lines[0].overlong);
  assert.equal(decodeUtf8(lines[0].line), "héllo wörld €");
});

Deno.test("decodeUtf8 refuses invalid UTF-8 instead of guessing", () => {
  assert.equal(decodeUtf8(bytes("plain")), "plain");
  assert.equal(decodeUtf8(Uint8Array.of(0x61, 0x00, 0x62)), "a\0b", "NUL is valid UTF-8");
  for (
    const bad of [
      [0xff],
      [0xc3], // truncated two-byte sequence
      [0xe2, 0x82], // truncated three-byte sequence
      [0xc0, 0x80], // overlong NUL
      [0xed, 0xa0, 0x80], // a UTF-16 surrogate
      [0xf4, 0x90, 0x80, 0x80], // above U+10FFFF
      [0x80], // a lone continuation byte
    ]
  ) {
    assert.equal(decodeUtf8(Uint8Array.from(bad)), undefined, `bytes ${bad}`);
  }
});

// ---------------------------------------------------------------------------------------------
// TokenBucket

Deno.test("TokenBucket allows a burst, then refills at its rate up to the burst", () => {
  const clock = fakeClock();
  const b = new TokenBucket(2, 5, clock.now);
  for (let i = 0; i < 5; i++) assert.ok(b.take(), `burst token ${i}`);
  assert.equal(b.take(), false);
  assert.equal(b.secondsUntil(), 0.5);

  clock.t += 499;
  assert.equal(b.take(), false, "not quite one token yet");
  clock.t += 1;
  assert.equal(b.take(), true);
  assert.equal(b.take(), false);

  clock.t += 60_000; // a long pause refills to the burst, not beyond
  let taken = 0;
  while (b.take()) taken++;
  assert.equal(taken, 5);
});

Deno.test("TokenBucket takes fractional and multi-token costs all or nothing", () => {
  const clock = fakeClock();
  const b = new TokenBucket(10, 6, clock.now);
  assert.ok(b.take(5));
  assert.equal(b.take(5), false, "one token left, five asked");
  assert.ok(b.take(0.5));
  assert.ok(b.take(0.5), "the failed take(5) took nothing");
  assert.equal(b.take(0.1), false);
  assert.ok(Math.abs(b.secondsUntil(5) - 0.5) < 1e-9);
  clock.t += 500;
  assert.ok(b.take(5));
});

Deno.test("TokenBucket validates its options with an exact message", () => {
  assert.throws(() => new TokenBucket(0, 5), {
    name: "RangeError",
    message:
      "Cannot create a token bucket as 'ratePerSec' must be positive and 'burst' at least 1: current values are 0 and 5",
  });
  assert.throws(() => new TokenBucket(1, 0.5), RangeError);
  assert.throws(() => new TokenBucket(NaN, 5), RangeError);
});

// ---------------------------------------------------------------------------------------------
// LoginThrottle

Deno.test("LoginThrottle allows the free failures, then locks with doubling up to the cap", () => {
  const clock = fakeClock();
  const t = new LoginThrottle({
    freeFailures: 3,
    baseLockoutMs: 1000,
    maxLockoutMs: 4000,
    now: clock.now,
  });
  const keys = ["name:alice"];
  for (let i = 0; i < 3; i++) {
    t.fail(keys);
    assert.equal(t.waitMs(keys), 0, `free failure ${i + 1}`);
  }
  const lockouts = [];
  for (let i = 0; i < 5; i++) {
    t.fail(keys);
    lockouts.push(t.waitMs(keys));
    clock.t += t.waitMs(keys); // wait it out, then fail again
    assert.equal(t.waitMs(keys), 0);
  }
  assert.deepEqual(lockouts, [1000, 2000, 4000, 4000, 4000]);
});

Deno.test("LoginThrottle waits for the most locked of several keys; success clears one key", () => {
  const clock = fakeClock();
  const t = new LoginThrottle({ freeFailures: 0, baseLockoutMs: 1000, now: clock.now });
  t.fail(["name:alice", "addr:10.0.0.1"]);
  t.fail(["addr:10.0.0.1"]);
  assert.equal(t.waitMs(["name:alice"]), 1000);
  assert.equal(t.waitMs(["addr:10.0.0.1"]), 2000);
  assert.equal(t.waitMs(["name:alice", "addr:10.0.0.1"]), 2000);
  assert.equal(t.waitMs(["name:bob", "addr:10.0.0.2"]), 0, "other keys are not affected");
  clock.t += 500;
  assert.equal(t.waitMs(["name:alice"]), 500);

  t.succeed("name:alice");
  assert.equal(t.waitMs(["name:alice"]), 0);
  assert.equal(t.waitMs(["addr:10.0.0.1"]), 1500, "the address stays locked");
});

Deno.test("LoginThrottle forgets failures after forgetAfterMs without one", () => {
  const clock = fakeClock();
  const t = new LoginThrottle({ freeFailures: 5, forgetAfterMs: 60_000, now: clock.now });
  const keys = ["name:alice"];
  // A user who mistypes now and then, far apart, is never locked out.
  for (let day = 0; day < 10; day++) {
    t.fail(keys);
    assert.equal(t.waitMs(keys), 0, `occasional failure ${day + 1}`);
    clock.t += 61_000;
  }
  // Failures close together still count.
  for (let i = 0; i < 5; i++) t.fail(keys);
  assert.equal(t.waitMs(keys), 0);
  t.fail(keys);
  assert.equal(t.waitMs(keys), 1000);
});

Deno.test("LoginThrottle counts reserved attempts as failures to come", () => {
  const clock = fakeClock();
  const t = new LoginThrottle({ freeFailures: 2, baseLockoutMs: 1000, now: clock.now });
  const keys = ["name:alice", "addr:10.0.0.1"];
  // Three at once: two free failures and the one that would start the lock-out; the fourth waits.
  for (let i = 0; i < 3; i++) assert.equal(t.reserve(keys), 0, `attempt ${i + 1}`);
  assert.equal(t.reserve(keys), 1000);
  for (let i = 0; i < 3; i++) t.release(keys, true);
  assert.equal(t.reserve(keys), 1000, "locked by the failures that came in");
  clock.t += 1000;
  assert.equal(t.reserve(keys), 0);
  // A success frees the name but not the address's count; nothing is left in flight.
  t.release(keys, false);
  t.succeed("name:alice");
  assert.equal(t.waitMs(["name:alice"]), 0);
  assert.equal(t.reserve(["name:bob", "addr:10.0.0.1"]), 0);
  assert.equal(
    t.reserve(["name:carol", "addr:10.0.0.1"]),
    2000,
    "the address has used its free failures, and one attempt is in flight",
  );
});
