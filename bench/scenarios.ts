/**
 * The named scenarios, each a sequence of steps on one target (Parley or the baseline); main.ts
 * runs the same scenario on both.
 */
import type { Options } from "./options.ts";
import { GENERATOR_LIMIT_PERCENT, type TargetRun } from "./target_run.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runScenario(run: TargetRun, opts: Options): Promise<void> {
  switch (opts.scenario) {
    case "broadcast":
    case "translate":
      await run.connect();
      await run.phase(opts.rate);
      return;
    case "slow":
      await run.connect();
      await run.phase(opts.rate, { probeSlow: true });
      return;
    case "idle":
      await run.connect();
      await run.holdIdle(opts.duration);
      await run.warmRound();
      return;
    case "churn":
      await run.churn();
      return;
    case "saturate":
      await run.connect();
      await saturate(run, opts);
      return;
  }
}

/**
 * Raises the per-sender rate by `stepFactor` each step until a step has a problem (p99 over the
 * limit, anything lost, duplicated, refused, unanswered or disconnected); the rate of the last
 * clean step is the sustained rate.
 */
async function saturate(run: TargetRun, opts: Options): Promise<void> {
  let rate = opts.rate;
  let sustained: { rate: number; deliveriesPerSec: number } | undefined;
  let stopReason = `reached --max-steps ${opts.maxSteps}`;
  for (let step = 0; step < opts.maxSteps; step++) {
    const stepMs = opts.duration * 1000 + 15_000;
    if (run.remainingMs < stepMs) {
      stopReason = "out of time (--timeout)";
      break;
    }
    const r = await run.phase(rate);
    if (r.problems.length) {
      stopReason = `at ${fmtRate(rate)}/s per sender: ${r.problems.join("; ")}` +
        (r.workerCpuMaxPercent > GENERATOR_LIMIT_PERCENT
          ? ` (a load generator at ${
            r.workerCpuMaxPercent.toFixed(0)
          }% of a core: it was the limit)`
          : "");
      break;
    }
    sustained = { rate, deliveriesPerSec: r.deliveredPerSec };
    rate = Math.round(rate * opts.stepFactor * 100) / 100;
    await sleep(1000);
  }
  run.result.saturation = {
    sustainedRate: sustained?.rate,
    sustainedDeliveriesPerSec: sustained?.deliveriesPerSec,
    stopReason,
  };
}

function fmtRate(r: number): string {
  return Number.isInteger(r) ? String(r) : r.toFixed(2);
}
