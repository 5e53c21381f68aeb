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
 * clean step is the sustained rate. Then, where the only problem was the p99, `refineSteps` more
 * steps between the last clean rate and the failed one (the geometric middle, halving the gap each
 * time): with 1.5× steps alone, two servers whose limits differ by 2× could read 1.5× or 2.25×.
 */
export async function saturate(
  run: Pick<TargetRun, "phase" | "remainingMs" | "result">,
  opts: Options,
  pause: (ms: number) => Promise<unknown> = sleep,
): Promise<void> {
  let rate = opts.rate;
  let sustained: { rate: number; deliveriesPerSec: number } | undefined;
  let stopReason = `reached --max-steps ${opts.maxSteps}`;
  let failedRate: number | undefined;
  const stepMs = opts.duration * 1000 + 15_000;
  for (let step = 0; step < opts.maxSteps; step++) {
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
      if (onlyLatency(r.problems) && r.workerCpuMaxPercent <= GENERATOR_LIMIT_PERCENT) {
        failedRate = rate;
      }
      break;
    }
    sustained = { rate, deliveriesPerSec: r.deliveredPerSec };
    rate = Math.round(rate * opts.stepFactor * 100) / 100;
    await pause(1000);
  }
  let refined = "";
  for (let i = 0; i < opts.refineSteps && sustained && failedRate !== undefined; i++) {
    const middle = Math.round(Math.sqrt(sustained.rate * failedRate) * 100) / 100;
    if (middle <= sustained.rate || middle >= failedRate || run.remainingMs < stepMs) break;
    // The failed step left queues behind it: they drain before the next is measured.
    await pause(REFINE_DRAIN_MS);
    const r = await run.phase(middle);
    if (r.problems.length === 0) sustained = { rate: middle, deliveriesPerSec: r.deliveredPerSec };
    else if (onlyLatency(r.problems)) failedRate = middle;
    else break;
    refined = `; refined between the steps: clean at ${fmtRate(sustained.rate)}/s, ` +
      `over at ${fmtRate(failedRate)}/s`;
  }
  run.result.saturation = {
    sustainedRate: sustained?.rate,
    sustainedDeliveriesPerSec: sustained?.deliveriesPerSec,
    stopReason: stopReason + refined,
  };
}

/** Time for a failed step's queues to drain before a refining step starts. */
const REFINE_DRAIN_MS = 5000;

/** Whether a step failed on its p99 alone: nothing lost, refused or disconnected. */
function onlyLatency(problems: readonly string[]): boolean {
  return problems.every((p) => p.startsWith("p99 "));
}

function fmtRate(r: number): string {
  return Number.isInteger(r) ? String(r) : r.toFixed(2);
}
