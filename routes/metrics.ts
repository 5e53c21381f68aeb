import type { Handlers } from "../server/context.ts";

/**
 * GET /metrics — the server's counters in the Prometheus text format (version 0.0.4):
 * connections, sign-ins, messages, deliveries, translation calls, cache hits and latency. With
 * `--workers N`, every worker's, each sample labelled with its `worker` (server/worker_metrics.ts).
 */
export const handlers: Handlers = {
  GET: async ({ app }) =>
    new Response(app.metrics ? await app.metrics() : app.router.metrics.render(), {
      headers: {
        "content-type": "text/plain; version=0.0.4; charset=utf-8",
        "cache-control": "no-store",
      },
    }),
};
