/**
 * Text mode is plaintext (docs/security.md §11): the TCP listener accepts it only from a loopback
 * peer, on a TLS listener, or when the operator allowed plaintext. Pure functions, no I/O.
 */

/** Why a text-mode connection was let in, or that it was refused. */
export type PlaintextDecision =
  | { allowed: true; reason: "loopback" | "tls" | "operator" }
  | { allowed: false; reason: "not_loopback" };

export interface PlaintextContext {
  /** The peer's IP address as the socket reports it (`conn.remoteAddr.hostname`). */
  peer: string;
  /** The listener speaks TLS. */
  tls: boolean;
  /** The operator passed `--allow-plaintext`. */
  allowPlaintext: boolean;
}

/** Decides whether a text-mode (plaintext) connection may proceed. JSON mode never asks. */
export function textModeDecision(ctx: PlaintextContext): PlaintextDecision {
  if (ctx.tls) return { allowed: true, reason: "tls" };
  if (isLoopback(ctx.peer)) return { allowed: true, reason: "loopback" };
  if (ctx.allowPlaintext) return { allowed: true, reason: "operator" };
  return { allowed: false, reason: "not_loopback" };
}

/**
 * True for a loopback address: `127.0.0.0/8`, `::1`, or an IPv4-mapped `::ffff:127.x.y.z`
 * (in any spelling). Anything it cannot parse, a host name included, is not loopback.
 */
export function isLoopback(address: string): boolean {
  let a = address.trim();
  if (a.startsWith("[") && a.endsWith("]")) a = a.slice(1, -1);
  const v4 = parseIpv4(a);
  if (v4) return v4[0] === 127;
  const v6 = parseIpv6(a);
  if (!v6) return false;
  const zeros = (from: number, to: number) => v6.slice(from, to).every((b) => b === 0);
  // ::1
  if (zeros(0, 15) && v6[15] === 1) return true;
  // ::ffff:127.0.0.0/104 (IPv4-mapped)
  return zeros(0, 10) && v6[10] === 0xff && v6[11] === 0xff && v6[12] === 127;
}

/** Four dotted decimal octets, strictly (no leading zeros, no shorthand); else undefined. */
function parseIpv4(s: string): number[] | undefined {
  const parts = s.split(".");
  if (parts.length !== 4) return undefined;
  const out: number[] = [];
  for (const p of parts) {
    if (!/^(0|[1-9]\d{0,2})$/.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    out.push(n);
  }
  return out;
}

/** An RFC 4291 text address (with `::` and an optional dotted IPv4 tail) as 16 bytes. */
function parseIpv6(input: string): Uint8Array | undefined {
  let s = input;
  const zone = s.indexOf("%");
  if (zone !== -1) s = s.slice(0, zone);
  if (!s.includes(":") || !/^[0-9a-fA-F:.]+$/.test(s)) return undefined;
  const halves = s.split("::");
  if (halves.length > 2) return undefined;
  const groups = (part: string, last: boolean): number[] | undefined => {
    if (part === "") return [];
    const out: number[] = [];
    const items = part.split(":");
    for (let i = 0; i < items.length; i++) {
      const item = items[i];
      if (last && i === items.length - 1 && item.includes(".")) {
        const v4 = parseIpv4(item);
        if (!v4) return undefined;
        out.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
      } else if (/^[0-9a-fA-F]{1,4}$/.test(item)) {
        out.push(parseInt(item, 16));
      } else return undefined;
    }
    return out;
  };
  let words: number[];
  if (halves.length === 2) {
    const head = groups(halves[0], false);
    const tail = groups(halves[1], true);
    if (!head || !tail || head.length + tail.length > 7) return undefined;
    words = [...head, ...new Array(8 - head.length - tail.length).fill(0), ...tail];
  } else {
    const all = groups(s, true);
    if (!all || all.length !== 8) return undefined;
    words = all;
  }
  const bytes = new Uint8Array(16);
  words.forEach((w, i) => {
    bytes[2 * i] = w >> 8;
    bytes[2 * i + 1] = w & 0xff;
  });
  return bytes;
}

/**
 * The one line a refused text-mode client gets before the server hangs up: why, and how to
 * connect securely instead. `host` and `port` are the address the client reached.
 */
export function plaintextRefusal(host: string, port: number): string {
  const h = host.includes(":") ? `[${host}]` : host;
  return `! Text mode is not encrypted, so this server accepts it only from its own machine. ` +
    `Connect securely with the Parley terminal client (deno task client --host ${host} ` +
    `--port ${port}), or ask the operator to enable TLS (--tls-cert/--tls-key), then use ` +
    `openssl s_client -quiet -connect ${h}:${port} or socat - OPENSSL:${h}:${port}; ` +
    `on a trusted network the operator can allow plaintext (--allow-plaintext).`;
}
