/**
 * The words of a refused upload, shared by the server and the clients that check a file before
 * sending it (the browser, the terminal client), so a user reads the same sentence either way.
 */
import { formatBytes } from "./names.ts";

/** A file over the limit; `known`: `size` is its whole size (else: what arrived so far). */
export function tooLargeMessage(size: number, known: boolean, maxBytes: number): string {
  const limit = formatBytes(maxBytes);
  return `The file is ${
    known ? formatBytes(size) : `more than ${limit}`
  }; files can be at most ${limit}.`;
}

/** A file that does not fit in what is left of the user's quota. */
export function overQuotaMessage(size: number, usedBytes: number, quotaBytes: number): string {
  return `This file (${formatBytes(size)}) would take you over your storage of ${
    formatBytes(quotaBytes)
  } (${formatBytes(usedBytes)} used). Files go when the history that shares them goes.`;
}
