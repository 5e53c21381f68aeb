import { endWebLogin, hashToken } from "../../lib/accounts/web_logins.ts";
import type { Handlers } from "../../server/context.ts";
import { clearedSessionCookie, getCookie, SESSION_COOKIE } from "../../server/cookies.ts";
import { HttpError, json } from "../../server/http_error.ts";
import { sameOrigin } from "../../server/web_auth.ts";

/**
 * POST /api/logout — ends the session on the server (the cookie is worthless from now on),
 * closes the WebSockets it opened, and clears the cookie. 200 `{ ok: true }`, also when the
 * session had already ended.
 */
export const handlers: Handlers = {
  async POST(ctx) {
    if (!sameOrigin(ctx)) throw new HttpError(403, "Cross-origin logout refused.");
    const token = getCookie(ctx.req, SESSION_COOKIE);
    if (token) {
      await endWebLogin(ctx.app.store, token);
      ctx.app.router.closeWebLogin(await hashToken(token), "signed out");
    }
    return json({ ok: true }, 200, {
      headers: { "set-cookie": clearedSessionCookie({ secure: ctx.secure }) },
    });
  },
};
