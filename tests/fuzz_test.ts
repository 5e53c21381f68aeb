/**
 * A fuzz test: several connections throw random bytes at the server (a seeded PRNG, so a
 * failure can be replayed with PARLEY_FUZZ_SEED) while two signed-in users keep chatting. Their
 * messages must all arrive, in order; the server must log no internal error, answer no frame
 * with `internal`, and still take a new registration afterwards.
 */
import assert from "node:assert/strict";
import { createLogger } from "../lib/log.ts";
import type { ServerEvent } from "../lib/protocol/types.ts";
import { startServer, type TestServer, type TextSocket } from "./helpers.ts";

const SEED = Number(Deno.env.get("PARLEY_FUZZ_SEED") ?? 0x5eed_c0de);
const FUZZERS = 6;
/** Pieces each fuzzer sends in all (over however many connections it needs). */
const PIECES_PER_FUZZER = 400;
const CHAT_MESSAGES = 60;

/** mulberry32: small, fast, and the same sequence for the same seed everywhere. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)];
  return { next, int, pick };
}
type Rng = ReturnType<typeof prng>;

const utf8 = new TextEncoder();

const TYPES = [
  "register",
  "login",
  "auth",
  "send",
  "typing",
  "lang",
  "who",
  "ack",
  "help",
  "ping",
  "quit",
  "constructor",
  "__proto__",
  "toString",
  "hasOwnProperty",
  "",
  "SEND",
  "x".repeat(300),
] as const;
const FIELDS = ["name", "password", "lang", "to", "text", "active", "ids", "cid", "type"] as const;
const NAMES = ["alice", "bob", "all", "ALL", "fuzz", "nobody", "", "a b", "\u0000", "é"];

function randomValue(rng: Rng, depth = 0): unknown {
  switch (rng.int(depth > 1 ? 7 : 9)) {
    case 0:
      return rng.pick(NAMES);
    case 1:
      return randomString(rng, rng.int(40));
    case 2:
      return rng.int(2) ? rng.int(1e6) - 5e5 : rng.next() * 1e308;
    case 3:
      return null;
    case 4:
      return rng.int(2) === 1;
    case 5:
      return "correct horse battery";
    case 6:
      return randomString(rng, 3000 + rng.int(3000));
    case 7:
      return Array.from({ length: rng.int(5) }, () => randomValue(rng, depth + 1));
    default:
      return Object.fromEntries(
        Array.from({ length: rng.int(4) }, () => [rng.pick(FIELDS), randomValue(rng, depth + 1)]),
      );
  }
}

/** Any UTF-16 code units, lone surrogates and controls included. */
function randomString(rng: Rng, length: number): string {
  let s = "";
  for (let i = 0; i < length; i++) {
    const r = rng.int(10);
    s += r < 6
      ? String.fromCharCode(32 + rng.int(95))
      : r < 8
      ? String.fromCharCode(rng.int(32))
      : String.fromCharCode(rng.int(0x10000));
  }
  return s;
}

function randomFrame(rng: Rng): string {
  const frame: Record<string, unknown> = {};
  if (rng.int(10) > 0) frame.type = rng.int(4) ? rng.pick(TYPES) : randomValue(rng);
  for (let i = rng.int(5); i > 0; i--) frame[rng.pick(FIELDS)] = randomValue(rng);
  let json = JSON.stringify(frame);
  if (rng.int(8) === 0) json = json.slice(0, rng.int(json.length)); // cut short
  return json;
}

const TEXT_LINES = [
  "/register",
  "/register fuzz x",
  "/register fuzzer correct-horse",
  "/login alice nope-nope-nope",
  "/login",
  "/lang",
  "/lang zz-ZZZZZZZZZ",
  "/who",
  "/help",
  "/msg",
  "/quit",
  "/QUIT now",
  "@",
  "@all",
  "@all hello from the fuzz",
  "@alice \u001b[2J\u001b[Hcleared?",
  "@bob \r\n@alice injected",
  "@nobody hi",
  "fuzzname",
  "",
  "   ",
  "\t",
];

/** One piece of junk: a whole line or not, valid or not. */
function randomPiece(rng: Rng): Uint8Array {
  switch (rng.int(10)) {
    case 0: { // raw bytes, NUL, CR and LF included
      return Uint8Array.from({ length: rng.int(300) }, () => rng.int(256));
    }
    case 1: { // a huge line (sometimes without its newline yet)
      const line = "{".repeat(rng.int(2)) + "z".repeat(8000 + rng.int(20000));
      return utf8.encode(rng.int(4) ? line + "\n" : line);
    }
    case 2: // carriage returns and newlines
      return utf8.encode(rng.pick(["\r", "\r\n", "\n", "\n\n\n", "\r\r\n", "\0\n"]));
    case 3: { // a character cut short, or split across pieces
      const bytes = utf8.encode(rng.pick(["é", "€", "😀", "ü"]));
      return bytes.subarray(0, 1 + rng.int(bytes.length - 1));
    }
    case 4: // `{` then junk
      return utf8.encode("{" + randomString(rng, rng.int(100)) + "\n");
    case 5:
    case 6:
    case 7:
      return utf8.encode(randomFrame(rng) + (rng.int(6) ? "\n" : "\r\n"));
    default:
      return utf8.encode(rng.pick(TEXT_LINES) + "\n");
  }
}

/** Writes `bytes` in random pieces; false when the server closed the connection. */
async function writeRandomly(t: TextSocket, bytes: Uint8Array, rng: Rng): Promise<boolean> {
  try {
    let at = 0;
    while (at < bytes.length) {
      const size = 1 + rng.int(rng.int(3) ? 4096 : 16);
      await t.write(bytes.subarray(at, at + size));
      at += size;
      if (rng.int(20) === 0) await new Promise((r) => setTimeout(r, rng.int(5)));
    }
    return true;
  } catch {
    return false;
  }
}

/** One fuzzer: sends its pieces, opening a new connection whenever the server hangs up. */
async function fuzz(server: TestServer, id: number, seen: string[]): Promise<number> {
  const rng = prng(SEED + id);
  let connections = 0;
  let sent = 0;
  while (sent < PIECES_PER_FUZZER) {
    const t = await server.text();
    connections++;
    // Some connections start like a JSON client, some like a person; half of them sign in
    // first, so the junk also reaches the commands of signed-in users.
    const name = `fuzz${id}_${connections}`;
    const opening = [
      () => randomFrame(rng),
      () => JSON.stringify({ type: "register", name, password: "correct horse" }),
      () => `/register ${name} correct-horse`,
      () => "",
    ][rng.int(4)]();
    if (opening) await writeRandomly(t, utf8.encode(opening + "\n"), rng);
    while (sent < PIECES_PER_FUZZER && !t.ended) {
      sent++;
      if (!await writeRandomly(t, randomPiece(rng), rng)) break;
      if (rng.int(10) === 0) await new Promise((r) => setTimeout(r, rng.int(10)));
    }
    await t.closeAndWait();
    seen.push(...t.lines);
  }
  return connections;
}

Deno.test(`fuzz: random bytes from ${FUZZERS} connections never disturb chatting users (seed ${SEED})`, async () => {
  const logged: string[] = [];
  const server = await startServer({
    logger: createLogger("warn", (line) => logged.push(line)),
    limits: { ratePerSec: 200, rateBurst: 200, loginTimeoutMs: 1500 },
  });
  try {
    const alice = await server.user("alice");
    const bob = await server.user("bob");
    const fromAlice: string[] = [];
    const fromBob: string[] = [];
    const internal: ServerEvent[] = [];
    for (const [c, into, other] of [[bob, fromAlice, "alice"], [alice, fromBob, "bob"]] as const) {
      c.on((e) => {
        if (e.type === "message" && e.from === other) into.push(e.text);
        if (e.type === "error") internal.push(e);
      });
    }

    const chat = async () => {
      for (let i = 0; i < CHAT_MESSAGES; i++) {
        const [a, b] = await Promise.all([
          alice.send(i % 3 ? "bob" : "all", `a${i}`),
          bob.send(i % 4 ? "ALICE" : "all", `b${i}`),
        ]);
        assert.equal(a.status, "delivered");
        assert.equal(b.status, "delivered");
        await new Promise((r) => setTimeout(r, 5));
      }
    };
    const seen: string[] = [];
    const [, ...connections] = await Promise.all([
      chat(),
      ...Array.from({ length: FUZZERS }, (_, id) => fuzz(server, id, seen)),
    ]);
    await Promise.all([alice.ping(), bob.ping()]);

    const expected = (p: string) => Array.from({ length: CHAT_MESSAGES }, (_, i) => `${p}${i}`);
    assert.deepEqual(fromAlice, expected("a"), "bob got every message of alice, in order");
    assert.deepEqual(fromBob, expected("b"), "alice got every message of bob, in order");
    assert.deepEqual(internal, [], "the chatting users got no errors");

    assert.ok(seen.length > 0, "the server answered the fuzz");
    const bad = seen.filter((l) => /"code":"internal"|Something went wrong/.test(l));
    assert.deepEqual(bad, [], "no internal errors shown to the fuzzers");
    assert.deepEqual(logged.filter((l) => /ERROR/.test(l)), [], "no errors logged");
    assert.ok(connections.every((n) => n >= 1));

    // Still healthy: every fuzz connection is gone, and a newcomer registers and chats.
    for (let i = 0; i < 100 && server.router.connectionCount > 2; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(server.router.connectionCount, 2);
    const carol = await server.user("carol");
    assert.equal((await carol.send("alice", "all good?")).status, "delivered");
    assert.equal((await alice.nextOf("message", (m) => m.from === "carol")).text, "all good?");
  } finally {
    await server.close();
  }
});
