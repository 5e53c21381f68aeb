/**
 * Checks a WebSocket opening handshake the way RFC 6455 §4.2.1 asks a server to, before any
 * upgrade: a client's mistake gets a 4xx answer saying what is wrong (never a 500, never an
 * ERROR in the log), and an upgrade that would break at the first frame is not answered 101.
 */
import { HttpError } from "./http_error.ts";

/** The only version of the protocol (RFC 6455 §4.4): a client asking for another gets 426. */
export const WEBSOCKET_VERSION = "13";

/** The header's comma-separated tokens, lower case (`Connection: keep-alive, Upgrade`). */
function tokens(headers: Headers, name: string): string[] {
  return (headers.get(name) ?? "").split(",").map((t) => t.trim().toLowerCase());
}

/** True when the request asks for a WebSocket at all (`Upgrade: websocket`). */
export function wantsWebSocket(req: Request): boolean {
  return tokens(req.headers, "upgrade").includes("websocket");
}

/**
 * Throws the HttpError a malformed upgrade deserves: 400 when a required header is missing or
 * wrong, 426 with `Sec-WebSocket-Version: 13` when the version is missing or another one.
 */
export function checkUpgrade(req: Request): void {
  const { headers } = req;
  if (!wantsWebSocket(req)) {
    throw new HttpError(426, "This endpoint speaks WebSocket.", { upgrade: "websocket" });
  }
  if (!tokens(headers, "connection").includes("upgrade")) {
    throw new HttpError(400, "A WebSocket upgrade needs `Connection: Upgrade`.");
  }
  if (!headers.has("host")) throw new HttpError(400, "A WebSocket upgrade needs a Host header.");
  const version = headers.get("sec-websocket-version")?.trim();
  if (version !== WEBSOCKET_VERSION) {
    throw new HttpError(
      426,
      version === undefined
        ? "A WebSocket upgrade needs `Sec-WebSocket-Version: 13`."
        : `WebSocket version ${version} is not supported; this server speaks version 13.`,
      { "sec-websocket-version": WEBSOCKET_VERSION },
    );
  }
  if (!isNonce(headers.get("sec-websocket-key"))) {
    throw new HttpError(
      400,
      "A WebSocket upgrade needs `Sec-WebSocket-Key`: 16 random bytes in base64.",
    );
  }
}

/** The key must be 16 bytes in base64: 22 characters and `==` (RFC 6455 §4.1, item 7). */
function isNonce(key: string | null): boolean {
  return key !== null && /^[A-Za-z0-9+/]{21}[AQgw]==$/.test(key.trim());
}
