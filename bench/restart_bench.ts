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
 *     [--no-resume] [--connect-concurrency 16] [--timeout 900] [--json] [--profile DIR]
 *
 * `--no-resume` signs in again with the password on every reconnect (what clients did before
 * resume tokens): every reconnect then costs a full password hash. `--profile DIR` writes a V8
 * CPU profile of the restarted server (the storm it serves) to DIR. Standalone: no baseline; the
 * clients run in this process.
 */
import { parseArgs } from "node:util";
import { wholeFlag } from "./whole_flag.ts";
import { type ParleyClient, ReconnectingClient, TcpChannel } from "../lib/client/mod.ts";
import type { Welcome } from "../lib/client/client.ts";
import { pinFingerprint } from "../lib/crypto/mod.ts";
import { LIBC_FFI_FLAG } from "../server/memory_trim.ts";
import { PARLEY_BENCH_ENV } from "./server_proc.ts";

interface Options {
  clients: number;
  senders: number;
  kdfIterations: number;
  resume: boolean;
  connectConcurrency: number;
  timeoutS: number;
  json: boolean;
  profileDir?: string;
}

export const RESTART_HELP =
  "deno task bench restart [--clients 5000] [--senders 100] [--kdf-iterations 600000] " +
  "[--no-resume] [--connect-concurrency 16] [--timeout 900] [--json] [--profile DIR]";

const ROOT = new URL("../", import.meta.url).pathname;
const PASSWORD = "bench password";
/** Reconnect delays of the bench's clients: short, so the figure is the server's, not a backoff. */
const BACKOFF = { initialDelayMs: 100, maxDelayMs: 1000 };
/** Tries of each initial sign-in before the run gives up. */
const SIGN_IN_ATTEMPTS = 5;

function parseOptions(args: string[]): Options | "help" {
  const { values: f } = parseArgs({
    args,
    options: {
      clients: { type: "string", default: "5000" },
      senders: { type: "string", default: "100" },
      "kdf-iterations": { type: "string", default: "600000" },
      "no-resume": { type: "boolean", default: false },
      "connect-concurrency": { type: "string", default: "16" },
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
        ...(profileDir ? ["--cpu-prof", `--cpu-prof-dir=${profileDir}`] : []),
        `${ROOT}main.ts`,
        "--tcp-port",
        String(tcpPort),
        "--http-port",
        "0",
        "--data-dir",
        dataDir,
        // One process: the figures before workers, and a profile that sees the whole storm.
        "--workers",
        "1",
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

/** Runs `fn` over `items` with at most `limit` at a time. */
async function pooled<T>(items: T[], limit: number, fn: (item: T) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]);
    }),
  );
}

/**
 * Runs the scenario; prints the figures (a table, or JSON with `--json`). Returns the exit code:
 * 0 when every client came back and every message arrived.
 */
export async function runRestartBench(args: string[]): Promise<number> {
  let o;
  try {
    o = parseOptions(args);
  } catch (err) {
    console.error(`bench restart: ${(err as Error).message}\n${RESTART_HELP}`);
    return 2;
  }
  if (o === "help") {
    console.log(RESTART_HELP);
    return 0;
  }
  const opts = o;
  const dataDir = await Deno.makeTempDir({ prefix: "parley-bench-restart-" });
  let server = await Server.start(dataDir, 0, opts.kdfIterations);
  const port = server.tcpPort;
  const pin = pinFingerprint(server.fingerprint);
  const deadline = setTimeout(() => {
    console.error(`bench restart: --timeout of ${opts.timeoutS} s passed; stopping`);
    try {
      server.child.kill("SIGKILL");
    } catch { /* gone */ }
    Deno.exit(1);
  }, opts.timeoutS * 1000);

  const clients: ReconnectingClient[] = [];
  const received = new Set<string>();
  /** Reconnects refused as throttled (the sign-in throttle's per-address reservations). */
  let throttled = 0;
  /** Initial sign-ins tried again (the server did not answer one in time). */
  let signInRetries = 0;
  const online = () => clients.filter((c) => c?.state === "online").length;
  const say = (line: string) => opts.json || console.error(`bench restart: ${line}`);
  try {
    say(`${opts.clients} clients sign in (PBKDF2 ${opts.kdfIterations} iterations)…`);
    const signInStart = performance.now();
    await pooled([...Array(opts.clients).keys()], opts.connectConcurrency, async (i) => {
      const name = `r${i}`;
      const device = `bench-${i}`;
      let first = true;
      const client = new ReconnectingClient({
        ...BACKOFF,
        pingIntervalMs: 0,
        requestTimeoutMs: 600_000,
        dial: () => TcpChannel.connect({ port, verifyIdentity: pin }),
        // Without resume tokens: the password at every sign-in, as clients did before them.
        signIn: opts.resume ? undefined : async (c: ParleyClient): Promise<Welcome> => {
          const register = first;
          first = false;
          return register
            ? await c.register(name, PASSWORD, undefined, device)
            : await c.login(name, PASSWORD, undefined, device);
        },
      });
      client.on((e) => {
        if (e.type === "message" && e.text.startsWith("while down ")) received.add(e.text);
        if (e.type === "status" && e.state === "offline" && /throttled/.test(e.reason)) throttled++;
      });
      // A sign-in the loaded server did not answer in time is tried again (the account may
      // exist by then: a name taken is signed in to), so that one slow handshake does not end
      // the run before the restart it measures.
      let register = true;
      for (let attempt = 1;; attempt++) {
        try {
          await client.connect(
            opts.resume ? { name, password: PASSWORD, device } : undefined,
            { register },
          );
          break;
        } catch (err) {
          if (attempt >= SIGN_IN_ATTEMPTS) throw err;
          signInRetries++;
          if (/taken/i.test((err as Error).message)) register = false;
          await new Promise((r) => setTimeout(r, 1000));
        }
      }
      clients[i] = client;
    });
    const signInS = (performance.now() - signInStart) / 1000;
    say(`signed in in ${signInS.toFixed(1)} s; SIGTERM…`);

    const stopStart = performance.now();
    const code = await server.terminate();
    const stopS = (performance.now() - stopStart) / 1000;
    while (online() > 0) await new Promise((r) => setTimeout(r, 20));
    // Sent while the server is down: each waits in its client's outbox.
    const sends = [];
    for (let i = 0; i < opts.senders; i++) {
      const to = `r${(i + 1) % opts.clients}`;
      sends.push(clients[i].send(to, `while down ${i}`).catch(() => {}));
    }
    say(`server exited (${code}) in ${stopS.toFixed(1)} s; starting it again…`);

    server = await Server.start(dataDir, port, opts.kdfIterations, opts.profileDir);
    const cpuBefore = server.cpuSeconds();
    // The clients run here: when this is near the wall time, they were the limit, not the server.
    const clientCpuBefore = cpuSecondsOf(Deno.pid);
    while (online() < opts.clients || received.size < opts.senders) {
      await new Promise((r) => setTimeout(r, 10));
    }
    const doneAt = performance.now();
    const cpuS = server.cpuSeconds() - cpuBefore;
    const clientCpuS = cpuSecondsOf(Deno.pid) - clientCpuBefore;
    await Promise.all(sends);
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
      clientCpuS: round(clientCpuS),
      delivered: `${received.size}/${opts.senders}`,
      throttledReconnects: throttled,
      initialSignInRetries: signInRetries,
    };
    if (opts.json) console.log(JSON.stringify(result));
    else {
      for (const [k, v] of Object.entries(result)) console.log(`${k.padEnd(26)} ${v}`);
    }
    return 0;
  } finally {
    clearTimeout(deadline);
    await Promise.all(clients.map((c) => c?.quit(500).catch(() => {})));
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
