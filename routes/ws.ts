import type { Handlers } from "../server/context.ts";
import { HttpError } from "../server/http_error.ts";
import { currentUser, sameOrigin } from "../server/web_auth.ts";
import { acceptWebSocket, refuseWebSocket } from "../server/ws.ts";
import { isRefusal } from "../lib/router/admission.ts";

/**
 * GET /ws — the WebSocket transport. A page of another origin is refused (403), so a foreign
 * site cannot ride on the session cookie; a valid cookie signs the connection in at once.
 */
export const handlers: Handlers = {
  async GET(ctx) {
    if (ctx.req.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      throw new HttpError(426, "This endpoint speaks WebSocket.", { upgrade: "websocket" });
    }
    if (!sameOrigin(ctx)) throw new HttpError(403, "Cross-origin WebSocket refused.");
    const { app } = ctx;
    // Limits are checked before any work is spent on the connection.
    const ticket = app.router.admission.admit(ctx.remoteAddr);
    if (isRefusal(ticket)) {
      app.logger.debug("connection refused", {
        transport: "ws",
        peer: ctx.remoteAddr,
        code: ticket.code,
      });
      return refuseWebSocket(ctx.req, ticket);
    }
    let signedIn: Awaited<ReturnType<typeof currentUser>>;
    let accepted: ReturnType<typeof acceptWebSocket>;
    try {
      signedIn = await currentUser(ctx);
      accepted = acceptWebSocket(ctx.req, {
        router: app.router,
        logger: app.logger,
        remoteAddr: ctx.remoteAddr,
        identity: app.identity,
        user: signedIn?.user,
        onSocketGone: () => ticket.release(),
        onClose: () => {
          if (!signedIn) return;
          const set = app.sockets.get(signedIn.tokenHash);
          set?.delete(connection);
          if (set?.size === 0) app.sockets.delete(signedIn.tokenHash);
        },
      });
    } catch (err) {
      ticket.release(); // a bad cookie store or a malformed upgrade must not keep its place
      throw err;
    }
    const { response, connection } = accepted;
    if (signedIn) {
      let set = app.sockets.get(signedIn.tokenHash);
      if (!set) app.sockets.set(signedIn.tokenHash, set = new Set());
      set.add(connection);
    }
    return response;
  },
};
