import type { Handlers } from "../../server/context.ts";
import { json } from "../../server/http_error.ts";
import { currentUser } from "../../server/web_auth.ts";

/**
 * GET /api/session — who the session cookie signs in: 200 `{ user, lang }`, or 401. The page
 * asks before each WebSocket (re)connect, so a session ended elsewhere shows the login form.
 */
export const handlers: Handlers = {
  async GET(ctx) {
    const signedIn = await currentUser(ctx);
    if (!signedIn) {
      return json({ error: { code: "not_logged_in", message: "Not signed in." } }, 401);
    }
    return json({ user: signedIn.user.name, lang: signedIn.user.lang });
  },
};
