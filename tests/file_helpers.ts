/** What the file tests share: random files, uploads over HTTP, hashes, a search for plaintext. */
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import { apiLogin } from "./web_helpers.ts";
import { PASSWORD } from "./helpers.ts";

/** `n` random bytes (random, so no two tests' files deduplicate into one another). */
export function randomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let at = 0; at < n; at += 65536) {
    crypto.getRandomValues(out.subarray(at, Math.min(n, at + 65536)));
  }
  return out;
}

export function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** A browser sign-in's cookie (registers the name when new). */
export async function cookieFor(base: string, name: string): Promise<string> {
  let { cookie, res } = await apiLogin(base, { name, password: PASSWORD, register: true });
  if (res.status === 409) ({ cookie } = await apiLogin(base, { name, password: PASSWORD }));
  if (!cookie) throw new Error(`no cookie for ${name}: ${res.status}`);
  return cookie;
}

/** POSTs a file as the page does: same Origin, the session cookie, the name in the query. */
export async function upload(
  base: string,
  cookie: string | undefined,
  name: string,
  bytes: Uint8Array | ReadableStream<Uint8Array>,
  type = "application/octet-stream",
): Promise<{ status: number; body: Record<string, unknown> }> {
  const headers: Record<string, string> = { origin: base, "content-type": type };
  if (cookie) headers.cookie = cookie;
  const res = await fetch(`${base}/api/files?name=${encodeURIComponent(name)}`, {
    method: "POST",
    headers,
    body: bytes as BodyInit,
  });
  return { status: res.status, body: await res.json() };
}

/** A PNG of `width` x `height` (one colour; its pixel data stored uncompressed in zlib). */
export function png(width: number, height: number): Uint8Array {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (bytes: Uint8Array) => {
    let c = 0xffffffff;
    for (const b of bytes) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type: string, data: Uint8Array) => {
    const out = new Uint8Array(12 + data.length);
    const v = new DataView(out.buffer);
    v.setUint32(0, data.length);
    out.set(new TextEncoder().encode(type), 4);
    out.set(data, 8);
    v.setUint32(8 + data.length, crc(out.subarray(4, 8 + data.length)));
    return out;
  };
  const ihdr = new Uint8Array(13);
  const hv = new DataView(ihdr.buffer);
  hv.setUint32(0, width);
  hv.setUint32(4, height);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit RGB
  // Raw scanlines: filter byte 0, then RGB; in "stored" deflate blocks (at most 65535 each).
  const row = 1 + width * 3;
  const raw = new Uint8Array(row * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) raw.set([200, 60 + (y % 100), 120], y * row + 1 + x * 3);
  }
  const blocks: number[] = [0x78, 0x01];
  for (let at = 0; at < raw.length || at === 0; at += 65535) {
    const piece = raw.subarray(at, Math.min(raw.length, at + 65535));
    const last = at + 65535 >= raw.length ? 1 : 0;
    blocks.push(
      last,
      piece.length & 0xff,
      piece.length >> 8,
      ~piece.length & 0xff,
      (~piece.length >> 8) & 0xff,
    );
    blocks.push(...piece);
    if (raw.length === 0) break;
  }
  let a = 1, b = 0;
  for (const x of raw) {
    a = (a + x) % 65521;
    b = (b + a) % 65521;
  }
  blocks.push(b >> 8, b & 0xff, a >> 8, a & 0xff);
  const sig = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const parts = [
    sig,
    chunk("IHDR", ihdr),
    chunk("IDAT", new Uint8Array(blocks)),
    chunk("IEND", new Uint8Array()),
  ];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * Paths of the files under `dir` that hold any 32-byte run of `plain` (64 samples at most,
 * searched natively):
 * what a copy of the data directory would show of it.
 */
export async function filesHolding(dir: string, plain: Uint8Array): Promise<string[]> {
  const probes: Uint8Array[] = [];
  const step = Math.max(4096, Math.floor(plain.length / 64));
  for (let at = 0; at + 32 <= plain.length; at += step) probes.push(plain.subarray(at, at + 32));
  const found: string[] = [];
  const walk = async (d: string) => {
    for await (const e of Deno.readDir(d)) {
      const path = `${d}/${e.name}`;
      if (e.isDirectory) await walk(path);
      else if (e.isFile) {
        const bytes = Buffer.from(await Deno.readFile(path));
        if (probes.some((p) => bytes.indexOf(p) !== -1)) found.push(path);
      }
    }
  };
  await walk(dir);
  return found;
}

/** Every file under `dir` (the blobs of the file store). */
export async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string) => {
    try {
      for await (const e of Deno.readDir(d)) {
        const path = `${d}/${e.name}`;
        if (e.isDirectory) await walk(path);
        else out.push(path);
      }
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
  };
  await walk(dir);
  return out;
}
