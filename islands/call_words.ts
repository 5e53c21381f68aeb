/** The words the window shows for a call's entry in a conversation. */
import type { CallEntry } from "../lib/protocol/types.ts";
import { formatDuration } from "../lib/protocol/call_entry.ts";

/** "Missed video call", "Voice call · 2:05"… from the reader's side (`own`: they called). */
export function callEntryWords(call: CallEntry, own: boolean): string {
  const kind = call.media === "video" ? "Video call" : "Voice call";
  switch (call.outcome) {
    case "missed":
      return own ? `${kind} · no answer` : `Missed ${kind.toLowerCase()}`;
    case "declined":
      return own ? `${kind} · declined` : `${kind} · you declined`;
    case "ended":
      return `${kind} · ${formatDuration(call.duration ?? 0)}`;
  }
}
