import type { ServerEvent } from "../protocol/types.ts";

/**
 * Whether an event may wait to travel with others (up to `Limits.lazyWaitMs`): presence coming and
 * going, which nobody is waiting on, and heartbeats (the reader's time starts when one leaves).
 * When everyone signs in at once (a restart), n sign-ins tell n - 1 others each; sent lazily they
 * cost each encrypted connection a seal every second or two instead of one per turn
 * (server/turn.ts). Typing, messages and replies are never lazy.
 */
export function isLazyEvent(event: ServerEvent): boolean {
  if (event.type === "heartbeat") return true;
  // A presence with `to` is about typing: that one a reader is watching.
  return event.type === "presence" && event.to === undefined;
}
