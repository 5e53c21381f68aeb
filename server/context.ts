/**
 * What a route handler gets: the request, and the server's shared parts. Routes in routes/
 * export `handlers`, one function per HTTP method, like Fresh's route modules.
 */
import type { SignInDeps } from "../lib/accounts/sign_in.ts";
import type { ServerIdentity } from "../lib/crypto/mod.ts";
import type { Logger } from "../lib/log.ts";
import type { Router } from "../lib/router/mod.ts";
import type { Store } from "../lib/store/store.ts";
import type { Assets } from "./assets.ts";
import type { ConnectionPlace } from "./http_listener.ts";
import type { RateLimiter } from "./rate_limiter.ts";

/** The server's shared parts, made once by serveHttp. */
export interface App {
  router: Router;
  store: Store;
  logger: Logger;
  assets: Assets;
  signIn: SignInDeps;
  /** Limits sign-in attempts per address, on top of the failed-login throttle. */
  signInLimiter: RateLimiter;
  /** The server's identity: signs every WebSocket handshake; its fingerprint goes with the page. */
  identity: ServerIdentity;
  /** `/metrics` for every worker of the process (`--workers N`); absent: the router's own. */
  metrics?: () => Promise<string>;
}

/** One request, as a handler sees it. */
export interface Context {
  req: Request;
  url: URL;
  /** The peer's address without port. */
  remoteAddr: string;
  /** True when the request came over TLS: cookies get `Secure`. */
  secure: boolean;
  /** The connection's admission place, which a WebSocket upgrade takes over. */
  place: ConnectionPlace;
  app: App;
}

export type Handler = (ctx: Context) => Response | Promise<Response>;

/** A route module's export: its handler for each method it answers. */
export type Handlers = Partial<Record<"GET" | "POST", Handler>>;
