import type { Handlers } from "../server/context.ts";
import { json } from "../server/http_error.ts";

/** GET /healthz — liveness for load balancers and scripts: 200 while serving. */
export const handlers: Handlers = {
  GET: ({ app }) =>
    json({
      status: "ok",
      version: app.router.version,
      connections: app.router.connectionCount,
      online: app.router.online.size,
    }),
};
