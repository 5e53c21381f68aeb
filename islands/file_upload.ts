/**
 * Uploads from the page: `POST /api/files` over XMLHttpRequest, whose upload events give the
 * progress bar its numbers and whose `abort()` is the cancel button. The session cookie goes
 * with it (same origin); the file streams from disk as the browser reads it.
 */
import type { FileInfo } from "../lib/protocol/types.ts";
import { overQuotaMessage, tooLargeMessage } from "../lib/files/refusals.ts";

/** What the server takes: from `GET /api/files`. */
export interface FileLimits {
  maxBytes: number;
  quotaBytes: number;
  usedBytes: number;
}

/** An upload that did not go through, with the words to show. */
export class UploadError extends Error {
  override name = "UploadError";
  constructor(message: string, readonly cancelled = false) {
    super(message);
  }
}

/** The server's limits and the user's usage; undefined when it cannot say (offline). */
export async function fileLimits(): Promise<FileLimits | undefined> {
  try {
    const res = await fetch("/api/files", { credentials: "same-origin" });
    return res.ok ? await res.json() : undefined;
  } catch {
    return undefined;
  }
}

/** The refusal the server would give `file`, said before a byte is sent; undefined if it fits. */
export function refusalOf(file: Blob, limits: FileLimits | undefined): string | undefined {
  if (!limits) return undefined;
  if (file.size > limits.maxBytes) return tooLargeMessage(file.size, true, limits.maxBytes);
  if (limits.usedBytes + file.size > limits.quotaBytes) {
    return overQuotaMessage(file.size, limits.usedBytes, limits.quotaBytes);
  }
}

/** A running upload: its outcome, and how to stop it. */
export interface Upload {
  done: Promise<FileInfo>;
  cancel(): void;
}

/** Starts uploading `file` as `name`; `onProgress` gets the bytes sent so far. */
export function startUpload(
  file: Blob,
  name: string,
  onProgress: (loaded: number, total: number) => void,
): Upload {
  const xhr = new XMLHttpRequest();
  const done = new Promise<FileInfo>((resolve, reject) => {
    xhr.open("POST", `/api/files?name=${encodeURIComponent(name)}`);
    xhr.responseType = "json";
    xhr.upload.onprogress = (e) => onProgress(e.loaded, e.lengthComputable ? e.total : file.size);
    xhr.onload = () => {
      const body = xhr.response as { file?: FileInfo; error?: { message?: string } } | null;
      if (xhr.status === 201 && body?.file) return resolve(body.file);
      reject(
        new UploadError(
          body?.error?.message ?? `The upload failed: the server answered ${xhr.status}.`,
        ),
      );
    };
    xhr.onerror = () =>
      reject(new UploadError("The upload broke off: the connection to the server was lost."));
    xhr.onabort = () => reject(new UploadError("Upload cancelled.", true));
    xhr.send(file.type ? file : new Blob([file], { type: "application/octet-stream" }));
  });
  return { done, cancel: () => xhr.abort() };
}
