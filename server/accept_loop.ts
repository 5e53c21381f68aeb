/**
 * The accept loop both listeners share. An accept can fail for reasons that pass: above all
 * EMFILE, when the process is out of file descriptors (`ulimit -n`); the next accept works once
 * a connection closes. So a failed accept waits a little (10 ms, doubling to 1 s while it keeps
 * failing) and tries again; only a listener that is closed under the loop ends it, and that is
 * reported, so `/healthz` can say the port is gone.
 */
import type { Logger } from "../lib/log.ts";
import type { Router } from "../lib/router/mod.ts";
import { type AddressRange, inRanges } from "../lib/net/address_ranges.ts";
import { readProxyHeader } from "./proxy_protocol.ts";
import { closeQuietly } from "./tcp_connection.ts";

export interface AcceptLoopOptions {
  /** The listener's name in logs, metrics and `/healthz`: `tcp` or `http`. */
  name: string;
  router: Router;
  logger: Logger;
  /** True once the server closed the listener itself (shutdown): the loop then ends quietly. */
  stopping: () => boolean;
  /**
   * Takes each accepted connection with the address of the client behind it: the socket's
   * peer, or the one a trusted proxy's PROXY header gave (`proxied`). Must not throw.
   */
  onConnection: (conn: Deno.Conn, peer: Deno.NetAddr, proxied: boolean) => void;
  /** Peers whose connections start with a PROXY protocol header (`--trusted-proxies`). */
  trustedProxies?: readonly AddressRange[];
}

/** How long a trusted proxy has to send its PROXY header (it sends it at once). */
export const PROXY_HEADER_MS = 5000;

/** The first wait after a failed accept, and the longest. */
export const ACCEPT_BACKOFF_MS = { first: 10, max: 1000 };

/** Accepts until the listener closes; resolves then. Never rejects. */
export async function acceptLoop(listener: Deno.Listener, options: AcceptLoopOptions) {
  const { name, router, logger } = options;
  let wait = 0;
  let failures = 0;
  router.listeners.accepting(name);
  while (true) {
    let conn: Deno.Conn;
    try {
      conn = await listener.accept();
    } catch (err) {
      if (options.stopping()) return;
      if (err instanceof Deno.errors.BadResource || err instanceof Deno.errors.Interrupted) {
        // Closed under the loop: nothing will ever be accepted here again.
        logger.error(`${name} listener stopped accepting for good`, { error: err });
        router.listeners.gone(name, err);
        return;
      }
      // Once per episode in the log; each failure in /metrics.
      if (failures++ === 0) {
        const hint = fdHint(err);
        logger.warn(`${name} accept failed; retrying`, { error: err, ...hint && { hint } });
      }
      router.limitHit("accept_failed");
      wait = Math.min(wait === 0 ? ACCEPT_BACKOFF_MS.first : wait * 2, ACCEPT_BACKOFF_MS.max);
      await new Promise((resolve) => setTimeout(resolve, wait));
      continue;
    }
    if (failures > 0) {
      logger.info(`${name} accepting again`, { failedAccepts: failures });
      failures = 0;
      wait = 0;
    }
    noDelay(conn);
    const peer = conn.remoteAddr as Deno.NetAddr;
    if (options.trustedProxies?.length && inRanges(peer.hostname, options.trustedProxies)) {
      void unwrapProxied(conn, peer, options);
    } else {
      options.onConnection(conn, peer, false);
    }
  }
}

/**
 * Reads the PROXY header of a connection from a trusted proxy, then hands the connection on
 * with the client's address; one without a valid header in time is closed (and counted).
 */
async function unwrapProxied(conn: Deno.Conn, proxy: Deno.NetAddr, options: AcceptLoopOptions) {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error("no PROXY header in time")), PROXY_HEADER_MS);
    });
    const client = await Promise.race([readProxyHeader(conn), deadline]);
    options.onConnection(conn, client ? { transport: "tcp", ...client } : proxy, true);
  } catch (err) {
    options.logger.debug(`${options.name}: bad PROXY header from a trusted proxy`, {
      peer: proxy.hostname,
      error: err,
    });
    options.router.limitHit("proxy_header");
    closeQuietly(conn);
  } finally {
    clearTimeout(timer);
  }
}

/** What to do about running out of file descriptors, when that is the error. */
function fdHint(err: unknown): string | undefined {
  const message = err instanceof Error ? err.message : String(err);
  if (!/os error 2[34]\b/.test(message)) return undefined;
  return "out of file descriptors: raise `ulimit -n` or lower --max-connections (README, Limits)";
}

/**
 * Chat frames are small and each one is waited for: send them at once rather than let Nagle's
 * algorithm hold one back until the previous is acknowledged (up to the peer's delayed ACK,
 * 40 ms on Linux). Both ports: a WebSocket is as interactive as a TCP line. A TLS connection
 * does not offer the option in Deno.
 */
function noDelay(conn: Deno.Conn): void {
  try {
    if ("setNoDelay" in conn) (conn as Deno.TcpConn).setNoDelay(true);
  } catch {
    // Already reset by the peer: the first read will say so.
  }
}
