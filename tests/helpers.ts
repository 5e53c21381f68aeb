/**
 * Test fixtures: a real server on port 0 (in this process, or as a child process for crash
 * tests), real clients over TCP, and a throwaway data directory.
 */
import { connectTcp, type ParleyClient } from "../lib/client/mod.ts";
import { createLogger, type Logger, silentLogger } from "../lib/log.ts";
import { type Limits, Router } from "../lib/router/mod.ts";
import { SqliteStore } from "../lib/store/mod.ts";
import { serveTcp, type TcpServer } from "../server/tcp.ts";

/** PBKDF2 iterations in tests: the real 600,000 would make every sign-in cost ~0.6 s of CPU. */
export const TEST_KDF_ITERATIONS = 1000;

export const PASSWORD = "correct horse";

export interface TestServer {
  router: Router;
  tcp: TcpServer;
  store: SqliteStore;
  port: number;
  dataDir: string;
  /** Connects a JSON-mode client. */
  client(): Promise<ParleyClient>;
  /** Connects and registers (or logs in when `login`) a JSON-mode client. */
  user(name: string, options?: { lang?: string; login?: boolean }): Promise<ParleyClient>;
  /** Connects a raw text-mode socket. */
  text(): Promise<TextSocket>;
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
  } = {},
): Promise<TestServer> {
  const dataDir = options.dataDir ?? await Deno.makeTempDir({ prefix: "parley-test-" });
  const store = new SqliteStore({ path: `${dataDir}/parley.db` });
  const logger = options.logger ??
    (Deno.env.get("PARLEY_TEST_LOG") ? createLogger("debug") : silentLogger);
  const router = new Router({
    store,
    logger,
    limits: options.limits,
    kdfIterations: TEST_KDF_ITERATIONS,
  });
  const tcp = serveTcp({
    hostname: "127.0.0.1",
    port: options.port ?? 0,
    router,
    logger,
    sniffMs: options.sniffMs ?? 100,
    maxLineBytes: options.maxLineBytes,
    maxQueuedBytes: options.maxQueuedBytes,
  });
  const port = tcp.addr.port;
  const clients: ParleyClient[] = [];
  const texts: TextSocket[] = [];
  const server: TestServer = {
    router,
    tcp,
    store,
    port,
    dataDir,
    async client() {
      const c = await connectTcp({ port });
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
      const t = await TextSocket.connect(port);
      texts.push(t);
      return t;
    },
    async close(o = {}) {
      tcp.stopAccepting();
      await router.shutdown();
      for (const c of clients) c.close();
      for (const t of texts) t.close();
      await Promise.all(clients.map((c) => c.closed));
      await tcp.drained();
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
  #lines: string[] = [];
  #waiters: Array<() => void> = [];
  #done: Promise<void>;
  ended = false;

  private constructor(conn: Deno.Conn) {
    this.#conn = conn;
    this.#done = this.#pump();
  }

  static async connect(port: number): Promise<TextSocket> {
    return new TextSocket(await Deno.connect({ hostname: "127.0.0.1", port }));
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
        this.#lines.push(...parts);
        this.#wake();
      }
    } catch { /* closed */ }
    this.ended = true;
    this.#wake();
  }

  #wake() {
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }

  /** Writes raw bytes or a line (a newline is added to strings). */
  async write(data: string | Uint8Array): Promise<void> {
    const bytes = typeof data === "string" ? new TextEncoder().encode(data + "\n") : data;
    let off = 0;
    while (off < bytes.length) off += await this.#conn.write(bytes.subarray(off));
  }

  /** Every line received so far. */
  get lines(): readonly string[] {
    return this.#lines;
  }

  /** Waits for a received line matching `pattern` (searching from `from`); returns it. */
  async waitFor(pattern: RegExp | string, timeoutMs = 5000): Promise<string> {
    const test = (l: string) => typeof pattern === "string" ? l.includes(pattern) : pattern.test(l);
    const deadline = Date.now() + timeoutMs;
    let checked = 0;
    while (true) {
      for (; checked < this.#lines.length; checked++) {
        if (test(this.#lines[checked])) {
          const line = this.#lines[checked];
          this.#lines.splice(0, checked + 1);
          return line;
        }
      }
      if (this.ended) {
        throw new Error(`connection ended before ${pattern}; got:\n${this.#lines.join("\n")}`);
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(`timed out waiting for ${pattern}; got:\n${this.#lines.join("\n")}`);
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.#waiters.push(resolve);
        timer = setTimeout(resolve, left);
      });
      clearTimeout(timer);
    }
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

  /** Closes and waits for the reader to finish. */
  async closeAndWait(): Promise<void> {
    this.close();
    await this.#done;
  }
}
