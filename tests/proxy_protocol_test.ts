/**
 * Behind a load balancer (docs/operations.md) the server must judge the client, not the
 * balancer: the PROXY protocol header from a trusted proxy gives the client's address to the
 * per-address limits, the sign-in throttle and the plaintext policy.
 */
import {
  deepEqual as assertEquals,
  match as assertMatch,
  ok as assert,
  rejects as assertRejects,
  throws as assertThrows,
} from "node:assert/strict";
import { inRanges, parseAddressRange } from "../lib/net/address_ranges.ts";
import { readProxyHeader } from "../server/proxy_protocol.ts";
import { loadConfig } from "../lib/config.ts";
import { spawnServer } from "./process_helpers.ts";
import { build } from "../build.ts";

const utf8 = new TextEncoder();

Deno.test("parseAddressRange() takes addresses and CIDR ranges, v4 and v6", () => {
  const ranges = ["10.0.0.0/8", "127.0.0.1", "fd00::/8", "::1"].map(parseAddressRange);
  assert(inRanges("10.20.30.40", ranges));
  assert(inRanges("127.0.0.1", ranges));
  assert(!inRanges("127.0.0.2", ranges));
  assert(inRanges("fd12:3456::1", ranges));
  assert(inRanges("::1", ranges));
  assert(inRanges("::ffff:10.1.2.3", ranges), "an IPv4-mapped peer matches its IPv4 range");
  assert(!inRanges("11.0.0.1", ranges));
  assert(!inRanges("not an address", ranges));
  assert(inRanges("192.168.1.1", [parseAddressRange("0.0.0.0/0")]));
});

Deno.test("parseAddressRange() refuses what is not a range, saying why", () => {
  assertThrows(() => parseAddressRange("10.0.0.256"), /not an IPv4 or IPv6 address/);
  assertThrows(() => parseAddressRange("10.0.0.0/33"), /prefix length from 0 to 32/);
  assertThrows(() => parseAddressRange("10.0.0.0/"), /prefix length/);
  assertThrows(() => parseAddressRange("1::2::3"), /not an IPv4 or IPv6 address/);
  assertThrows(() => parseAddressRange("a/1/2"), /more than one/);
});

Deno.test("--trusted-proxies is parsed, and refused with TLS", () => {
  const config = loadConfig(["--trusted-proxies", "127.0.0.2, 10.0.0.0/8"], () => undefined);
  if (config === "help") throw new Error("no help was asked for");
  assertEquals(config.trustedProxies.map((r) => r.text), ["127.0.0.2", "10.0.0.0/8"]);
  assertThrows(
    () => loadConfig(["--trusted-proxies", "10.0.0.0/99"], () => undefined),
    /--trusted-proxies must be addresses or CIDR ranges/,
  );
  assertThrows(
    () =>
      loadConfig(
        ["--trusted-proxies", "127.0.0.2", "--tls-cert", "c.pem", "--tls-key", "k.pem"],
        () => undefined,
      ),
    /end TLS at the load balancer/,
  );
});

/** A connected pair of loopback sockets: what the client writes, the server side reads. */
async function pair(): Promise<{ client: Deno.Conn; server: Deno.Conn; close(): void }> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = listener.accept();
  const client = await Deno.connect({ port: (listener.addr as Deno.NetAddr).port });
  const server = await accepted;
  listener.close();
  return {
    client,
    server,
    close() {
      client.close();
      server.close();
    },
  };
}

function v2Header(command: number, family: number, body: Uint8Array): Uint8Array {
  const head = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];
  const bytes = new Uint8Array(16 + body.length);
  bytes.set(head);
  bytes[12] = 0x20 | command;
  bytes[13] = (family << 4) | 1;
  bytes[14] = body.length >> 8;
  bytes[15] = body.length & 0xff;
  bytes.set(body, 16);
  return bytes;
}

/** Sends `header` then `after`; returns what readProxyHeader saw and the bytes left after it. */
async function readAfter(header: Uint8Array, after = "GET / HTTP/1.1\r\n") {
  const p = await pair();
  try {
    await p.client.write(new Uint8Array([...header, ...utf8.encode(after)]));
    const peer = await readProxyHeader(p.server);
    const rest = new Uint8Array(after.length);
    let have = 0;
    while (have < rest.length) have += (await p.server.read(rest.subarray(have)))!;
    return { peer, rest: new TextDecoder().decode(rest) };
  } finally {
    p.close();
  }
}

Deno.test("readProxyHeader() reads v1 and v2 headers and not one byte more", async () => {
  const v1 = await readAfter(utf8.encode("PROXY TCP4 203.0.113.7 10.0.0.1 51000 7000\r\n"));
  assertEquals(v1.peer, { hostname: "203.0.113.7", port: 51000 });
  assertEquals(v1.rest, "GET / HTTP/1.1\r\n");

  const unknown = await readAfter(utf8.encode("PROXY UNKNOWN\r\n"), "{");
  assertEquals(unknown.peer, undefined);
  assertEquals(unknown.rest, "{");

  const v4 = new Uint8Array([198, 51, 100, 9, 10, 0, 0, 1, 0xc3, 0x50, 0x1b, 0x58]);
  const two = await readAfter(v2Header(1, 1, v4));
  assertEquals(two.peer, { hostname: "198.51.100.9", port: 50000 });
  assertEquals(two.rest, "GET / HTTP/1.1\r\n");

  const v6 = new Uint8Array(36);
  v6.set([0x20, 0x01, 0x0d, 0xb8], 0);
  v6[15] = 5;
  v6.set([0x13, 0x88], 32);
  assertEquals((await readAfter(v2Header(1, 2, v6))).peer, {
    hostname: "2001:db8:0:0:0:0:0:5",
    port: 5000,
  });

  // LOCAL: the balancer's own health check.
  assertEquals((await readAfter(v2Header(0, 0, new Uint8Array(0)))).peer, undefined);
});

Deno.test("readProxyHeader() refuses a connection that does not start with a header", async () => {
  for (
    const bad of [
      "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
      "PROXY TCP4 1.2.3.4\r\n..........",
      "PROXY " + "x".repeat(120),
    ]
  ) {
    const p = await pair();
    try {
      await p.client.write(utf8.encode(bad));
      await assertRejects(() => readProxyHeader(p.server), /PROXY/);
    } finally {
      p.close();
    }
  }
});

/** Opens a connection to `port` that says, by PROXY v1, it is `client`; returns its first line. */
async function connectAs(port: number, client: string | undefined, timeoutMs = 3000) {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  if (client !== undefined) {
    await conn.write(utf8.encode(`PROXY TCP4 ${client} 127.0.0.1 40000 ${port}\r\n`));
  }
  const buf = new Uint8Array(4096);
  let text = "";
  const deadline = Date.now() + timeoutMs;
  while (!text.includes("\n") && Date.now() < deadline) {
    const n = await Promise.race([
      conn.read(buf),
      new Promise<"wait">((r) => setTimeout(() => r("wait"), deadline - Date.now())),
    ]).catch(() => null);
    if (n === null || n === "wait") break;
    text += new TextDecoder().decode(buf.subarray(0, n));
  }
  return { conn, text };
}

Deno.test("a trusted proxy's client is judged by its own address", async () => {
  await build({ ifStale: true, quiet: true });
  const dir = await Deno.makeTempDir();
  // The test connects from 127.0.0.1: trusting it makes every connection here a proxied one.
  const server = await spawnServer(dir, [
    "--trusted-proxies",
    "127.0.0.1",
    "--max-connections-per-ip",
    "2",
  ]);
  const open: Deno.Conn[] = [];
  try {
    // A client on loopback behind the proxy may use text mode: it is greeted.
    const local = await connectAs(server.tcpPort, "127.0.0.1");
    open.push(local.conn);
    assertMatch(local.text, /Welcome to Parley/);

    // A remote client behind the same proxy may not: plaintext is for loopback only.
    const remote = await connectAs(server.tcpPort, "203.0.113.7");
    open.push(remote.conn);
    assertMatch(remote.text, /plaintext|TLS/i);

    // The per-address limit counts the client, not the proxy: two from one client, the third refused,
    const first = await connectAs(server.tcpPort, "198.51.100.1");
    const second = await connectAs(server.tcpPort, "198.51.100.1");
    const third = await connectAs(server.tcpPort, "198.51.100.1");
    open.push(first.conn, second.conn, third.conn);
    assertMatch(third.text, /too many connections/i);
    // ... while another client behind the same proxy still gets in.
    const other = await connectAs(server.tcpPort, "198.51.100.2");
    open.push(other.conn);
    assert(!/too many/i.test(other.text), other.text);

    // Without a header, a connection from a trusted proxy is closed unheard.
    const bare = await connectAs(server.tcpPort, undefined, 7000);
    open.push(bare.conn);
    assertEquals(bare.text, "");

    // The HTTP port reads the header too.
    const health = await proxiedHttp(server.httpPort!, "GET /healthz HTTP/1.1\r\n");
    assertMatch(health, /^HTTP\/1.1 200/);
    // TLS that ended at the balancer: the page's origin is https, and only the trusted proxy's
    // X-Forwarded-Proto says so; without it the same upgrade is cross-origin.
    const upgrade = "GET /ws HTTP/1.1\r\nOrigin: https://chat.example\r\nUpgrade: websocket\r\n" +
      "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
      "Sec-WebSocket-Version: 13\r\n";
    assertMatch(
      await proxiedHttp(server.httpPort!, upgrade + "X-Forwarded-Proto: https\r\n"),
      /^HTTP\/1.1 101/,
    );
    assertMatch(await proxiedHttp(server.httpPort!, upgrade), /^HTTP\/1.1 403/);
  } finally {
    for (const c of open) {
      try {
        c.close();
      } catch { /* closed by the server */ }
    }
    await server.stop("SIGTERM");
    await Deno.remove(dir, { recursive: true });
  }
});

/** One request through a "proxy" (a PROXY v1 header first); returns the answer's head. */
async function proxiedHttp(port: number, head: string): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(utf8.encode(
      `PROXY TCP4 203.0.113.9 127.0.0.1 40000 443\r\n${head}Host: chat.example\r\n\r\n`,
    ));
    const buf = new Uint8Array(4096);
    const n = await conn.read(buf);
    return new TextDecoder().decode(buf.subarray(0, n ?? 0));
  } finally {
    conn.close();
  }
}
