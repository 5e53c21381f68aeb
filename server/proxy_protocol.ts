/**
 * The PROXY protocol (HAProxy's, versions 1 and 2: https://www.haproxy.org/download/2.6/doc/proxy-protocol.txt)
 * on connections from a trusted proxy. Behind a load balancer every connection comes from the
 * balancer's address, so per-address limits, sign-in throttling and the rule that plaintext
 * text mode is for loopback only would all judge the balancer. The balancer sends the client's
 * address first; only connections from addresses the operator trusts (`--trusted-proxies`) are
 * read this way, and from those the header is required: without it a connection could claim
 * any address.
 */

/** The 12 bytes every version 2 header starts with. */
const V2_SIGNATURE = new Uint8Array([
  0x0d,
  0x0a,
  0x0d,
  0x0a,
  0x00,
  0x0d,
  0x0a,
  0x51,
  0x55,
  0x49,
  0x54,
  0x0a,
]);
/** A version 1 header is one line of at most 107 bytes, `\r\n` included. */
const V1_MAX_BYTES = 107;
/** The shortest version 1 header, `PROXY UNKNOWN\r\n`: read at once, it cannot overrun. */
const V1_MIN_BYTES = 15;

/**
 * What the header said: the client's address, or undefined when the proxy speaks for itself
 * (v2 LOCAL, v1 UNKNOWN: its health checks), in which case the socket's own address stands.
 */
export interface ProxiedPeer {
  hostname: string;
  port: number;
}

/** A header that is missing or malformed: the connection is closed. */
export class ProxyHeaderError extends Error {
  override name = "ProxyHeaderError";
}

/**
 * Reads the PROXY header at the start of `conn`, and not one byte past it, so the connection
 * carries on as if it had just opened (Deno's HTTP server can take it over).
 * @throws {ProxyHeaderError} when the connection does not begin with a valid header.
 */
export async function readProxyHeader(conn: Deno.Conn): Promise<ProxiedPeer | undefined> {
  const start = await readExact(conn, V1_MIN_BYTES);
  if (start[0] === V2_SIGNATURE[0]) return readV2(conn, start);
  if (new TextDecoder().decode(start.subarray(0, 6)) === "PROXY ") return readV1(conn, start);
  throw new ProxyHeaderError("no PROXY protocol header from a trusted proxy");
}

async function readV1(conn: Deno.Conn, start: Uint8Array): Promise<ProxiedPeer | undefined> {
  const bytes = [...start];
  // Byte by byte: reading more could swallow the first bytes of what follows.
  while (!(bytes.at(-2) === 0x0d && bytes.at(-1) === 0x0a)) {
    if (bytes.length >= V1_MAX_BYTES) throw new ProxyHeaderError("PROXY v1 line too long");
    bytes.push((await readExact(conn, 1))[0]);
  }
  const line = new TextDecoder().decode(new Uint8Array(bytes)).slice(0, -2);
  const [, family, source, , sourcePort] = line.split(" ");
  if (family === "UNKNOWN") return undefined;
  const port = Number(sourcePort);
  const valid = (family === "TCP4" || family === "TCP6") && source !== undefined &&
    Number.isInteger(port) && port >= 0 && port <= 65535 && line.split(" ").length === 6;
  if (!valid) throw new ProxyHeaderError(`malformed PROXY v1 line: ${JSON.stringify(line)}`);
  return { hostname: source, port };
}

async function readV2(conn: Deno.Conn, start: Uint8Array): Promise<ProxiedPeer | undefined> {
  const head = new Uint8Array(16);
  head.set(start);
  head.set(await readExact(conn, 16 - start.length), start.length);
  if (!V2_SIGNATURE.every((b, i) => head[i] === b)) {
    throw new ProxyHeaderError("bad PROXY v2 signature");
  }
  const version = head[12] >> 4;
  const command = head[12] & 0x0f;
  if (version !== 2 || command > 1) throw new ProxyHeaderError("unknown PROXY v2 version/command");
  const length = (head[14] << 8) | head[15];
  const body = await readExact(conn, length);
  if (command === 0) return undefined; // LOCAL: the proxy's own connection (a health check).
  const family = head[13] >> 4;
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  if (family === 1 && length >= 12) {
    return { hostname: body.subarray(0, 4).join("."), port: view.getUint16(8) };
  }
  if (family === 2 && length >= 36) {
    const groups = Array.from({ length: 8 }, (_, i) => view.getUint16(i * 2).toString(16));
    return { hostname: groups.join(":"), port: view.getUint16(32) };
  }
  if (family === 0) return undefined; // UNSPEC: nothing to say about the source.
  throw new ProxyHeaderError(`unsupported PROXY v2 address family ${family}`);
}

/** Exactly `n` bytes, or a ProxyHeaderError when the connection ends first. */
async function readExact(conn: Deno.Conn, n: number): Promise<Uint8Array> {
  const out = new Uint8Array(n);
  let have = 0;
  while (have < n) {
    const got = await conn.read(out.subarray(have));
    if (got === null) throw new ProxyHeaderError("connection ended inside the PROXY header");
    have += got;
  }
  return out;
}
