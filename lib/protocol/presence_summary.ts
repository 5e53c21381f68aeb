/** Up to this many changes of one round are shown one line each; more are one summary line. */
export const PRESENCE_LINES = 5;

/**
 * The one line that stands for many users coming online (or going offline) at once, for readers
 * of text (nc, the terminal client): a restart brings thousands back within seconds, which would
 * otherwise scroll everything else away. Names the first few; `who` lists the rest.
 */
export function presenceSummary(names: readonly string[], state: "online" | "offline"): string {
  const shown = names.slice(0, PRESENCE_LINES).join(", ");
  const rest = names.length - PRESENCE_LINES;
  const verb = state === "online" ? "came online" : "went offline";
  return `${names.length} people ${verb}: ${shown}${rest > 0 ? ` and ${rest} more` : ""}`;
}

/** The users an online/offline `presence` is about: `users`, or the one `user`. */
export function presenceNames(event: { user?: string; users?: readonly string[] }): string[] {
  return event.users ? [...event.users] : event.user !== undefined ? [event.user] : [];
}
