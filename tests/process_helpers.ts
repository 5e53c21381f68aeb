/** Runs Parley as a real child process, for crash and shutdown tests. */
import { TEST_KDF_ITERATIONS } from "./helpers.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;

export interface ServerProcess {
  child: Deno.ChildProcess;
  tcpPort: number;
  /** Everything the process printed to stdout and stderr so far. */
  output(): string;
  /** Sends a signal and waits for the exit status. */
  stop(signal: Deno.Signal): Promise<Deno.CommandStatus>;
}

/** Starts `main.ts` on free ports with `dataDir`, and waits until it listens. */
export async function spawnServer(
  dataDir: string,
  extraArgs: string[] = [],
): Promise<ServerProcess> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      MAIN,
      "--tcp-port",
      "0",
      "--http-port",
      "0",
      "--data-dir",
      dataDir,
      ...extraArgs,
    ],
    env: { PARLEY_KDF_ITERATIONS: String(TEST_KDF_ITERATIONS), NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
  }).spawn();
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
  return {
    child,
    tcpPort,
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
