/**
 * End-of-turn flushing, shared by every connection. Work that fans one message out to many
 * connections runs as a chain of promise reactions; a connection that flushed on the next
 * microtask would seal and write once per message, and each seal is a WebCrypto call costing
 * ~20 µs (and as much again for the reader to open it). Flushing on a timer instead lets the
 * work in hand finish first, so each connection seals and writes many frames at once.
 *
 * The wait adapts to the load: after a round that flushed few connections the next runs at the
 * next timer tick (~1 ms); after a round that flushed many, it waits about twice what that round
 * cost to seal, up to `MAX_DELAY_MS`, so sealing never takes more than about half the CPU and a
 * busy server trades a few milliseconds of latency for several frames per seal.
 */
const due = new Set<() => void>();
let scheduled = false;
let lastRound = 0;

/** Milliseconds a round of `n` flushes is assumed to cost, times two. */
const MS_PER_FLUSH = 0.08;
const MAX_DELAY_MS = 80;

/** Runs `flush` once, after the work of the current turn; repeated calls before then are one. */
export function afterTurn(flush: () => void): void {
  due.add(flush);
  if (scheduled) return;
  scheduled = true;
  setTimeout(runDue, Math.min(MAX_DELAY_MS, Math.floor(lastRound * MS_PER_FLUSH)));
}

function runDue(): void {
  scheduled = false;
  const flushes = [...due];
  due.clear();
  lastRound = flushes.length;
  for (const flush of flushes) flush();
}
