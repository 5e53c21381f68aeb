/**
 * PostgreSQL connection URLs as Parley takes them (`--store postgres://…`): checked at start-up,
 * and shown only with the password replaced, in logs and errors alike.
 */

/** The URL schemes that select the PostgreSQL store. */
const SCHEMES = ["postgres:", "postgresql:"];

/** Whether `value` asks for the PostgreSQL store (by its scheme, before it is checked). */
export function isPostgresUrl(value: string): boolean {
  return SCHEMES.some((s) => value.trim().toLowerCase().startsWith(s));
}

/**
 * `url` with its password (if any) replaced by `***`. Text that does not parse as a URL with a
 * host loses whatever stands between the user name's colon and the last `@` all the same.
 */
export function redactUrl(url: string): string {
  const at = url.lastIndexOf("@");
  if (at < 0) return url;
  try {
    const parsed = new URL(url);
    if (parsed.host) {
      if (parsed.password) parsed.password = "***";
      return parsed.toString();
    }
  } catch {
    // Not a URL: redacted by hand below.
  }
  const slashes = url.indexOf("//");
  const start = slashes >= 0 && slashes < at ? slashes + 2 : 0;
  const colon = url.indexOf(":", start);
  if (colon < 0 || colon > at) return url;
  return `${url.slice(0, colon)}:***${url.slice(at)}`;
}

/**
 * Checks a PostgreSQL URL: `postgres://[user[:password]@]host[:port]/database[?options]`.
 * Returns an error text (naming the redacted URL) or undefined when it is good.
 */
export function checkPostgresUrl(url: string): string | undefined {
  const shown = redactUrl(url);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return `'${shown}' is not a URL; give postgres://user:password@host:5432/database`;
  }
  if (!SCHEMES.includes(parsed.protocol)) {
    return `'${shown}' is not a PostgreSQL URL (postgres://user:password@host:5432/database)`;
  }
  if (!parsed.hostname) return `'${shown}' names no host (postgres://user@host/database)`;
  if (parsed.port !== "" && !(Number(parsed.port) > 0 && Number(parsed.port) < 65536)) {
    return `'${shown}' has a bad port`;
  }
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, ""));
  if (!database || database.includes("/")) {
    return `'${shown}' names no database: end it with /<database>, e.g. postgres://parley@db/parley`;
  }
  return undefined;
}
