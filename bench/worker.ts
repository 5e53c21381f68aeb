/**
 * A load-generator child process in Deno (`--generator deno`; started by main.ts, one per share
 * of the clients), with the project's own client stack (load_client.ts): the commands and
 * reports of wire.ts, run by worker_core.ts. It exits when its stdin closes (the coordinator is
 * gone) or its deadline passes.
 *
 *   deno run --allow-net --allow-read bench/worker.ts '<WorkerConfig as JSON>'
 */
import { connectClient } from "./load_client.ts";
import { readLines } from "./lines.ts";
import { serveWorker } from "./worker_core.ts";
import type { WorkerConfig, WorkerReport } from "./wire.ts";

const stdout = new TextEncoder();

await serveWorker({
  cfg: JSON.parse(Deno.args[0]) as WorkerConfig,
  connect: connectClient,
  report(r: WorkerReport): void {
    const bytes = stdout.encode(JSON.stringify(r) + "\n");
    let off = 0;
    while (off < bytes.length) off += Deno.stdout.writeSync(bytes.subarray(off));
  },
  lines: readLines(Deno.stdin.readable),
  exit: (code) => Deno.exit(code),
});
