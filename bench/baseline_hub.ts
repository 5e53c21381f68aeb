/**
 * The zero-feature broadcast at the heart of the baseline servers: every line any member sends
 * goes to every member, the sender included. TCP and WebSocket members may share one hub
 * (baseline_mixed.ts). The baselines drop slow readers by Parley's own default rules, so that
 * the floor Parley is compared with does not win by keeping readers Parley would drop.
 */

export interface Member {
  /** `line` without newline; `bytes` is the same line with its newline, encoded once. */
  deliver(line: string, bytes: () => Uint8Array): void;
}

const utf8 = new TextEncoder();

export class Hub {
  readonly members = new Set<Member>();

  broadcast(line: string): void {
    let encoded: Uint8Array | undefined;
    const bytes = () => encoded ??= utf8.encode(line + "\n");
    for (const m of this.members) m.deliver(line, bytes);
  }
}

/**
 * Parley's defaults (lib/config.ts `--max-queued-kib`, `--slow-reader-timeout`): bytes that may
 * wait for one reader, and how long its socket may take none of them, before it is dropped.
 */
export const READER_LIMITS = { maxQueuedBytes: 1024 * 1024, slowMs: 5000 };

/** A reader the stall watch asks, now and then, whether its socket took anything. */
export interface Stallable {
  /** Drops the reader if it has taken nothing for `READER_LIMITS.slowMs` as of `now` (ms). */
  check(now: number): void;
}

/**
 * One timer for every reader with bytes waiting, as Parley's write watch (server/write_watch.ts)
 * checks its readers every 250 ms.
 */
class StallWatch {
  #watched = new Set<Stallable>();
  #timer: number | undefined;

  add(s: Stallable): void {
    this.#watched.add(s);
    this.#timer ??= setInterval(() => {
      const now = performance.now();
      for (const w of [...this.#watched]) w.check(now);
    }, 250);
  }

  delete(s: Stallable): void {
    this.#watched.delete(s);
    if (this.#watched.size === 0 && this.#timer !== undefined) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }
}

/** The baseline process's one stall watch. */
export const stallWatch: StallWatch = new StallWatch();

/** Prints the line the bench waits for, then stays up until killed. */
export function announce(kind: "tcp" | "ws", port: number): void {
  console.log(`baseline listening: ${kind} 127.0.0.1:${port}`);
}
