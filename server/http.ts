/**
 * The HTTP listener: a small route table over routes/, the built assets from memory, and the
 * headers every response carries (CSP and friends). `/ws` hands WebSockets to the same router
 * as TCP. Connections are accepted, admitted and timed by http_listener.ts.
 */
import type { ServerIdentity } from "../lib/crypto/mod.ts";
import type { Logger } from "../lib/log.ts";
import { HTTP_TIMEOUTS } from "../lib/http_timeouts.ts";
import type { Router } from "../lib/router/mod.ts";
import { closesConnection, handlers as files } from "../routes/api/files.ts";
import { handlers as login } from "../routes/api/login.ts";
import { handlers as logout } from "../routes/api/logout.ts";
import { handlers as session } from "../routes/api/session.ts";
import { handlers as healthz } from "../routes/healthz.ts";
import { handlers as index } from "../routes/index.tsx";
import { handlers as metrics } from "../routes/metrics.ts";
import { handlers as ws } from "../routes/ws.ts";
import { assetResponse, type Assets, loadAssets } from "./assets.ts";
import type { App, Context, Handlers } from "./context.ts";
import { errorResponse, HttpError, json } from "./http_error.ts";
import { type ConnectionPlace, listenHttp } from "./http_listener.ts";
import { RateLimiter } from "./rate_limiter.ts";
import { refuseWebSocket } from "./ws.ts";
import { checkUpgrade, wantsWebSocket } from "./ws_upgrade.ts";
import type { Refusal } from "../lib/router/admission.ts";
import type { AddressRange } from "../lib/net/address_ranges.ts";

/** Path prefix -> route module, for the routes that take an id after their path. */
const PREFIX_ROUTES: Record<string, Handlers> = {
  "/api/files/": files,
};

/** Path -> route module. Assets live under /static/, served from memory. */
const ROUTES: Record<string, Handlers> = {
  "/": index,
  "/api/files": files,
  "/api/login": login,
  "/api/logout": logout,
  "/api/session": session,
  "/healthz": healthz,
  "/metrics": metrics,
  "/ws": ws,
};

/**
 * The policy for every response: scripts and styles only from this origin (no inline script,
 * no inline style), connections only back to it (its WebSocket), no framing.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

const SECURITY_HEADERS: Record<string, string> = {
  "content-security-policy": CONTENT_SECURITY_POLICY,
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
  "cross-origin-opener-policy": "same-origin",
};

export interface HttpServerOptions {
  hostname: string;
  /** 0 picks a free port. */
  port: number;
  router: Router;
  logger: Logger;
  /** The server's long-term identity (lib/crypto/key_files.ts): signs WebSocket handshakes. */
  identity: ServerIdentity;
  /** Built assets; imported from static/build when absent. */
  assets?: Assets;
  /** Serve HTTPS with this certificate and key (PEM); cookies then get `Secure`. */
  tls?: { cert: string; key: string };
  /**
   * A new connection's first request must be in (its headers) within this long.
   * @default 10000
   */
  headerTimeoutMs?: number;
  /** A kept-alive connection with no new request for this long is closed. @default 30000 */
  idleTimeoutMs?: number;
  /**
   * Shares the port with the other workers' listeners (SO_REUSEPORT). Needs Deno's
   * `--unstable-net`. @default false
   */
  reusePort?: boolean;
  /** What `/metrics` answers, when not only this router's figures (every worker's). */
  metrics?: () => Promise<string>;
  /** Peers that are load balancers: their connections start with a PROXY protocol header. */
  trustedProxies?: readonly AddressRange[];
}

export interface HttpServer {
  readonly addr: Deno.NetAddr;
  /** The address to open in a browser. */
  readonly url: string;
  /** Stops accepting and waits for open requests; call after the router closed its sockets. */
  shutdown(): Promise<void>;
}

/** Starts the HTTP listener. Rejects when the assets have not been built. */
export async function serveHttp(options: HttpServerOptions): Promise<HttpServer> {
  const { router, logger } = options;
  const app: App = {
    router,
    store: router.store,
    logger,
    assets: options.assets ?? await loadAssets(),
    // The router's own throttle, so failed logins count alike over TCP and HTTP.
    signIn: router,
    signInLimiter: new RateLimiter(router.limits.ratePerSec / 5, router.limits.rateBurst / 5),
    identity: options.identity,
    metrics: options.metrics,
  };
  // Only when asked: SO_REUSEPORT needs --unstable-net, and one listener has no use for it.
  const shared = options.reusePort ? { reusePort: true } : {};
  const listener = options.tls
    ? Deno.listenTls({
      hostname: options.hostname,
      port: options.port,
      transport: "tcp",
      cert: options.tls.cert,
      key: options.tls.key,
      alpnProtocols: ["http/1.1"],
      ...shared,
    })
    : Deno.listen({ hostname: options.hostname, port: options.port, transport: "tcp", ...shared });
  const secure = options.tls !== undefined;
  const served = listenHttp(listener, {
    router,
    logger,
    headerTimeoutMs: options.headerTimeoutMs ?? HTTP_TIMEOUTS.headerMs,
    idleTimeoutMs: options.idleTimeoutMs ?? HTTP_TIMEOUTS.idleMs,
    trustedProxies: options.trustedProxies,
    handle: (req, peer, place, proxied) => {
      // TLS ended at the load balancer: the page is https there, so the cookie and the Origin
      // check must be too. Only a trusted proxy's word is taken for it.
      const forwardedTls = proxied && req.headers.get("x-forwarded-proto") === "https";
      return handle(app, req, peer, { secure: secure || forwardedTls, place });
    },
    refuse: (req, refusal) => refusal503(req, refusal, logger),
  });
  const addr = listener.addr as Deno.NetAddr;
  const scheme = secure ? "https" : "http";
  const host = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
  return {
    addr,
    url: `${scheme}://${host === "0.0.0.0" ? "127.0.0.1" : host}:${addr.port}/`,
    shutdown: () => served.shutdown(),
  };
}

/**
 * The answer on a connection a limit refused: a WebSocket upgrade is upgraded to tell why (a
 * browser cannot read an HTTP error answer to an upgrade), anything else gets 503.
 */
function refusal503(req: Request, refusal: Refusal, logger: Logger): Response {
  logger.debug("connection refused", { transport: "http", code: refusal.code });
  if (new URL(req.url).pathname === "/ws" && wantsWebSocket(req)) {
    try {
      checkUpgrade(req);
      return refuseWebSocket(req, refusal);
    } catch (err) {
      return errorResponse(err, logger);
    }
  }
  const headers: Record<string, string> = { connection: "close" };
  if (refusal.retryAfter !== undefined) headers["retry-after"] = String(refusal.retryAfter);
  return json({ error: { code: refusal.code, message: refusal.message } }, 503, { headers });
}

/** Answers one request: route, asset or 404, with the security headers added. */
export async function handle(
  app: App,
  req: Request,
  remoteAddr: string,
  connection: { secure: boolean; place: ConnectionPlace },
): Promise<Response> {
  const url = new URL(req.url);
  if (connection.secure) url.protocol = "https:";
  let response: Response;
  try {
    response = await dispatch({ req, url, remoteAddr, app, ...connection });
  } catch (err) {
    response = errorResponse(err, app.logger);
    if (closesConnection(err)) response.headers.set("connection", "close");
  }
  // An upgrade's response is special: its headers cannot be changed.
  if (response.status === 101) return response;
  for (const [name, value] of Object.entries(SECURITY_HEADERS)) {
    if (!response.headers.has(name)) response.headers.set(name, value);
  }
  return response;
}

function dispatch(ctx: Context): Response | Promise<Response> {
  const { req, url } = ctx;
  const method = req.method === "HEAD" ? "GET" : req.method;
  if (url.pathname.startsWith("/static/")) {
    const asset = ctx.app.assets.get(url.pathname);
    if (!asset) throw new HttpError(404, "No such file.");
    if (method !== "GET") throw new HttpError(405, "Method not allowed.", { allow: "GET, HEAD" });
    return assetResponse(asset, req);
  }
  const prefix = Object.keys(PREFIX_ROUTES).find((p) => url.pathname.startsWith(p));
  const route = ROUTES[url.pathname] ?? (prefix && PREFIX_ROUTES[prefix]);
  if (!route) throw new HttpError(404, "No such page.");
  const handler = route[method as keyof Handlers];
  if (!handler) {
    throw new HttpError(405, "Method not allowed.", { allow: Object.keys(route).join(", ") });
  }
  return handler(ctx);
}
