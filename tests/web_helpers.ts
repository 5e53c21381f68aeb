/**
 * A real Parley for the browser tests: the TCP listener of tests/helpers.ts plus the HTTP
 * listener, on one router, with the browser assets built when missing or stale.
 */
import { build } from "../build.ts";
import { type Logger, silentLogger } from "../lib/log.ts";
import type { Limits } from "../lib/router/mod.ts";
import type { Translator } from "../lib/translate/translator.ts";
import { type HttpServer, serveHttp } from "../server/http.ts";
import { startServer, type TestServer } from "./helpers.ts";

export interface WebServer extends TestServer {
  http: HttpServer;
  /** Base URL of the pages, e.g. `http://127.0.0.1:41234`. */
  url: string;
  httpPort: number;
}

let built: Promise<boolean> | undefined;

/** Starts TCP + HTTP on one router; `httpPort` reuses a port (restart tests). */
export async function startWebServer(
  options: {
    dataDir?: string;
    /** One more node of a service: its bus, and another node's store (tests/helpers.ts). */
    node?: Pick<NonNullable<Parameters<typeof startServer>[0]>, "bus" | "store" | "heartbeatMs">;
    httpPort?: number;
    limits?: Partial<Limits>;
    tls?: { cert: string; key: string };
    translator?: Translator;
    /** The HTTP listener's deadlines (server/http.ts). */
    headerTimeoutMs?: number;
    idleTimeoutMs?: number;
    /** Replaces the silent logger of both listeners. */
    logger?: Logger;
    /** File limits (lib/files/). */
    files?: { maxFileBytes?: number; quotaBytes?: number };
  } = {},
): Promise<WebServer> {
  built ??= build({ ifStale: true, quiet: true });
  await built;
  const server = await startServer({
    ...options.node,
    dataDir: options.dataDir,
    limits: options.limits,
    tls: options.tls,
    translator: options.translator,
    logger: options.logger,
    files: options.files,
  });
  const http = await serveHttp({
    hostname: "127.0.0.1",
    port: options.httpPort ?? 0,
    router: server.router,
    logger: options.logger ?? silentLogger,
    identity: server.identity,
    tls: options.tls,
    headerTimeoutMs: options.headerTimeoutMs,
    idleTimeoutMs: options.idleTimeoutMs,
  });
  // Links and one-time URLs for files point here, as main.ts sets them.
  if (server.router.files) server.router.files.baseUrl = http.url;
  const close = server.close;
  return Object.assign(server, {
    http,
    url: `${options.tls ? "https" : "http"}://127.0.0.1:${http.addr.port}`,
    httpPort: http.addr.port,
    async close(o: { removeData?: boolean } = {}) {
      // The router says goodbye to WebSockets too; then the HTTP listener can finish.
      const closing = close(o);
      await http.shutdown();
      await closing;
    },
  });
}

/** Logs in (or registers) over the HTTP API; returns the response and the session cookie pair. */
export async function apiLogin(
  base: string,
  body: Record<string, unknown>,
  headers: Record<string, string> = {},
): Promise<{ res: Response; body: Record<string, unknown>; cookie: string | undefined }> {
  const res = await fetch(`${base}/api/login`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
  const setCookie = res.headers.get("set-cookie") ?? undefined;
  return { res, body: await res.json(), cookie: setCookie?.split(";")[0] };
}

/**
 * Sends a raw WebSocket upgrade request and returns the status line's code, for checks a
 * WebSocket client hides (403 on a foreign Origin).
 */
export async function upgradeStatus(
  port: number,
  headers: Record<string, string>,
  path = "/ws",
): Promise<number> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const lines = [
      `GET ${path} HTTP/1.1`,
      `Host: 127.0.0.1:${port}`,
      "Upgrade: websocket",
      "Connection: Upgrade",
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
      "Sec-WebSocket-Version: 13",
      ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
      "",
      "",
    ];
    await conn.write(new TextEncoder().encode(lines.join("\r\n")));
    const buf = new Uint8Array(1024);
    const n = await conn.read(buf);
    const head = new TextDecoder().decode(buf.subarray(0, n ?? 0));
    return Number(head.split(" ")[1]);
  } finally {
    conn.close();
  }
}
