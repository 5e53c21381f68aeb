/**
 * A real PostgreSQL for tests: Debian's `postgresql` binaries (/usr/lib/postgresql/<version>/bin,
 * the newest found), a cluster made with `initdb` in a temporary directory, run as the
 * `postgres` user when this process is root (PostgreSQL refuses to run as root), listening on a
 * free loopback port with its socket in the temporary directory. Each test run makes its own
 * databases; the cluster can be stopped and started again on the same data directory, for
 * failure tests.
 *
 * Tests that need it call {@linkcode postgresAvailable}: without the binaries they are skipped
 * with a message, except under CI (`CI` set), where they fail: CI always runs them.
 */
import postgres from "postgres";

const PG_ROOT = "/usr/lib/postgresql";

/** The bin directory of the newest installed PostgreSQL, or undefined. */
export function postgresBinDir(): string | undefined {
  let versions: number[] = [];
  try {
    versions = [...Deno.readDirSync(PG_ROOT)]
      .map((e) => Number(e.name))
      .filter((v) => Number.isFinite(v))
      .sort((a, b) => b - a);
  } catch {
    return undefined;
  }
  for (const v of versions) {
    const bin = `${PG_ROOT}/${v}/bin`;
    try {
      Deno.statSync(`${bin}/postgres`);
      Deno.statSync(`${bin}/initdb`);
      return bin;
    } catch {
      // Only the client of this version.
    }
  }
  return undefined;
}

/**
 * Whether the PostgreSQL tests can run here. Without the binaries: false after saying why
 * (skip), unless `CI` is set: then it throws, since CI installs them and must run the tests.
 */
export function postgresAvailable(): boolean {
  if (postgresBinDir()) return true;
  const why = `PostgreSQL tests need Debian's postgresql (no ${PG_ROOT}/<version>/bin/postgres)`;
  if (Deno.env.get("CI")) throw new Error(`${why}; CI must install it (.ci/run)`);
  console.warn(`skipped: ${why}; apt-get install postgresql to run them`);
  return false;
}

/** A running (or stopped) PostgreSQL cluster of a test. */
export interface PostgresService {
  /** Loopback port it listens on (kept across restarts). */
  readonly port: number;
  /** `postgres://postgres@127.0.0.1:<port>/<database>`. */
  url(database: string): string;
  /** Makes a new, empty database (UTF-8) and returns its name. */
  createDatabase(prefix?: string): Promise<string>;
  dropDatabase(name: string): Promise<void>;
  /** Stops the server (fast shutdown: open connections are cut), keeping its data. */
  stop(): Promise<void>;
  /** Starts it again on the same data directory and port (nothing to do when it runs). */
  start(): Promise<void>;
  /** Stops it and removes its directory. */
  close(): Promise<void>;
}

/** Whether this process runs as root (then PostgreSQL runs as the `postgres` user). */
function isRoot(): boolean {
  return Deno.uid() === 0;
}

/** The uid and gid of the `postgres` user, from /etc/passwd. */
function postgresUser(): { uid: number; gid: number } {
  const line = Deno.readTextFileSync("/etc/passwd").split("\n").find((l) =>
    l.startsWith("postgres:")
  );
  if (!line) throw new Error("running as root, but there is no postgres user to run PostgreSQL");
  const [, , uid, gid] = line.split(":");
  return { uid: Number(uid), gid: Number(gid) };
}

/** `cmd` as the PostgreSQL user: through setpriv when root, as it is otherwise. */
function asPostgres(
  cmd: string,
  args: string[],
  output: "piped" | "null" = "piped",
): Deno.Command {
  const options = { args, stdout: output, stderr: output, stdin: "null" as const };
  if (!isRoot()) return new Deno.Command(cmd, options);
  // setpriv execs in place: the child's pid is PostgreSQL's own, so signals reach it.
  return new Deno.Command("setpriv", {
    ...options,
    args: ["--reuid=postgres", "--regid=postgres", "--init-groups", "--", cmd, ...args],
  });
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

let databases = 0;

/** Initialises and starts a cluster in a new temporary directory. */
export async function startPostgres(): Promise<PostgresService> {
  const bin = postgresBinDir();
  if (!bin) throw new Error("no PostgreSQL binaries (see postgresAvailable)");
  const dir = await Deno.makeTempDir({ prefix: "parley-pg-" });
  const data = `${dir}/data`;
  if (isRoot()) {
    const { uid, gid } = postgresUser();
    await Deno.chown(dir, uid, gid);
  }
  await Deno.chmod(dir, 0o700);
  const init = await asPostgres(`${bin}/initdb`, [
    "-D",
    data,
    "-U",
    "postgres",
    "-A",
    "trust",
    "-E",
    "UTF8",
    "--locale=C",
    "--no-sync",
  ]).output();
  if (!init.success) {
    throw new Error(`initdb failed: ${new TextDecoder().decode(init.stderr)}`);
  }
  const port = freePort();
  let child: Deno.ChildProcess | undefined;
  // The server's own log goes to a file: piped output would keep a read pending in whichever
  // test happened to run, which Deno's sanitizers report as a leak.
  const logFile = `${data}/log/postgres.log`;
  const log = () => {
    try {
      return Deno.readTextFileSync(logFile).slice(-8000);
    } catch {
      return "(no log)";
    }
  };

  const start = async () => {
    if (child) return; // Running already.
    child = asPostgres(`${bin}/postgres`, [
      "-D",
      data,
      "-p",
      String(port),
      "-k",
      dir,
      "-c",
      "listen_addresses=127.0.0.1",
      "-c",
      "max_connections=200",
      "-c",
      "shared_buffers=32MB",
      "-c",
      "logging_collector=on",
      "-c",
      "log_directory=log",
      "-c",
      "log_filename=postgres.log",
    ], "null").spawn();
    let exited = false;
    child.status.then(() => exited = true);
    for (let i = 0; i < 600; i++) {
      if (exited) throw new Error(`PostgreSQL exited at start:\n${log()}`);
      const ready = await new Deno.Command(`${bin}/pg_isready`, {
        args: ["-h", "127.0.0.1", "-p", String(port), "-U", "postgres", "-q"],
        stdout: "null",
        stderr: "null",
      }).output();
      if (ready.success) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`PostgreSQL did not get ready:\n${log()}`);
  };

  const stop = async () => {
    const running = child;
    child = undefined;
    if (!running) return;
    // SIGINT is PostgreSQL's fast shutdown: open connections are cut, no need to wait for them.
    running.kill("SIGINT");
    await running.status;
  };

  const admin = () =>
    postgres({
      host: "127.0.0.1",
      port,
      user: "postgres",
      database: "postgres",
      max: 1,
      onnotice: () => {},
    });

  // A run cut short (a filtered or failed test file) still leaves no server and no directory.
  let closed = false;
  globalThis.addEventListener("unload", () => {
    if (closed) return;
    try {
      child?.kill("SIGQUIT"); // immediate shutdown
    } catch {
      // Exited already.
    }
    try {
      Deno.removeSync(dir, { recursive: true });
    } catch {
      // Nothing more to do at exit.
    }
  });

  await start();
  return {
    port,
    url: (database) => `postgres://postgres@127.0.0.1:${port}/${database}`,
    async createDatabase(prefix = "parley_test") {
      const name = `${prefix}_${Deno.pid}_${++databases}`;
      const sql = admin();
      try {
        await sql.unsafe(`CREATE DATABASE ${name} ENCODING 'UTF8' TEMPLATE template0`);
      } finally {
        await sql.end();
      }
      return name;
    },
    async dropDatabase(name) {
      const sql = admin();
      try {
        await sql.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await sql.end();
      }
    },
    stop,
    start,
    async close() {
      closed = true;
      await stop();
      await Deno.remove(dir, { recursive: true });
    },
  };
}
