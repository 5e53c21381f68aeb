/**
 * The bench's saturation steps (bench/scenarios.ts): the same rule for Parley and its baseline,
 * and a sustained rate found to within the refining steps, not only to within a 1.5× step.
 */
import assert from "node:assert/strict";
import { saturate } from "../bench/scenarios.ts";
import { type Options, parseOptions } from "../bench/options.ts";
import type { PhaseResult, TargetResult } from "../bench/target_run.ts";

/** A target whose p99 goes over the limit above `limit` broadcasts/s per sender. */
function targetWithLimit(limit: number, trouble = ["p99 350 ms > 200 ms"]) {
  const rates: number[] = [];
  const run = {
    remainingMs: 3_600_000,
    result: { phases: [] } as unknown as TargetResult,
    phase(rate: number): Promise<PhaseResult> {
      rates.push(rate);
      const problems = rate > limit ? trouble : [];
      return Promise.resolve(
        { rate, problems, deliveredPerSec: rate * 1000, workerCpuMaxPercent: 40 } as PhaseResult,
      );
    },
  };
  return { run, rates };
}

function options(args: string[]): Options {
  const o = parseOptions(["saturate", ...args]);
  assert.ok(o !== "help");
  return o;
}

const noPause = () => Promise.resolve();

Deno.test("saturate: refining steps narrow the sustained rate between the last clean step and the failed one", async () => {
  const { run, rates } = targetWithLimit(8.5);
  await saturate(run, options(["--rate", "2"]), noPause);
  // 2, 3, 4.5, 6.75 clean; 10.13 over; then √(6.75·10.13) = 8.27 clean, √(8.27·10.13) = 9.15 over.
  assert.deepEqual(rates, [2, 3, 4.5, 6.75, 10.13, 8.27, 9.15]);
  assert.equal(run.result.saturation?.sustainedRate, 8.27);
  assert.equal(run.result.saturation?.sustainedDeliveriesPerSec, 8270);
  assert.match(
    run.result.saturation!.stopReason,
    /^at 10\.13\/s per sender: p99 .*refined between the steps: clean at 8\.27\/s, over at 9\.15\/s$/,
  );
});

Deno.test("saturate: --refine 0 keeps the plain steps", async () => {
  const { run, rates } = targetWithLimit(8.5);
  await saturate(run, options(["--rate", "2", "--refine", "0"]), noPause);
  assert.deepEqual(rates, [2, 3, 4.5, 6.75, 10.13]);
  assert.equal(run.result.saturation?.sustainedRate, 6.75);
});

Deno.test("saturate: a step that lost or dropped anything is not refined around", async () => {
  const { run, rates } = targetWithLimit(8.5, ["3 lost", "p99 350 ms > 200 ms"]);
  await saturate(run, options(["--rate", "2"]), noPause);
  assert.deepEqual(rates, [2, 3, 4.5, 6.75, 10.13]);
  assert.equal(run.result.saturation?.sustainedRate, 6.75);
});
