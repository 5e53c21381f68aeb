/**
 * Scans a database file and its WAL for plaintext: the at-rest tests of the store and of the
 * whole server share it, so both look for every form a leaked text could take.
 */
import assert from "node:assert/strict";

/** Every form the canary could take in a file: UTF-8, UTF-16 (both orders), base64, hex. */
export function forms(text: string): Uint8Array[] {
  const utf8 = new TextEncoder().encode(text);
  const utf16le = new Uint8Array(utf8.length * 2);
  const utf16be = new Uint8Array(utf8.length * 2);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    utf16le[2 * i] = c & 0xff;
    utf16le[2 * i + 1] = c >> 8;
    utf16be[2 * i] = c >> 8;
    utf16be[2 * i + 1] = c & 0xff;
  }
  const enc = (s: string) => new TextEncoder().encode(s);
  const out = [utf8, utf16le, utf16be, enc(Array.from(utf8, (b) => b.toString(16)).join(""))];
  // base64 of the text at each of the three alignments, without the edge characters that depend
  // on neighbouring bytes; standard and url-safe alphabets.
  for (const pad of ["", "x", "xy"]) {
    const b64 = btoa(pad + text);
    const core = b64.slice(pad.length ? 4 : 0, -4);
    out.push(enc(core), enc(core.replaceAll("+", "-").replaceAll("/", "_")));
  }
  return out;
}

export function contains(haystack: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

/** The database file and its WAL (when there is one). */
export async function rawFiles(dbPath: string): Promise<Map<string, Uint8Array>> {
  const files = new Map<string, Uint8Array>();
  for (const path of [dbPath, `${dbPath}-wal`]) {
    try {
      files.set(path, await Deno.readFile(path));
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
  }
  return files;
}

/** Fails when `dbPath` or its WAL holds any of `texts` in any form. */
export async function assertNoPlaintext(dbPath: string, texts: string[]) {
  const files = await rawFiles(dbPath);
  assert.ok(files.has(dbPath));
  for (const [path, bytes] of files) {
    for (const text of texts) {
      for (const form of forms(text)) {
        assert.ok(!contains(bytes, form), `${path} holds '${text}' in some form`);
      }
    }
  }
}
