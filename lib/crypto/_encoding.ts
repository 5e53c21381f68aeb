/**
 * Byte helpers shared by the crypto core: base64url and base64 (strict), hex, UTF-8, and
 * concatenation (which the rest of the code reaches as lib/bytes.ts). No runtime APIs beyond the web platform, so the browser bundle can use them.
 */

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const DECODE_B64 = table(B64);
const DECODE_B64URL = table(B64URL);

function table(alphabet: string): Int16Array {
  const t = new Int16Array(128).fill(-1);
  for (let i = 0; i < alphabet.length; i++) t[alphabet.charCodeAt(i)] = i;
  return t;
}

function encode(bytes: Uint8Array, alphabet: string, pad: boolean): string {
  let out = "";
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    out += alphabet[n >> 18] + alphabet[(n >> 12) & 63] + alphabet[(n >> 6) & 63] +
      alphabet[n & 63];
  }
  const rest = bytes.length - i;
  if (rest === 1) {
    const n = bytes[i] << 16;
    out += alphabet[n >> 18] + alphabet[(n >> 12) & 63] + (pad ? "==" : "");
  } else if (rest === 2) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8);
    out += alphabet[n >> 18] + alphabet[(n >> 12) & 63] + alphabet[(n >> 6) & 63] +
      (pad ? "=" : "");
  }
  return out;
}

/**
 * Decodes canonical base64 in the given alphabet: no whitespace, padding only where `pad`
 * allows it, and zero unused bits, so every byte string has exactly one accepted spelling.
 * Returns undefined for anything else.
 */
function decode(text: string, t: Int16Array, pad: boolean): Uint8Array | undefined {
  let len = text.length;
  if (pad) {
    if (len % 4 !== 0) return undefined;
    if (text.endsWith("==")) len -= 2;
    else if (text.endsWith("=")) len -= 1;
  }
  if (len % 4 === 1) return undefined;
  const out = new Uint8Array(Math.floor((len * 3) / 4));
  let acc = 0;
  let bits = 0;
  let o = 0;
  for (let i = 0; i < len; i++) {
    const c = text.charCodeAt(i);
    const v = c < 128 ? t[c] : -1;
    if (v < 0) return undefined;
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >> bits) & 0xff;
    }
  }
  if (bits > 0 && (acc & ((1 << bits) - 1)) !== 0) return undefined;
  return out;
}

/** The runtime's own base64 (TC39 Uint8Array base64, in Deno and recent browsers), if any. */
const nativeToBase64 = (Uint8Array.prototype as unknown as {
  toBase64?: (options: { alphabet: string; omitPadding: boolean }) => string;
}).toBase64;

/** base64url without padding (RFC 4648 §5), the encoding of every binary field on the wire. */
export function toBase64Url(bytes: Uint8Array): string {
  // Every sealed frame goes through here: the native encoder is ~10x faster and makes no
  // garbage of partial strings.
  if (nativeToBase64) {
    return nativeToBase64.call(bytes, { alphabet: "base64url", omitPadding: true });
  }
  return encode(bytes, B64URL, false);
}

/** Strict inverse of {@linkcode toBase64Url}; undefined for non-canonical or invalid text. */
export function fromBase64Url(text: string): Uint8Array | undefined {
  return decode(text, DECODE_B64URL, false);
}

/** Standard base64 with padding (RFC 4648 §4). */
export function toBase64(bytes: Uint8Array): string {
  return encode(bytes, B64, true);
}

/** Strict inverse of {@linkcode toBase64}; undefined for non-canonical or invalid text. */
export function fromBase64(text: string): Uint8Array | undefined {
  return decode(text, DECODE_B64, true);
}

/** Standard base64 without padding, as in SSH fingerprints. */
export function toBase64Unpadded(bytes: Uint8Array): string {
  return encode(bytes, B64, false);
}

/** Lower-case hex. */
export function toHex(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += b.toString(16).padStart(2, "0");
  return s;
}

/** Strict inverse of {@linkcode toHex} (either case); undefined for invalid text. */
export function fromHex(text: string): Uint8Array | undefined {
  if (text.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(text)) return undefined;
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return out;
}

const encoder = new TextEncoder();
const strictDecoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** UTF-8 bytes of `text`. */
export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}

/** Decodes UTF-8, or undefined when the bytes are not valid UTF-8. */
export function fromUtf8(bytes: Uint8Array): string | undefined {
  try {
    return strictDecoder.decode(bytes);
  } catch {
    return undefined;
  }
}

/**
 * Joins byte chunks into one new array. `size`, their total length, saves adding it up where the
 * caller already counts it.
 */
export function concatBytes(
  parts: readonly Uint8Array[],
  size: number = parts.reduce((n, p) => n + p.length, 0),
): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Four bytes, big-endian. */
export function u32be(n: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, n, false);
  return out;
}

/** Compares two byte arrays without an early exit. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

/**
 * The argument as a `Uint8Array<ArrayBuffer>`, the type WebCrypto's `BufferSource` accepts under
 * TypeScript's DOM typings; copies only when the bytes live in a SharedArrayBuffer.
 */
export function buf(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return bytes.buffer instanceof ArrayBuffer
    ? bytes as Uint8Array<ArrayBuffer>
    : new Uint8Array(bytes) as Uint8Array<ArrayBuffer>;
}
