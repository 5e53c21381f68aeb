import { signIn } from "../../lib/accounts/sign_in.ts";
import { createWebLogin, WEB_LOGIN_TTL_MS } from "../../lib/accounts/web_logins.ts";
import { ParleyError } from "../../lib/errors.ts";
import type { Handlers } from "../../server/context.ts";
import { sessionCookie } from "../../server/cookies.ts";
import { HttpError, json } from "../../server/http_error.ts";
import { sameOrigin } from "../../server/web_auth.ts";

/**
 * POST /api/login — `{ "name", "password", "lang"?, "register"?: true }` signs in (or registers)
 * with the same rules and throttle as a login frame, and sets the session cookie.
 * 200 `{ user, lang, created }`; errors are `{ error: { code, message, retryAfter? } }` with
 * 400 (bad name or password rules), 401 (wrong name or password), 409 (name taken), 429
 * (throttled, with Retry-After) or 503 (`storage_full`: the server's disk is full).
 */
export const handlers: Handlers = {
  async POST(ctx) {
    if (!sameOrigin(ctx)) throw new HttpError(403, "Cross-origin sign-in refused.");
    if (!ctx.req.headers.get("content-type")?.startsWith("application/json")) {
      throw new HttpError(415, "Send JSON.");
    }
    const wait = ctx.app.signInLimiter.take(ctx.remoteAddr);
    if (wait > 0) {
      throw new ParleyError("rate_limited", "Too many sign-in attempts; slow down.", {
        retryAfter: wait,
      });
    }
    const body = await readJson(ctx.req);
    const field = (name: string, max: number, optional = false): string | undefined => {
      const v = body[name];
      if (optional && (v === undefined || v === null || v === "")) return undefined;
      if (typeof v !== "string" || v.length === 0 || v.length > max) {
        throw new ParleyError("bad_argument", `"${name}" must be a string of 1-${max} characters.`);
      }
      return v;
    };
    const result = await signIn(ctx.app.signIn, {
      mode: body.register === true ? "register" : "login",
      name: field("name", 64)!,
      password: field("password", 1024)!,
      lang: field("lang", 35, true),
      remoteAddr: ctx.remoteAddr,
    });
    const token = await createWebLogin(ctx.app.store, result.user.key);
    return json(
      { user: result.user.name, lang: result.user.lang, created: result.created },
      200,
      {
        headers: {
          "set-cookie": sessionCookie(token, {
            secure: ctx.secure,
            maxAgeMs: WEB_LOGIN_TTL_MS,
          }),
        },
      },
    );
  },
};

async function readJson(req: Request): Promise<Record<string, unknown>> {
  const text = await req.text();
  if (text.length > 8192) throw new HttpError(413, "Request too large.");
  try {
    const value = JSON.parse(text);
    if (typeof value === "object" && value !== null && !Array.isArray(value)) return value;
  } catch { /* below */ }
  throw new ParleyError("bad_frame", "Send a JSON object.");
}
