/**
 * The zero-feature broadcast at the heart of the baseline servers: every line any member sends
 * goes to every member, the sender included. TCP and WebSocket members may share one hub
 * (baseline_mixed.ts). The baselines drop slow readers by Parley's own default rules, so that
 * the floor Parley is compared with does not win by keeping readers Parley would drop.
 */
import { createLogger } from "../lib/log.ts";
import { type MemoryTrimmer, startMemoryTrim } from "../server/memory_trim.ts";

export interface Member {
  /** `line` without newline; `bytes` is the same line with its newline, encoded once. */
  deliver(line: string, bytes: () => Uint8Array): void;
}

const utf8 = new TextEncoder();

/** The line a load client sends first and waits to see come back (bench/load_client.ts). */
const HELLO = "~hello";

export class Hub {
  readonly members = new Set<Member>();

  /**
   * A line from `from`: its hello goes back to it alone, everything else to every member. The
   * hello is the baseline's sign-in, a round trip: broadcast, it made a connect phase of N clients
   * N² lines (4 million at 2,000), a storm of the baseline's own that dropped half its clients
   * and left its memory four times what its idle connections hold. Parley's sign-ins tell the
   * others too (presence), but coalesced; a zero-feature server has nothing to tell.
   */
  receive(from: Member, line: string): void {
    if (line.startsWith(HELLO)) {
      from.deliver(line, () => utf8.encode(line + "\n"));
    } else this.broadcast(line);
  }

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
  #timer: ReturnType<typeof setInterval> | undefined;

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

/**
 * Prints the line the bench waits for, then stays up until killed. Like Parley
 * (server/memory_trim.ts), it hands freed native memory back every 10 s when it may call libc:
 * otherwise its idle memory would count what a burst left behind, and Parley's would not.
 */
export function announce(kind: "tcp" | "ws", port: number): void {
  trimmer ??= startMemoryTrim({ logger: createLogger("error") }) ?? null;
  console.log(`baseline listening: ${kind} 127.0.0.1:${port}`);
}

let trimmer: MemoryTrimmer | null | undefined;
