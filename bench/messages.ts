/**
 * The text of a bench message: `~<phase> <sender> <seq> <sentAt> <padding>`, where `sentAt` is
 * the sender's `performance.timeOrigin + performance.now()` in ms (a monotonic clock that all
 * processes on one machine share closely enough), so a receiver computes send→receive latency.
 */

const FILLER = "the quick brown fox jumps over the lazy dog ".repeat(100);
/** Text limit of Parley's `send` is 4096 bytes. */
export const MAX_SIZE = 4000;
/** The header alone is about 35 bytes; smaller sizes are rounded up to it. */
export const MIN_SIZE = 40;

/** Now, on the shared clock, in ms. */
export function clockMs(): number {
  return performance.timeOrigin + performance.now();
}

/** A message of `size` bytes (ASCII) stamped with the current time. */
export function messageText(phase: number, sender: number, seq: number, size: number): string {
  const head = `~${phase} ${sender} ${seq} ${clockMs().toFixed(3)} `;
  const pad = Math.max(0, Math.min(size, MAX_SIZE) - head.length);
  return pad > 0 ? head + FILLER.slice(0, pad) : head.trimEnd();
}

export interface ParsedMessage {
  phase: number;
  sender: number;
  seq: number;
  sentAt: number;
}

/** Reads a bench message's header; undefined when `text` is not one. */
export function parseMessage(text: string): ParsedMessage | undefined {
  // A translation may prefix the text (the fake translator writes `[es] ...`).
  const start = text.indexOf("~");
  if (start === -1) return undefined;
  const parts = text.slice(start + 1, start + 80).split(" ", 4);
  if (parts.length < 4) return undefined;
  const [phase, sender, seq, sentAt] = parts.map(Number);
  if (![phase, sender, seq, sentAt].every(Number.isFinite)) return undefined;
  return { phase, sender, seq, sentAt };
}
