/** The session cookie: HttpOnly, SameSite=Strict, and Secure when the page came over TLS. */

/** Name of the browser's session cookie. */
export const SESSION_COOKIE = "parley_session";

/** The value of cookie `name` in a request, if present. */
export function getCookie(req: Request, name: string): string | undefined {
  const header = req.headers.get("cookie");
  if (!header) return undefined;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq !== -1 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** A Set-Cookie value that stores `token` for `maxAgeMs`. */
export function sessionCookie(token: string, options: { secure: boolean; maxAgeMs: number }) {
  return serialize(token, Math.floor(options.maxAgeMs / 1000), options.secure);
}

/** A Set-Cookie value that removes the session cookie. */
export function clearedSessionCookie(options: { secure: boolean }): string {
  return serialize("", 0, options.secure);
}

function serialize(value: string, maxAge: number, secure: boolean): string {
  const attrs = [`${SESSION_COOKIE}=${value}`, "Path=/", `Max-Age=${maxAge}`, "HttpOnly"];
  attrs.push("SameSite=Strict");
  if (secure) attrs.push("Secure");
  return attrs.join("; ");
}
