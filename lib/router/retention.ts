import type { FileService } from "../files/service.ts";
import type { Logger } from "../log.ts";
import type { Store } from "../store/store.ts";

/** How often the log is pruned while the server runs (and once at start). */
export const PRUNE_INTERVAL_MS = 60 * 60 * 1000;
const DAY_MS = 24 * 60 * 60 * 1000;

/** A running retention timer. */
export interface Retention {
  /** Settles when the prune that is running (if any) has finished. */
  idle(): Promise<void>;
  stop(): void;
}

/** What else retention looks after. */
export interface RetentionOptions {
  /** Files: those nothing refers to any more go after each prune (also with `days` 0). */
  files?: FileService;
  /** @default PRUNE_INTERVAL_MS */
  intervalMs?: number;
  now?: () => number;
}

/**
 * Keeps the message log to `days` days (`--history-days`; 0 keeps everything): prunes at once
 * and then every `intervalMs`, and then forgets the files no message refers to any more (and
 * uploads never sent). A failed prune is logged and tried again at the next round; the store
 * prunes oldest first, so history never has a hole.
 */
export function startRetention(
  store: Store,
  days: number,
  logger: Logger,
  options: RetentionOptions = {},
): Retention {
  const { files, intervalMs = PRUNE_INTERVAL_MS, now = Date.now } = options;
  let running: Promise<void> = Promise.resolve();
  if (days <= 0 && !files) return { idle: () => running, stop() {} };
  const prune = () => {
    running = running.then(async () => {
      if (days > 0) {
        try {
          const removed = await store.pruneHistory(now() - days * DAY_MS);
          if (removed > 0) logger.info("pruned old messages", { removed, days });
        } catch (err) {
          logger.warn("could not prune old messages; trying again later", { error: err });
        }
      }
      if (!files) return;
      try {
        const removed = await files.prune(now());
        if (removed > 0) logger.info("removed files no message shares any more", { removed });
      } catch (err) {
        logger.warn("could not remove unshared files; trying again later", { error: err });
      }
    });
  };
  prune();
  const timer = setInterval(prune, intervalMs);
  Deno.unrefTimer(timer);
  return {
    idle: () => running,
    stop: () => clearInterval(timer),
  };
}
