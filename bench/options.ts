/** The bench's command line (node:util parseArgs): scenario, load shape and limits. */
import { parseArgs } from "node:util";
import { MAX_SIZE, MIN_SIZE } from "./messages.ts";
import type { TransportMode } from "./wire.ts";
import type { Generator } from "./pool.ts";

export const SCENARIOS = ["broadcast", "saturate", "idle", "churn", "slow", "translate"] as const;
export type Scenario = typeof SCENARIOS[number];

export interface Options {
  scenario: Scenario;
  clients: number;
  senders: number;
  /** Broadcasts per second per sender. */
  rate: number;
  /** Seconds per measured phase (each saturation step; churn; idle hold). */
  duration: number;
  size: number;
  transport: TransportMode;
  translate: boolean;
  /** Latency the fake translation provider adds to each call, ms. */
  translateDelay: number;
  /** Clients that stop reading (slow scenario). */
  slow: number;
  workers: number | undefined;
  /** Parley's own `--workers`: listeners sharing its ports, one per core. */
  serverWorkers: number;
  clientsPerWorker: number;
  connectConcurrency: number;
  baseline: boolean;
  /** Saturation: multiply the rate by this each step, at most `maxSteps` steps, p99 limit. */
  stepFactor: number;
  maxSteps: number;
  p99LimitMs: number;
  /** Saturation: steps between the last clean rate and the first failed one (see scenarios.ts). */
  refineSteps: number;
  /** Hard deadline for the whole run, seconds (undefined: computed). */
  timeout: number | undefined;
  out: string | undefined;
  verbose: boolean;
  /** Directory for a V8 CPU profile of the Parley server (written on a graceful stop). */
  profile: string | undefined;
  /** The WebSocket baseline: Deno's own WebSocket (the floor) or npm `ws` on `node:http`. */
  wsBaseline: "deno" | "node-ws";
  /** Directory for heap snapshots of both servers after the idle hold and its GCs. */
  heapSnapshot: string | undefined;
  /** Directory for the second round's smaps and malloc figures of both servers. */
  memoryDump: string | undefined;
  /** The load generator's runtime: Node (OpenSSL opens frames cheaply) or Deno (lib/client). */
  generator: Generator;
  /**
   * Niceness of the load-generator processes (0: as the server's). On one machine the clients
   * compete with the server for its cores; lower priority lets the server run when it has work,
   * as it would with its clients on other machines.
   */
  generatorNice: number;
  /** Another checkout of Parley whose main.ts to run (the code before a change, say). */
  parleyDir: string | undefined;
}

/**
 * The idle scenario's default hold. V8 collects a sign-in storm's garbage once allocation has been
 * quiet for a while (its memory reducer: about 30 s in, measured on an idle Deno 2.9 process);
 * memory measured sooner counts that garbage as if the connections held it.
 */
export const IDLE_HOLD_S = 45;

export const HELP = `Parley load generator: deno task bench [scenario] [options]

Runs the Parley server (main.ts) and load-generator worker processes (bench/worker.ts, clients
built on lib/client: ParleyClient + SecureChannel over TCP or WebSocket), then the same load
against a zero-feature Deno broadcast server of the same transport (bench/baseline_*.ts), and
prints Parley's figures with their ratio to the baseline's. Results: bench/results/<time>.json.

Scenarios:
  broadcast   (default) --clients connected and signed in; --senders of them broadcast @all
              at --rate per second each for --duration seconds
  saturate    like broadcast, raising the rate by --step-factor each step until p99 passes
              --p99-limit ms or anything is lost/refused; reports the last sustained rate
  idle        connect and sign in --clients (e.g. 5000), then hold: RSS per idle connection,
              logins/s, idle CPU
  churn       --clients parallel slots doing connect, sign-in, quit for --duration seconds:
              cycles/s, server RSS before/after
  slow        broadcast while --slow clients (TCP) stop reading: does the server drop them,
              how much memory does it hold, do the others suffer
  translate   broadcast with --translate: a fake translation provider on loopback, clients
              spread over 5 languages
  history     the store alone (no server): fills a message log of 1,000,000 messages, then
              history pages/s and p99, catch-up and unread counts at that size. Its own
              options: deno task bench history --help
  restart     a reconnect storm: --clients JSON clients signed in (production PBKDF2), the
              server SIGTERMed and started again on the same data: seconds until all are back
              online and every message sent meanwhile delivered; --no-resume for password
              sign-ins. Its own options: deno task bench restart --help

Options:
  --clients N            clients (slots for churn)      default 200 (idle 1000, churn 50)
  --senders N            clients that send              default 10
  --rate R               broadcasts/s per sender        default 5 (saturate: first step)
  --duration S           seconds per phase              default 10 (saturate 5, idle 45)
  --size B               message text bytes             default 100 (${MIN_SIZE}..${MAX_SIZE})
  --transport T          tcp | ws | mixed | text        default tcp (text: text mode, nc-style)
  --generator G          node | deno: load clients      default node (see bench/README.md)
  --generator-nice N     load clients' niceness, 0-19   default 10 (the server runs first)
  --parley-dir DIR       run DIR/main.ts as Parley (e.g. a checkout of the code before a
                         change, for a before/after pair with the same load generator)
  --translate            translation on (fake provider; langs en es fr de ja)
  --translate-delay MS   latency the fake provider adds default 0
  --slow N               slow clients (slow scenario)   default 10% of --clients
  --workers N            load-generator processes       default ceil(clients/250), <= 2*cores
  --server-workers N     Parley's own --workers (listeners on its ports, one per core)
                                                        default 1
  --clients-per-worker N                                default 250
  --connect-concurrency N  sign-ins in flight per worker  default 32
  --no-baseline          skip the baseline server
  --step-factor F        saturate: rate multiplier      default 1.5
  --max-steps N          saturate: most steps           default 8
  --p99-limit MS         saturate: p99 limit            default 200
  --refine N             saturate: steps between the last clean rate and
                         the first failed one, each halving the gap    default 2
  --timeout S            hard deadline for the run      default computed from the load
  --out FILE             results JSON                   default bench/results/<time>.json
  --verbose              echo children's stderr
  --profile DIR          write a V8 CPU profile of the Parley server to DIR (.cpuprofile;
                         open in Chrome DevTools); the server is then stopped with SIGTERM
  --ws-baseline KIND     the WebSocket baseline: deno (Deno.serve + upgradeWebSocket) or
                         node-ws (npm ws on node:http, in Deno)          default deno
  --heap-snapshot DIR    idle: write a V8 heap snapshot of each server to DIR after its
                         GCs (<target>.heapsnapshot; open in Chrome DevTools' Memory tab)
  --memory-dump DIR      idle: write each server's /proc smaps and malloc figures (glibc's
                         malloc_info, arena by arena) to DIR for the second round, with every
                         client closed and with all signed in again (<target>-closed.*,
                         <target>-warm.*); no heap snapshot, which would change them
  --help                 this help

The server runs with PARLEY_KDF_ITERATIONS=1000 (sign-in cost lowered for the bench) and with
its rate and connection limits lifted (PARLEY_MESSAGE_RATE etc.; see bench/server_proc.ts).

Examples:
  deno task bench --clients 50 --senders 5 --duration 5 --transport mixed
  deno task bench broadcast --clients 1000 --senders 10 --rate 10
  deno task bench saturate --clients 200 --senders 10 --rate 2
  deno task bench idle --clients 5000 --no-baseline
  deno task bench saturate --server-workers 2 --no-baseline
  deno task bench translate --clients 100 --transport ws`;

export class UsageError extends Error {
  override name = "UsageError";
}

function int(v: string | undefined, name: string, min: number, max = Infinity): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new UsageError(`--${name} must be an integer from ${min} to ${max}: got '${v}'`);
  }
  return n;
}

function num(v: string | undefined, name: string, min: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < min) {
    throw new UsageError(`--${name} must be a number of at least ${min}: got '${v}'`);
  }
  return n;
}

/** Parses the command line; "help" for --help. */
export function parseOptions(args: string[]): Options | "help" {
  const str = { type: "string" as const };
  const bool = { type: "boolean" as const };
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options: {
        scenario: str,
        clients: str,
        senders: str,
        rate: str,
        duration: str,
        size: str,
        transport: str,
        translate: bool,
        "translate-delay": str,
        slow: str,
        workers: str,
        "server-workers": str,
        "clients-per-worker": str,
        "connect-concurrency": str,
        "no-baseline": bool,
        "step-factor": str,
        "max-steps": str,
        refine: str,
        "p99-limit": str,
        timeout: str,
        out: str,
        verbose: bool,
        profile: str,
        "heap-snapshot": str,
        "memory-dump": str,
        "ws-baseline": str,
        generator: str,
        "generator-nice": str,
        "parley-dir": str,
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (err) {
    throw new UsageError(`${(err as Error).message}. Try --help.`);
  }
  const { values: v, positionals } = parsed;
  if (v.help) return "help";
  if (positionals.length > 1) throw new UsageError(`one scenario at most: got ${positionals}`);
  const scenario = (v.scenario ?? positionals[0] ?? "broadcast") as Scenario;
  if (!SCENARIOS.includes(scenario)) {
    throw new UsageError(`unknown scenario '${scenario}': one of ${SCENARIOS.join(", ")}`);
  }
  const transport = (v.transport ?? "tcp") as TransportMode;
  if (!["tcp", "ws", "mixed", "text"].includes(transport)) {
    throw new UsageError(`--transport must be tcp, ws, mixed or text: got '${transport}'`);
  }
  const generator = (v.generator ?? "node") as Generator;
  if (!["node", "deno"].includes(generator)) {
    throw new UsageError(`--generator must be node or deno: got '${generator}'`);
  }
  const wsBaseline = (v["ws-baseline"] ?? "deno") as Options["wsBaseline"];
  if (!["deno", "node-ws"].includes(wsBaseline)) {
    throw new UsageError(`--ws-baseline must be deno or node-ws: got '${wsBaseline}'`);
  }
  const defaultClients = scenario === "idle" ? 1000 : scenario === "churn" ? 50 : 200;
  const clients = int(v.clients, "clients", 2, 20_000) ?? defaultClients;
  const senders = int(v.senders, "senders", 1, clients) ?? Math.min(10, clients);
  const slow = int(v.slow, "slow", 0, clients - senders - 1) ??
    (scenario === "slow"
      ? Math.max(1, Math.min(Math.round(clients / 10), clients - senders - 1))
      : 0);
  return {
    scenario,
    clients,
    senders,
    rate: num(v.rate, "rate", 0.1) ?? (scenario === "saturate" ? 2 : 5),
    duration: num(v.duration, "duration", 1) ??
      (scenario === "saturate" ? 5 : scenario === "idle" ? IDLE_HOLD_S : 10),
    size: int(v.size, "size", MIN_SIZE, MAX_SIZE) ?? 100,
    transport,
    translate: v.translate || scenario === "translate",
    translateDelay: int(v["translate-delay"], "translate-delay", 0, 10_000) ?? 0,
    slow: scenario === "slow" ? slow : 0,
    workers: int(v.workers, "workers", 1, 64),
    serverWorkers: int(v["server-workers"], "server-workers", 1, 64) ?? 1,
    clientsPerWorker: int(v["clients-per-worker"], "clients-per-worker", 1, 20_000) ?? 250,
    connectConcurrency: int(v["connect-concurrency"], "connect-concurrency", 1, 1000) ?? 32,
    baseline: !v["no-baseline"],
    stepFactor: num(v["step-factor"], "step-factor", 1.01) ?? 1.5,
    maxSteps: int(v["max-steps"], "max-steps", 1, 50) ?? 8,
    p99LimitMs: num(v["p99-limit"], "p99-limit", 1) ?? 200,
    refineSteps: int(v.refine, "refine", 0, 10) ?? 2,
    timeout: num(v.timeout, "timeout", 10),
    out: v.out,
    verbose: v.verbose ?? false,
    profile: v.profile,
    heapSnapshot: v["heap-snapshot"],
    memoryDump: v["memory-dump"],
    wsBaseline,
    generator,
    generatorNice: int(v["generator-nice"], "generator-nice", 0, 19) ?? 10,
    parleyDir: v["parley-dir"],
  };
}

/**
 * A scenario's options (`parse` of `args`), or the exit code when there is nothing to run: 0 once
 * `help` is printed because it was asked for, 2 once why the arguments are wrong is printed with
 * it. For the scenarios with options of their own (`restart`, `upload`).
 */
export function scenarioOptions<T extends object>(
  scenario: string,
  help: string,
  parse: (args: string[]) => T | "help",
  args: string[],
): T | number {
  let parsed: T | "help";
  try {
    parsed = parse(args);
  } catch (err) {
    console.error(`bench ${scenario}: ${(err as Error).message}\n${help}`);
    return 2;
  }
  if (parsed !== "help") return parsed;
  console.log(help);
  return 0;
}
