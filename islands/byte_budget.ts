/**
 * The composer's length limit, counted the way the server counts it: UTF-8 bytes of the text
 * that is sent (an "é" is two, most emoji four), not characters.
 */

const encoder = new TextEncoder();

/** UTF-8 bytes of `text`. */
export function utf8Length(text: string): number {
  return encoder.encode(text).length;
}

/** What the composer says about the length of a draft. */
export interface Budget {
  /** Bytes left (negative when over). */
  left: number;
  over: boolean;
  /** The words to show, or "" while the draft is far from the limit. */
  label: string;
}

/**
 * The budget of a draft of `bytes` against `max`: said from the last 10% or 200 bytes (whichever
 * is more) on, as "123 bytes left" or "40 bytes over".
 */
export function byteBudget(bytes: number, max: number): Budget {
  const left = max - bytes;
  const near = left <= Math.max(200, Math.ceil(max / 10));
  const plural = (n: number) => `${n} byte${n === 1 ? "" : "s"}`;
  return {
    left,
    over: left < 0,
    label: !near ? "" : left < 0 ? `${plural(-left)} over` : `${plural(left)} left`,
  };
}
