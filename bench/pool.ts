/**
 * The coordinator's side of the load-generator workers: starts them (bench/worker.ts, one child
 * process each), sends a command to all, and gathers one report from each.
 */
import { type Child, spawnDeno } from "./children.ts";
import type {
  ChurnReport,
  ConnectedReport,
  ResultReport,
  WorkerCommand,
  WorkerConfig,
  WorkerReport,
} from "./wire.ts";

const WORKER = new URL("./worker.ts", import.meta.url).pathname;
const NODE_WORKER = new URL("./node/worker.ts", import.meta.url).pathname;

/** Which load generator runs the clients (`--generator`). */
export type Generator = "node" | "deno";

let nodeBundle: Promise<string> | undefined;

/**
 * bench/node/worker.ts bundled into one .mjs that Node runs (once per bench process, in a
 * temporary directory).
 */
export function bundleNodeWorker(): Promise<string> {
  return nodeBundle ??= (async () => {
    const node = await new Deno.Command("node", { args: ["--version"], stdout: "null" }).output()
      .then((o) => o.success, () => false);
    if (!node) {
      throw new Error("the Node load generator needs `node` on PATH; or pass --generator deno");
    }
    const out = `${await Deno.makeTempDir({ prefix: "parley-bench-node-" })}/worker.mjs`;
    const r = await new Deno.Command(Deno.execPath(), {
      args: ["bundle", "--quiet", "--platform", "deno", "--output", out, NODE_WORKER],
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!r.success) {
      throw new Error(
        `bundling the Node load generator failed:\n${new TextDecoder().decode(r.stderr)}`,
      );
    }
    return out;
  })();
}

class WorkerHandle {
  #child: Child;
  #reports: AsyncGenerator<WorkerReport>;

  constructor(child: Child) {
    this.#child = child;
    const lines = child.lines;
    this.#reports = (async function* () {
      for await (const line of lines) {
        if (!line.startsWith("{")) continue;
        yield JSON.parse(line) as WorkerReport;
      }
    })();
  }

  get name(): string {
    return this.#child.name;
  }

  send(cmd: WorkerCommand): Promise<void> {
    return this.#child.write(JSON.stringify(cmd));
  }

  /** The next report, which must be of `type`; rejects on an error report, an exit or a timeout. */
  async next<T extends WorkerReport["type"]>(
    type: T,
    timeoutMs: number,
  ): Promise<Extract<WorkerReport, { type: T }>> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) =>
      timer = setTimeout(
        () => reject(new Error(`${this.name}: no '${type}' report in ${timeoutMs} ms`)),
        timeoutMs,
      )
    );
    try {
      const r = await Promise.race([this.#reports.next(), timeout]);
      if (r.done) throw new Error(`${this.name} exited:\n${this.#child.tail()}`);
      if (r.value.type === "error") throw new Error(`${this.name}: ${r.value.message}`);
      if (r.value.type !== type) throw new Error(`${this.name}: '${r.value.type}', not '${type}'`);
      return r.value as Extract<WorkerReport, { type: T }>;
    } finally {
      clearTimeout(timer);
    }
  }

  kill(): void {
    this.#child.kill();
  }
}

export class WorkerPool {
  readonly workers: WorkerHandle[];
  readonly configs: WorkerConfig[];

  private constructor(workers: WorkerHandle[], configs: WorkerConfig[]) {
    this.workers = workers;
    this.configs = configs;
  }

  static async start(
    configs: WorkerConfig[],
    verbose = false,
    generator: Generator = "deno",
    nice = 0,
  ): Promise<WorkerPool> {
    const bundle = generator === "node" ? await bundleNodeWorker() : undefined;
    const children = await Promise.all(configs.map((cfg) =>
      spawnDeno({
        name: `worker-${cfg.worker}`,
        echoStderr: verbose,
        nice,
        ...(bundle
          ? { program: "node", args: [bundle, JSON.stringify(cfg)] }
          : { args: ["run", "--allow-net", "--allow-read", WORKER, JSON.stringify(cfg)] }),
      })
    ));
    const pool = new WorkerPool(children.map((c) => new WorkerHandle(c)), configs);
    try {
      await Promise.all(pool.workers.map((w) => w.next("booted", 60_000)));
    } catch (err) {
      pool.close();
      throw err;
    }
    return pool;
  }

  /** Sends `cmd` to every worker and waits for each one's report of `type`. */
  async all<T extends WorkerReport["type"]>(
    cmd: WorkerCommand | ((i: number) => WorkerCommand),
    type: T,
    timeoutMs: number,
  ): Promise<Extract<WorkerReport, { type: T }>[]> {
    await Promise.all(this.workers.map((w, i) => w.send(typeof cmd === "function" ? cmd(i) : cmd)));
    return await Promise.all(this.workers.map((w) => w.next(type, timeoutMs)));
  }

  connect(timeoutMs: number): Promise<ConnectedReport[]> {
    return this.all({ cmd: "connect" }, "connected", timeoutMs);
  }

  /** Closes every worker's clients; a later `connect` signs the same users in again. */
  disconnect(timeoutMs: number): Promise<Extract<WorkerReport, { type: "disconnected" }>[]> {
    return this.all({ cmd: "disconnect" }, "disconnected", timeoutMs);
  }

  run(cmd: Extract<WorkerCommand, { cmd: "run" }>, timeoutMs: number): Promise<ResultReport[]> {
    return this.all(cmd, "result", timeoutMs);
  }

  churn(
    cmd: (i: number) => Extract<WorkerCommand, { cmd: "churn" }>,
    timeoutMs: number,
  ): Promise<ChurnReport[]> {
    return this.all(cmd, "churned", timeoutMs);
  }

  /** Tells the workers to quit and SIGKILLs them. */
  close(): void {
    for (const w of this.workers) {
      w.send({ cmd: "quit" }).catch(() => {});
      w.kill();
    }
  }
}
