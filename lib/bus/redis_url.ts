/** A Redis bus address as `--bus` takes it, checked and with its password hidden for logs. */
export interface RedisBusAddress {
  /** The address the client connects to (without the `channel` parameter). */
  url: string;
  /** The pub/sub channel of the service: nodes on the same one are one service. */
  channel: string;
  /** The address as logs and /healthz show it: the password replaced by `***`. */
  redacted: string;
}

/** The channel unless the address names one (`?channel=...`). */
export const DEFAULT_BUS_CHANNEL = "parley";

/** A Redis bus address that cannot be used. */
export class BusUrlError extends Error {
  override name = "BusUrlError";
}

/**
 * Checks a `redis://[user:password@]host[:port][/db][?channel=name]` (or `rediss://`, TLS)
 * address. The error never repeats the password.
 * @throws {BusUrlError} for anything else.
 */
export function parseRedisBusUrl(value: string): RedisBusAddress {
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    throw new BusUrlError(`is not a URL: expected redis://host:port (got '${redact(value)}')`);
  }
  const shown = redactUrl(parsed);
  if (parsed.protocol !== "redis:" && parsed.protocol !== "rediss:") {
    throw new BusUrlError(`must be a redis:// or rediss:// URL (got '${shown}')`);
  }
  if (!parsed.hostname) throw new BusUrlError(`names no host (got '${shown}')`);
  if (parsed.pathname && !/^\/?\d*$/.test(parsed.pathname)) {
    throw new BusUrlError(`may name only a database number after the host (got '${shown}')`);
  }
  const channel = parsed.searchParams.get("channel") ?? DEFAULT_BUS_CHANNEL;
  if (!/^[\w.:-]{1,100}$/.test(channel)) {
    throw new BusUrlError(`channel must be 1-100 letters, digits, '.', ':', '_' or '-'`);
  }
  for (const key of parsed.searchParams.keys()) {
    if (key !== "channel") throw new BusUrlError(`takes no '${key}' parameter, only 'channel'`);
  }
  parsed.search = "";
  return { url: parsed.toString(), channel, redacted: shown };
}

function redactUrl(url: URL): string {
  const copy = new URL(url.toString());
  if (copy.password) copy.password = "***";
  return copy.toString();
}

/** Hides what looks like a password in something that did not parse as a URL. */
function redact(value: string): string {
  return value.replace(/:[^:@/]*@/, ":***@");
}
