import type { Handlers } from "../server/context.ts";
import { json } from "../server/http_error.ts";

/**
 * GET /healthz — for load balancers, scripts and people: 200 while serving. The translator's
 * state is reported but does not fail the check: a paused translator delivers untranslated
 * messages, it does not stop the chat.
 */
export const handlers: Handlers = {
  GET: ({ app }) =>
    json({
      status: "ok",
      version: app.router.version,
      connections: app.router.connectionCount,
      online: app.router.online.size,
      translation: app.router.translation.health(),
    }),
};
