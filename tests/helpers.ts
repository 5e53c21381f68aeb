/**
 * Test fixtures: a real server on port 0 (in this process, or as a child process for crash
 * tests), real clients over TCP, and a throwaway data directory.
 */
import assert from "node:assert/strict";
import type { IceServer } from "../lib/protocol/types.ts";
import type { BreakerOptions } from "../lib/translate/breaker.ts";
import type { Translator } from "../lib/translate/translator.ts";
import { connectTcp, type ParleyClient } from "../lib/client/mod.ts";
import { createLogger, type Logger, silentLogger } from "../lib/log.ts";
import { composeRouter, type Limits, type Router } from "../lib/router/mod.ts";
import { SqliteStore } from "../lib/store/mod.ts";
import { loadOrCreateDataKey, loadOrCreateIdentity } from "../lib/crypto/key_files.ts";
import {
  clientHandshake,
  type CryptoError,
  type IdentityVerifier,
  isCryptoError,
  pinFingerprint,
  type SecureSession,
  type ServerIdentity,
} from "../lib/crypto/mod.ts";
import { serveTcp, type TcpServer } from "../server/tcp.ts";
import type { Bus } from "../lib/bus/mod.ts";
import { openSslAead } from "../lib/crypto/_openssl.ts";

/** PBKDF2 iterations in tests: the real 600,000 would make every sign-in cost ~0.6 s of CPU. */
// Server sessions load libcrypto on first use (lib/crypto/_openssl.ts): loaded here, as the
// module loads, it is no test's leaked dynamic library.
openSslAead();

export const TEST_KDF_ITERATIONS = 1000;

export const PASSWORD = "correct horse";

export interface TestServer {
  router: Router;
  tcp: TcpServer;
  store: SqliteStore;
  port: number;
  dataDir: string;
  /** The server's identity (kept in the data directory, so a restart keeps it). */
  identity: ServerIdentity;
  /** Accepts only this server's identity: the `verifyIdentity` for its clients. */
  pin: IdentityVerifier;
  /** Connects a JSON-mode client. */
  client(): Promise<ParleyClient>;
  /** Connects and registers (or logs in when `login`) a JSON-mode client. */
  user(name: string, options?: { lang?: string; login?: boolean }): Promise<ParleyClient>;
  /** Connects a raw text-mode socket. */
  text(): Promise<TextSocket>;
  /**
   * Connects a raw JSON-mode socket that runs the handshake (pinned to this server's identity)
   * and then seals what the test writes and opens what the server sends.
   */
  secure(): Promise<SecureSocket>;
  /** Graceful shutdown; keeps the data directory unless `removeData`. */
  close(options?: { removeData?: boolean }): Promise<void>;
}

/** Starts a server in this process on a free port. */
export async function startServer(
  options: {
    dataDir?: string;
    limits?: Partial<Limits>;
    sniffMs?: number;
    maxLineBytes?: number;
    /** Outbound bytes a connection may have waiting (server/tcp.ts). */
    maxQueuedBytes?: number;
    /** Replaces the default logger (silent, or debug with PARLEY_TEST_LOG set). */
    logger?: Logger;
    /** A fixed port, e.g. to restart where clients will look again. @default 0 (any free port) */
    port?: number;
    /**
     * Serve TLS with this self-signed certificate and key (PEM); `client()` and `text()` then
     * connect over TLS trusting `cert`.
     */
    tls?: { cert: string; key: string };
    /** server/tcp.ts `allowPlaintext`. */
    allowPlaintext?: boolean;
    /** server/tcp.ts `policyPeer`: the peer address the plaintext policy sees. */
    policyPeer?: (remote: Deno.NetAddr) => string;
    /** Translates messages through this provider (cached in the server's store). */
    translator?: Translator;
    /** The translation timeout. @default 2000 */
    translateTimeoutMs?: number;
    /** The translation circuit breaker's settings. */
    breaker?: Omit<BreakerOptions, "onChange">;
    /** PBKDF2 iterations of new password hashes. @default TEST_KDF_ITERATIONS */
    kdfIterations?: number;
    /** STUN/TURN servers for calls (`--ice-servers`). */
    iceServers?: IceServer[];
    /**
     * Another node's open store, shared (with its `dataDir`): this server is one more node of
     * the same service. Its `close` leaves the store and the data to their owner.
     */
    store?: SqliteStore;
    /** The bus to the other nodes (lib/bus); the router closes it. */
    bus?: Bus;
    /** How often the node announces its users on the bus. @default 2000 */
    heartbeatMs?: number;
    /** File limits (lib/files/); files are kept in `<dataDir>/files` as main.ts keeps them. */
    files?: { maxFileBytes?: number; quotaBytes?: number };
  } = {},
): Promise<TestServer> {
  const dataDir = options.dataDir ?? await Deno.makeTempDir({ prefix: "parley-test-" });
  const logger = options.logger ??
    (Deno.env.get("PARLEY_TEST_LOG") ? createLogger("debug") : silentLogger);
  // The data key lives in the data directory, so a restart on the same directory reopens it.
  const { key: dataKey } = await loadOrCreateDataKey(dataDir);
  // Likewise the identity: clients that pinned it still trust the server after a restart.
  const { identity } = await loadOrCreateIdentity(dataDir);
  const shared = options.store;
  const store = shared ?? await SqliteStore.open({ path: `${dataDir}/parley.db`, dataKey, logger });
  // Built as main.ts builds it: the same decorated store, metrics, admission and throttle.
  const router = composeRouter({
    store,
    logger,
    limits: options.limits,
    kdfIterations: options.kdfIterations ?? TEST_KDF_ITERATIONS,
    translator: options.translator,
    translateTimeoutMs: options.translateTimeoutMs,
    breaker: options.breaker,
    iceServers: options.iceServers,
    bus: options.bus,
    heartbeatMs: options.heartbeatMs,
    files: { dataKey, dir: `${dataDir}/files`, ...options.files },
  });
  const tcp = serveTcp({
    hostname: "127.0.0.1",
    port: options.port ?? 0,
    router,
    logger,
    identity,
    sniffMs: options.sniffMs ?? 100,
    maxLineBytes: options.maxLineBytes,
    maxQueuedBytes: options.maxQueuedBytes,
    tls: options.tls,
    allowPlaintext: options.allowPlaintext,
    policyPeer: options.policyPeer,
  });
  const port = tcp.addr.port;
  const tls = options.tls && { caCerts: [options.tls.cert] };
  const clients: ParleyClient[] = [];
  const texts: TextSocket[] = [];
  const server: TestServer = {
    router,
    tcp,
    store,
    port,
    dataDir,
    identity,
    pin: pinFingerprint(identity.fingerprint),
    async client() {
      const c = await connectTcp({
        port,
        tls,
        verifyIdentity: pinFingerprint(identity.fingerprint),
      });
      clients.push(c);
      return c;
    },
    async user(name, o = {}) {
      const c = await server.client();
      if (o.login) await c.login(name, PASSWORD, o.lang);
      else await c.register(name, PASSWORD, o.lang);
      return c;
    },
    async text() {
      const t = await TextSocket.connect(port, tls);
      texts.push(t);
      return t;
    },
    async secure() {
      const t = await TextSocket.connect(port, tls);
      texts.push(t);
      return await SecureSocket.over(t, identity.fingerprint);
    },
    async close(o = {}) {
      tcp.stopAccepting();
      await router.shutdown();
      for (const c of clients) c.close();
      for (const t of texts) t.close();
      await Promise.all(clients.map((c) => c.closed));
      await tcp.drained();
      if (shared) return;
      await store.close();
      if (o.removeData ?? true) await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    },
  };
  return server;
}

/** A raw TCP socket speaking text mode, as `nc` would. */
export class TextSocket {
  #conn: Deno.Conn;
  #text = "";
  #inbox = new LineInbox();
  #done: Promise<void>;

  /** True once the connection has ended. */
  get ended(): boolean {
    return this.#inbox.ended;
  }

  private constructor(conn: Deno.Conn) {
    this.#conn = conn;
    this.#done = this.#pump();
  }

  /** Dials 127.0.0.1:`port`; over TLS, trusting `tls.caCerts`, when `tls` is given. */
  static async connect(port: number, tls?: { caCerts?: string[] }): Promise<TextSocket> {
    const target = { hostname: "127.0.0.1", port };
    return new TextSocket(
      tls ? await Deno.connectTls({ ...target, caCerts: tls.caCerts }) : await Deno.connect(target),
    );
  }

  async #pump() {
    const decoder = new TextDecoder();
    const buf = new Uint8Array(65536);
    try {
      while (true) {
        const n = await this.#conn.read(buf);
        if (n === null) break;
        this.#text += decoder.decode(buf.subarray(0, n), { stream: true });
        const parts = this.#text.split("\n");
        this.#text = parts.pop()!;
        this.#inbox.push(parts);
      }
    } catch { /* closed */ }
    this.#inbox.end();
  }

  /** Writes raw bytes or a line (a newline is added to strings). */
  async write(data: string | Uint8Array): Promise<void> {
    const bytes = typeof data === "string" ? new TextEncoder().encode(data + "\n") : data;
    let off = 0;
    while (off < bytes.length) off += await this.#conn.write(bytes.subarray(off));
  }

  /** Every line received so far. */
  get lines(): readonly string[] {
    return this.#inbox.lines;
  }

  /** Every line received since the connection opened, including those taken by `waitFor`. */
  get history(): readonly string[] {
    return this.#inbox.history;
  }

  /** Takes the next received line, waiting for it; null once the connection ended. */
  nextLine(): Promise<string | null> {
    return this.#inbox.next();
  }

  /** Waits for a received line matching `pattern`; returns it (and drops the ones before). */
  waitFor(pattern: RegExp | string, timeoutMs = 5000): Promise<string> {
    return this.#inbox.waitFor(pattern, timeoutMs);
  }

  /** Waits until the server closes the connection. */
  async waitClosed(timeoutMs = 5000): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      this.#done,
      new Promise((_, reject) =>
        timer = setTimeout(() => reject(new Error("still open")), timeoutMs)
      ),
    ]).finally(() => clearTimeout(timer));
  }

  close(): void {
    try {
      this.#conn.close();
    } catch { /* closed */ }
  }

  /** Ends what this side sends (a half-close, as `printf ... | nc` does), still reading. */
  async closeWrite(): Promise<void> {
    await (this.#conn as Deno.TcpConn).closeWrite();
  }

  /** Closes and waits for the reader to finish. */
  async closeAndWait(): Promise<void> {
    this.close();
    await this.#done;
  }
}

/**
 * JSON mode spoken by hand inside the encrypted session: the handshake first, then every string
 * or byte array the test writes is sealed as one frame, and every sealed line from the server is
 * opened into the frames it carries (`lines`, `waitFor`). `raw` is the socket underneath, for
 * tests that write sealed lines themselves (tampering, replays) or read what crossed the wire.
 */
export class SecureSocket {
  readonly raw: TextSocket;
  readonly session: SecureSession;
  /** Every sealed line received, as it crossed the wire. */
  readonly sealedReceived: string[] = [];
  /** Every sealed line sent, as it crossed the wire. */
  readonly sealedSent: string[] = [];
  /** Set when a line from the server failed to open. */
  failure: CryptoError | undefined;
  #inbox = new LineInbox();
  #done: Promise<void>;

  /** True once the connection has ended. */
  get ended(): boolean {
    return this.#inbox.ended;
  }

  private constructor(raw: TextSocket, session: SecureSession) {
    this.raw = raw;
    this.session = session;
    this.#done = this.#pump();
  }

  /** Runs the handshake over `raw`, accepting only the identity `fingerprint`. */
  static async over(raw: TextSocket, fingerprint: string): Promise<SecureSocket> {
    const hs = await clientHandshake({ verifyIdentity: pinFingerprint(fingerprint) });
    await raw.write(hs.hello);
    const reply = await raw.waitFor(/^\{/);
    return new SecureSocket(raw, await hs.finish(reply));
  }

  async #pump() {
    while (true) {
      const line = await this.raw.nextLine();
      if (line === null) break;
      this.sealedReceived.push(line);
      if (this.failure) continue;
      try {
        // Answered as every client must, and kept out of what tests read.
        const frames = (await this.session.openFrames(line)).filter((f) => !this.#heartbeat(f));
        this.#inbox.push(frames);
      } catch (err) {
        if (!isCryptoError(err)) throw err;
        this.failure = err;
        this.#inbox.push([]);
      }
    }
    this.#inbox.end();
  }

  /** True for a server heartbeat, which it answers. */
  #heartbeat(frame: string): boolean {
    if (!frame.startsWith('{"type":"heartbeat"')) return false;
    const { seq } = JSON.parse(frame);
    this.write(JSON.stringify({ type: "heartbeat", seq })).catch(() => {});
    return true;
  }

  /** Seals `data` (a frame, or several joined by newlines; bytes as they are) and sends it. */
  async write(data: string | Uint8Array): Promise<void> {
    const line = await this.session.seal(data);
    this.sealedSent.push(line);
    await this.raw.write(line);
  }

  /** Writes a line as it is, unsealed (a newline is added to strings). */
  writeRaw(data: string | Uint8Array): Promise<void> {
    return this.raw.write(data);
  }

  /** Every frame opened so far and not yet taken by `waitFor`. */
  get lines(): readonly string[] {
    return this.#inbox.lines;
  }

  /** Every line received since the handshake, including those taken by `waitFor`. */
  get history(): readonly string[] {
    return this.#inbox.history;
  }

  /** Waits for an opened frame matching `pattern`; returns it (and drops the ones before). */
  waitFor(pattern: RegExp | string, timeoutMs = 5000): Promise<string> {
    return this.#inbox.waitFor(pattern, timeoutMs);
  }

  /** Waits until the server closes the connection. */
  async waitClosed(timeoutMs = 5000): Promise<void> {
    await this.raw.waitClosed(timeoutMs);
    await this.#done;
  }

  close(): void {
    this.raw.close();
  }

  async closeAndWait(): Promise<void> {
    await this.raw.closeAndWait();
    await this.#done;
  }
}

/** Runs `fn` against a fresh server, and closes the server whatever happens. */
export async function withServer(
  fn: (server: TestServer) => Promise<void>,
  options?: Parameters<typeof startServer>[0],
): Promise<void> {
  const server = await startServer(options);
  try {
    await fn(server);
  } finally {
    await server.close();
  }
}

/** Lines received by a test socket: waits for the next, or for one that matches. */
class LineInbox {
  readonly lines: string[] = [];
  /** Every line ever received, taken or not. */
  readonly history: string[] = [];
  ended = false;
  #waiters: Array<() => void> = [];

  push(lines: string[]): void {
    this.lines.push(...lines);
    this.history.push(...lines);
    this.#wake();
  }

  end(): void {
    this.ended = true;
    this.#wake();
  }

  /** Takes the next line, waiting for it; null once the connection ended. */
  async next(): Promise<string | null> {
    while (true) {
      if (this.lines.length) return this.lines.shift()!;
      if (this.ended) return null;
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
  }

  /** Waits for a line matching `pattern`; returns it and drops the lines before it. */
  async waitFor(pattern: RegExp | string, timeoutMs: number): Promise<string> {
    const test = (l: string) => typeof pattern === "string" ? l.includes(pattern) : pattern.test(l);
    const deadline = Date.now() + timeoutMs;
    let checked = 0;
    while (true) {
      for (; checked < this.lines.length; checked++) {
        if (test(this.lines[checked])) {
          const line = this.lines[checked];
          this.lines.splice(0, checked + 1);
          return line;
        }
      }
      if (this.ended) {
        throw new Error(`connection ended before ${pattern}; got:\n${this.lines.join("\n")}`);
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(`timed out waiting for ${pattern}; got:\n${this.lines.join("\n")}`);
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.#waiters.push(resolve);
        timer = setTimeout(resolve, left);
      });
      clearTimeout(timer);
    }
  }

  #wake() {
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }
}

/** An accepted TCP connection in text mode: it reads the greeting. */
export async function textAccepted(server: { text(): Promise<TextSocket> }): Promise<TextSocket> {
  const t = await server.text();
  await t.waitFor("Name:");
  return t;
}

/** A refused TCP connection in text mode (it says nothing): the one line it read, then EOF. */
export async function textRefused(server: { text(): Promise<TextSocket> }): Promise<string> {
  const t = await server.text();
  const line = await t.nextLine();
  await t.waitClosed();
  assert.equal(t.lines.length, 0, `nothing after the refusal: ${t.lines.join("\n")}`);
  assert.ok(line !== null, "a refusal line before the close");
  return line;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Resolves once `condition()` holds, checking every 20 ms; rejects after `ms`. */
export async function until(condition: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = performance.now() + ms;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out: ${what}`);
    await sleep(20);
  }
}

/** `promise`, or a rejection after `ms`. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) =>
        timer = setTimeout(() => reject(new Error(`timed out: ${what}`)), ms)
      ),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
