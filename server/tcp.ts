import { concatBytes } from "../lib/bytes.ts";
import type { Logger } from "../lib/log.ts";
import { decodeUtf8, DEFAULT_MAX_LINE_BYTES, LineSplitter } from "../lib/protocol/lines.ts";
import type { Dialect } from "../lib/protocol/types.ts";
import type { Connection, Router, Session } from "../lib/router/mod.ts";

export interface TcpServerOptions {
  hostname: string;
  /** 0 picks a free port. */
  port: number;
  router: Router;
  logger: Logger;
  /** @default 8192 */
  maxLineBytes?: number;
  /**
   * How long to wait for a client's first byte before greeting it in text mode. JSON clients
   * speak first (`{`), so they never see the text greeting.
   * @default 250
   */
  sniffMs?: number;
  /** Outbound bytes a connection may have waiting; a reader further behind is dropped. @default 4 MiB */
  maxQueuedBytes?: number;
}

export interface TcpServer {
  readonly addr: Deno.NetAddr;
  /** Stops accepting; existing connections stay until the router closes them. */
  stopAccepting(): void;
  /** Resolves when every connection has closed. */
  drained(): Promise<void>;
}

const utf8 = new TextEncoder();

/** Listens on TCP and hands each connection to the router as text or JSON by its first byte. */
export function serveTcp(options: TcpServerOptions): TcpServer {
  const listener = Deno.listen({
    hostname: options.hostname,
    port: options.port,
    transport: "tcp",
  });
  const open = new Set<Promise<void>>();
  let accepting = true;

  (async () => {
    try {
      for await (const conn of listener) {
        const done = handleConnection(conn, options).catch((err) => {
          options.logger.error("tcp connection failed", { error: err });
        });
        open.add(done);
        done.finally(() => open.delete(done));
      }
    } catch (err) {
      if (accepting) options.logger.error("tcp accept failed", { error: err });
    }
  })();

  return {
    addr: listener.addr as Deno.NetAddr,
    stopAccepting() {
      if (!accepting) return;
      accepting = false;
      listener.close();
    },
    async drained() {
      while (open.size) await Promise.allSettled([...open]);
    },
  };
}

async function handleConnection(conn: Deno.Conn, options: TcpServerOptions): Promise<void> {
  const remote = conn.remoteAddr as Deno.NetAddr;
  const connectedAt = performance.now();
  const buf = new Uint8Array(64 * 1024);
  const read = conn.read(buf);
  // A person with nc waits to be told how to sign in; a program speaks first. So greet in text
  // when the client is quiet, and let its first byte decide the dialect either way: `{` is JSON
  // (which skips a greeting it did not ask for), anything else text.
  let first = await within(read, options.sniffMs ?? 250);
  let greeted = false;
  if (first === "timeout") {
    greeted = await writeAll(conn, utf8.encode(options.router.textGreeting() + "\n"));
    // The sign-in deadline runs from the socket's opening, the quiet wait included.
    const left = options.router.limits.loginTimeoutMs - (performance.now() - connectedAt);
    first = greeted ? await within(read, Math.max(0, left)) : null;
    if (first === "timeout") {
      await writeAll(conn, utf8.encode("! Not signed in in time; goodbye.\n"));
      closeQuietly(conn);
      await read.catch(() => {});
      return;
    }
  }
  if (first === null || first === 0) {
    closeQuietly(conn);
    await read.catch(() => {});
    return;
  }
  const dialect: Dialect = buf[0] === "{".charCodeAt(0) ? "json" : "text";
  const adapter = new TcpConnection(
    conn,
    dialect,
    remote.hostname,
    options.maxQueuedBytes ?? 4 << 20,
  );
  const session = options.router.attach(adapter, {
    greeted: greeted && dialect === "text",
    connectedAt,
  });
  const splitter = new LineSplitter(options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES);
  try {
    let n: number | null = first;
    while (n !== null && !adapter.closing) {
      feed(session, splitter, buf.slice(0, n), options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES);
      n = await conn.read(buf);
    }
  } catch (err) {
    if (
      !adapter.closing &&
      !(err instanceof Deno.errors.BadResource || err instanceof Deno.errors.ConnectionReset)
    ) {
      options.logger.debug("tcp read failed", { error: err });
    }
  } finally {
    session.detach();
    await adapter.dispose();
  }
}

function feed(session: Session, splitter: LineSplitter, chunk: Uint8Array, max: number) {
  for (const item of splitter.push(chunk)) {
    if (item.overlong) {
      session.reject("line_too_long", `Line longer than ${max} bytes; it was discarded.`);
      continue;
    }
    const line = decodeUtf8(item.line);
    if (line === undefined) {
      session.reject("bad_utf8", "That line is not valid UTF-8; it was discarded.");
    } else session.receive(line);
  }
}

/** Resolves with the read's result, `"timeout"` after `ms`, or null when the read fails. */
async function within(
  read: Promise<number | null>,
  ms: number,
): Promise<number | null | "timeout"> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      read,
      new Promise<"timeout">((resolve) => timer = setTimeout(() => resolve("timeout"), ms)),
    ]);
  } catch {
    return null;
  } finally {
    clearTimeout(timer);
  }
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<boolean> {
  try {
    let off = 0;
    while (off < bytes.length) off += await conn.write(bytes.subarray(off));
    return true;
  } catch {
    return false;
  }
}

function closeQuietly(conn: Deno.Conn) {
  try {
    conn.close();
  } catch { /* already closed */ }
}

/**
 * The write side of one TCP connection. Frames queued in the same turn of the event loop go out
 * in one write; a reader that lets more than `maxQueued` bytes pile up is disconnected.
 */
class TcpConnection implements Connection {
  readonly transport = "tcp";
  readonly dialect: Dialect;
  readonly remoteAddr: string;
  closing = false;
  #conn: Deno.Conn;
  #queue: Uint8Array[] = [];
  #queued = 0;
  #maxQueued: number;
  #writing: Promise<void> | undefined;
  #closed = false;

  constructor(conn: Deno.Conn, dialect: Dialect, remoteAddr: string, maxQueued: number) {
    this.#conn = conn;
    this.dialect = dialect;
    this.remoteAddr = remoteAddr;
    this.#maxQueued = maxQueued;
  }

  send(frame: string): void {
    if (this.#closed) return;
    const bytes = utf8.encode(frame + "\n");
    this.#queue.push(bytes);
    this.#queued += bytes.length;
    if (this.#queued > this.#maxQueued) {
      // Too slow: drop what waits and hang up; the store keeps what must not be lost.
      this.#queue = [];
      this.#queued = 0;
      this.closing = true;
      this.#hangUp();
      return;
    }
    this.#writing ??= this.#drain();
  }

  flushed(): Promise<void> {
    return this.#writing ?? Promise.resolve();
  }

  close(_reason: string): void {
    if (this.closing) return;
    this.closing = true;
    const flushing = this.flushed();
    // A peer that does not read cannot hold the socket open for long.
    const deadline = setTimeout(() => this.#hangUp(), 2000);
    flushing.finally(() => {
      clearTimeout(deadline);
      this.#hangUp();
    });
  }

  /** After the read side ended: hang up now, unless a close is already flushing its goodbye. */
  async dispose(): Promise<void> {
    if (!this.closing) {
      this.closing = true;
      this.#hangUp();
    }
    await this.#writing?.catch(() => {});
  }

  async #drain(): Promise<void> {
    // Let the current turn finish queueing, then write everything in one go.
    await Promise.resolve();
    try {
      while (this.#queue.length && !this.#closed) {
        const chunk = this.#queue.length === 1
          ? this.#queue[0]
          : concatBytes(this.#queue, this.#queued);
        this.#queue = [];
        this.#queued = 0;
        let off = 0;
        while (off < chunk.length) off += await this.#conn.write(chunk.subarray(off));
      }
    } catch {
      this.#hangUp();
    } finally {
      this.#writing = undefined;
    }
  }

  #hangUp() {
    if (this.#closed) return;
    this.#closed = true;
    closeQuietly(this.#conn);
  }
}
