/**
 * `deno task bench`: the load generator's coordinator. Runs the scenario against Parley, then
 * against the zero-feature baseline server of the same transport, prints the table and writes
 * bench/results/<time>.json. Everything is bounded: a hard deadline, and every child process
 * (servers, workers) SIGKILLed on the way out. `--help` for the options.
 */
import { killAll } from "./children.ts";
import { runHistoryBench } from "./history_bench.ts";
import { runRestartBench } from "./restart_bench.ts";
import { runUploadBench } from "./upload_bench.ts";
import { HELP, type Options, parseOptions, UsageError } from "./options.ts";
import { benchNotes, computeRatios, render, type RunReport, writeJson } from "./report.ts";
import { runScenario } from "./scenarios.ts";
import { TargetRun } from "./target_run.ts";
import type { Target } from "./wire.ts";
import type { TargetResult } from "./target_run.ts";

const RESULTS = new URL("./results/", import.meta.url).pathname;

/** Seconds a run may take before it is stopped, from the load asked for. */
function defaultTimeout(o: Options): number {
  const connect = o.scenario === "churn" ? 0 : 20 + o.clients / 25;
  const steps = o.scenario === "saturate" ? o.maxSteps : 1;
  // idle: the GC and trim before the sign-ins and after the hold (target_run.ts
  // SETTLE_AFTER_GC_MS), then the second round (warmRound): two more settles, the sign-ins
  // again and a 12 s hold.
  const settle = o.scenario === "idle" ? 15 + 15 + 40 + connect : 0;
  const perTarget = 30 + connect + settle + steps * (o.duration + 20);
  return Math.min(3600, Math.ceil(perTarget * (o.baseline ? 2 : 1)));
}

/** The result of a target whose server or workers did not even start. */
function failedTarget(target: Target, opts: Options, error: string): TargetResult {
  return {
    target,
    transport: opts.transport,
    serverEnv: {},
    workers: 0,
    clientsPerWorker: [],
    rssStartKiB: NaN,
    phases: [],
    serverLog: { counts: {}, lines: [] },
    error,
  };
}

async function gitCommit(): Promise<string | undefined> {
  try {
    const out = await new Deno.Command("git", {
      args: ["rev-parse", "--short", "HEAD"],
      cwd: new URL("../", import.meta.url).pathname,
      stderr: "null",
    }).output();
    return out.success ? new TextDecoder().decode(out.stdout).trim() : undefined;
  } catch {
    return undefined;
  }
}

async function main(): Promise<number> {
  let opts;
  try {
    opts = parseOptions(Deno.args);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    console.error(`bench: ${err.message}`);
    return 2;
  }
  if (opts === "help") {
    console.log(HELP);
    return 0;
  }
  const timeoutS = opts.timeout ?? defaultTimeout(opts);
  const deadline = Date.now() + timeoutS * 1000;
  const startedAt = new Date();
  const report: RunReport = {
    meta: {
      startedAt: startedAt.toISOString(),
      finishedAt: "",
      host: {
        cores: navigator.hardwareConcurrency,
        os: `${Deno.build.os} ${Deno.osRelease()}`,
        deno: Deno.version.deno,
        v8: Deno.version.v8,
      },
      gitCommit: await gitCommit(),
      notes: benchNotes(opts),
    },
    options: opts,
    ratios: {},
  };
  const out = opts.out ?? `${RESULTS}${startedAt.toISOString().replace(/[:.]/g, "-")}.json`;
  let current: TargetRun | undefined;

  // However the run ends: children killed, what was measured written.
  let finished = false;
  const finish = async (aborted?: string): Promise<void> => {
    if (finished) return;
    finished = true;
    if (aborted) report.aborted = aborted;
    killAll();
    await current?.stop().catch(() => {});
    report.meta.finishedAt = new Date().toISOString();
    computeRatios(report);
    console.log(render(report));
    console.log(`\nResults: ${await writeJson(report, out)}`);
  };
  const abort = (why: string, code: number) => async () => {
    console.error(`\nbench: ${why}; stopping`);
    await finish(why);
    Deno.exit(code);
  };
  const deadlineTimer = setTimeout(
    abort(`hard deadline of ${timeoutS} s passed`, 1),
    timeoutS * 1000,
  );
  Deno.addSignalListener("SIGINT", abort("interrupted (SIGINT)", 130));
  Deno.addSignalListener("SIGTERM", abort("terminated (SIGTERM)", 143));

  console.error(
    `bench: ${opts.scenario} on ${opts.transport}; hard deadline ${timeoutS} s (--timeout)`,
  );
  const targets: Target[] = opts.baseline ? ["parley", "baseline"] : ["parley"];
  for (const target of targets) {
    console.error(`bench: ${target}…`);
    try {
      current = await TargetRun.start(target, opts, deadline);
      report[target] = current.result;
      await runScenario(current, opts);
    } catch (err) {
      console.error(`bench: ${target} failed: ${(err as Error)?.stack ?? err}`);
      const error = (err as Error)?.message ?? String(err);
      if (current) current.result.error = error;
      else report[target] = failedTarget(target, opts, error);
    } finally {
      await current?.stop().catch(() => {});
      current = undefined;
    }
  }
  clearTimeout(deadlineTimer);
  await finish();
  const failed = targets.some((t) => report[t]?.error || !report[t]);
  return failed ? 1 : 0;
}

// The history scenario measures the store alone: no server, no workers, no baseline.
// So does the restart scenario: its clients run in this process (bench/restart_bench.ts), and
// the upload scenario (bench/upload_bench.ts).
const standalone: Record<string, (args: string[]) => Promise<number>> = {
  history: runHistoryBench,
  restart: runRestartBench,
  upload: runUploadBench,
};
Deno.exit(await (standalone[Deno.args[0]]?.(Deno.args.slice(1)) ?? main()));
