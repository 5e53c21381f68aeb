/**
 * File names and types as users give them, made safe: a name is kept for display and for the
 * `Content-Disposition` of a download, never used as a path.
 */
import { ParleyError } from "../errors.ts";

/** The longest file name accepted, in UTF-8 bytes (what most file systems allow). */
export const MAX_FILE_NAME_BYTES = 255;

/**
 * The name to keep for an upload: trimmed, without directories.
 * @throws {ParleyError} `bad_file` for an empty name, one over 255 bytes, with control
 * characters, or `.`/`..`.
 */
export function checkFileName(raw: string): string {
  const name = raw.replace(/^.*[\\/]/, "").trim();
  // deno-lint-ignore no-control-regex
  if (/[\x00-\x1f\x7f\u2028\u2029\u202a-\u202e\u2066-\u2069]/.test(name)) {
    throw new ParleyError("bad_file", "The file name has control characters; rename the file.");
  }
  if (name === "" || name === "." || name === "..") {
    throw new ParleyError("bad_file", "The file needs a name.");
  }
  if (new TextEncoder().encode(name).length > MAX_FILE_NAME_BYTES) {
    throw new ParleyError(
      "bad_file",
      `The file name is longer than ${MAX_FILE_NAME_BYTES} bytes; shorten it.`,
    );
  }
  return name;
}

/**
 * The type to keep for an upload: the declared media type without parameters, lower case, or
 * `application/octet-stream` when none or a malformed one was given.
 */
export function checkFileType(raw: string | null | undefined): string {
  const type = (raw ?? "").split(";")[0].trim().toLowerCase();
  return /^[a-z0-9][a-z0-9!#$&^_.+-]{0,63}\/[a-z0-9][a-z0-9!#$&^_.+-]{0,63}$/.test(type)
    ? type
    : "application/octet-stream";
}

/**
 * `Content-Disposition: attachment` with the name as RFC 6266 asks: an ASCII fallback in
 * `filename` (quotes and backslashes replaced) and the exact name in `filename*` (RFC 8187).
 */
export function contentDisposition(name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]|["\\%]/g, "_");
  const exact = encodeURIComponent(name).replace(
    /['()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
  return `attachment; filename="${ascii}"; filename*=UTF-8''${exact}`;
}

/** A size for people: `512 B`, `1.2 KiB`, `25 MiB`. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB"];
  let v = n / 1024;
  let unit = 0;
  while (v >= 1024 && unit < units.length - 1) {
    v /= 1024;
    unit++;
  }
  return `${v >= 10 ? Math.round(v) : Number(v.toFixed(1))} ${units[unit]}`;
}
