/**
 * Correctness of coalescing: order kept, nothing split or merged wrongly, across TCP and
 * WebSocket and through the encrypted session.
 *
 * server/tcp.ts and server/ws.ts write what one turn of the event loop queued for a connection as
 * one write (TCP) or one WebSocket message; in JSON mode server/secure_transport.ts seals the
 * frames of one turn together as ONE sealed line whose plaintext is the frames joined by "\n", at
 * most 1 MiB of plaintext per line (docs/security.md §6). Text mode gets plain lines. The raw
 * clients here open each sealed line themselves, so the tests see the batch boundaries, and they
 * check what every kind of reader ends up with: each message exactly once, each sender's messages
 * in send order, the text byte for byte.
 */
import assert from "node:assert/strict";
import { WsChannel } from "../lib/client/ws_channel.ts";
import { nameKey } from "../lib/accounts/names.ts";
import { ParleyClient } from "../lib/client/client.ts";
import { SecureChannel } from "../lib/client/secure_channel.ts";
import { clientHandshake, sealedLineLength, type SecureSession } from "../lib/crypto/mod.ts";
import { silentLogger } from "../lib/log.ts";
import { terminalSafe } from "../lib/protocol/text.ts";
import type { Limits } from "../lib/router/mod.ts";
import { type BuiltAsset, fromManifest } from "../server/assets.ts";
import { type HttpServer, serveHttp } from "../server/http.ts";
import { PASSWORD, startServer, type TestServer, type TextSocket } from "./helpers.ts";
import { TEXT_PASSWORD, textUser } from "./raw.ts";

/** Enough tokens that a burst is never rate limited: these tests are about order, not limits. */
const FAST: Partial<Limits> = { rateBurst: 1000, ratePerSec: 1000 };
/** The sealer's largest batch (server/secure_transport.ts MAX_BATCH_BYTES): 1 MiB of plaintext. */
const MAX_BATCH_BYTES = 1 << 20;
/** A sealed client line carries at most this much plaintext (maxLineBytes). */
const MAX_CLIENT_LINE = 8192;
/** At most this many sends in flight per connection (the router queues 64 commands at most). */
const WINDOW = 50;

const utf8 = new TextEncoder();

// ---------------------------------------------------------------------------------------------
// The server: TCP (tests/helpers.ts) plus the HTTP listener for WebSockets on the same router.

interface Parley {
  server: TestServer;
  http: HttpServer;
  wsUrl: string;
  /** Raw WebSockets the test opened, closed (and waited for) at the end. */
  peers: SealedPeer[];
}

/** Placeholder assets: these tests open only `/ws`, so they need no browser build. */
function stubAssets() {
  const asset = (path: string, type: string): BuiltAsset => ({
    path,
    type,
    body: "",
    etag: `"${path}"`,
  });
  return fromManifest({
    sourceHash: "coalescing-test",
    script: asset("/static/app.test.js", "text/javascript; charset=utf-8"),
    style: asset("/static/styles.test.css", "text/css; charset=utf-8"),
    icon: asset("/static/icon.test.svg", "image/svg+xml"),
  });
}

async function withParley(
  fn: (p: Parley) => Promise<void>,
  options: Parameters<typeof startServer>[0] = {},
): Promise<void> {
  const server = await startServer(options);
  const http = await serveHttp({
    hostname: "127.0.0.1",
    port: 0,
    router: server.router,
    logger: silentLogger,
    identity: server.identity,
    assets: stubAssets(),
  });
  const p: Parley = { server, http, wsUrl: `ws://127.0.0.1:${http.addr.port}/ws`, peers: [] };
  try {
    await fn(p);
  } finally {
    for (const peer of p.peers) peer.close();
    // The router says goodbye to WebSockets too; then the HTTP listener can finish.
    const closing = server.close();
    await http.shutdown();
    await closing;
    await Promise.all(p.peers.map((peer) => peer.closed));
  }
}

// ---------------------------------------------------------------------------------------------
// A raw JSON-mode client that sees batches: every sealed TCP line or WebSocket message is opened
// by the test and kept with the frames its plaintext carried.

type Frame = { type: string; [field: string]: unknown };

/** One sealed line (TCP) or WebSocket message as it crossed the wire, and what it carried. */
interface Batch {
  /** Length of the sealed base64url text. */
  sealedChars: number;
  /** UTF-8 bytes of the opened plaintext. */
  plaintextBytes: number;
  /** The plaintext split at "\n", as it is: every piece must be one whole JSON frame. */
  frames: string[];
}

class SealedPeer {
  readonly transport: "tcp" | "ws";
  readonly session: SecureSession;
  /** Every sealed line / message received after the handshake, in order. */
  readonly batches: Batch[] = [];
  /** Every frame received, parsed, in order. */
  readonly events: Frame[] = [];
  /** What was wrong with the batches: a piece that is empty or not a whole JSON frame. */
  readonly problems: string[] = [];
  /** Set when the connection ended, with why. */
  endReason: string | undefined;
  readonly closed: Promise<void>;
  #send: (line: string) => Promise<void> | void;
  #close: () => void;
  #opening: Promise<void> = Promise.resolve();
  #writing: Promise<void> = Promise.resolve();
  #endClosed!: () => void;

  private constructor(
    transport: "tcp" | "ws",
    session: SecureSession,
    send: (line: string) => Promise<void> | void,
    close: () => void,
  ) {
    this.transport = transport;
    this.session = session;
    this.#send = send;
    this.#close = close;
    this.closed = new Promise((resolve) => this.#endClosed = resolve);
  }

  /** A raw TCP socket in JSON mode, handshake done (pinned to the server's identity). */
  static async tcp(server: TestServer): Promise<SealedPeer> {
    // The handshake keys first, so the client_hello is the socket's first byte well within sniffMs.
    const hs = await clientHandshake({ verifyIdentity: server.pin });
    const raw: TextSocket = await server.text();
    await raw.write(hs.hello);
    const reply = await raw.waitFor(/^\{/);
    const peer = new SealedPeer("tcp", await hs.finish(reply), (l) => raw.write(l), () => {
      raw.close();
    });
    (async () => {
      for (let line = await raw.nextLine(); line !== null; line = await raw.nextLine()) {
        peer.#receive(line);
      }
      peer.#ended("tcp connection closed");
    })();
    return peer;
  }

  /** A raw WebSocket to `/ws` running the handshake itself, as tests/http_test.ts does. */
  static async ws(p: Parley): Promise<SealedPeer> {
    const hs = await clientHandshake({ verifyIdentity: p.server.pin });
    const socket = new WebSocket(p.wsUrl);
    const ready = Promise.withResolvers<SealedPeer>();
    const early: string[] = [];
    let peer: SealedPeer | undefined;
    let finishing: Promise<unknown> | undefined;
    const closed = Promise.withResolvers<void>();
    socket.onmessage = (e: MessageEvent<unknown>) => {
      const data = typeof e.data === "string" ? e.data : "<binary message>";
      if (peer) return peer.#receive(data);
      if (finishing) return void early.push(data);
      finishing = hs.finish(data).then((session) => {
        peer = new SealedPeer("ws", session, (l) => socket.send(l), () => {
          if (socket.readyState <= WebSocket.OPEN) socket.close(1000, "done");
        });
        closed.promise.then(() => peer!.#ended(`websocket closed (${closeInfo})`));
        for (const m of early.splice(0)) peer.#receive(m);
        p.peers.push(peer);
        ready.resolve(peer);
      }, ready.reject);
    };
    let closeInfo = "";
    socket.onclose = (e) => {
      closeInfo = `${e.code} ${e.reason}`;
      closed.resolve();
      ready.reject(new Error(`websocket closed during the handshake (${closeInfo})`));
    };
    socket.onerror = () => {};
    socket.onopen = () => socket.send(hs.hello);
    return await ready.promise;
  }

  #receive(sealed: string): void {
    // Counters are taken in call order, so open now and collect in order below.
    const opened = this.session.openText(sealed);
    opened.catch(() => {});
    this.#opening = this.#opening.then(async () => {
      let plaintext: string;
      try {
        plaintext = await opened;
      } catch (err) {
        this.problems.push(`${this.transport}: a sealed line did not open: ${err}`);
        return;
      }
      const frames = plaintext.split("\n");
      this.batches.push({
        sealedChars: sealed.length,
        plaintextBytes: utf8.encode(plaintext).length,
        frames,
      });
      for (const f of frames) {
        if (f === "") {
          this.problems.push(`${this.transport}: an empty frame in a batch of ${frames.length}`);
          continue;
        }
        let e: unknown;
        try {
          e = JSON.parse(f);
        } catch { /* reported below */ }
        if (typeof e === "object" && e !== null && typeof (e as Frame).type === "string") {
          this.events.push(e as Frame);
        } else {
          this.problems.push(`${this.transport}: not one whole JSON frame: ${f.slice(0, 120)}`);
        }
      }
    });
  }

  #ended(reason: string): void {
    this.#opening.then(() => {
      this.endReason ??= reason;
      this.#endClosed();
    });
  }

  /** Seals one frame, or several as one batch, and sends it; writes keep their call order. */
  write(frames: string | readonly string[]): Promise<void> {
    const sealing = typeof frames === "string"
      ? this.session.seal(frames)
      : this.session.sealFrames(frames);
    this.#writing = this.#writing.then(async () => await this.#send(await sealing));
    return this.#writing;
  }

  /** Sends one command frame. */
  command(frame: Record<string, unknown>): Promise<void> {
    return this.write(JSON.stringify(frame));
  }

  /** Waits for the first event (from index `from`) that matches; returns its index. */
  async waitEvent(match: (e: Frame) => boolean, what: string, from = 0): Promise<number> {
    let found = -1;
    await until(() => {
      found = this.events.findIndex((e, i) => i >= from && match(e));
      if (found === -1 && this.endReason !== undefined) {
        throw new Error(`${this.transport} peer ended (${this.endReason}) before ${what}`);
      }
      return found !== -1;
    }, () => `${this.transport} peer: ${what}; last events: ${tail(this.events)}`);
    return found;
  }

  /** Registers `name` and waits for the welcome. */
  async register(name: string): Promise<void> {
    await this.command({ type: "register", name, password: PASSWORD, cid: "reg" });
    await this.waitEvent((e) => e.type === "welcome" && e.cid === "reg", `welcome of ${name}`);
  }

  /**
   * A ping round trip: once its pong is here, everything the server queued for this connection
   * before it is here too. Returns the pong's index in `events`.
   */
  async sync(cid: string): Promise<number> {
    await this.command({ type: "ping", cid });
    return await this.waitEvent((e) => e.type === "pong" && e.cid === cid, `pong ${cid}`);
  }

  /** Message events among `events`, from index `from` to `to` (exclusive). */
  messages(from = 0, to = this.events.length): Msg[] {
    return this.events.slice(from, to).filter((e) => e.type === "message") as unknown as Msg[];
  }

  close(): void {
    this.#close();
  }
}

type Msg = { type: "message"; id: string; from: string; to: string; text: string; offline?: true };

function tail(events: readonly Frame[]): string {
  return events.slice(-3).map((e) => JSON.stringify(e).slice(0, 200)).join(" | ");
}

/** Polls `cond` until it holds; fails after `timeoutMs` with `what()`. No duration is asserted. */
async function until(cond: () => boolean, what: () => string, timeoutMs = 8000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what()}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

// ---------------------------------------------------------------------------------------------
// Message texts: every burst mixes them, so a wrong split or merge shows in the content.

/**
 * Pads `head` with `unit` (repeated, cut at a code point) to exactly `bytes` UTF-8 bytes, ending
 * in `.` (text mode trims trailing spaces).
 */
function sized(head: string, unit: string, bytes: number): string {
  const target = bytes - 1;
  const unitBytes = utf8.encode(unit).length;
  let size = utf8.encode(head).length;
  const times = Math.max(0, Math.floor((target - size) / unitBytes));
  let out = head + unit.repeat(times);
  size += times * unitBytes;
  for (const ch of unit) {
    const n = utf8.encode(ch).length;
    if (size + n > target) break;
    out += ch;
    size += n;
  }
  return out + "x".repeat(target - size) + ".";
}

/**
 * The `i`th text of `sender`: plain, unicode, emoji, exactly 4096 bytes (the limit), line breaks,
 * `}{` and JSON look-alikes, backslashes and quotes, long with line breaks. Text mode cannot send
 * a line break (nor leading or trailing space), so its variants have none.
 */
function payload(sender: string, i: number, textMode = false): string {
  const tag = `${sender}#${String(i).padStart(3, "0")}`;
  switch (i % 8) {
    case 0:
      return `${tag} plain ascii, nothing special`;
    case 1:
      return `${tag} héllo wörld — ñandú, 日本語のテキスト, Ελληνικά, русский, עברית, العربية`;
    case 2:
      return `${tag} 👩‍👩‍👧‍👦 🎉🔥 🇯🇵🇫🇷 👍🏽 𝄞 e\u0301 ZWJ‍joined 😀`;
    case 3:
      // Exactly maxMessageBytes, multi-byte characters up to the end.
      return sized(`${tag} long: `, "lorem ✓ ipsum 😀 dolor ß ", 4096);
    case 4:
      return textMode
        ? `${tag} no line breaks in text mode, but a tab\there`
        : `${tag} line one\nline two\n\nline four after a blank\r\nCRLF line\tand a tab\n  indented`;
    case 5:
      return textMode
        ? `${tag} }{"type":"message","text":"fake"}{ }{ {"a":1}{"b":2} ]} end`
        : `${tag} }{"type":"message","text":"fake"}{\n}{"type":"bye"}\n{"b":2}\u2028sep\u2029end`;
    case 6:
      return textMode
        ? `${tag} back\\slashes \\n \\" \\u0000 \\\\ and "quotes" 'single' \`back\``
        : `${tag} back\\slashes \\n \\" \\u0000 \\\\ "quotes" \u001b[2J bell\u0007 end\\`;
    default:
      // Long, ending in a 4-byte character; JSON mode with a line break every ~500 bytes.
      return sized(
        `${tag} long 2: `,
        textMode ? "abcdefghij 0123456789 — " : "abcdefghij 0123456789 —\n" + "y".repeat(470),
        3996,
      ) + "🎉";
  }
}

/** A broadcast as a text-mode reader sees it, without the `[time] ` prefix. */
function rendered(from: string, to: string, text: string): string {
  return `${from} -> ${to}: ${terminalSafe(text)}`;
}

/**
 * The message blocks in text-mode output: a line starting with `[` and the continuation lines
 * (four spaces) after it, joined by "\n", with the `[time] ` prefix removed.
 */
function textBlocks(lines: readonly string[]): { from: string; block: string }[] {
  const out: { from: string; block: string }[] = [];
  let current: string[] | undefined;
  const flush = () => {
    if (!current) return;
    const block = current.join("\n").replace(/^\[[^\]]*\] /, "");
    out.push({ from: block.slice(0, block.indexOf(" -> ")), block });
    current = undefined;
  };
  for (const line of lines) {
    if (line.startsWith("[")) {
      flush();
      current = [line];
    } else if (current && line.startsWith("    ")) current.push(line);
    else flush();
  }
  flush();
  return out;
}

/** Compares two sequences and names the first difference (a diff of 400 texts helps nobody). */
function assertSequence(actual: readonly string[], expected: readonly string[], label: string) {
  const n = Math.min(actual.length, expected.length);
  for (let i = 0; i < n; i++) {
    if (actual[i] !== expected[i]) {
      const at = expected.indexOf(actual[i]);
      assert.fail(
        `${label}: item ${i} differs (${
          at === -1 ? "not an expected text" : `expected at ${at}`
        }):\n  got:      ${JSON.stringify(actual[i].slice(0, 160))}\n` +
          `  expected: ${JSON.stringify(expected[i].slice(0, 160))}`,
      );
    }
  }
  assert.equal(
    actual.length,
    expected.length,
    `${label}: got ${actual.length} items, expected ${expected.length}`,
  );
}

/** Every sender's texts arrived exactly once, in send order, and nothing else did. */
function assertAllFrom(
  label: string,
  got: readonly { from: string; text: string }[],
  expected: ReadonlyMap<string, readonly string[]>,
) {
  const bySender = new Map<string, string[]>();
  for (const m of got) {
    if (!expected.has(m.from)) assert.fail(`${label}: a message from '${m.from}'`);
    let list = bySender.get(m.from);
    if (!list) bySender.set(m.from, list = []);
    list.push(m.text);
  }
  for (const [sender, texts] of expected) {
    assertSequence(bySender.get(sender) ?? [], texts, `${label}, from ${sender}`);
  }
}

/** What a text-mode reader should show, and did show, per sender (`to` as the reader sees it). */
function assertTextReader(
  label: string,
  lines: readonly string[],
  expected: ReadonlyMap<string, readonly string[]>,
  to: string,
) {
  const shown = textBlocks(lines).map((b) => ({ from: b.from, text: b.block }));
  const want = new Map(
    [...expected].map(([from, texts]) => [from, texts.map((t) => rendered(from, to, t))]),
  );
  assertAllFrom(label, shown, want);
}

/** The batches from index `from` on: how many lines, how many frames, how many bytes. */
function count(batches: readonly Batch[], from = 0) {
  const slice = batches.slice(from);
  return {
    lines: slice.length,
    frames: slice.reduce((n, b) => n + b.frames.length, 0),
    bytes: slice.reduce((n, b) => n + b.plaintextBytes, 0),
    largest: Math.max(0, ...slice.map((b) => b.frames.length)),
  };
}

// ---------------------------------------------------------------------------------------------
// Senders: each sends a burst as fast as its transport allows, and resolves when every `sent`
// (or text-mode outcome) is back.

interface Sender {
  name: string;
  textMode: boolean;
  burst(texts: readonly string[], to?: string): Promise<void>;
}

/** A ParleyClient (TCP or WebSocket): sends without waiting, up to WINDOW in flight. */
function clientSender(name: string, client: ParleyClient): Sender {
  return {
    name,
    textMode: false,
    async burst(texts, to = "all") {
      for (let w = 0; w < texts.length; w += WINDOW) {
        const outcomes: { status: string }[] = await Promise.all(
          texts.slice(w, w + WINDOW).map((t) => client.send(to, t)),
        );
        for (const o of outcomes) {
          assert.equal(o.status, to === "all" ? "delivered" : "stored", `${name}: ${o.status}`);
        }
      }
    },
  };
}

/** A raw JSON socket that packs as many sends as fit (8192 bytes) into each sealed line. */
function rawSender(name: string, peer: SealedPeer): Sender {
  let next = 0;
  return {
    name,
    textMode: false,
    async burst(texts, to = "all") {
      for (let w = 0; w < texts.length; w += WINDOW) {
        const from = peer.events.length;
        const cids: string[] = [];
        let line: string[] = [];
        let size = 0;
        const writes: Promise<void>[] = [];
        for (const text of texts.slice(w, w + WINDOW)) {
          const cid = `${name}-${next++}`;
          cids.push(cid);
          const frame = JSON.stringify({ type: "send", to, text, cid });
          const bytes = utf8.encode(frame).length + 1;
          if (line.length && size + bytes > MAX_CLIENT_LINE) {
            writes.push(peer.write(line));
            line = [];
            size = 0;
          }
          line.push(frame);
          size += bytes;
        }
        if (line.length) writes.push(peer.write(line));
        await Promise.all(writes);
        const last = cids[cids.length - 1];
        await peer.waitEvent((e) => e.cid === last, `${name}: reply to ${last}`, from);
        const replies = peer.events.slice(from).filter((e) => cids.includes(e.cid as string));
        assert.deepEqual(replies.map((e) => e.type), cids.map(() => "sent"), `${name}: replies`);
        assert.deepEqual(replies.map((e) => e.cid), cids, `${name}: replies in order`);
      }
    },
  };
}

/** A text-mode socket (nc): writes each window of `@all` lines in one write. */
function textSender(name: string, t: TextSocket): Sender {
  return {
    name,
    textMode: true,
    async burst(texts) {
      for (let w = 0; w < texts.length; w += WINDOW) {
        const chunk = texts.slice(w, w + WINDOW);
        const before = t.lines.filter((l) => l.startsWith("(sent to all")).length;
        await t.write(chunk.map((text) => `@all ${text}`).join("\n"));
        await until(() => {
          const error = t.lines.find((l) => l.startsWith("! "));
          if (error) throw new Error(`${name}: ${error}`);
          return t.lines.filter((l) => l.startsWith("(sent to all")).length >=
            before + chunk.length;
        }, () => `${name}: outcomes of its sends`);
      }
    },
  };
}

/** A ParleyClient over a WebSocket through the encrypted session, as the browser runs it. */
async function wsClient(p: Parley): Promise<ParleyClient> {
  const raw = await WsChannel.open(p.wsUrl);
  return new ParleyClient(await SecureChannel.establish(raw, { verifyIdentity: p.server.pin }));
}

/** A text-mode round trip: `/who` answers after everything queued before it. */
async function textSync(t: TextSocket): Promise<readonly string[]> {
  const before = t.lines.filter((l) => l.startsWith("* Online (")).length;
  await t.write("/who");
  await until(
    () => t.lines.filter((l) => l.startsWith("* Online (")).length > before,
    () => `text /who reply; last lines: ${t.lines.slice(-3).join(" | ")}`,
  );
  return [...t.lines];
}

/** Messages a ParleyClient received (it drops repeated ids: see the raw peers for "once"). */
function clientMessages(c: ParleyClient): Msg[] {
  return c.buffered.filter((e) => e.type === "message") as unknown as Msg[];
}

/** Runs every sender's burst at the same time. */
async function burstAll(senders: readonly Sender[], texts: ReadonlyMap<string, readonly string[]>) {
  await Promise.all(senders.map((s) => s.burst(texts.get(s.name)!)));
}

function textsFor(
  senders: readonly Sender[],
  n: number,
  make: (sender: string, i: number, textMode: boolean) => string = payload,
) {
  return new Map(
    senders.map((s) => [s.name, Array.from({ length: n }, (_, i) => make(s.name, i, s.textMode))]),
  );
}

/** `expected` without `name`'s own messages (a sender gets `sent`, not a copy). */
function othersOf(expected: ReadonlyMap<string, readonly string[]>, name: string) {
  return new Map([...expected].filter(([sender]) => sender !== name));
}

// ---------------------------------------------------------------------------------------------

Deno.test("coalescing: concurrent bursts reach every reader once, in order, byte for byte", async () => {
  await withParley(async (p) => {
    const { server } = p;
    // Readers first, so every broadcast finds them online.
    const rtcp = await SealedPeer.tcp(server);
    await rtcp.register("rtcp");
    const rws = await SealedPeer.ws(p);
    await rws.register("rws");
    const rtext = await textUser(server, "rtext");
    const rclient = await server.user("rclient");

    // Senders: two JSON TCP clients (one packs several sends per sealed line), a WebSocket
    // client through the browser's code path, and a person with nc.
    const tcp1 = await server.user("tcp1");
    const tcp2peer = await SealedPeer.tcp(server);
    await tcp2peer.register("tcp2");
    const ws1 = await wsClient(p);
    await ws1.register("ws1", PASSWORD);
    const nc1 = await textUser(server, "nc1");
    const senders = [
      clientSender("tcp1", tcp1),
      rawSender("tcp2", tcp2peer),
      clientSender("ws1", ws1),
      textSender("nc1", nc1),
    ];
    const expected = textsFor(senders, 25);
    const starts = { rtcp: rtcp.events.length, rws: rws.events.length };

    await burstAll(senders, expected);

    // Every fan-out happened before its `sent`; a round trip now flushes each reader.
    const ends = { rtcp: await rtcp.sync("end"), rws: await rws.sync("end") };
    await rclient.ping();
    await tcp1.ping();
    await ws1.ping();
    const rtextLines = await textSync(rtext);
    const nc1Lines = await textSync(nc1);

    assertAllFrom("tcp reader", rtcp.messages(starts.rtcp, ends.rtcp), expected);
    assertAllFrom("ws reader", rws.messages(starts.rws, ends.rws), expected);
    assertAllFrom("ParleyClient reader", clientMessages(rclient), expected);
    assertAllFrom("tcp1 (a sender)", clientMessages(tcp1), othersOf(expected, "tcp1"));
    assertAllFrom("ws1 (a sender)", clientMessages(ws1), othersOf(expected, "ws1"));
    assertAllFrom(
      "tcp2 (a sender)",
      tcp2peer.messages().filter((m) => m.to === "all"),
      othersOf(expected, "tcp2"),
    );
    assertTextReader("text reader", rtextLines, expected, "all");
    assertTextReader("nc1 (a sender)", nc1Lines, othersOf(expected, "nc1"), "all");
    for (const m of [...rtcp.messages(), ...rws.messages()]) assert.equal(m.to, "all");

    // The texts with line breaks really became continuation lines in text mode.
    assert.ok(rtextLines.some((l) => l === "    line two"), "a continuation line");
    assert.ok(rtextLines.some((l) => l === "    " + "CRLF line\tand a tab"), "CRLF: one break");
    for (const peer of [rtcp, rws, tcp2peer]) {
      assert.deepEqual(peer.problems, [], `${peer.transport}: batches split into whole frames`);
      assert.equal(peer.endReason, undefined, `${peer.transport}: still connected`);
    }
  }, { limits: FAST });
});

/**
 * Several senders burst while a raw reader counts what crossed the wire: fewer sealed lines (or
 * WebSocket messages) than frames, each opening into whole JSON frames, and the messages complete
 * and in order.
 */
async function batchingOver(transport: "tcp" | "ws") {
  await withParley(async (p) => {
    const { server } = p;
    const reader = transport === "tcp" ? await SealedPeer.tcp(server) : await SealedPeer.ws(p);
    await reader.register("reader");
    const packer = await SealedPeer.tcp(server);
    await packer.register("packer");
    const ws1 = await wsClient(p);
    await ws1.register("ws1", PASSWORD);
    const senders = [
      clientSender("tcp1", await server.user("tcp1")),
      rawSender("packer", packer),
      clientSender("ws1", ws1),
      textSender("nc1", await textUser(server, "nc1")),
    ];
    // Presence of the senders has arrived: count from here.
    const start = await reader.sync("start") + 1;
    const mark = reader.batches.length;
    const expected = textsFor(senders, 25);

    await burstAll(senders, expected);
    const end = await reader.sync("end");

    const wire = count(reader.batches, mark);
    assert.equal(wire.frames, reader.events.length - start, "the batches hold the burst's frames");
    assert.ok(wire.frames >= 100, `${wire.frames} frames`);
    assert.ok(
      wire.lines < wire.frames,
      `${transport}: batching happened: ${wire.lines} sealed lines for ${wire.frames} frames`,
    );
    assert.ok(wire.largest >= 2, `${transport}: some line carried ${wire.largest} frames`);
    assert.deepEqual(reader.problems, [], `${transport}: each batch splits into whole frames`);
    for (const b of reader.batches) {
      for (const f of b.frames) assert.ok(!f.includes("\n") && f !== "", "whole, single frames");
    }
    assertAllFrom(`${transport} reader`, reader.messages(start, end), expected);
    assert.equal(reader.endReason, undefined);
  }, { limits: FAST });
}

Deno.test("coalescing: a burst over TCP arrives as fewer sealed lines than frames", async () => {
  await batchingOver("tcp");
});

Deno.test("coalescing: a burst over WebSocket arrives as fewer messages than frames", async () => {
  await batchingOver("ws");
});

Deno.test("coalescing: more than 1 MiB queued at once is split into sealed lines, in order, none lost", async () => {
  await withParley(async (p) => {
    const { server } = p;
    const big = (sender: string, i: number, textMode: boolean) =>
      sized(
        `${sender}#${String(i).padStart(3, "0")} `,
        textMode ? "big payload ✓ 😀 " : i % 2 ? "big payload ✓ 😀 " : "line\n" + "z".repeat(300),
        3900 + (i % 7) * 28,
      );

    // Live: 400 broadcasts of ~4 KB from four senders at once (1.6 MB to each reader).
    const rtcp = await SealedPeer.tcp(server);
    await rtcp.register("rtcp");
    const rws = await SealedPeer.ws(p);
    await rws.register("rws");
    const rtext = await textUser(server, "rtext");
    const ws1 = await wsClient(p);
    await ws1.register("ws1", PASSWORD);
    const senders = [
      clientSender("tcp1", await server.user("tcp1")),
      clientSender("tcp2", await server.user("tcp2")),
      clientSender("ws1", ws1),
      textSender("nc1", await textUser(server, "nc1")),
    ];
    const starts = { rtcp: await rtcp.sync("start") + 1, rws: await rws.sync("start") + 1 };
    const marks = { rtcp: rtcp.batches.length, rws: rws.batches.length };
    const expected = textsFor(senders, 100, big);

    await burstAll(senders, expected);
    const ends = { rtcp: await rtcp.sync("end"), rws: await rws.sync("end") };
    const rtextLines = await textSync(rtext);

    for (
      const [reader, start, end, mark] of [
        [rtcp, starts.rtcp, ends.rtcp, marks.rtcp],
        [rws, starts.rws, ends.rws, marks.rws],
      ] as const
    ) {
      const label = `${reader.transport} reader`;
      assert.equal(reader.endReason, undefined, `${label}: a fast reader stays connected`);
      assertAllFrom(label, reader.messages(start, end), expected);
      const wire = count(reader.batches, mark);
      assert.ok(wire.bytes > MAX_BATCH_BYTES, `${label}: ${wire.bytes} bytes in all`);
      assert.ok(wire.lines < wire.frames, `${label}: ${wire.lines} lines, ${wire.frames} frames`);
      assert.deepEqual(reader.problems, [], `${label}: whole frames`);
      for (const b of reader.batches) {
        assert.ok(
          b.plaintextBytes <= MAX_BATCH_BYTES,
          `${label}: a ${b.plaintextBytes}-byte batch`,
        );
        // What the reference client accepts (lib/client/tcp_channel.ts).
        assert.ok(b.sealedChars <= sealedLineLength(MAX_BATCH_BYTES), `${label}: line too long`);
      }
    }
    assertTextReader("text reader", rtextLines, expected, "all");

    // One turn: a sign-in replays 400 stored messages of ~4 KB in one go (pendingBatch 500).
    // Queued together, they are more than one batch may hold: several lines, each ≤ 1 MiB.
    const late = await server.user("late");
    await late.quit();
    const sam = await server.user("sam");
    const stored = Array.from({ length: 400 }, (_, i) => big("sam", i, false));
    await clientSender("sam", sam).burst(stored, "late");

    const raw = await SealedPeer.tcp(server);
    await raw.command({ type: "login", name: "late", password: PASSWORD, cid: "in" });
    const welcome = await raw.waitEvent((e) => e.type === "welcome", "welcome");
    assert.equal(raw.events[welcome].pending, 400);
    const firstLine = raw.batches.findIndex((b) => b.frames.some((f) => f.includes('"welcome"')));
    const end = await raw.sync("after-replay");
    const replay = raw.messages(welcome, end);
    assert.ok(replay.every((m) => m.offline === true && m.from === "sam" && m.to === "late"));
    assertSequence(replay.map((m) => m.text), stored, "replayed over TCP");
    const wire = count(raw.batches, firstLine);
    assert.ok(wire.bytes > MAX_BATCH_BYTES, `${wire.bytes} bytes replayed`);
    assert.ok(wire.lines >= 2, `the replay was split: ${wire.lines} sealed lines`);
    assert.ok(wire.lines < 400 / 4, `...and batched: ${wire.lines} lines for 400 messages`);
    for (const b of raw.batches) {
      assert.ok(b.plaintextBytes <= MAX_BATCH_BYTES, `a ${b.plaintextBytes}-byte batch`);
    }
    assert.deepEqual(raw.problems, []);
    assert.equal(raw.endReason, undefined, "still connected after the replay");
    raw.close();
    await raw.closed;

    // Not acknowledged, so the reference client gets them all again, through its line limit.
    const again = await server.user("late", { login: true });
    assert.equal(again.welcome?.pending, 400);
    await until(() => clientMessages(again).length >= 400, () => "400 messages to the client");
    await again.ping();
    assertSequence(clientMessages(again).map((m) => m.text), stored, "replayed to ParleyClient");
    assert.equal(again.closeReason, undefined);
  }, { limits: FAST });
});

Deno.test("coalescing: ~600 stored messages replay complete and in order, in batches", async () => {
  await withParley(async (p) => {
    const { server } = p;
    const olly = await server.user("olly");
    await olly.quit();
    const tess = await textUser(server, "tess");
    await tess.write("/quit");
    await tess.waitClosed();
    const sam = await server.user("sam");
    const toOlly = Array.from({ length: 600 }, (_, i) => payload("sam", i));
    const toTess = Array.from({ length: 600 }, (_, i) => payload("sam", i + 1000));
    const send = clientSender("sam", sam);
    await send.burst(toOlly, "olly");
    await send.burst(toTess, "tess");
    const ollyKey = nameKey("olly");
    assert.equal(await server.store.pendingCount(ollyKey), 600);

    // Over a WebSocket: the first 500, in order, in fewer messages than frames; no ack.
    const ws = await SealedPeer.ws(p);
    await ws.command({ type: "login", name: "olly", password: PASSWORD, cid: "in" });
    const wsWelcome = await ws.waitEvent((e) => e.type === "welcome", "welcome over ws");
    assert.equal(ws.events[wsWelcome].pending, 600);
    const wsFirst = ws.batches.findIndex((b) => b.frames.some((f) => f.includes('"welcome"')));
    const wsEnd = await ws.sync("after-replay");
    const wsReplay = ws.messages(wsWelcome, wsEnd);
    assertSequence(wsReplay.map((m) => m.text), toOlly.slice(0, 500), "first batch over ws");
    assert.ok(wsReplay.every((m) => m.offline === true));
    const wsWire = count(ws.batches, wsFirst);
    assert.ok(
      wsWire.lines < wsWire.frames,
      `ws: ${wsWire.lines} messages, ${wsWire.frames} frames`,
    );
    assert.deepEqual(ws.problems, []);
    ws.close();
    await ws.closed;

    // Over TCP: the same 500 again; the ack brings the last 100; a second ack empties the store.
    const tcp = await SealedPeer.tcp(server);
    await tcp.command({ type: "login", name: "olly", password: PASSWORD, cid: "in" });
    const welcome = await tcp.waitEvent((e) => e.type === "welcome", "welcome over tcp");
    assert.equal(tcp.events[welcome].pending, 600);
    const first = tcp.batches.findIndex((b) => b.frames.some((f) => f.includes('"welcome"')));
    const mid = await tcp.sync("after-first");
    const batch1 = tcp.messages(welcome, mid);
    assert.deepEqual(batch1.map((m) => m.id), wsReplay.map((m) => m.id), "the same 500 again");
    const wire = count(tcp.batches, first);
    assert.ok(wire.lines < wire.frames, `tcp: ${wire.lines} lines, ${wire.frames} frames`);

    // 250 ids a frame: a frame (and a client's sealed line) holds at most 8192 bytes.
    await tcp.command({ type: "ack", ids: batch1.slice(0, 250).map((m) => m.id), cid: "ack1a" });
    await tcp.command({ type: "ack", ids: batch1.slice(250).map((m) => m.id), cid: "ack1b" });
    const acked1 = await tcp.waitEvent((e) => e.type === "acked" && e.cid === "ack1b", "ack1", mid);
    assert.deepEqual(
      tcp.events.slice(mid, acked1 + 1).filter((e) => e.type === "acked").map((e) => e.count),
      [250, 250],
    );
    const end = await tcp.sync("after-second");
    const batch2 = tcp.messages(acked1, end);
    assert.equal(batch2.length, 100, "the next batch follows the ack");
    const all = [...batch1, ...batch2];
    assertSequence(all.map((m) => m.text), toOlly, "all 600 over tcp");
    assert.ok(all.every((m) => m.offline === true && m.from === "sam" && m.to === "olly"));
    const ids = all.map((m) => m.id);
    assert.deepEqual([...ids].sort(), ids, "ids in acceptance order");
    assert.equal(new Set(ids).size, 600, "no id twice");
    await tcp.command({ type: "ack", ids: batch2.map((m) => m.id), cid: "ack2" });
    await tcp.waitEvent((e) => e.type === "acked" && e.cid === "ack2", "ack2", end);
    assert.equal(await server.store.pendingCount(ollyKey), 0);
    assert.deepEqual(tcp.problems, []);
    assert.equal(tcp.endReason, undefined);

    // Text mode: no ack; each batch goes once written, and the next follows by itself.
    const t = await server.text();
    await t.waitFor("Name:");
    await t.write(`/login tess ${TEXT_PASSWORD}`);
    await t.waitFor("Welcome back, tess!");
    await t.waitFor("* 600 messages arrived while you were away:");
    await until(() => textBlocks(t.lines).length >= 600, () => `600 messages in text mode`);
    const lines = await textSync(t);
    assertTextReader("text replay", lines, new Map([["sam", toTess]]), "you");
    assert.equal(await server.store.pendingCount(nameKey("tess")), 0);
  }, { limits: FAST });
});

Deno.test("coalescing: the reference client acknowledges a replayed batch of 500 and gets the rest", async (t) => {
  // The 500 stored messages of a full batch are queued in one turn, so they arrive in one sealed
  // line; ParleyClient sees them in one go and acknowledges them together (lib/client/client.ts).
  // The acknowledgement must still fit in a line: 8192 bytes, so ~430 ids of 16 characters.
  await withParley(async (p) => {
    const { server } = p;
    const olly = await server.user("olly");
    await olly.quit();
    const sam = await server.user("sam");
    // One full batch (pendingBatch 500) and a few more behind it.
    const texts = Array.from({ length: 520 }, (_, i) => `sam#${i} ${i % 2 ? "ünï 😀" : "a\nb"}`);

    for (const transport of ["tcp", "ws"] as const) {
      await t.step(`over ${transport}`, async () => {
        // A step that failed left its messages stored; one that passed acknowledged them all.
        if (await server.store.pendingCount(nameKey("olly")) === 0) {
          await clientSender("sam", sam).burst(texts, "olly");
        }
        const client = transport === "tcp" ? await server.client() : await wsClient(p);
        try {
          await client.login("olly", PASSWORD);
          assert.equal(client.welcome?.pending, 520);
          await until(
            () => clientMessages(client).length >= 520 || client.closeReason !== undefined,
            () => `${transport}: ${clientMessages(client).length} of 520 messages`,
          );
          const ended = client.buffered.filter((e) => e.type === "error" || e.type === "bye");
          assert.equal(
            client.closeReason,
            undefined,
            `${transport}: ParleyClient was disconnected after ${
              clientMessages(client).length
            } of 520 stored messages: ${JSON.stringify(ended)}`,
          );
          // The client acknowledged the last messages before this ping went out.
          await client.ping();
          assertSequence(clientMessages(client).map((m) => m.text), texts, `${transport} replay`);
          assert.equal(await server.store.pendingCount(nameKey("olly")), 0, "all acknowledged");
        } finally {
          await client.quit();
        }
      });
    }
  }, { limits: FAST });
});
