/**
 * Bad input gets a clear error and never hurts anyone else: overlong lines, broken UTF-8 and
 * JSON, unknown commands, wrong field types, commands in the wrong state. Every case checks the
 * error code, that the message is a hint, and that the connection still works afterwards.
 */
import assert from "node:assert/strict";
import { sealedLineLength } from "../lib/crypto/mod.ts";
import { PASSWORD, withServer } from "./helpers.ts";
import {
  expectError,
  expectFrame,
  joinBytes,
  nextFrame,
  pingOfSize,
  rawJson,
  rawJsonUser,
  TEXT_PASSWORD,
  textUser,
  utf8,
  writeInPieces,
} from "./raw.ts";

// ---------------------------------------------------------------------------------------------
// Line length

Deno.test("JSON mode: a sealed frame of 8 KiB works, whole or in pieces; one byte more closes", () =>
  withServer(async (server) => {
    const t = await rawJson(server);
    const exact = pingOfSize(8192, "exact");
    assert.equal(utf8.encode(exact).length, 8192);
    await t.write(exact);
    await expectFrame(t, { type: "pong", cid: "exact" });
    assert.equal(t.sealedSent.at(-1)!.length, sealedLineLength(8192));
    await t.writeRaw(utf8.encode((await t.session.seal(exact)) + "\r\n"));
    await expectFrame(t, { type: "pong", cid: "exact" });

    // An 8192-byte frame sealed into one line split across many writes is still one line.
    const pieces = await t.session.seal(pingOfSize(8192, "pieces"));
    await writeInPieces(t.raw, utf8.encode(pieces + "\n"), 100);
    await expectFrame(t, { type: "pong", cid: "pieces" });
    assert.equal(server.router.connectionCount, 1);

    // One byte more cannot be skipped (the frame counters would no longer match): the server
    // says why, sealed, says goodbye, and closes.
    await t.write(pingOfSize(8193, "over"));
    const err = await expectError(t, "malformed_frame");
    assert.match(err.message, /longer than 10944 characters \(8192 bytes sealed\)/);
    await expectFrame(t, { type: "bye" });
    await t.waitClosed();
    assert.equal(t.failure, undefined, "the goodbye itself opened fine");
  }));

Deno.test("JSON mode: a huge sealed line split across many writes closes the connection", () =>
  withServer(async (server) => {
    const t = await rawJson(server);
    const huge = await t.session.seal(pingOfSize(100_000, "huge"));
    // The server closes as soon as the line is too long, so later pieces may meet a closed socket.
    await writeInPieces(t.raw, utf8.encode(huge + "\n"), 997).catch(() => {});
    await expectError(t, "malformed_frame");
    await expectFrame(t, { type: "bye" });
    await t.waitClosed();
  }));

Deno.test("text mode: a line over 8 KiB is refused and discarded; the next line works", () =>
  withServer(async (server) => {
    const alice = await textUser(server, "alice");
    const bob = await server.user("bob");
    await alice.waitFor("* bob is online");

    // Exactly 8192 bytes, with a message limit raised above it: delivered whole.
    const head = "@bob ";
    const text = "é".repeat(2000) + "x".repeat(8192 - head.length - 4000);
    assert.equal(utf8.encode(head + text).length, 8192);
    await alice.write(head + text);
    assert.equal((await bob.nextOf("message")).text, text);
    await alice.waitFor("(delivered to bob)");

    await alice.write(head + text + "!");
    await alice.waitFor("! Line longer than 8192 bytes; it was discarded.");
    await writeInPieces(alice, utf8.encode(head + "y".repeat(50_000) + "\r\n"), 1024);
    await alice.waitFor("! Line longer than 8192 bytes; it was discarded.");
    await alice.write("@bob still here");
    assert.equal((await bob.nextOf("message")).text, "still here");
    await alice.waitFor("(delivered to bob)");
    assert.ok(!bob.buffered.some((e) => e.type === "message"), "nothing of the long lines leaked");
    assert.ok(!alice.lines.some((l) => l.startsWith("!")), "one error per long line");
  }, { limits: { maxMessageBytes: 10_000 } }));

Deno.test("replies keep the order of the frames they answer, errors included", () =>
  withServer(async (server) => {
    const t = await rawJson(server);
    const ping = (cid: string) => JSON.stringify({ type: "ping", cid });
    // One sealed batch of frames, then separate sealed lines in a single write.
    await t.write(joinBytes(ping("1") + "\n", "x".repeat(5000) + "\n", ping("2")));
    const lines = [];
    for (const f of ["[]", ping("3"), "nope", ping("4")]) lines.push(await t.session.seal(f));
    await t.writeRaw(lines.join("\n"));
    await expectFrame(t, { type: "pong", cid: "1" });
    await expectError(t, "bad_frame");
    await expectFrame(t, { type: "pong", cid: "2" });
    await expectFrame(t, { type: "error", code: "bad_frame" });
    await expectFrame(t, { type: "pong", cid: "3" });
    await expectFrame(t, { type: "error", code: "bad_frame" });
    await expectFrame(t, { type: "pong", cid: "4" });
  }));

// ---------------------------------------------------------------------------------------------
// Frames and commands

Deno.test("JSON mode: a sealed frame that is not UTF-8 closes the connection, saying why", () =>
  withServer(async (server) => {
    for (
      const bytes of [Uint8Array.of(0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d), Uint8Array.of(0x7b, 0xc3)]
    ) {
      const t = await rawJson(server);
      await t.write(bytes);
      assert.match((await expectError(t, "malformed_frame")).message, /UTF-8/);
      await expectFrame(t, { type: "bye" });
      await t.waitClosed();
    }
  }));

Deno.test("JSON mode: broken frames get bad_frame with a hint; the connection stays", () =>
  withServer(async (server) => {
    const t = await rawJson(server);

    for (const line of ['{"type":"ping"', "{type: 'ping'}", "hello", "{}}", "\0"]) {
      const err = await (t.write(line), expectError(t, "bad_frame"));
      assert.match(err.message, /Invalid JSON/, line);
      assert.match(err.message, /\{"type":"who"\}/, "shows an example");
    }
    for (const line of ["[1,2]", '"ping"', "42", "null", "true", '[{"type":"ping"}]']) {
      await t.write(line);
      assert.match((await expectError(t, "bad_frame")).message, /must be a JSON object/, line);
    }
    for (
      const line of ["{}", '{"type":5}', '{"type":null}', '{"type":["ping"]}', '{"Type":"ping"}']
    ) {
      await t.write(line);
      assert.match((await expectError(t, "bad_frame")).message, /needs a string "type"/, line);
    }
    // An empty sealed frame carries no frame at all (docs/security.md §5): nothing to answer.
    await t.write("");
    await t.write(JSON.stringify({ type: "ping", cid: "alive" }));
    await expectFrame(t, { type: "pong", cid: "alive" });
  }));

Deno.test("unknown commands get unknown_command listing the known ones, even prototype names", () =>
  withServer(async (server) => {
    const t = await rawJson(server);
    const names = [
      "fly",
      "PING",
      "",
      "constructor",
      "__proto__",
      "toString",
      "hasOwnProperty",
      "valueOf",
      "x".repeat(500),
    ];
    for (const type of names) {
      await t.write(JSON.stringify({ type, cid: "u" }));
      const err = await expectError(t, "unknown_command", { cid: "u" });
      assert.match(err.message, /Known: register, login/, type);
      assert.ok(!err.message.includes("x".repeat(41)), "a long name is not echoed whole");
    }
    await t.write(JSON.stringify({ type: "ping", cid: "alive" }));
    await expectFrame(t, { type: "pong", cid: "alive" });
  }));

Deno.test("a heartbeat answer is checked like every command: a bad seq gets bad_argument", () =>
  withServer(async (server) => {
    const t = await rawJson(server);
    for (const [seq, cid] of [[1.5, "h1"], [-1, "h2"], ["3", "h3"]] as const) {
      await t.write(JSON.stringify({ type: "heartbeat", seq, cid }));
      const err = await expectError(t, "bad_argument", { cid });
      assert.match(err.message, /"seq" as a whole number/);
    }
    // A well-formed answer to no heartbeat is ignored: nothing comes before the pong.
    await t.write(JSON.stringify({ type: "heartbeat", seq: 7, cid: "h4" }));
    await t.write(JSON.stringify({ type: "ping", cid: "alive" }));
    await expectFrame(t, { type: "pong", cid: "alive" });
  }));

Deno.test("wrong field types get bad_argument naming the field; the connection stays", () =>
  withServer(async (server) => {
    const t = await rawJson(server);
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ type: "register", name: 5, password: PASSWORD }, /"name"/],
      [{ type: "register", name: "ann", password: ["x"] }, /"password"/],
      [{ type: "login", name: "ann" }, /"password"/],
      [{ type: "login", name: "", password: PASSWORD }, /"name"/],
      [{ type: "register", name: "ann", password: PASSWORD, lang: 7 }, /"lang"/],
      [{ type: "register", name: "n".repeat(65), password: PASSWORD }, /longer than 64/],
      [{ type: "ping", cid: 5 }, /"cid"/],
    ];
    for (const [frame, hint] of cases) {
      await t.write(JSON.stringify(frame));
      assert.match((await expectError(t, "bad_argument")).message, hint, JSON.stringify(frame));
    }

    await t.write(JSON.stringify({ type: "register", name: "ann", password: PASSWORD }));
    await expectFrame(t, { type: "welcome", user: "ann" });
    const signedIn: [Record<string, unknown>, RegExp][] = [
      [{ type: "send", to: 5, text: "hi" }, /"to"/],
      [{ type: "send", to: "all" }, /"text"/],
      [{ type: "send", to: "all", text: { t: 1 } }, /"text"/],
      [{ type: "send", to: ["all"], text: "hi" }, /"to"/],
      [{ type: "typing", to: "all", active: "yes" }, /"active"/],
      [{ type: "ack", ids: "01H" }, /"ids"/],
      [{ type: "ack", ids: [1, 2] }, /"ids"/],
      [{ type: "ack", ids: [""] }, /"ids"/],
      [{ type: "lang", lang: null }, /"lang"/],
      [{ type: "lang", lang: "not a language" }, /language code/],
    ];
    for (const [frame, hint] of signedIn) {
      await t.write(JSON.stringify({ ...frame, cid: "f" }));
      const err = await expectError(t, "bad_argument", { cid: "f" });
      assert.match(err.message, hint, JSON.stringify(frame));
    }
    await t.write(JSON.stringify({ type: "who", cid: "alive" }));
    await expectFrame(t, { type: "who", cid: "alive" });
  }, { limits: { ratePerSec: 1000, rateBurst: 1000 } }));

Deno.test("text mode: bad lines get a hint; the connection stays", () =>
  withServer(async (server) => {
    const t = await server.text();
    await t.waitFor("Name:");
    await t.write(Uint8Array.of(0x68, 0x69, 0xff, 0x0a));
    await t.waitFor("! That line is not valid UTF-8; it was discarded.");
    await t.write("/fly away");
    await t.waitFor("! Unknown command /fly. /help lists commands.");
    await t.write("two words");
    await t.waitFor("! A name has no spaces.");
    await t.write("/register onlyname");
    await t.waitFor("! Usage: /register <name> <password> [lang]");
    await t.write(`/register tina ${TEXT_PASSWORD}`);
    await t.waitFor("Welcome, tina!");

    await t.write("hello there");
    await t.waitFor("! Start a message with @<name> or @all, e.g. '@all hello'.");
    await t.write("@");
    await t.waitFor("! Write @<name> <text>, or @all <text>.");
    await t.write("/lang");
    await t.waitFor("! Usage: /lang <code>, e.g. /lang es");
    await t.write("/msg");
    await t.waitFor("! Usage: /msg <name> <text>");
    await t.write(Uint8Array.of(0xe2, 0x82, 0x0d, 0x0a)); // a truncated euro sign, CRLF
    await t.waitFor("! That line is not valid UTF-8");
    await t.write("/who");
    await t.waitFor("Online (1): tina (you)");
  }));

// Anything a terminal would act on: C0 but tab, DEL, C1, line separators, bidi scopes.
// deno-lint-ignore no-control-regex
const TERMINAL_CONTROLS = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

Deno.test("text mode: control characters a user typed are echoed escaped in prompts and errors", () =>
  withServer(async (server) => {
    const t = await server.text();
    await t.waitFor("Name:");
    await t.write("ev\x1b[2Jil");
    await t.waitFor("Password for ev^[[2Jil:");
    await t.write("secret");
    await t.write("");
    await t.waitFor("! Names are 1-32 characters");
    await t.write("/\x1b]0;owned\x07");
    await t.waitFor("! Unknown command /^[]0;owned^G. /help lists commands.");
    await t.write("/nul\x00");
    await t.waitFor("! Unknown command /nul^@.");
    await t.write(`/register tina ${TEXT_PASSWORD}`);
    await t.waitFor("Welcome, tina!");
    await t.write("@\u202ebob hi");
    await t.waitFor("! There is no user named '\ufffdbob'.");
    await t.write("@\u009b31mbob hi");
    await t.waitFor("! There is no user named '\ufffd31mbob'.");
    await t.write("/lang e\x1bs");
    await t.waitFor(/^! 'e\^\[s' is not a language/);
    await t.write("/who");
    await t.waitFor("Online (1): tina (you)");
    const raw = t.lines.find((l) => TERMINAL_CONTROLS.test(l));
    assert.equal(raw, undefined, "every line is free of control characters");
  }));

// ---------------------------------------------------------------------------------------------
// Sign-in state

Deno.test("commands before login get not_logged_in, in both modes", () =>
  withServer(async (server) => {
    const t = await rawJson(server);
    for (
      const frame of [
        { type: "send", to: "all", text: "hi" },
        { type: "send", to: 5 }, // the sign-in check comes before the fields
        { type: "who" },
        { type: "lang", lang: "es" },
        { type: "typing", to: "all" },
        { type: "ack", ids: ["x"] },
      ]
    ) {
      await t.write(JSON.stringify({ ...frame, cid: "n" }));
      assert.match((await expectError(t, "not_logged_in", { cid: "n" })).message, /\/login/);
    }
    // help, ping and quit need no sign-in.
    await t.write(JSON.stringify({ type: "help", cid: "h" }));
    await expectFrame(t, { type: "help", cid: "h" });

    const text = await server.text();
    await text.waitFor("Name:");
    await text.write("@bob hi");
    await text.waitFor("! Sign in first: /login <name> <password> or /register.");
    await text.write("/who");
    await text.waitFor("! Sign in first");
    await text.write("/help");
    await text.waitFor("Commands:");
  }));

Deno.test("register or login when already logged in gets already_logged_in", () =>
  withServer(async (server) => {
    const t = await rawJsonUser(server, "ann");
    for (const type of ["register", "login"]) {
      await t.write(JSON.stringify({ type, name: "other", password: PASSWORD, cid: "a" }));
      const err = await expectError(t, "already_logged_in", { cid: "a" });
      assert.match(err.message, /already signed in as ann/);
    }
    await t.write(JSON.stringify({ type: "who", cid: "w" }));
    const who = await nextFrame(t);
    assert.deepEqual([who.type, who.cid], ["who", "w"]);

    // Text mode: the error, and no prompt for a name (the user is signed in); lines are read
    // strictly in order here.
    const text = await textUser(server, "tom");
    await text.write(`/register other ${TEXT_PASSWORD}`);
    await text.write(`/login tom ${TEXT_PASSWORD}`);
    await text.write("/who");
    assert.equal(await text.waitFor(/^/), "! You are already signed in as tom.");
    assert.equal(await text.waitFor(/^/), "! You are already signed in as tom.");
    assert.match(await text.waitFor(/^/), /^\* Online \(2\)/);
    assert.equal(await server.store.getUser("other"), undefined);
  }));

// ---------------------------------------------------------------------------------------------
// Messages

Deno.test("empty messages and unknown recipients are refused and nothing is stored", () =>
  withServer(async (server) => {
    const alice = await server.user("alice");
    const bob = await server.user("bob");
    await bob.quit();

    for (const text of ["", "   ", "\n\t "]) {
      await assert.rejects(alice.send("bob", text), /bad_argument: The message is empty/);
    }
    await assert.rejects(
      alice.send("nobody", "hello?"),
      (err: Error & { code?: string }) =>
        err.code === "no_such_user" && /no user named 'nobody'/.test(err.message),
    );
    await assert.rejects(alice.send("everyone", "hello?"), /no_such_user/);
    assert.equal(await server.store.pendingCount("nobody"), 0);
    assert.equal(await server.store.pendingCount("bob"), 0);
    assert.equal(server.router.stats.stored, 0);
    assert.equal(server.router.stats.messages, 0);

    const t = await textUser(server, "tess");
    await t.write("@ghost are you there");
    await t.waitFor("! There is no user named 'ghost'. /who lists users.");
    await t.write("@bob");
    await t.waitFor("! The message is empty.");
    assert.equal(await server.store.pendingCount("ghost"), 0);
    assert.equal(await server.store.pendingCount("bob"), 0);

    // The sender still works, and a real message to bob is stored.
    assert.equal((await alice.send("bob", "real one")).status, "stored");
    assert.equal(await server.store.pendingCount("bob"), 1);
  }));

Deno.test("text mode: input that ends (printf | nc) still gets every reply, then a goodbye", () =>
  withServer(async (server) => {
    (await server.user("bob")).close();
    const piped = await server.text();
    // A wrong password, then the prompted sign-in (name, password, language kept), then commands.
    await piped.write(`/login bob wrong-password\nbob\n${PASSWORD}\n\n/who\n@nobody hi`);
    await piped.closeWrite();
    await piped.waitFor("! Wrong password.");
    await piped.waitFor("* Welcome back, bob!");
    await piped.waitFor(/^\* Online \(1\): bob \(you\)/);
    await piped.waitFor("! There is no user named 'nobody'.");
    await piped.waitFor("* Goodbye: your input ended");
    await piped.waitClosed();
  }));
