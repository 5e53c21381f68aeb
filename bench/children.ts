/**
 * Child processes of the bench, bounded and never orphaned: each runs under a small bash wrapper
 * that raises the file-descriptor limit, and every child is SIGKILLed when the bench ends.
 *
 * Servers (`watchdog: true`) get no stdin; the wrapper prints `bench-pid <pid>` (the pid to read
 * /proc of) and kills the server as soon as the bench's end of its stdin closes, so a server
 * outlives the bench by no more than that, even if the bench itself is SIGKILLed. Workers keep
 * their stdin (commands) and exit on their own when it closes.
 */
import { readLines } from "./lines.ts";

const FD_LIMIT = 65536;

const WRAPPER = `
ulimit -n ${FD_LIMIT} 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null
if [ "$BENCH_WATCHDOG" != 1 ]; then exec "$@"; fi
exec 3<&0
"$@" </dev/null 3<&- &
child=$!
echo "bench-pid $child"
{ while read -r -u 3 _; do :; done; kill -KILL "$child" 2>/dev/null; } &
watch=$!
wait "$child"
code=$?
kill "$watch" 2>/dev/null
exit "$code"
`;

export interface Child {
  readonly name: string;
  /** The process to read /proc of (the program itself, not the wrapper). */
  readonly pid: number;
  readonly process: Deno.ChildProcess;
  /** Lines the child prints on stdout, in order (consume once). */
  readonly lines: AsyncGenerator<string>;
  /** The last lines of its stderr (and unconsumed output), for error messages. */
  tail(): string;
  /** Writes one line to its stdin (workers). */
  write(line: string): Promise<void>;
  kill(): void;
  /** SIGTERM, then wait up to `ms` for the program to exit (the wrapper exits with it). */
  terminate(ms: number): Promise<void>;
}

const live = new Set<Child>();

export interface SpawnOptions {
  name: string;
  /** The program to run; `deno` (this one) when absent. */
  program?: string;
  args: string[];
  env?: Record<string, string>;
  /** A server: no stdin, killed when the bench goes away (see above). */
  watchdog?: boolean;
  /** Runs it at this niceness (`nice -n`); the pid stays the program's. */
  nice?: number;
  /** Echo its stderr to ours as it comes. */
  echoStderr?: boolean;
  /** Called with each stderr line. */
  onStderr?: (line: string) => void;
}

/** Starts `deno <args>` (or `program <args>`) under the wrapper. */
export async function spawnDeno(o: SpawnOptions): Promise<Child> {
  const process = new Deno.Command("bash", {
    args: [
      "-c",
      WRAPPER,
      "bench-child",
      ...o.nice ? ["nice", "-n", String(o.nice)] : [],
      o.program ?? Deno.execPath(),
      ...o.args,
    ],
    env: { NO_COLOR: "1", ...o.env, BENCH_WATCHDOG: o.watchdog ? "1" : "0" },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let tail: string[] = [];
  const keep = (line: string) => {
    tail.push(line);
    if (tail.length > 40) tail = tail.slice(-40);
  };
  (async () => {
    for await (const line of readLines(process.stderr)) {
      keep(line);
      o.onStderr?.(line);
      if (o.echoStderr) console.error(`[${o.name}] ${line}`);
    }
  })().catch(() => {});
  const stdout = readLines(process.stdout);
  let pid = process.pid;
  if (o.watchdog) {
    const first = await stdout.next();
    const m = first.done ? null : first.value.match(/^bench-pid (\d+)$/);
    if (!m) throw new Error(`${o.name}: the wrapper did not start it`);
    pid = Number(m[1]);
  }
  const stdin = process.stdin.getWriter();
  const utf8 = new TextEncoder();
  const child: Child = {
    name: o.name,
    pid,
    process,
    lines: (async function* () {
      for await (const line of stdout) {
        keep(line);
        yield line;
      }
    })(),
    tail: () => tail.join("\n"),
    write: (line) => stdin.write(utf8.encode(line + "\n")),
    kill() {
      live.delete(child);
      for (const p of new Set([pid, process.pid])) {
        try {
          Deno.kill(p, "SIGKILL");
        } catch { /* already gone */ }
      }
      stdin.close().catch(() => {});
    },
    async terminate(ms) {
      try {
        Deno.kill(pid, "SIGTERM");
      } catch {
        return;
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([process.status, new Promise((r) => timer = setTimeout(r, ms))]);
      clearTimeout(timer);
    },
  };
  live.add(child);
  process.status.then(() => live.delete(child));
  return child;
}

/** SIGKILLs every child still running. */
export function killAll(): void {
  for (const c of [...live]) c.kill();
}
