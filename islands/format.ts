/** Small display helpers shared by the components. */

/** `14:05` for today, `Mon 14:05` within a week, else `12 Mar 14:05`, in the reader's locale. */
export function formatTime(ts: number, now: number = Date.now()): string {
  const d = new Date(ts);
  const time = d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
  const today = new Date(now);
  if (d.toDateString() === today.toDateString()) return time;
  if (now - ts < 6 * 24 * 3600 * 1000) {
    return `${d.toLocaleDateString(undefined, { weekday: "short" })} ${time}`;
  }
  return `${d.toLocaleDateString(undefined, { day: "numeric", month: "short" })} ${time}`;
}

/** Full date and time, for the `title` and `datetime` of a message's time. */
export function isoTime(ts: number): string {
  return new Date(ts).toISOString();
}

/** The first letter of a name, for its avatar. */
export function initial(name: string): string {
  return [...name][0]?.toUpperCase() ?? "?";
}

/** One of eight avatar colours, picked by the name so it is stable everywhere. */
export function hue(name: string): number {
  let h = 0;
  for (const ch of name.toLowerCase()) h = (h * 31 + ch.codePointAt(0)!) >>> 0;
  return h % 8;
}
