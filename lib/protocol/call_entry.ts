/**
 * The words of a call's entry in a conversation, shared by the server (the entry's `text`, for
 * clients that do not know calls) and the browser. Free of Deno APIs.
 */
import type { CallEntry } from "./types.ts";

/** `(video call, missed)`, `(voice call, 2:05)`: the entry's `text`. */
export function callEntryText(entry: CallEntry): string {
  const kind = entry.media === "video" ? "video call" : "voice call";
  if (entry.outcome !== "ended") return `(${kind}, ${entry.outcome})`;
  return `(${kind}, ${formatDuration(entry.duration ?? 0)})`;
}

/** `0:42`, `12:05`, `1:02:03`. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const two = (n: number) => String(n).padStart(2, "0");
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h}:${two(m)}:${two(s % 60)}` : `${m}:${two(s % 60)}`;
}
