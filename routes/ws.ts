import { hashToken, resolveWebLogin } from "../lib/accounts/web_logins.ts";
import type { Handlers } from "../server/context.ts";
import { getCookie, SESSION_COOKIE } from "../server/cookies.ts";
import { HttpError } from "../server/http_error.ts";
import { sameOrigin } from "../server/web_auth.ts";
import { acceptWebSocket } from "../server/ws.ts";
import { checkUpgrade, wantsWebSocket } from "../server/ws_upgrade.ts";
import { DEVICE_ID } from "../lib/router/fields.ts";

/**
 * GET /ws — the WebSocket transport; `?device=<id>` names the browser tab's device (sync). A page
 * of another origin is refused (403), so a foreign
 * site cannot ride on the session cookie; a valid cookie signs the connection in once its handshake
 * is done (checked then, so a logout meanwhile is not missed: logout closes the sessions the
 * router holds for the login, see Router.closeWebLogin). A
 * malformed upgrade is refused (400, or 426 for a version other than 13) before any upgrade.
 * The connection was admitted when it was accepted (server/http_listener.ts); the WebSocket
 * keeps its place until the socket is gone.
 */
export const handlers: Handlers = {
  async GET(ctx) {
    if (!wantsWebSocket(ctx.req)) {
      throw new HttpError(426, "This endpoint speaks WebSocket.", { upgrade: "websocket" });
    }
    if (!sameOrigin(ctx)) throw new HttpError(403, "Cross-origin WebSocket refused.");
    checkUpgrade(ctx.req);
    const { app } = ctx;
    const token = getCookie(ctx.req, SESSION_COOKIE);
    // A tab that keeps state names its device (`/ws?device=ID`): it gets a cursor and a catch-up.
    const device = new URL(ctx.req.url).searchParams.get("device") ?? undefined;
    if (device !== undefined && !DEVICE_ID.test(device)) {
      throw new HttpError(400, "device must be 1-64 printable ASCII characters without spaces.");
    }
    const webLogin = token === undefined ? undefined : {
      tokenHash: await hashToken(token),
      user: () => resolveWebLogin(app.store, token),
      device,
    };
    // Given back once the socket is gone; bound once the upgrade is under way.
    let release = () => {};
    let response: Response;
    try {
      response = acceptWebSocket(ctx.req, {
        router: app.router,
        logger: app.logger,
        remoteAddr: ctx.remoteAddr,
        identity: app.identity,
        webLogin,
        onSocketGone: () => release(),
      });
    } catch (err) {
      // What the checks above let through and Deno still refuses is the client's mistake too.
      app.logger.debug("websocket upgrade refused", { peer: ctx.remoteAddr, error: err });
      throw new HttpError(400, "Malformed WebSocket upgrade.");
    }
    release = ctx.place.handOver();
    return response;
  },
};
