/**
 * The terminal client (`client.ts`) as a real child process with piped stdin and stdout, against
 * a server in this process.
 */
import assert from "node:assert/strict";
import { parseChatLine, typingTarget } from "../lib/client/terminal/commands.ts";
import { Formatter } from "../lib/client/terminal/format.ts";
import { PASSWORD, startServer } from "./helpers.ts";

const CLIENT = new URL("../client.ts", import.meta.url).pathname;
/** Pins go to a throwaway file, never to the user's ~/.config (PARLEY_KNOWN_SERVERS). */
const KNOWN_SERVERS = `${await Deno.makeTempDir({ prefix: "parley-known-" })}/known_servers`;
const utf8 = new TextEncoder();

/** `client.ts` running as a child process, fed lines on stdin. */
class ClientProcess {
  readonly child: Deno.ChildProcess;
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #out = "";
  #wake: Array<() => void> = [];
  #pumps: Promise<unknown>;
  #exited = false;
  readonly status: Promise<Deno.CommandStatus>;

  constructor(port: number, args: string[] = []) {
    this.child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", CLIENT, "--port", String(port), ...args],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1", PARLEY_KNOWN_SERVERS: KNOWN_SERVERS },
    }).spawn();
    this.#writer = this.child.stdin.getWriter();
    this.#pumps = Promise.all([this.#pump(this.child.stdout), this.#pump(this.child.stderr)]);
    this.status = this.child.status.then((s) => {
      this.#exited = true;
      this.#notify();
      return s;
    });
  }

  /** Everything printed so far (stdout and stderr). */
  get output(): string {
    return this.#out;
  }

  /** Types lines, as if the user pressed Enter after each. */
  async type(...lines: string[]): Promise<void> {
    await this.#writer.write(utf8.encode(lines.map((l) => `${l}\n`).join("")));
  }

  /** Waits until the output matches `pattern`; returns the matching line. */
  async waitFor(pattern: string | RegExp, timeoutMs = 10_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (true) {
      const line = this.#out.split("\n").find((l) =>
        typeof pattern === "string" ? l.includes(pattern) : pattern.test(l)
      );
      if (line !== undefined) return line;
      const left = deadline - Date.now();
      if (this.#exited || left <= 0) {
        throw new Error(
          `${
            this.#exited ? "client exited" : "timed out"
          } waiting for ${pattern}; output:\n${this.#out}`,
        );
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.#wake.push(resolve);
        timer = setTimeout(resolve, left);
      });
      clearTimeout(timer);
    }
  }

  /** Ends stdin (like Ctrl-D) and waits for the client to leave. */
  async end(): Promise<Deno.CommandStatus> {
    await this.#writer.close().catch(() => {});
    const status = await this.status;
    await this.#pumps;
    return status;
  }

  /** Makes sure the process is gone and every stream closed, whatever happened. */
  async dispose(): Promise<void> {
    if (!this.#exited) {
      try {
        this.child.kill("SIGKILL");
      } catch { /* already gone */ }
    }
    await this.#writer.close().catch(() => {});
    await this.status;
    await this.#pumps;
  }

  async #pump(stream: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      this.#out += decoder.decode(chunk, { stream: true });
      this.#notify();
    }
  }

  #notify() {
    const wake = this.#wake;
    this.#wake = [];
    for (const f of wake) f();
  }
}

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

Deno.test("terminal client shows stored messages as offline after the welcome", async () => {
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
    await term.waitFor(/^\[[\w :]+\] \(offline\) bob → you: while you were out$/m);
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
    await term.waitFor("Wrong password, or there is no account named 'alice'.");
    await term.type("n", PASSWORD);
    await term.waitFor("Welcome back, alice!");
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

Deno.test("terminal client --help documents flags and commands", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLIENT, "--help"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0);
  const text = new TextDecoder().decode(out.stdout);
  for (const word of ["--host", "--port", "--register", "PARLEY_TCP_PORT", "/who", "@all"]) {
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
  assert.equal(parseChatLine("@bob").kind, "invalid");
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
  const known = `${await Deno.makeTempDir({ prefix: "parley-pins-" })}/known_servers`;
  const first = await startServer();
  const port = first.port;
  let second: Awaited<ReturnType<typeof startServer>> | undefined;
  const term = new ClientProcess(port, ["--known-servers", known, "--register"]);
  let again: ClientProcess | undefined;
  try {
    await term.type("pat", PASSWORD, "");
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
    assert.equal(second.router.connectionCount, 0);
  } finally {
    await term.dispose();
    await again?.dispose();
    await second?.close();
    await Deno.remove(known, { recursive: true }).catch(() => {});
  }
});
