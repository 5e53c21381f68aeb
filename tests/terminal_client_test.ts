/**
 * The terminal client (`client.ts`) as a real child process with piped stdin and stdout, against
 * a server in this process.
 */
import assert from "node:assert/strict";
import { welcomeEvent } from "./fixtures.ts";
import { CHAT_HELP, parseChatLine, typingTarget } from "../lib/client/terminal/commands.ts";
import { runChat } from "../lib/client/terminal/chat.ts";
import { Formatter } from "../lib/client/terminal/format.ts";
import { TcpChannel } from "../lib/client/tcp_channel.ts";
import type { Terminal } from "../lib/client/terminal/terminal.ts";
import { ChatView, TRANSLATION_OFF_INFO } from "../lib/client/terminal/view.ts";
import type { MessageEvent, ServerEvent } from "../lib/protocol/types.ts";
import { encodeTextEvent } from "../lib/protocol/text.ts";
import { PASSWORD, startServer, until } from "./helpers.ts";
import { CLIENT, ClientProcess, RecordingTerminal } from "./terminal_process.ts";
import { NAME_FREE_FAILURES } from "../lib/accounts/throttle.ts";
import { passwordHashCount } from "../lib/accounts/password.ts";

Deno.test("terminal client registers, chats, and shows messages and presence", async () => {
  const server = await startServer();
  const term = new ClientProcess(server.port);
  try {
    const bob = await server.user("bob");
    // A new name: the login fails, and the client offers to register it.
    await term.type("alice", PASSWORD, "");
    await term.waitFor("Register 'alice' as a new account? [y/N]");
    await term.type("y");
    await term.waitFor("Account created. Welcome, alice!");
    await bob.nextOf("presence", (p) => p.user === "alice" && p.state === "online");

    await term.type("@bob hello from the terminal");
    const m = await bob.nextOf("message");
    assert.equal(m.from, "alice");
    assert.equal(m.text, "hello from the terminal");
    await term.waitFor(/\] you → bob: hello from the terminal$/);

    // Incoming text is printed with its escape sequences made harmless.
    await bob.send("alice", "hi \x1b[2Jalice");
    await term.waitFor(/^\[\d\d:\d\d\] bob → you: hi \^\[\[2Jalice$/m);
    assert.ok(!term.output.includes("\x1b"), "no escape sequence reaches the terminal");

    // Plain text goes to the last person heard from privately.
    await term.type("a plain reply");
    const reply = await bob.nextOf("message");
    assert.equal(reply.to, "bob");
    assert.equal(reply.text, "a plain reply");

    // Presence: online, typing, offline.
    const carol = await server.user("carol");
    await term.waitFor("* carol is online");
    bob.typing("alice");
    await term.waitFor("* bob is typing…");
    await carol.quit();
    await term.waitFor("* carol went offline");

    await term.type("/who");
    await term.waitFor("* Online (2): alice (you), bob");
    await term.type("/lang es");
    await term.waitFor("* Your language is now es.");

    const status = await term.end();
    assert.equal(status.code, 0);
    assert.match(term.output, /\* bye/);
    await bob.nextOf("presence", (p) => p.user === "alice" && p.state === "offline");
  } finally {
    await term.dispose();
    await server.close();
  }
});

Deno.test("terminal client shows stored messages as missed after the welcome", async () => {
  const server = await startServer();
  const bob = await server.user("bob");
  const alice = await server.user("alice");
  await alice.quit();
  assert.equal((await bob.send("alice", "while you were out")).status, "stored");
  const term = new ClientProcess(server.port, ["--name", "alice"]);
  try {
    await term.type(PASSWORD, "");
    await term.waitFor("Welcome back, alice!");
    await term.waitFor("* 1 message arrived while you were away:");
    // The client names its device, so what was stored comes as its catch-up, marked and ended.
    await term.waitFor(/^\[[\w :]+\] \(missed\) bob → you: while you were out$/m);
    await term.waitFor("* End of what you missed (1 message).");
    // Plain text now goes to bob, the one who wrote.
    await term.type("thanks");
    assert.equal((await bob.nextOf("message")).text, "thanks");
    assert.equal((await term.end()).code, 0);
  } finally {
    await term.dispose();
    await server.close();
  }
});

Deno.test("terminal client explains a missing recipient and a wrong password", async () => {
  const server = await startServer();
  await (await server.user("alice")).quit();
  const term = new ClientProcess(server.port);
  try {
    await term.type("alice", "not the password", "");
    // The name exists: a wrong password is only that, and is asked for again.
    await term.waitFor("! Wrong password for 'alice'.");
    await term.type(PASSWORD);
    await term.waitFor("Welcome back, alice!");
    assert.ok(!term.output.includes("Register"), term.output);
    await term.type("nobody to talk to yet");
    await term.waitFor("! Whom to? Start with @name (private) or @all (everyone)");
    await term.type("@nobody hi");
    await term.waitFor("! There is no user named 'nobody'.");
    assert.equal((await term.end()).code, 0);
  } finally {
    await term.dispose();
    await server.close();
  }
});

Deno.test("terminal client waits out a short lock-out, then signs in", async () => {
  const server = await startServer();
  await (await server.user("alice")).quit();
  const term = new ClientProcess(server.port, ["--name", "alice"]);
  try {
    await term.waitFor("Password for alice:");
    // Wrong passwords tried elsewhere just now: the name is locked for 2 s.
    for (let i = 0; i < NAME_FREE_FAILURES + 2; i++) server.router.throttle.fail(["name:alice"]);
    await term.type(PASSWORD, "");
    await term.waitFor(/^! Too many failed sign-ins; trying again in \d+ s…$/);
    await term.waitFor("Welcome back, alice!");
    assert.equal((await term.end()).code, 0);
  } finally {
    await term.dispose();
    await server.close();
  }
});

Deno.test("terminal client offers to register only a name nobody has", async () => {
  const server = await startServer();
  await (await server.user("alice")).quit();
  const term = new ClientProcess(server.port);
  try {
    await term.type("alcie", PASSWORD, "");
    await term.waitFor("! There is no account named 'alcie'.");
    await term.waitFor("Register 'alcie' as a new account? [y/N]");
    // A typo, not a new account: asked for the name and password again.
    await term.type("n", "alice", PASSWORD);
    await term.waitFor("Welcome back, alice!");
    assert.equal(await server.store.getUser("alcie"), undefined);
    assert.equal((await term.end()).code, 0);
  } finally {
    await term.dispose();
    await server.close();
  }
});

/** A terminal a person types at, with the answers given in advance; records every question. */
class ScriptedTerminal implements Terminal {
  readonly interactive = true;
  readonly editing = false;
  onEdit: ((line: string) => void) | undefined;
  readonly questions: string[] = [];
  readonly lines: string[] = [];
  constructor(private answers: string[]) {}
  ask(question: string): Promise<string | null> {
    this.questions.push(question.trim());
    return Promise.resolve(this.answers.shift() ?? null);
  }
  readLine(): Promise<string | null> {
    return Promise.resolve(this.answers.shift() ?? null);
  }
  print(text: string): void {
    this.lines.push(...text.split("\n"));
  }
  setPrompt(): void {}
  close(): void {}
}

Deno.test("terminal client asks for a new password twice at a terminal, with --register too", async () => {
  const server = await startServer();
  const chat = (name: string | undefined, register: boolean, answers: string[]) => {
    const terminal = new ScriptedTerminal(answers);
    const done = runChat({
      args: { host: "127.0.0.1", port: server.port, name, register, tls: false },
      terminal,
      color: false,
      dial: () => TcpChannel.connect({ port: server.port, verifyIdentity: server.pin }),
    });
    return done.then((code) => ({ code, terminal }));
  };
  try {
    // --register: chosen, then typed again; a mismatch starts over.
    const flag = await chat("ann", true, [PASSWORD, "something else", PASSWORD, PASSWORD, ""]);
    assert.deepEqual(flag.terminal.questions.slice(0, 4), [
      "Choose a password for ann:",
      "Type it again:",
      "Choose a password for ann:",
      "Type it again:",
    ]);
    assert.ok(flag.terminal.lines.includes("! The two passwords differ; once more."));
    assert.ok(
      flag.terminal.lines.some((l) => l.includes("Welcome, ann!")),
      flag.terminal.lines.join("\n"),
    );

    // Registering when asked: the password given first, then typed again.
    const asked = await chat(undefined, false, ["bea", PASSWORD, "", "y", PASSWORD]);
    assert.deepEqual(asked.terminal.questions, [
      "Name:",
      "Password for bea:",
      "Language (en, es, fr, ...; Enter keeps your current one):",
      "Register 'bea' as a new account? [y/N]",
      "Type it again:",
    ]);
    assert.ok(
      asked.terminal.lines.some((l) => l.includes("Welcome, bea!")),
      asked.terminal.lines.join("\n"),
    );
  } finally {
    await server.close();
  }
});

Deno.test("/help lists every command, /quit included, before the notes on translation", () => {
  const lines = CHAT_HELP.split("\n");
  const lastCommand = lines.findLastIndex((l) => /^ {2}[/@<]/.test(l));
  const footnote = lines.findIndex((l) => l.startsWith("Translated messages"));
  assert.ok(lines[lastCommand].includes("/quit"), "the last command is /quit");
  assert.ok(lastCommand < footnote, CHAT_HELP);
});

Deno.test("terminal client says when the server is unreachable and exits 1", async () => {
  // A port nobody listens on: take a free one, then let it go.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const term = new ClientProcess(port, ["--name", "alice"]);
  try {
    await term.type(PASSWORD, "");
    await term.waitFor(`! Cannot reach 127.0.0.1:${port}`);
    assert.equal((await term.end()).code, 1);
  } finally {
    await term.dispose();
  }
});

Deno.test("terminal client reconnects after a server restart and resends", async () => {
  const first = await startServer();
  const { port, dataDir } = first;
  await first.user("bob");
  const term = new ClientProcess(port, ["--name", "alice", "--register"]);
  let second: Awaited<ReturnType<typeof startServer>> | undefined;
  let firstClosed = false;
  try {
    await term.type(PASSWORD, "");
    await term.waitFor("Account created. Welcome, alice!");

    await first.close({ removeData: false });
    firstClosed = true;
    await term.waitFor(/! connection lost \(server shutting down\); reconnecting in [\d.]+s…/);
    // Typed while offline: kept, and sent once the client is back.
    await term.type("@bob typed while the server was down");
    await term.waitFor("not connected: the message goes out once the connection is back");

    second = await startServer({ dataDir, port });
    const bob = await second.user("bob", { login: true });
    await term.waitFor(/\* reconnected/);
    const first1 = await bob.nextOf("message");
    assert.equal(first1.text, "typed while the server was down");

    await term.type("@bob after the restart");
    const next = await bob.nextOf("message");
    assert.equal(next.text, "after the restart", "the resent message arrived only once");
    assert.equal((await term.end()).code, 0);
  } finally {
    await term.dispose();
    if (!firstClosed) await first.close({ removeData: false });
    await second?.close({ removeData: false });
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("terminal client resumes after a server restart without its password", async () => {
  const first = await startServer();
  const { port, dataDir } = first;
  const term = new ClientProcess(port, ["--name", "alice", "--register"]);
  let second: Awaited<ReturnType<typeof startServer>> | undefined;
  let firstClosed = false;
  try {
    await term.type(PASSWORD, "");
    await term.waitFor("Account created. Welcome, alice!");
    await first.close({ removeData: false });
    firstClosed = true;
    await term.waitFor(/! connection lost/);

    second = await startServer({ dataDir, port });
    const hashes = passwordHashCount();
    await term.waitFor(/\* reconnected/);
    assert.equal(passwordHashCount(), hashes, "the reconnect hashed no password");

    // Signed out elsewhere: the token is revoked; the next reconnect is refused, and says so.
    await second.store.deleteResumeTokens("alice");
    await second.close({ removeData: false });
    second = await startServer({ dataDir, port });
    await term.waitFor(/sign-in refused: This sign-in token is not valid/);
    assert.equal((await term.status).code, 1);
  } finally {
    await term.dispose();
    if (!firstClosed) await first.close({ removeData: false });
    await second?.close({ removeData: false });
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("terminal client --help documents flags and commands", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLIENT, "--help"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0);
  const text = new TextDecoder().decode(out.stdout);
  for (
    const word of [
      "--host",
      "--port",
      "--register",
      "PARLEY_TCP_PORT",
      "/who",
      "@all",
      "/original",
      "/originals on|off",
    ]
  ) {
    assert.ok(text.includes(word), `--help mentions ${word}`);
  }
  const bad = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLIENT, "--port", "http"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(bad.code, 2);
  assert.match(new TextDecoder().decode(bad.stderr), /--port must be a port number/);
});

Deno.test("parseChatLine() reads messages, replies and commands", () => {
  assert.deepEqual(parseChatLine("@bob hi there"), { kind: "send", to: "bob", text: "hi there" });
  assert.deepEqual(parseChatLine("@all hi"), { kind: "send", to: "all", text: "hi" });
  assert.deepEqual(parseChatLine("/msg bob hi"), { kind: "send", to: "bob", text: "hi" });
  assert.deepEqual(parseChatLine("  hello "), { kind: "reply", text: "hello" });
  assert.deepEqual(parseChatLine("//shrug"), { kind: "reply", text: "/shrug" });
  assert.deepEqual(parseChatLine("/who"), { kind: "who" });
  assert.deepEqual(parseChatLine("/lang es"), { kind: "lang", lang: "es" });
  assert.deepEqual(parseChatLine("/QUIT"), { kind: "quit" });
  assert.deepEqual(parseChatLine(""), { kind: "none" });
  // A name alone makes that conversation current (rooms made the prompt a place to be).
  assert.deepEqual(parseChatLine("@bob"), { kind: "switch", to: "@bob" });
  assert.equal(parseChatLine("@all").kind, "invalid");
  assert.equal(parseChatLine("/lang").kind, "invalid");
  assert.equal(parseChatLine("/frobnicate").kind, "invalid");
});

Deno.test("typingTarget() names the addressee once it is known", () => {
  assert.equal(typingTarget("@bo", "carol"), undefined);
  assert.equal(typingTarget("@bob h", "carol"), "bob");
  assert.equal(typingTarget("hel", "carol"), "carol");
  assert.equal(typingTarget("hel", undefined), undefined);
  assert.equal(typingTarget("/wh", "carol"), undefined);
  assert.equal(typingTarget("", "carol"), undefined);
});

Deno.test("Formatter keeps escape sequences from other users off the screen", () => {
  const f = new Formatter({ color: true, me: "alice", now: () => 0 });
  const line = f.message({
    type: "message",
    id: "1",
    from: "bob",
    to: "alice",
    text: "\x1b]0;pwned\x07\x1b[2Jhi\r\nnext\u009b",
    ts: 0,
  });
  // Only the formatter's own colour codes (ESC [ digits m) remain.
  // deno-lint-ignore no-control-regex
  assert.equal(line.replace(/\x1b\[\d+m/g, "").includes("\x1b"), false);
  assert.match(line, /\^\[\]0;pwned\^G\^\[\[2Jhi\n {4}next\ufffd$/);
});

Deno.test("terminal client pins the server's identity, and refuses a new one saying how to proceed", async () => {
  const pins = await Deno.makeTempDir({ prefix: "parley-pins-" });
  const known = `${pins}/known_servers`;
  const first = await startServer();
  const port = first.port;
  let second: Awaited<ReturnType<typeof startServer>> | undefined;
  const term = new ClientProcess(port, ["--known-servers", known, "--register"]);
  let again: ClientProcess | undefined;
  let third: ClientProcess | undefined;
  let other: Awaited<ReturnType<typeof startServer>> | undefined;
  try {
    await term.type("pat", PASSWORD, "");
    // The file is new: the client says where it is, once.
    await term.waitFor(`* Created ${known}, where this client keeps the identity of each server`);
    await term.waitFor(`pinned its identity ${first.identity.fingerprint}`);
    await term.waitFor("Welcome, pat!");
    assert.match(await Deno.readTextFile(known), new RegExp(`127\\.0\\.0\\.1:${port} SHA256:`));
    await term.end();
    await first.close();

    // Same address, new data directory: a new identity. Nothing may be sent to it.
    second = await startServer({ port });
    again = new ClientProcess(port, ["--known-servers", known]);
    await again.type("pat", PASSWORD, "");
    await again.waitFor("THE IDENTITY OF THIS PARLEY SERVER HAS CHANGED");
    await again.waitFor("To proceed:");
    await again.waitFor(second.identity.fingerprint);
    const status = await again.end();
    assert.notEqual(status.code, 0);
    assert.ok(!again.output.includes("Welcome"), again.output);
    // Nobody signed in; the refused connection goes once the server has read its end (the
    // client's exit can be seen here first).
    assert.equal(second.router.online.size, 0);
    await until(() => second!.router.connectionCount === 0, 5000, "the refused connection gone");

    // Another server pinned in the same file: the file exists, so only the pin is told.
    other = await startServer();
    third = new ClientProcess(other.port, ["--known-servers", known, "--register"]);
    await third.type("pat", PASSWORD, "");
    await third.waitFor(`pinned its identity ${other.identity.fingerprint}`);
    await third.waitFor("Welcome, pat!");
    await third.end();
    for (const out of [again.output, third.output]) {
      assert.ok(!out.includes("* Created"), "said only when the file is created");
    }
  } finally {
    await term.dispose();
    await again?.dispose();
    await third?.dispose();
    await second?.close();
    await other?.close();
    await Deno.remove(pins, { recursive: true }).catch(() => {});
  }
});

/** A terminal that only records what is printed. */
function welcome(translation: string): ServerEvent {
  return welcomeEvent({ translation, users: [{ name: "alice", state: "online", lang: "en" }] });
}

const TS = new Date(2024, 0, 2, 14, 2).getTime();

function translated(id: string, text: string, original: string, lang = "es"): MessageEvent {
  return {
    type: "message",
    id,
    from: "bob",
    to: "alice",
    text,
    ts: TS,
    lang: "en",
    original: { text: original, lang, provider: "google" },
  };
}

Deno.test("Formatter marks translated and untranslated messages, and shows originals", () => {
  const f = new Formatter({ color: false, me: "alice", now: () => TS });
  const m = translated("1", "hello", "hola");
  assert.equal(f.message(m), "[14:02] bob → you: hello [es]");
  assert.equal(f.originalLine(m), "    original (es): hola");
  assert.equal(f.original(m), "[14:02] bob → you (original, es, translated by google): hola");
  assert.equal(
    f.message({
      type: "message",
      id: "2",
      from: "bob",
      to: "all",
      text: "bonjour",
      ts: TS,
      lang: "fr",
      untranslated: "timeout",
    }),
    "[14:02] bob → all: bonjour [not translated: the translator did not answer in time]",
  );
  const plain: MessageEvent = {
    type: "message",
    id: "3",
    from: "bob",
    to: "alice",
    text: "same language",
    ts: TS,
    lang: "en",
  };
  assert.equal(f.message(plain), "[14:02] bob → you: same language");
  assert.equal(f.originalLine(plain), undefined);
  assert.equal(f.original(plain), undefined);
  // A multi-line original keeps its continuation lines indented under the first.
  assert.equal(f.originalLine(translated("4", "a\nb", "c\nd")), "    original (es): c\n    d");

  // Colour: the markers are dim, and an original cannot carry escape sequences either.
  const c = new Formatter({ color: true, me: "alice", now: () => TS });
  assert.ok(c.message(m).endsWith(" \x1b[2m[es]\x1b[22m"));
  const evil = translated("5", "ok", "\x1b]0;pwned\x07\x1b[2J", "e\x1bs");
  for (const line of [c.message(evil), c.originalLine(evil)!, c.original(evil)!]) {
    // deno-lint-ignore no-control-regex
    assert.equal(line.replace(/\x1b\[\d+m/g, "").includes("\x1b"), false, line);
  }
});

Deno.test("ChatView says once that a message the server could not store is kept and retried", () => {
  const term = new RecordingTerminal();
  const view = new ChatView(term, new Formatter({ color: false, now: () => TS }), "here");
  view.show(welcome("off"));
  term.take();
  const refused = {
    type: "retrying" as const,
    cid: "c1",
    to: "bob",
    code: "storage_full",
    message: "Not stored: the server's disk is full; try again later.",
    retryInMs: 2000,
    attempt: 1,
  };
  view.show(refused);
  view.show({ ...refused, retryInMs: 4000, attempt: 2 });
  assert.deepEqual(term.take(), [
    "! Not stored: the server's disk is full; try again later. Your message to bob is kept and " +
    "goes again by itself (next in 2s), until it is stored.",
  ]);
});

Deno.test("ChatView shows originals on request, or under every translated message", () => {
  const term = new RecordingTerminal();
  const view = new ChatView(term, new Formatter({ color: false, now: () => TS }), "here");
  view.show(welcome("google"));
  assert.ok(!term.take().some((l) => l.includes("Translation is off")));

  view.showOriginal();
  assert.deepEqual(term.take(), ["* No translated message yet."]);

  view.show(translated("1", "hello", "hola"));
  view.show({ type: "message", id: "2", from: "bob", to: "alice", text: "plain", ts: TS });
  view.show(translated("3", "good night", "bonne nuit", "fr"));
  assert.deepEqual(term.take(), [
    "[14:02] bob → you: hello [es]",
    "[14:02] bob → you: plain",
    "[14:02] bob → you: good night [fr]",
  ]);

  view.showOriginal();
  view.showOriginal(2);
  view.showOriginal(3);
  assert.deepEqual(term.take(), [
    "[14:02] bob → you (original, fr, translated by google): bonne nuit",
    "[14:02] bob → you (original, es, translated by google): hola",
    "* Only 2 translated messages to show; /original 2 is the oldest.",
  ]);

  view.setShowOriginals(true);
  view.show(translated("4", "thanks", "gracias"));
  view.show({ type: "message", id: "5", from: "bob", to: "alice", text: "plain", ts: TS });
  assert.deepEqual(term.take(), [
    "* Originals are shown under translated messages (/originals off hides them).",
    "[14:02] bob → you: thanks [es]",
    "    original (es): gracias",
    "[14:02] bob → you: plain",
  ]);
  view.setShowOriginals(false);
  view.show(translated("6", "bye", "adiós"));
  view.setShowOriginals(undefined);
  assert.deepEqual(term.take(), [
    "* Originals are hidden (/originals on shows them; /original shows the last one).",
    "[14:02] bob → you: bye [es]",
    "* Originals are hidden (/originals on shows them; /original shows the last one).",
  ]);
});

Deno.test("ChatView says once that translation is off, and again only if it changes", () => {
  const term = new RecordingTerminal();
  const view = new ChatView(term, new Formatter({ color: false, now: () => TS }), "here");
  view.show(welcome("off"));
  const info = `* ${TRANSLATION_OFF_INFO}`;
  assert.equal(term.take().filter((l) => l === info).length, 1);
  assert.equal(info, "* Translation is off on this server; messages arrive as written.");
  // A reconnect to the same server: nothing new to say.
  view.show(welcome("off"));
  assert.deepEqual(term.take(), []);
  view.showOriginal();
  assert.deepEqual(term.take(), ["* No translated messages: translation is off on this server."]);
  view.show(welcome("apertium"));
  assert.deepEqual(term.take(), ["* Translation is on again (apertium)."]);
  view.show(welcome("off"));
  assert.deepEqual(term.take(), [info]);
});

Deno.test("parseChatLine() reads /original and /originals", () => {
  assert.deepEqual(parseChatLine("/original"), { kind: "original", n: 1 });
  assert.deepEqual(parseChatLine("/orig 3"), { kind: "original", n: 3 });
  assert.deepEqual(parseChatLine("/ORIGINAL 2"), { kind: "original", n: 2 });
  assert.equal(parseChatLine("/original 0").kind, "invalid");
  assert.equal(parseChatLine("/original two").kind, "invalid");
  assert.equal(parseChatLine("/original 1 2").kind, "invalid");
  assert.deepEqual(parseChatLine("/originals on"), { kind: "originals", show: true });
  assert.deepEqual(parseChatLine("/originals OFF"), { kind: "originals", show: false });
  assert.deepEqual(parseChatLine("/originals"), { kind: "originals" });
  assert.equal(parseChatLine("/originals maybe").kind, "invalid");
  assert.match(CHAT_HELP, /\/original \[N\]/);
  assert.match(CHAT_HELP, /\/originals on\|off/);
});

Deno.test("a welcome or who that lists fewer than are online says how many more there are", () => {
  const users = [
    { name: "alice", state: "online" as const, lang: "en" },
    { name: "bob", state: "online" as const, lang: "en" },
  ];
  // Text mode (nc), as the server writes it.
  const welcome = encodeTextEvent(welcomeEvent({ users, online: 250 }), "alice")!;
  assert.match(welcome, /\* Online \(250\): alice \(you\), bob and 248 more \(\/who lists more\)/);
  const who = encodeTextEvent({ type: "who", users, online: 250 }, "alice")!;
  assert.match(who, /\* Online \(250\): alice \(you\), bob and 248 more \(\/find <letters>/);
  // Everyone listed: no tail.
  assert.match(encodeTextEvent({ type: "who", users, online: 2 }, "alice")!, /bob$/);
  // The terminal client.
  const f = new Formatter({ color: false, me: "alice", now: () => 0 });
  assert.deepEqual(f.users(users, 250), [
    "* Online (250): alice (you), bob and 248 more (/who lists more)",
  ]);
  assert.deepEqual(f.users(users, 250, ""), ["* Online (250): alice (you), bob and 248 more"]);
  assert.deepEqual(f.users(users, 2), ["* Online (2): alice (you), bob"]);
});
