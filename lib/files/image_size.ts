/**
 * The pixel size of the images Parley shows inline (PNG, JPEG, GIF, WebP), read from the first
 * bytes of the file, so a client can reserve the space before the picture loads. The type comes
 * from the bytes themselves, never from what the uploader claimed.
 */

/** The image types shown inline. */
export const INLINE_IMAGE_TYPES = ["image/png", "image/jpeg", "image/gif", "image/webp"] as const;
export type InlineImageType = typeof INLINE_IMAGE_TYPES[number];

/** How many bytes of a file's start are read to find an image's size (JPEG metadata can be long). */
export const PROBE_BYTES = 256 * 1024;

/** The largest side Parley believes: a bigger claim is a damaged or hostile header. */
const MAX_SIDE = 65_535;

export interface ImageSize {
  type: InlineImageType;
  width: number;
  height: number;
}

/** The image type and pixel size of `head` (a file's first bytes); undefined if not one. */
export function probeImage(head: Uint8Array): ImageSize | undefined {
  const found = png(head) ?? gif(head) ?? webp(head) ?? jpeg(head);
  if (!found) return undefined;
  const ok = (n: number) => Number.isInteger(n) && n > 0 && n <= MAX_SIDE;
  return ok(found.width) && ok(found.height) ? found : undefined;
}

function view(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

function startsWith(b: Uint8Array, sig: number[], at = 0): boolean {
  return b.length >= at + sig.length && sig.every((x, i) => b[at + i] === x);
}

function png(b: Uint8Array): ImageSize | undefined {
  // Signature, then the IHDR chunk: length, "IHDR", width, height (big-endian).
  if (!startsWith(b, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]) || b.length < 24) return;
  if (!startsWith(b, [0x49, 0x48, 0x44, 0x52], 12)) return;
  const v = view(b);
  return { type: "image/png", width: v.getUint32(16), height: v.getUint32(20) };
}

function gif(b: Uint8Array): ImageSize | undefined {
  // "GIF87a"/"GIF89a", then the logical screen's width and height (little-endian).
  if (!startsWith(b, [0x47, 0x49, 0x46, 0x38]) || b.length < 10) return;
  const v = view(b);
  return { type: "image/gif", width: v.getUint16(6, true), height: v.getUint16(8, true) };
}

function webp(b: Uint8Array): ImageSize | undefined {
  // "RIFF" size "WEBP", then one of the VP8 / VP8L / VP8X chunks (RFC 9649).
  if (!startsWith(b, [0x52, 0x49, 0x46, 0x46]) || !startsWith(b, [0x57, 0x45, 0x42, 0x50], 8)) {
    return;
  }
  if (b.length < 30) return;
  const v = view(b);
  const kind = String.fromCharCode(b[12], b[13], b[14], b[15]);
  if (kind === "VP8 ") {
    // Key frame start code 9d 01 2a, then 14-bit width and height.
    if (!startsWith(b, [0x9d, 0x01, 0x2a], 23)) return;
    return {
      type: "image/webp",
      width: v.getUint16(26, true) & 0x3fff,
      height: v.getUint16(28, true) & 0x3fff,
    };
  }
  if (kind === "VP8L") {
    if (b[20] !== 0x2f) return;
    const bits = v.getUint32(21, true);
    return { type: "image/webp", width: (bits & 0x3fff) + 1, height: ((bits >> 14) & 0x3fff) + 1 };
  }
  if (kind === "VP8X") {
    const w = b[24] | (b[25] << 8) | (b[26] << 16);
    const h = b[27] | (b[28] << 8) | (b[29] << 16);
    return { type: "image/webp", width: w + 1, height: h + 1 };
  }
}

function jpeg(b: Uint8Array): ImageSize | undefined {
  if (!startsWith(b, [0xff, 0xd8])) return;
  const v = view(b);
  let at = 2;
  // Walk the markers up to a start-of-frame (SOF0-SOF15, not DHT/JPG/DAC), which has the size.
  while (at + 9 < b.length) {
    if (b[at] !== 0xff) return;
    const marker = b[at + 1];
    if (marker === 0xff) {
      at++;
      continue;
    }
    if (marker === 0xd8 || (marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) {
      at += 2;
      continue;
    }
    const length = v.getUint16(at + 2);
    if (length < 2) return;
    const sof = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 &&
      marker !== 0xcc;
    if (sof) return { type: "image/jpeg", height: v.getUint16(at + 5), width: v.getUint16(at + 7) };
    if (marker === 0xda || marker === 0xd9) return;
    at += 2 + length;
  }
}
