/**
 * `deno task bench restart`: a reconnect storm. `--clients` JSON clients (the product's
 * ReconnectingClient over TcpChannel, each with a device id) sign in to a Parley server with the
 * production password hashing (`--kdf-iterations`, default 600,000); the server gets SIGTERM;
 * while it is down, `--senders` of them each send a message to another client (it waits in the
 * client's outbox); the server starts again on the same data directory and TCP port. Measured:
 * the time from the new server's start (and from its "listening" line) until every client is
 * back online and every message sent meanwhile has been delivered, and the server's CPU seconds
 * over that time.
 *
 *   deno task bench restart [--clients 5000] [--senders 100] [--kdf-iterations 600000]
 *     [--no-resume] [--connect-concurrency 16] [--client-processes N] [--timeout 900] [--json]
 *     [--profile DIR]
 *
 * `--no-resume` signs in again with the password on every reconnect (what clients did before
 * resume tokens): every reconnect then costs a full password hash. `--profile DIR` writes a V8
 * CPU profile of the restarted server (the storm it serves) to DIR. Standalone: no baseline. The
 * clients run in `--client-processes` processes (bench/restart_clients.ts; default one per 2,500
 * clients, at most one per core), whose CPU seconds are reported with the server's: one process
 * of 5,000 clients needed more CPU than the server, so it was the limit of the run.
 */
import { parseArgs } from "node:util";
import { wholeFlag } from "./whole_flag.ts";
import { type Child, spawnDeno } from "./children.ts";
import type { ClientsConfig } from "./restart_clients.ts";
import { LIBC_FFI_FLAG } from "../server/memory_trim.ts";
import { PARLEY_BENCH_ENV } from "./server_proc.ts";
import { scenarioOptions } from "./options.ts";

interface Options {
  clients: number;
  senders: number;
  kdfIterations: number;
  resume: boolean;
  connectConcurrency: number;
  clientProcesses: number;
  /** Parley's own `--workers` (1: one thread, the figures before workers, a whole profile). */
  serverWorkers: number;
  timeoutS: number;
  json: boolean;
  profileDir?: string;
}

export const RESTART_HELP =
  "deno task bench restart [--clients 5000] [--senders 100] [--kdf-iterations 600000] " +
  "[--no-resume] [--connect-concurrency 16] [--client-processes N] [--server-workers 1] " +
  "[--timeout 900] [--json] " +
  "[--profile DIR]";

const ROOT = new URL("../", import.meta.url).pathname;
const CLIENTS = new URL("./restart_clients.ts", import.meta.url).pathname;
/** Clients per process by default (at most one process per core). */
const CLIENTS_PER_PROCESS = 2500;

function parseOptions(args: string[]): Options | "help" {
  const { values: f } = parseArgs({
    args,
    options: {
      clients: { type: "string", default: "5000" },
      senders: { type: "string", default: "100" },
      "kdf-iterations": { type: "string", default: "600000" },
      "no-resume": { type: "boolean", default: false },
      "connect-concurrency": { type: "string", default: "16" },
      "client-processes": { type: "string" },
      "server-workers": { type: "string", default: "1" },
      timeout: { type: "string", default: "900" },
      json: { type: "boolean", default: false },
      profile: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (f.help) return "help";
  const whole = wholeFlag;
  const clients = whole("clients", f.clients, 2);
  return {
    clients,
    senders: Math.min(whole("senders", f.senders, 0), clients),
    kdfIterations: whole("kdf-iterations", f["kdf-iterations"]),
    resume: !f["no-resume"],
    connectConcurrency: whole("connect-concurrency", f["connect-concurrency"]),
    clientProcesses: Math.min(
      clients,
      f["client-processes"] === undefined
        ? Math.min(navigator.hardwareConcurrency, Math.ceil(clients / CLIENTS_PER_PROCESS))
        : whole("client-processes", f["client-processes"]),
    ),
    serverWorkers: whole("server-workers", f["server-workers"], 1),
    timeoutS: whole("timeout", f.timeout),
    json: f.json,
    profileDir: f.profile,
  };
}

/** A Parley server process on `dataDir`, started and waited for until it listens. */
class Server {
  readonly child: Deno.ChildProcess;
  readonly startedAt = performance.now();
  listeningAt = NaN;
  tcpPort = 0;
  fingerprint = "";
  #out = "";

  private constructor(child: Deno.ChildProcess) {
    this.child = child;
  }

  static async start(
    dataDir: string,
    tcpPort: number,
    kdfIterations: number,
    workers: number,
    profileDir?: string,
  ): Promise<Server> {
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-net",
        "--allow-read",
        "--allow-write",
        "--allow-env",
        LIBC_FFI_FLAG,
        // Several workers share the ports (SO_REUSEPORT), as `deno task start` lets them.
        "--unstable-net",
        ...(profileDir ? ["--cpu-prof", `--cpu-prof-dir=${profileDir}`] : []),
        `${ROOT}main.ts`,
        "--tcp-port",
        String(tcpPort),
        "--http-port",
        "0",
        "--data-dir",
        dataDir,
        "--workers",
        String(workers),
      ],
      env: { NO_COLOR: "1", ...PARLEY_BENCH_ENV, PARLEY_KDF_ITERATIONS: String(kdfIterations) },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const server = new Server(child);
    const listening = Promise.withResolvers<void>();
    const pump = async (stream: ReadableStream<Uint8Array>) => {
      const decoder = new TextDecoder();
      for await (const bytes of stream) {
        // Only the start-up lines are kept: the rest (sign-ins) is read and dropped.
        if (server.tcpPort) continue;
        server.#out += decoder.decode(bytes, { stream: true });
        const port = server.#out.match(/Parley listening: tcp [\d.]+:(\d+)/)?.[1];
        const fingerprint = server.#out.match(/Parley identity: (SHA256:\S+)/)?.[1];
        if (port && fingerprint) {
          server.listeningAt = performance.now();
          server.tcpPort = Number(port);
          server.fingerprint = fingerprint;
          listening.resolve();
        }
      }
    };
    void pump(child.stdout);
    void pump(child.stderr);
    void child.status.then((s) =>
      listening.reject(new Error(`server exited (${s.code}) before listening:\n${server.#out}`))
    );
    await listening.promise;
    return server;
  }

  /** User plus system CPU seconds the process has used (/proc/<pid>/stat). */
  cpuSeconds(): number {
    return cpuSecondsOf(this.child.pid);
  }

  async terminate(): Promise<number> {
    try {
      this.child.kill("SIGTERM");
    } catch { /* gone */ }
    return (await this.child.status).code;
  }
}

/** One process of clients, with what it last said. */
class ClientProcess {
  readonly child: Child;
  signedIn = false;
  retries = 0;
  online = 0;
  received = 0;
  throttled = 0;
  exited = false;

  constructor(child: Child) {
    this.child = child;
    (async () => {
      for await (const line of child.lines) {
        const m = JSON.parse(line);
        if (m.signedIn) {
          this.signedIn = true;
          this.retries = m.retries;
        } else Object.assign(this, m);
      }
    })().catch(() => {}).finally(() => this.exited = true);
  }

  static async start(name: string, config: ClientsConfig): Promise<ClientProcess> {
    const child = await spawnDeno({
      name,
      args: ["run", "--allow-net", "--allow-read", CLIENTS, JSON.stringify(config)],
      echoStderr: true,
    });
    return new ClientProcess(child);
  }
}

/** Waits until `done` holds, checking every 10 ms; fails when a process of clients has exited. */
async function until(processes: ClientProcess[], done: () => boolean): Promise<void> {
  while (!done()) {
    const gone = processes.find((p) => p.exited);
    if (gone) throw new Error(`${gone.child.name} exited:\n${gone.child.tail()}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * Runs the scenario; prints the figures (a table, or JSON with `--json`). Returns the exit code:
 * 0 when every client came back and every message arrived.
 */
export async function runRestartBench(args: string[]): Promise<number> {
  const opts = scenarioOptions("restart", RESTART_HELP, parseOptions, args);
  if (typeof opts === "number") return opts;
  const dataDir = await Deno.makeTempDir({ prefix: "parley-bench-restart-" });
  let server = await Server.start(dataDir, 0, opts.kdfIterations, opts.serverWorkers);
  const port = server.tcpPort;
  const deadline = setTimeout(() => {
    console.error(`bench restart: --timeout of ${opts.timeoutS} s passed; stopping`);
    try {
      server.child.kill("SIGKILL");
    } catch { /* gone */ }
    Deno.exit(1);
  }, opts.timeoutS * 1000);

  const processes: ClientProcess[] = [];
  const sum = (f: (p: ClientProcess) => number) => processes.reduce((n, p) => n + f(p), 0);
  const say = (line: string) => opts.json || console.error(`bench restart: ${line}`);
  try {
    say(
      `${opts.clients} clients in ${opts.clientProcesses} process(es) sign in ` +
        `(PBKDF2 ${opts.kdfIterations} iterations)…`,
    );
    const signInStart = performance.now();
    const share = Math.ceil(opts.clients / opts.clientProcesses);
    for (let k = 0; k < opts.clientProcesses; k++) {
      processes.push(
        await ClientProcess.start(`clients-${k}`, {
          port,
          fingerprint: server.fingerprint,
          from: k * share,
          to: Math.min(opts.clients, (k + 1) * share),
          clients: opts.clients,
          senders: opts.senders,
          resume: opts.resume,
          // The pacing is the run's, whatever the number of processes.
          connectConcurrency: Math.max(
            1,
            Math.ceil(opts.connectConcurrency / opts.clientProcesses),
          ),
        }),
      );
    }
    await until(processes, () => processes.every((p) => p.signedIn));
    const signInS = (performance.now() - signInStart) / 1000;
    say(`signed in in ${signInS.toFixed(1)} s; SIGTERM…`);

    const stopStart = performance.now();
    const code = await server.terminate();
    const stopS = (performance.now() - stopStart) / 1000;
    await until(processes, () => sum((p) => p.online) === 0);
    // Sent while the server is down: each waits in its client's outbox.
    for (const p of processes) await p.child.write("send");
    say(`server exited (${code}) in ${stopS.toFixed(1)} s; starting it again…`);

    server = await Server.start(
      dataDir,
      port,
      opts.kdfIterations,
      opts.serverWorkers,
      opts.profileDir,
    );
    const cpuBefore = server.cpuSeconds();
    // The clients' CPU: when it is near the wall time, they were the limit, not the server.
    const clientCpuBefore = sum((p) => cpuSecondsOf(p.child.pid));
    await until(
      processes,
      () => sum((p) => p.online) === opts.clients && sum((p) => p.received) === opts.senders,
    );
    const doneAt = performance.now();
    const cpuS = server.cpuSeconds() - cpuBefore;
    const clientCpuS = sum((p) => cpuSecondsOf(p.child.pid)) - clientCpuBefore;
    const result = {
      scenario: "restart",
      clients: opts.clients,
      senders: opts.senders,
      kdfIterations: opts.kdfIterations,
      resume: opts.resume,
      cores: navigator.hardwareConcurrency,
      signInS: round(signInS),
      stopS: round(stopS),
      startS: round((server.listeningAt - server.startedAt) / 1000),
      backOnlineS: round((doneAt - server.startedAt) / 1000),
      backOnlineFromListeningS: round((doneAt - server.listeningAt) / 1000),
      serverCpuS: round(cpuS),
      clientProcesses: opts.clientProcesses,
      serverWorkers: opts.serverWorkers,
      clientCpuS: round(clientCpuS),
      delivered: `${sum((p) => p.received)}/${opts.senders}`,
      throttledReconnects: sum((p) => p.throttled),
      initialSignInRetries: sum((p) => p.retries),
    };
    if (opts.json) console.log(JSON.stringify(result));
    else {
      for (const [k, v] of Object.entries(result)) console.log(`${k.padEnd(26)} ${v}`);
    }
    return 0;
  } finally {
    clearTimeout(deadline);
    for (const p of processes) await p.child.write("quit").catch(() => {});
    await Promise.all(processes.map((p) => p.child.process.status.catch(() => {})));
    await server.terminate();
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  }
}

/** CPU seconds (user and system) a process has used, from /proc. */
function cpuSecondsOf(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}

if (import.meta.main) Deno.exit(await runRestartBench(Deno.args));
