/**
 * `/send` and `/get` of the terminal client. The bytes go over HTTP to the server's browser
 * port, authorised by a one-time URL the encrypted session hands out (`file_token`,
 * docs/protocol.md "Files"); the message that shares a file goes through the session like any
 * other. Files stream from and to disk: neither side holds a whole file in memory.
 */
import { ServerError } from "../client.ts";
import type { ReconnectingClient } from "../reconnect.ts";
import type { FileInfo } from "../../protocol/types.ts";
import { formatBytes } from "../../files/names.ts";
import { overQuotaMessage, tooLargeMessage } from "../../files/refusals.ts";

/** Says how far a transfer got: at most about once a second, and at the end. */
export type Progress = (line: string) => void;

/** Options of the HTTP side: a CA to trust when the server's HTTP port speaks TLS. */
export interface TransferOptions {
  caCerts?: string[];
}

/** Why a transfer did not happen, in words for the user. */
export class TransferError extends Error {
  override name = "TransferError";
}

/** Counts bytes through a stream and reports them. */
function counting(
  total: number,
  label: string,
  progress: Progress,
): TransformStream<Uint8Array, Uint8Array> {
  let done = 0;
  let lastAt = Date.now();
  return new TransformStream({
    transform(chunk, controller) {
      done += chunk.length;
      const now = Date.now();
      if (now - lastAt >= 1000 && done < total) {
        lastAt = now;
        progress(
          `${label}: ${percent(done, total)} (${formatBytes(done)} of ${formatBytes(total)})`,
        );
      }
      controller.enqueue(chunk);
    },
  });
}

function percent(done: number, total: number): string {
  return total === 0 ? "100%" : `${Math.floor((done / total) * 100)}%`;
}

/** Deno's `fetch` option that makes it use `client` (the DOM's RequestInit does not know it). */
function viaClient(client: Deno.HttpClient | undefined): Record<string, unknown> {
  return client ? { client } : {};
}

function httpClient(options: TransferOptions): Deno.HttpClient | undefined {
  return options.caCerts ? Deno.createHttpClient({ caCerts: options.caCerts }) : undefined;
}

/** The server's `{ error: { message } }`, or the status when it said nothing readable. */
async function refusal(res: Response): Promise<string> {
  try {
    const body = await res.json();
    if (typeof body?.error?.message === "string") return body.error.message;
  } catch { /* below */ }
  return `the server answered ${res.status} ${res.statusText}`;
}

/**
 * Uploads the file at `path` and shares it with `to` (`bob` or `#room`); resolves with the file
 * as the message carries it.
 * @throws {TransferError} with what went wrong (no such file, too large, over quota…).
 */
export async function sendFile(
  client: ReconnectingClient,
  to: string,
  path: string,
  progress: Progress,
  options: TransferOptions = {},
): Promise<FileInfo> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (err) {
    throw new TransferError(`Cannot read ${path}: ${(err as Error).message}`);
  }
  const name = path.replace(/^.*[\\/]/, "");
  const http = httpClient(options);
  try {
    const info = await file.stat();
    if (!info.isFile) throw new TransferError(`${path} is not a file.`);
    const size = info.size;
    const grant = await client.fileToken("upload").catch(asTransferError);
    if (grant.maxBytes !== undefined && size > grant.maxBytes) {
      throw new TransferError(tooLargeMessage(size, true, grant.maxBytes));
    }
    const { quotaBytes, usedBytes } = grant;
    if (quotaBytes !== undefined && usedBytes !== undefined && usedBytes + size > quotaBytes) {
      throw new TransferError(overQuotaMessage(size, usedBytes, quotaBytes));
    }
    const label = `uploading ${name}`;
    progress(`${label}: ${formatBytes(size)}…`);
    const url = `${grant.url}&name=${encodeURIComponent(name)}`;
    const res = await fetch(url, {
      method: "POST",
      headers: { "content-type": guessType(name), "content-length": String(size) },
      body: file.readable.pipeThrough(counting(size, label, progress)),
      ...viaClient(http),
    } as RequestInit).catch((err) => {
      throw new TransferError(`The upload broke off: ${(err as Error).message}`);
    });
    if (res.status !== 201) throw new TransferError(await refusal(res));
    const uploaded = (await res.json()).file as FileInfo;
    progress(`${label}: 100%, sharing it with ${to}…`);
    await client.send(to, "", undefined, uploaded.id).catch(asTransferError);
    return uploaded;
  } finally {
    try {
      file.close();
    } catch { /* the upload's stream closed it */ }
    http?.close();
  }
}

/**
 * Downloads file `id` to `path` (a directory: the file's name in it; none: its name here),
 * never over an existing file (`name (1).ext` then). Resolves with where it went.
 * @throws {TransferError} with what went wrong.
 */
export async function getFile(
  client: ReconnectingClient,
  id: string,
  path: string | undefined,
  progress: Progress,
  options: TransferOptions = {},
): Promise<{ path: string; size: number }> {
  const grant = await client.fileToken("download", id).catch(asTransferError);
  const http = httpClient(options);
  try {
    const res = await fetch(grant.url, viaClient(http) as RequestInit).catch((err) => {
      throw new TransferError(`The download broke off: ${(err as Error).message}`);
    });
    if (!res.ok || !res.body) throw new TransferError(await refusal(res));
    const name = safeName(fileNameOf(res.headers.get("content-disposition")) ?? id);
    const size = Number(res.headers.get("content-length") ?? 0);
    const target = await freePath(await targetPath(path, name));
    const part = `${target}.part`;
    const label = `downloading ${name}`;
    progress(`${label}: ${formatBytes(size)}…`);
    const out = await Deno.open(part, { write: true, createNew: true });
    try {
      await res.body.pipeThrough(counting(size, label, progress)).pipeTo(out.writable);
    } catch (err) {
      await Deno.remove(part).catch(() => {});
      throw new TransferError(`The download broke off: ${(err as Error).message}`);
    }
    await Deno.rename(part, target);
    return { path: target, size };
  } finally {
    http?.close();
  }
}

function asTransferError(err: unknown): never {
  if (err instanceof ServerError) throw new TransferError(err.message.slice(err.code.length + 2));
  throw new TransferError(`Not connected right now: ${(err as Error).message}`);
}

/** The name of `filename*=UTF-8''…` (or `filename="…"`) in a Content-Disposition. */
export function fileNameOf(disposition: string | null): string | undefined {
  if (!disposition) return undefined;
  const exact = disposition.match(/filename\*=UTF-8''([^;]+)/i)?.[1];
  if (exact) {
    try {
      return decodeURIComponent(exact);
    } catch { /* the plain one below */ }
  }
  return disposition.match(/filename="([^"]*)"/i)?.[1];
}

/** A name safe to create here: no directories, no control characters, not hidden. */
function safeName(name: string): string {
  // deno-lint-ignore no-control-regex
  const clean = name.replace(/^.*[\\/]/, "").replace(/[\x00-\x1f\x7f]/g, "_").replace(/^\.+/, "");
  return clean || "download";
}

async function targetPath(path: string | undefined, name: string): Promise<string> {
  if (path === undefined) return name;
  try {
    if ((await Deno.stat(path)).isDirectory) return `${path.replace(/\/+$/, "")}/${name}`;
  } catch { /* a new file's path */ }
  return path;
}

/** `path`, or `name (1).ext`, `name (2).ext`… when it exists already. */
async function freePath(path: string): Promise<string> {
  const dot = path.lastIndexOf(".");
  const slash = path.lastIndexOf("/");
  const [stem, ext] = dot > slash + 1 ? [path.slice(0, dot), path.slice(dot)] : [path, ""];
  for (let n = 0;; n++) {
    const candidate = n === 0 ? path : `${stem} (${n})${ext}`;
    try {
      await Deno.lstat(candidate);
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return candidate;
      throw err;
    }
  }
}

/** A media type from a file name, for the few types a reader shows differently. */
function guessType(name: string): string {
  const ext = name.toLowerCase().match(/\.([a-z0-9]+)$/)?.[1] ?? "";
  const types: Record<string, string> = {
    png: "image/png",
    jpg: "image/jpeg",
    jpeg: "image/jpeg",
    gif: "image/gif",
    webp: "image/webp",
    txt: "text/plain",
    pdf: "application/pdf",
    zip: "application/zip",
  };
  return types[ext] ?? "application/octet-stream";
}
