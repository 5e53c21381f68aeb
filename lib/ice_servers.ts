/**
 * `--ice-servers`: the STUN and TURN servers browsers use to connect a call (docs/calls.md).
 * Two ways to write them:
 *
 * - a comma-separated list of URLs, a TURN server's credentials before its host:
 *   `stun:stun.example.org:3478,turn:alice:s3cret@turn.example.org:3478?transport=udp`
 *   (`%40` for an `@`, `%3A` for a `:` in them);
 * - the JSON the browser's `RTCPeerConnection` takes:
 *   `[{"urls":["turn:turn.example.org:3478"],"username":"alice","credential":"s3cret"}]`.
 */
import type { IceServer } from "./protocol/types.ts";

/** The most servers taken: every one costs the browser time when a call starts. */
export const MAX_ICE_SERVERS = 8;

/** A problem with the value, said so that the operator can fix it. */
export class IceServerError extends Error {
  override name = "IceServerError";
}

/**
 * `scheme:host[:port][?transport=udp|tcp]` (RFC 7064, RFC 7065); the host a name, an IPv4
 * address or an IPv6 one in brackets.
 */
const ICE_URL =
  /^(stun|stuns|turn|turns):(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?)(?::(\d{1,5}))?(\?transport=(?:udp|tcp))?$/;

/**
 * The servers `value` names, checked.
 * @throws {IceServerError} saying which entry is wrong and how.
 */
export function parseIceServers(value: string): IceServer[] {
  const text = value.trim();
  if (text === "") return [];
  const servers = text.startsWith("[") ? fromJson(text) : fromList(text);
  if (servers.length > MAX_ICE_SERVERS) {
    throw new IceServerError(`names ${servers.length} servers; at most ${MAX_ICE_SERVERS}`);
  }
  return servers;
}

function fromList(text: string): IceServer[] {
  return text.split(",").map((entry, i) => {
    const raw = entry.trim();
    const at = raw.lastIndexOf("@");
    if (at < 0) return checked({ urls: [raw] }, i);
    // `turn:user:credential@host`: the credentials sit between the scheme and the host.
    const colon = raw.indexOf(":");
    const [user, credential, ...rest] = raw.slice(colon + 1, at).split(":");
    if (colon < 0 || credential === undefined || rest.length > 0) {
      throw new IceServerError(
        `entry ${i + 1} ('${redact(raw)}'): write credentials as turn:USER:CREDENTIAL@host:port`,
      );
    }
    return checked({
      urls: [raw.slice(0, colon + 1) + raw.slice(at + 1)],
      username: decode(user, i),
      credential: decode(credential, i),
    }, i);
  });
}

function fromJson(text: string): IceServer[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new IceServerError(`is not valid JSON: ${(err as Error).message}`);
  }
  if (!Array.isArray(parsed)) throw new IceServerError("must be a JSON array of servers");
  return parsed.map((item, i) => {
    if (typeof item !== "object" || item === null || Array.isArray(item)) {
      throw new IceServerError(`entry ${i + 1} must be an object {urls, username?, credential?}`);
    }
    const o = item as Record<string, unknown>;
    const extra = Object.keys(o).filter((k) => !["urls", "username", "credential"].includes(k));
    if (extra.length) {
      throw new IceServerError(`entry ${i + 1} has unknown field(s): ${extra.join(", ")}`);
    }
    const urls = typeof o.urls === "string" ? [o.urls] : o.urls;
    if (!Array.isArray(urls) || urls.length === 0 || !urls.every((u) => typeof u === "string")) {
      throw new IceServerError(`entry ${i + 1} needs "urls" as a URL or a list of URLs`);
    }
    for (const k of ["username", "credential"] as const) {
      if (o[k] !== undefined && typeof o[k] !== "string") {
        throw new IceServerError(`entry ${i + 1}: "${k}" must be a string`);
      }
    }
    const server: IceServer = { urls: urls as string[] };
    if (o.username !== undefined) server.username = o.username as string;
    if (o.credential !== undefined) server.credential = o.credential as string;
    return checked(server, i);
  });
}

/** Checks each URL, and that TURN has credentials and STUN none. */
function checked(server: IceServer, i: number): IceServer {
  let turn = false;
  for (const url of server.urls) {
    const m = ICE_URL.exec(url);
    if (!m) {
      throw new IceServerError(
        `entry ${i + 1}: '${redact(url)}' is not a STUN or TURN URL ` +
          `(stun:host[:port], turn:host[:port][?transport=udp|tcp], stuns:, turns:)`,
      );
    }
    if (m[3] !== undefined && (Number(m[3]) < 1 || Number(m[3]) > 65535)) {
      throw new IceServerError(`entry ${i + 1}: port ${m[3]} is not from 1 to 65535`);
    }
    if (m[1].startsWith("stun") && m[4]) {
      throw new IceServerError(`entry ${i + 1}: ?transport= is for TURN URLs only`);
    }
    if (m[1].startsWith("turn")) turn = true;
  }
  const hasCredentials = server.username !== undefined || server.credential !== undefined;
  if (turn && (!server.username || !server.credential)) {
    throw new IceServerError(
      `entry ${i + 1}: a TURN server needs a username and a credential ` +
        `(turn:USER:CREDENTIAL@host:port)`,
    );
  }
  if (!turn && hasCredentials) {
    throw new IceServerError(`entry ${i + 1}: a STUN server takes no username or credential`);
  }
  return server;
}

function decode(part: string, i: number): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new IceServerError(`entry ${i + 1}: the credentials have a bad %-escape`);
  }
}

/** The entry without its credentials, for an error message that may reach a log. */
function redact(entry: string): string {
  const at = entry.lastIndexOf("@");
  const colon = entry.indexOf(":");
  return at > colon && colon >= 0 ? `${entry.slice(0, colon + 1)}…@${entry.slice(at + 1)}` : entry;
}
