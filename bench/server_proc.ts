/**
 * The servers under test as child processes: Parley (`main.ts` on free ports with a throwaway
 * data directory) and the baseline broadcast servers. Each start resolves once the server
 * printed where it listens.
 */
import { type Child, spawnDeno } from "./children.ts";
import { LIBC_FFI_FLAG } from "../server/memory_trim.ts";
import type { Endpoint, TransportMode } from "./wire.ts";
import { INSPECTOR_LINE } from "./inspector.ts";

/** The inspector on a free loopback port (bench/inspector.ts asks it for a GC before measuring). */
const INSPECT_FLAG = "--inspect=127.0.0.1:0";

const ROOT = new URL("../", import.meta.url).pathname;

export interface ServerProc {
  child: Child;
  /** The inspector's WebSocket URL, when started with `inspect`. */
  inspectorUrl?: string;
  endpoint: Endpoint;
  /** The environment it was started with (for the report). */
  env: Record<string, string>;
  /** What it logged besides routine sign-ups: counts by level, and the first lines. */
  log: ServerLog;
  stop(): Promise<void>;
}

/** What the bench sets for Parley, and why (the report prints it). */
export const PARLEY_BENCH_ENV: Record<string, string> = {
  // 600,000 PBKDF2 iterations would make each sign-in cost ~0.6 s of server CPU.
  PARLEY_KDF_ITERATIONS: "1000",
  // Limits a load test must lift; ignored by servers that do not have them yet.
  PARLEY_MESSAGE_RATE: "1000000",
  PARLEY_MESSAGE_BURST: "1000000",
  PARLEY_MAX_CONNECTIONS: "20000",
  PARLEY_MAX_CONNECTIONS_PER_IP: "20000",
  PARLEY_NEW_CONNECTIONS_PER_MINUTE: "1000000",
};

export interface ServerLog {
  counts: Record<string, number>;
  lines: string[];
  /** When (epoch ms, from the log's own timestamps) each slow reader was disconnected. */
  slowReaderDrops: number[];
}

function serverLog(): {
  log: ServerLog;
  onStderr: (line: string) => void;
  inspector: Promise<string>;
} {
  const log: ServerLog = { counts: {}, lines: [], slowReaderDrops: [] };
  const inspector = Promise.withResolvers<string>();
  return {
    log,
    inspector: inspector.promise,
    onStderr(line) {
      const url = line.match(INSPECTOR_LINE)?.[1];
      if (url) return inspector.resolve(url);
      if (line.startsWith("Visit chrome://inspect") || line === "Debugger session started.") {
        return;
      }
      const level = line.match(/^\S+ (DEBUG|INFO|WARN|ERROR) /)?.[1] ?? "other";
      if (level === "INFO" && / INFO +registered /.test(line)) return;
      if (/ INFO +slow reader disconnected /.test(line)) {
        const at = Date.parse(line.slice(0, line.indexOf(" ")));
        if (!Number.isNaN(at)) log.slowReaderDrops.push(at);
      }
      log.counts[level] = (log.counts[level] ?? 0) + 1;
      if (log.lines.length < 30) log.lines.push(line);
    },
  };
}

/** Reads lines until `pattern` matched all `want` keys, or the process ends or time runs out. */
async function waitForLines(
  child: Child,
  patterns: Record<string, RegExp>,
  timeoutMs: number,
): Promise<Record<string, string>> {
  const found: Record<string, string> = {};
  const want = Object.keys(patterns);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) =>
    timer = setTimeout(
      () => reject(new Error(`${child.name} did not start in ${timeoutMs} ms:\n${child.tail()}`)),
      timeoutMs,
    )
  );
  const read = (async () => {
    while (want.some((k) => !(k in found))) {
      const next = await child.lines.next();
      if (next.done) throw new Error(`${child.name} exited before listening:\n${child.tail()}`);
      for (const k of want) {
        const m = next.value.match(patterns[k]);
        if (m) found[k] = m[1];
      }
    }
    return found;
  })();
  try {
    return await Promise.race([read, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Keeps reading a child's stdout so its pipe never fills. */
function drainLines(child: Child): void {
  (async () => {
    for await (const _ of child.lines) { /* kept in tail() */ }
  })().catch(() => {});
}

export async function startParley(
  options: {
    extraEnv?: Record<string, string>;
    verbose?: boolean;
    profileDir?: string;
    /** A checkout of Parley to run instead of this one (its main.ts), for before/after runs. */
    parleyDir?: string;
    inspect?: boolean;
  } = {},
): Promise<ServerProc> {
  const dataDir = await Deno.makeTempDir({ prefix: "parley-bench-" });
  const env = { ...PARLEY_BENCH_ENV, ...options.extraEnv };
  const { log, onStderr, inspector } = serverLog();
  const child = await spawnDeno({
    name: "parley",
    onStderr,
    watchdog: true,
    echoStderr: options.verbose,
    env,
    args: [
      "run",
      "--allow-net",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      LIBC_FFI_FLAG,
      // As `deno task start`: PARLEY_WORKERS above 1 shares the ports with SO_REUSEPORT.
      "--unstable-net",
      ...(options.profileDir ? ["--cpu-prof", `--cpu-prof-dir=${options.profileDir}`] : []),
      ...(options.inspect ? [INSPECT_FLAG] : []),
      `${options.parleyDir ? options.parleyDir.replace(/\/?$/, "/") : ROOT}main.ts`,
      "--tcp-port",
      "0",
      "--http-port",
      "0",
      "--data-dir",
      dataDir,
    ],
  });
  try {
    const got = await waitForLines(child, {
      fingerprint: /^Parley identity: (SHA256:\S+)/,
      http: /^Parley listening: https? (\S+) /,
      tcp: /^Parley listening: tcp [\d.]+:(\d+) /,
    }, 30_000);
    drainLines(child);
    // Start-up lines (data key created, store opened) are not what the bench is after.
    log.counts = {};
    log.lines.length = 0;
    const http = new URL(got.http);
    return {
      child,
      env,
      log,
      inspectorUrl: options.inspect ? await inspector : undefined,
      endpoint: {
        host: "127.0.0.1",
        tcpPort: Number(got.tcp),
        wsPort: Number(http.port),
        wsUrl: `ws://127.0.0.1:${http.port}/ws`,
        fingerprint: got.fingerprint,
      },
      async stop() {
        if (options.profileDir) await child.terminate(10_000);
        child.kill();
        await child.process.status;
        await Deno.remove(dataDir, { recursive: true }).catch(() => {});
      },
    };
  } catch (err) {
    child.kill();
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    throw err;
  }
}

export async function startBaseline(
  transport: TransportMode,
  options: { inspect?: boolean; env?: Record<string, string>; wsBaseline?: "deno" | "node-ws" } =
    {},
): Promise<ServerProc> {
  // Text mode's floor is the TCP line server: plain lines, no sign-in.
  if (transport === "text") transport = "tcp";
  const nodeWs = transport === "ws" && options.wsBaseline === "node-ws";
  const file = nodeWs
    ? "baseline_node_ws.ts"
    : { tcp: "baseline_tcp.ts", ws: "baseline_ws.ts", mixed: "baseline_mixed.ts" }[transport];
  const { log, onStderr, inspector } = serverLog();
  const child = await spawnDeno({
    name: `baseline-${transport}`,
    onStderr,
    watchdog: true,
    env: options.env,
    // Libc for the memory trim Parley does too (baseline_hub.ts `announce`).
    args: [
      "run",
      "--allow-net",
      LIBC_FFI_FLAG,
      // node:http reads the environment and npm's files.
      ...(nodeWs ? ["--allow-env", "--allow-read"] : []),
      ...(options.inspect ? [INSPECT_FLAG] : []),
      `${ROOT}bench/${file}`,
    ],
  });
  try {
    const patterns: Record<string, RegExp> = {};
    if (transport !== "ws") patterns.tcp = /^baseline listening: tcp [\d.]+:(\d+)/;
    if (transport !== "tcp") patterns.ws = /^baseline listening: ws [\d.]+:(\d+)/;
    const got = await waitForLines(child, patterns, 30_000);
    drainLines(child);
    const wsPort = Number(got.ws ?? 0);
    return {
      child,
      env: {},
      log,
      inspectorUrl: options.inspect ? await inspector : undefined,
      endpoint: {
        host: "127.0.0.1",
        tcpPort: Number(got.tcp ?? 0),
        wsPort,
        wsUrl: `ws://127.0.0.1:${wsPort}/`,
      },
      async stop() {
        child.kill();
        await child.process.status;
      },
    };
  } catch (err) {
    child.kill();
    throw err;
  }
}
