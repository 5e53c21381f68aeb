/**
 * The HTTP port is bounded like the TCP port (server/http_listener.ts): a header deadline, an
 * idle timeout, the connection limits shared with TCP; WebSocket upgrades are checked per
 * RFC 6455 §4.2.1 before any upgrade; /healthz counts every open connection and fails while a
 * listener is gone; refused TCP connections always get their line, however many come at once.
 */
import assert from "node:assert/strict";
import { createLogger } from "../lib/log.ts";
import { acceptLoop } from "../server/accept_loop.ts";
import { startWebServer, type WebServer } from "./web_helpers.ts";
import { until, within } from "./helpers.ts";

const utf8 = new TextEncoder();

/** A logger that keeps every line, to check that a client's mistake logs no ERROR. */
function recordingLogger() {
  const lines: string[] = [];
  return { lines, logger: createLogger("debug", (line) => lines.push(line)) };
}

async function withWeb(
  options: Parameters<typeof startWebServer>[0],
  fn: (server: WebServer) => Promise<void>,
): Promise<void> {
  const server = await startWebServer(options);
  try {
    await fn(server);
  } finally {
    await server.close({ removeData: true });
  }
}

/** Connects to the HTTP port, writes `bytes` (if any), and resolves with what it read until EOF. */
async function rawHttp(
  server: WebServer,
  bytes?: string,
): Promise<{ conn: Deno.Conn; closed: Promise<string> }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.httpPort });
  if (bytes) await conn.write(utf8.encode(bytes));
  const closed = (async () => {
    let text = "";
    const buf = new Uint8Array(4096);
    const decoder = new TextDecoder();
    while (true) {
      const n = await conn.read(buf).catch(() => null);
      if (n === null) break;
      text += decoder.decode(buf.subarray(0, n), { stream: true });
    }
    return text;
  })();
  return { conn, closed };
}

/** `parley_limit_hits_total{limit}` as /metrics renders it. */
function limitHits(server: WebServer, limit: string): number {
  const m = server.router.metrics.render().match(
    new RegExp(`^parley_limit_hits_total\\{limit="${limit}"\\} (\\d+)$`, "m"),
  );
  return m ? Number(m[1]) : 0;
}

Deno.test("http: silent, request-line-only and slowloris connections are closed at the header deadline", () =>
  withWeb({ headerTimeoutMs: 300 }, async (server) => {
    const silent = await rawHttp(server);
    const lineOnly = await rawHttp(server, "GET / HTTP/1.1\r\n");
    const slow = await rawHttp(server, "GET / HTTP/1.1\r\nHost: x\r\n");
    // Slowloris: another header line now and then, never the blank line that ends them.
    const drip = setInterval(() => slow.conn.write(utf8.encode("X-a: b\r\n")).catch(() => {}), 50);
    try {
      for (const c of [silent, lineOnly, slow]) {
        assert.equal(await within(c.closed, 5000, "the close at the header deadline"), "");
      }
    } finally {
      clearInterval(drip);
      for (const c of [silent, lineOnly, slow]) c.conn.close();
    }
    assert.equal(limitHits(server, "http_header_timeout"), 3);
    await until(() => server.router.admission.open === 0, 2000, "their places are given back");
    // The port still serves.
    const res = await fetch(`${server.url}/healthz`);
    assert.equal(res.status, 200);
    await res.body?.cancel();
  }));

Deno.test("http: a kept-alive connection with no next request is closed at the idle timeout", () =>
  withWeb({ idleTimeoutMs: 300 }, async (server) => {
    const c = await rawHttp(server, `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
    const text = await within(c.closed, 5000, "the close at the idle timeout");
    c.conn.close();
    assert.match(text, /^HTTP\/1\.1 200 /);
    assert.equal(limitHits(server, "http_idle_timeout"), 1);
  }));

Deno.test("http: connections over the per-address limit are refused with 503, shared with TCP", () =>
  withWeb({ limits: { maxConnectionsPerIp: 2 } }, async (server) => {
    const text = await server.text();
    await text.waitFor("Name:");
    const held = await rawHttp(server);
    // A third connection from this address, on the HTTP port.
    const c = await rawHttp(server, `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
    const answer = await within(c.closed, 5000, "the refusal");
    c.conn.close();
    assert.match(answer, /^HTTP\/1\.1 503 /);
    assert.match(answer, /"code":"too_many_connections"/);
    assert.equal(limitHits(server, "too_many_connections"), 1);
    held.conn.close();
    text.close();
  }));

/** Sends a raw upgrade request to /ws with `headers`; returns the answer's head. */
async function upgrade(server: WebServer, headers: string[], path = "/ws"): Promise<string> {
  const request = [
    `GET ${path} HTTP/1.1`,
    `Host: 127.0.0.1:${server.httpPort}`,
    ...headers,
    "",
    "",
  ];
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.httpPort });
  try {
    await conn.write(utf8.encode(request.join("\r\n")));
    let text = "";
    const buf = new Uint8Array(4096);
    // The head is enough: a 101 leaves the socket open, and so may an error (keep-alive).
    while (!text.includes("\r\n\r\n")) {
      const n = await within(conn.read(buf), 5000, "the answer to an upgrade");
      if (n === null) break;
      text += new TextDecoder().decode(buf.subarray(0, n));
    }
    return text.split("\r\n\r\n")[0];
  } finally {
    conn.close();
  }
}

const GOOD_KEY = "dGhlIHNhbXBsZSBub25jZQ==";

Deno.test("ws: malformed upgrades get 400 or 426, never 101 or 500, and log no ERROR", async () => {
  const { lines, logger } = recordingLogger();
  await withWeb({ logger }, async (server) => {
    const cases: [string, string[], RegExp][] = [
      [
        "no key",
        ["Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Version: 13"],
        /^HTTP\/1\.1 400 /,
      ],
      ["Connection without Upgrade", [
        "Upgrade: websocket",
        "Connection: keep-alive",
        `Sec-WebSocket-Key: ${GOOD_KEY}`,
        "Sec-WebSocket-Version: 13",
      ], /^HTTP\/1\.1 400 /],
      ["a key that is not 16 bytes", [
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: c2hvcnQ=",
        "Sec-WebSocket-Version: 13",
      ], /^HTTP\/1\.1 400 /],
      ["version 8", [
        "Upgrade: websocket",
        "Connection: Upgrade",
        `Sec-WebSocket-Key: ${GOOD_KEY}`,
        "Sec-WebSocket-Version: 8",
      ], /^HTTP\/1\.1 426 [^]*\r\nsec-websocket-version: 13/i],
      ["no version", [
        "Upgrade: websocket",
        "Connection: Upgrade",
        `Sec-WebSocket-Key: ${GOOD_KEY}`,
      ], /^HTTP\/1\.1 426 [^]*\r\nsec-websocket-version: 13/i],
    ];
    for (const [what, headers, expected] of cases) {
      assert.match(await upgrade(server, headers), expected, what);
    }
    // A well-formed one still upgrades, with `Connection` as a list.
    const good = await upgrade(server, [
      "Upgrade: websocket",
      "Connection: keep-alive, Upgrade",
      `Sec-WebSocket-Key: ${GOOD_KEY}`,
      "Sec-WebSocket-Version: 13",
    ]);
    assert.match(good, /^HTTP\/1\.1 101 /);
  });
  assert.deepEqual(lines.filter((l) => / ERROR /.test(l)), []);
});

Deno.test("ws: a malformed device id in the URL gets 400 before any upgrade", async () => {
  await withWeb({}, async (server) => {
    const headers = [
      "Upgrade: websocket",
      "Connection: Upgrade",
      `Sec-WebSocket-Key: ${GOOD_KEY}`,
      "Sec-WebSocket-Version: 13",
    ];
    for (const bad of ["has%20space", "x".repeat(65), ""]) {
      assert.match(await upgrade(server, headers, `/ws?device=${bad}`), /^HTTP\/1\.1 400 /, bad);
    }
    assert.match(await upgrade(server, headers, "/ws?device=web-0123abcd"), /^HTTP\/1\.1 101 /);
  });
});

Deno.test("healthz: counts greeted sockets that have not signed in", () =>
  withWeb({}, async (server) => {
    const a = await server.text();
    const b = await server.text();
    await a.waitFor("Name:");
    await b.waitFor("Name:");
    const health = await (await fetch(`${server.url}/healthz`)).json();
    // Two text sockets and the HTTP connection asking.
    assert.equal(health.connections, 3);
    assert.equal(health.signedIn, 0);
    a.close();
    b.close();
  }));

Deno.test("healthz: 503 naming the listener that stopped accepting for good", () =>
  withWeb({}, async (server) => {
    const before = await (await fetch(`${server.url}/healthz`)).json();
    assert.deepEqual(before.listeners, { tcp: { ok: true }, http: { ok: true } });
    // A listener closed under its accept loop, not at shutdown.
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const loop = acceptLoop(listener, {
      name: "extra",
      router: server.router,
      logger: server.router.logger,
      stopping: () => false,
      onConnection: (conn) => conn.close(),
    });
    listener.close();
    await loop;
    const res = await fetch(`${server.url}/healthz`);
    const health = await res.json();
    assert.equal(res.status, 503);
    assert.equal(health.status, "unavailable");
    assert.equal(health.listeners.extra.ok, false);
    assert.match(health.listeners.extra.error, /BadResource|Interrupted/);
    assert.equal(health.listeners.tcp.ok, true);
  }));

Deno.test("tcp: every refused connection gets its line, even 150 at once", () =>
  withWeb({ limits: { maxConnections: 1 } }, async (server) => {
    const held = await server.text();
    await held.waitFor("Name:");
    const conns = await Promise.all(
      Array.from({ length: 150 }, () => Deno.connect({ hostname: "127.0.0.1", port: server.port })),
    );
    const answers = await Promise.all(conns.map(async (conn) => {
      let text = "";
      const buf = new Uint8Array(1024);
      while (true) {
        const n = await conn.read(buf).catch(() => null);
        if (n === null) break;
        text += new TextDecoder().decode(buf.subarray(0, n));
      }
      conn.close();
      return text;
    }));
    const silent = answers.filter((a) => !a.startsWith("! The server has as many connections"));
    assert.equal(silent.length, 0, `${silent.length} of 150 closed without their line`);
    held.close();
  }));
