/** Runs Parley as a real child process, for crash and shutdown tests. */
import { TEST_KDF_ITERATIONS } from "./helpers.ts";
import { type IdentityVerifier, pinFingerprint } from "../lib/crypto/mod.ts";
import { LIBC_FFI_FLAG } from "../server/memory_trim.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;

/** How a child server runs: `cwd` also confines its reads and writes to that directory. */
interface ChildOptions {
  env?: Record<string, string>;
  cwd?: string;
  /** Runs the server under `ulimit -n <fdLimit>` (soft and hard): few file descriptors. */
  fdLimit?: number;
}

function serverCommand(dataDir: string, extraArgs: string[], options: ChildOptions = {}) {
  const { env = {}, cwd, fdLimit } = options;
  const args = [
    "run",
    "--allow-net",
    cwd ? `--allow-read=${cwd}` : "--allow-read",
    cwd ? `--allow-write=${cwd}` : "--allow-write",
    "--allow-env",
    LIBC_FFI_FLAG,
    // As `deno task start`: --workers N shares the ports with SO_REUSEPORT.
    "--unstable-net",
    MAIN,
    "--tcp-port",
    "0",
    "--http-port",
    "0",
    "--data-dir",
    dataDir,
    ...extraArgs,
  ];
  // Through a shell that lowers the limit and then becomes the server (exec): same process.
  const [command, argv] = fdLimit === undefined
    ? [Deno.execPath(), args]
    : ["bash", ["-c", `ulimit -n ${fdLimit} && exec "$0" "$@"`, Deno.execPath(), ...args]];
  return new Deno.Command(command, {
    args: argv,
    // One worker unless a test asks for more (`--workers`): the tests of one server's behaviour
    // run the same on a machine of any size.
    env: {
      PARLEY_KDF_ITERATIONS: String(TEST_KDF_ITERATIONS),
      PARLEY_WORKERS: "1",
      NO_COLOR: "1",
      ...env,
    },
    cwd,
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
  });
}

/**
 * Runs `main.ts` with `dataDir` when it is expected to refuse to start: returns its exit code and
 * everything it printed. Kills it and fails if it is still running after `timeoutMs`.
 */
export async function runServerToExit(
  dataDir: string,
  extraArgs: string[] = [],
  options: { env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<{ code: number; output: string }> {
  const child = serverCommand(dataDir, extraArgs, options).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 15_000);
  try {
    const { code, stdout, stderr } = await child.output();
    const decoder = new TextDecoder();
    return { code, output: decoder.decode(stdout) + decoder.decode(stderr) };
  } finally {
    clearTimeout(timer);
  }
}

export interface ServerProcess {
  child: Deno.ChildProcess;
  tcpPort: number;
  /** The HTTP port, when the browser assets were built (it serves then). */
  httpPort?: number;
  /** The identity fingerprint the server printed at start-up. */
  fingerprint: string;
  /** Base URL of the HTTP listener, when the browser assets were built and it started. */
  httpUrl?: string;
  /** Accepts only that identity: the `verifyIdentity` for clients of this server. */
  pin: IdentityVerifier;
  /** Everything the process printed to stdout and stderr so far. */
  output(): string;
  /** Sends a signal and waits for the exit status. */
  stop(signal: Deno.Signal): Promise<Deno.CommandStatus>;
}

/** Starts `main.ts` on free ports with `dataDir`, and waits until it listens. */
export async function spawnServer(
  dataDir: string,
  extraArgs: string[] = [],
  options: ChildOptions = {},
): Promise<ServerProcess> {
  const child = serverCommand(dataDir, extraArgs, options).spawn();
  let out = "";
  const listening = Promise.withResolvers<number>();
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder();
    for await (const bytes of stream) {
      out += decoder.decode(bytes, { stream: true });
      const m = out.match(/tcp [\d.]+:(\d+)/);
      if (m) listening.resolve(Number(m[1]));
    }
  };
  const pumps = Promise.all([pump(child.stdout), pump(child.stderr)]);
  const status = child.status.then((s) => {
    listening.reject(new Error(`server exited (${s.code}) before listening:\n${out}`));
    return s;
  });
  const tcpPort = await listening.promise;
  // Printed before the listening line.
  const fingerprint = out.match(/Parley identity: (SHA256:\S+)/)?.[1];
  if (!fingerprint) throw new Error(`no identity fingerprint in the start-up lines:\n${out}`);
  const http = out.match(/listening: https? https?:\/\/[^ ]+:(\d+)\//)?.[1];
  return {
    child,
    tcpPort,
    httpPort: http === undefined ? undefined : Number(http),
    fingerprint,
    httpUrl: out.match(/Parley listening: https? (\S+?)\/? \(browser client\)/)?.[1],
    pin: pinFingerprint(fingerprint),
    output: () => out,
    async stop(signal) {
      try {
        child.kill(signal);
      } catch { /* already exited */ }
      const s = await status;
      await pumps;
      return s;
    },
  };
}

/**
 * Runs `source` as a script of its own (`deno run --no-prompt <flags> script`, under `wrapper`
 * when given, e.g. strace): a process where no other test's work moves what is measured. Fails
 * unless it exits 0; returns what it printed.
 */
export async function runScript(
  source: string,
  options: { flags?: string[]; wrapper?: string[] } = {},
): Promise<{ stdout: string; stderr: string }> {
  const dir = await Deno.makeTempDir({ prefix: "parley-script-" });
  try {
    const script = `${dir}/script.ts`;
    await Deno.writeTextFile(script, source);
    const [command, ...args] = [
      ...options.wrapper ?? [],
      Deno.execPath(),
      "run",
      "--no-prompt",
      ...options.flags ?? [],
      script,
    ];
    const out = await new Deno.Command(command, {
      args,
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
      stdin: "null",
    }).output();
    const decoder = new TextDecoder();
    const printed = { stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
    if (out.code !== 0) throw new Error(`script exited ${out.code}:\n${printed.stderr}`);
    return printed;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
