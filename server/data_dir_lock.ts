/**
 * One server per data directory. Two Parleys on one store each think they know who is online:
 * a user of one sees the users of the other as offline, and messages between them are stored
 * instead of delivered. The lock is an exclusive advisory lock (flock) on
 * `<data-dir>/parley.lock`: the kernel drops it when the process ends, however it ends (SIGKILL
 * included), so a stale lock never blocks a restart. The file names its holder, for the message
 * the next server prints.
 */

/** The lock file's name inside the data directory. */
export const LOCK_FILE = "parley.lock";

/** Another process holds the data directory. */
export class DataDirLockedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DataDirLockedError";
  }
}

/** A held lock on a data directory. */
export interface DataDirLock {
  /** The lock file. */
  readonly path: string;
  /** Lets the next server in (exiting does the same). */
  release(): void;
}

/**
 * Takes the data directory `dataDir` (which must exist) for this process, without waiting.
 * @throws {DataDirLockedError} naming the directory and the process that holds it.
 */
export function lockDataDir(dataDir: string): DataDirLock {
  const path = `${dataDir}/${LOCK_FILE}`;
  const file = Deno.openSync(path, { read: true, write: true, create: true, mode: 0o600 });
  let locked = false;
  try {
    locked = file.tryLockSync(true);
  } finally {
    if (!locked) file.close();
  }
  if (!locked) {
    const holder = describeHolder(path);
    throw new DataDirLockedError(
      `the data directory ${dataDir} is in use by another Parley (${holder}): stop that one ` +
        "first, or give this one another --data-dir",
    );
  }
  // Ours now: say who holds it. The content is only for the message; the lock is what counts.
  const holder = { pid: Deno.pid, host: hostname(), since: new Date().toISOString() };
  file.truncateSync(0);
  file.writeSync(new TextEncoder().encode(JSON.stringify(holder) + "\n"));
  let released = false;
  return {
    path,
    release() {
      if (released) return;
      released = true;
      file.close(); // Closing the last descriptor drops the lock.
    },
  };
}

/** "pid 123 on host db1, since …", from the holder's lock file, as far as it can be read. */
function describeHolder(path: string): string {
  let holder: { pid?: unknown; host?: unknown; since?: unknown } = {};
  try {
    holder = JSON.parse(Deno.readTextFileSync(path));
  } catch {
    // Being written this instant, or by something else.
  }
  if (typeof holder.pid !== "number") return `the process holding ${path}`;
  const host = typeof holder.host === "string" ? ` on host ${holder.host}` : "";
  const since = typeof holder.since === "string" ? `, since ${holder.since}` : "";
  return `pid ${holder.pid}${host}${since}`;
}

/**
 * This machine's name, where the permissions allow reading it: `deno task start` grants no
 * `--allow-sys`, but reading /etc/hostname needs only `--allow-read`.
 */
function hostname(): string | undefined {
  try {
    return Deno.hostname();
  } catch {
    try {
      return Deno.readTextFileSync("/etc/hostname").trim() || undefined;
    } catch {
      return undefined;
    }
  }
}
