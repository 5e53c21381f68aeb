import { renderToString } from "preact-render-to-string";
import { App, type InitialState } from "../islands/app.tsx";
import type { Handlers } from "../server/context.ts";
import { currentUser } from "../server/web_auth.ts";
import { Document } from "./_app.tsx";

/**
 * GET / — the chat page, rendered on the server: the login form, or the chat window when the
 * session cookie signs somebody in. The island hydrates it from the same state, passed in a
 * data attribute (no inline script, which the CSP forbids).
 */
export const handlers: Handlers = {
  async GET(ctx) {
    const signedIn = await currentUser(ctx);
    // The fingerprint the island pins for its encrypted session, and shows.
    const serverFingerprint = ctx.app.identity.fingerprint;
    // The composer counts against the server's own limit, whatever it was started with.
    const maxMessageBytes = ctx.app.router.limits.maxMessageBytes;
    const initial: InitialState = signedIn
      ? {
        signedIn: { user: signedIn.user.name, lang: signedIn.user.lang },
        serverFingerprint,
        maxMessageBytes,
      }
      : { serverFingerprint, maxMessageBytes };
    const html = renderToString(
      <Document assets={ctx.app.assets.manifest} title="Parley">
        <div id="app" data-state={JSON.stringify(initial)}>
          <App initial={initial} />
        </div>
      </Document>,
    );
    return new Response(`<!DOCTYPE html>${html}`, {
      headers: {
        "content-type": "text/html; charset=utf-8",
        // Always revalidated: it names the current asset hashes and depends on the cookie.
        "cache-control": "no-cache, private",
        vary: "Cookie",
      },
    });
  },
};
