/**
 * SIGINT/SIGTERM for the whole life of the process. The first starts the graceful shutdown; a
 * second one must not cut it short (`deno task` forwards Ctrl-C, so a process group gets two
 * signals for one key press); a third, or the grace period running out, stops at once.
 */
import type { Logger } from "../lib/log.ts";

/** Seconds a graceful shutdown may take before the process exits anyway (at least). */
export const SHUTDOWN_GRACE_SECONDS = 10;

/** Signals after which the process stops at once, without finishing the shutdown. */
export const FORCE_AFTER_SIGNALS = 3;

/** The exit status of a forced stop (the graceful one exits 0). */
export const FORCED_EXIT_CODE = 1;

const STOP_SIGNALS = ["SIGINT", "SIGTERM"] as const;

export interface StopSignals {
  /** Resolves with the name of the first stop signal. */
  readonly stopped: Promise<string>;
  /** Starts the grace period; call when the shutdown begins. */
  shuttingDown(): void;
  /** Stops listening, once the shutdown is done. */
  dispose(): void;
}

/**
 * Listens for SIGINT and SIGTERM until `dispose`. Listeners stay installed during the shutdown,
 * so a repeated signal is logged and ignored instead of killing the process with the default
 * action; the `FORCE_AFTER_SIGNALS`th signal, or `graceMs` after `shuttingDown`, calls `exit`.
 */
export function watchStopSignals(options: {
  logger: Logger;
  graceMs?: number;
  /** How to stop at once; tests pass a fake. */
  exit?: (code: number) => void;
  /** Where signals come from; tests pass a fake. */
  listen?: (signal: Deno.Signal, handler: () => void) => () => void;
}): StopSignals {
  const { logger } = options;
  const graceMs = options.graceMs ?? SHUTDOWN_GRACE_SECONDS * 1000;
  const exit = options.exit ?? ((code: number) => Deno.exit(code));
  const listen = options.listen ?? ((signal, handler) => {
    Deno.addSignalListener(signal, handler);
    return () => Deno.removeSignalListener(signal, handler);
  });
  const stopped = Promise.withResolvers<string>();
  let received = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;

  const onSignal = (name: string) => {
    received++;
    if (received === 1) return stopped.resolve(name);
    if (received < FORCE_AFTER_SIGNALS) {
      logger.warn(
        `${name} again: still shutting down gracefully (clients are being told, the store ` +
          `closed); ${FORCE_AFTER_SIGNALS - received} more stops at once`,
      );
      return;
    }
    forced(`${name} received ${received} times`);
  };
  const forced = (why: string) => {
    logger.error(
      `${why}: stopping now, before the shutdown finished (some clients get no goodbye; ` +
        "the store is recovered from its -wal file at the next start)",
    );
    exit(FORCED_EXIT_CODE);
  };
  const unlisten = STOP_SIGNALS.map((sig) => listen(sig, () => onSignal(sig)));

  return {
    stopped: stopped.promise,
    shuttingDown() {
      if (timer !== undefined) return;
      const deadline = setTimeout(
        () => forced(`the shutdown took longer than ${graceMs / 1000} s`),
        graceMs,
      );
      // The deadline is a backstop: it must not keep a finished process alive.
      Deno.unrefTimer(deadline);
      timer = deadline;
    },
    dispose() {
      clearTimeout(timer);
      for (const stop of unlisten) stop();
    },
  };
}
