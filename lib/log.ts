/** A small leveled logger writing one line per record to stderr. */

export const LOG_LEVELS = ["debug", "info", "warn", "error", "silent"] as const;
export type LogLevel = typeof LOG_LEVELS[number];

const rank: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3, silent: 4 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

/** Creates a logger that drops records below `level`. */
export function createLogger(
  level: LogLevel,
  write: (line: string) => void = (line) => console.error(line),
): Logger {
  const emit = (at: LogLevel, msg: string, fields?: Record<string, unknown>) => {
    if (rank[at] < rank[level]) return;
    let line = `${new Date().toISOString()} ${at.toUpperCase().padEnd(5)} ${msg}`;
    if (fields) {
      for (const [k, v] of Object.entries(fields)) line += ` ${k}=${formatField(v)}`;
    }
    write(line);
  };
  return {
    debug: (m, f) => emit("debug", m, f),
    info: (m, f) => emit("info", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
  };
}

function formatField(v: unknown): string {
  if (v instanceof Error) {
    const cause = v.cause ? ` (cause: ${formatField(v.cause)})` : "";
    return JSON.stringify(`${v.name}: ${v.message}${cause}`);
  }
  if (typeof v === "string") return /^[\w.:/@-]+$/.test(v) ? v : JSON.stringify(v);
  return JSON.stringify(v);
}

/** A logger that discards everything; handy in tests. */
export const silentLogger: Logger = createLogger("silent");

/** `logger` with `fields` added to every record (a worker's id, say); a record's own win. */
export function withFields(logger: Logger, fields: Record<string, unknown>): Logger {
  const add = (emit: Logger["info"]) => (msg: string, own?: Record<string, unknown>) =>
    emit(msg, { ...fields, ...own });
  return {
    debug: add(logger.debug),
    info: add(logger.info),
    warn: add(logger.warn),
    error: add(logger.error),
  };
}
