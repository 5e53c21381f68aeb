import type { ServerEvent } from "../protocol/types.ts";

/**
 * Whether an event may wait to travel with others (up to `Limits.lazyWaitMs`): presence coming and
 * going, which nobody is waiting on, and heartbeats (the reader's time starts when one leaves).
 * Online and offline already come in rounds (lib/router/presence_batch.ts: one frame per reader
 * and round); lazily, several rounds and heartbeats cost each encrypted connection one seal
 * (server/turn.ts). Typing, messages and replies are never lazy.
 */
export function isLazyEvent(event: ServerEvent): boolean {
  if (event.type === "heartbeat") return true;
  // A presence with `to` is about typing: that one a reader is watching.
  return event.type === "presence" && event.to === undefined;
}
