/**
 * A load-generator child process in Node (the default `--generator node`): the same commands
 * and reports as bench/worker.ts (worker_core.ts), with the clients of bench/node/clients.ts,
 * which open sealed frames with OpenSSL. Node cannot run TypeScript: bench/pool.ts bundles this
 * file (`deno bundle`) into one .mjs and runs it with `node`.
 *
 *   node worker.mjs '<WorkerConfig as JSON>'
 */
import process from "node:process";
import { createInterface } from "node:readline";
import { serveWorker } from "../worker_core.ts";
import type { WorkerConfig } from "../wire.ts";
import { connectNodeClient } from "./clients.ts";

await serveWorker({
  cfg: JSON.parse(process.argv[2]) as WorkerConfig,
  connect: connectNodeClient,
  report: (r) => process.stdout.write(JSON.stringify(r) + "\n"),
  lines: createInterface({ input: process.stdin }),
  exit: (code) => process.exit(code),
});
