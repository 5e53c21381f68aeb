/** Who a browser request is signed in as, and whether it comes from our own pages. */
import { hashToken, resolveWebLogin } from "../lib/accounts/web_logins.ts";
import type { UserRecord } from "../lib/store/store.ts";
import type { Context } from "./context.ts";
import { getCookie, SESSION_COOKIE } from "./cookies.ts";

/** The signed-in account of the request's session cookie, with the token's hash. */
export async function currentUser(
  ctx: Context,
): Promise<{ user: UserRecord; tokenHash: string } | undefined> {
  const token = getCookie(ctx.req, SESSION_COOKIE);
  const user = await resolveWebLogin(ctx.app.store, token);
  return user && { user, tokenHash: await hashToken(token!) };
}

/**
 * Whether the request's Origin is this server (same scheme, host and port as the page).
 * Browsers always send Origin on WebSocket upgrades and on POSTs; a request without one does not
 * come from a page and carries no ambient authority worth forging, so it is let through.
 */
export function sameOrigin(ctx: Context): boolean {
  const origin = ctx.req.headers.get("origin");
  if (origin === null) return true;
  try {
    const o = new URL(origin);
    return o.protocol === ctx.url.protocol && o.host === ctx.url.host;
  } catch {
    return false;
  }
}
