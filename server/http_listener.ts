/**
 * The HTTP port's own accept loop. Deno.serve accepts inside the runtime, where nothing can
 * bound it: no header deadline, no idle timeout, no per-address limit, and running out of file
 * descriptors there ends the process. So Parley accepts each connection itself (the loop TCP
 * uses), admits it by the same limits as TCP, and hands it to Deno's HTTP/1.1 machinery one
 * connection at a time, with deadlines around each request.
 */
import type { Logger } from "../lib/log.ts";
import type { AddressRange } from "../lib/net/address_ranges.ts";
import { isRefusal, type Refusal, type Ticket } from "../lib/router/admission.ts";
import type { Router } from "../lib/router/mod.ts";
import { acceptLoop } from "./accept_loop.ts";
import { closeAfterDraining, within } from "./last_words.ts";
import { closeQuietly, writeAll } from "./tcp_connection.ts";

/** The HTTP/1.1 server of one accepted connection, as `Deno.serveHttp` gives it. */
interface RequestEvent {
  readonly request: Request;
  respondWith(response: Response | Promise<Response>): Promise<void>;
}
interface HttpConn {
  nextRequest(): Promise<RequestEvent | null>;
  close(): void;
}

/**
 * Deno.serveHttp: HTTP/1.1 on a connection the program accepted itself. Deno 2 keeps it out of
 * its type declarations (Deno.serve is the advised API) but ships it; it is the one way to serve
 * HTTP, WebSocket upgrades included, on a connection the program accepted and admitted.
 */
const serveHttpConn = (Deno as unknown as { serveHttp?: (conn: Deno.Conn) => HttpConn })
  .serveHttp;

/** An admitted connection's place, as a request handler sees it. */
export interface ConnectionPlace {
  /**
   * For a WebSocket upgrade: the connection's admission place goes with the socket, which
   * gives it back by calling the returned function once it is gone.
   */
  handOver(): () => void;
}

/** Answers one request on an admitted connection. */
export type RequestHandler = (
  req: Request,
  peer: string,
  place: ConnectionPlace,
  /** The connection came through a trusted proxy, whose forwarding headers count. */
  proxied: boolean,
) => Promise<Response>;

/** Answers one request on a connection a limit refused (an upgrade, or a 503). */
export type RefusalHandler = (req: Request, refusal: Refusal) => Response;

export interface HttpListenerOptions {
  router: Router;
  logger: Logger;
  /** The first request's headers must be in within this long of the connect. */
  headerTimeoutMs: number;
  /** A kept-alive connection must send its next request's headers within this long. */
  idleTimeoutMs: number;
  handle: RequestHandler;
  refuse: RefusalHandler;
  /** Peers that are load balancers: their connections start with a PROXY protocol header. */
  trustedProxies?: readonly AddressRange[];
}

export interface HttpListener {
  /** Stops accepting, closes idle connections, and resolves once every request is answered. */
  shutdown(): Promise<void>;
}

/** How an answer left the connection: open for the next request, upgraded, or done. */
type Outcome = "answered" | "upgraded" | "over";

/** One accepted connection while its requests are served. */
interface Served {
  http: HttpConn;
  /** A request is being answered: shutdown lets it finish. */
  busy: boolean;
}

/** Refusals answered through HTTP at once, at most; past that a fixed 503 in haste. */
const MAX_PATIENT_REFUSALS = 64;
/** How long a last answer may take to go out before its connection is closed anyway. */
const LAST_ANSWER_MS = 1000;
/** A refused connection's request must come quickly: it holds a descriptor, not a place. */
const REFUSED_HEADER_MS = 1000;

/** Serves `listener` until `shutdown`. Throws at once when this Deno lacks Deno.serveHttp. */
export function listenHttp(listener: Deno.Listener, options: HttpListenerOptions): HttpListener {
  if (!serveHttpConn) {
    throw new Error(
      "this Deno has no Deno.serveHttp, which the HTTP port needs: run Parley with Deno 2.9 (README)",
    );
  }
  return new HttpPort(listener, options, serveHttpConn);
}

/** The HTTP port: admits each accepted connection, then serves its requests within deadlines. */
class HttpPort implements HttpListener {
  #listener: Deno.Listener;
  #options: HttpListenerOptions;
  #serveHttp: (conn: Deno.Conn) => HttpConn;
  #stopping = false;
  #served = new Set<Served>();
  #patientRefusals = 0;
  #loop: Promise<void>;

  constructor(
    listener: Deno.Listener,
    options: HttpListenerOptions,
    serveHttp: (conn: Deno.Conn) => HttpConn,
  ) {
    this.#listener = listener;
    this.#options = options;
    this.#serveHttp = serveHttp;
    this.#loop = acceptLoop(listener, {
      name: "http",
      router: options.router,
      logger: options.logger,
      stopping: () => this.#stopping,
      trustedProxies: options.trustedProxies,
      onConnection: (conn, peer, proxied) => this.#accept(conn, peer.hostname, proxied),
    });
  }

  async shutdown(): Promise<void> {
    this.#stopping = true;
    try {
      this.#listener.close();
    } catch { /* closed already */ }
    await this.#loop;
    // Idle connections go now; busy ones once their answer is out (the loop sees `stopping`).
    for (const one of this.#served) if (!one.busy) closeHttp(one.http);
    while (this.#served.size > 0) await new Promise((resolve) => setTimeout(resolve, 10));
  }

  /** Limits first: an admitted connection is served, a refused one told why. */
  #accept(conn: Deno.Conn, peer: string, proxied: boolean): void {
    const ticket = this.#options.router.admission.admit(peer);
    let work: Promise<void>;
    if (!isRefusal(ticket)) {
      work = this.#serveAdmitted(conn, peer, proxied, ticket);
    } else if (this.#patientRefusals < MAX_PATIENT_REFUSALS) {
      this.#patientRefusals++;
      work = this.#serveRefused(conn, ticket).finally(() => this.#patientRefusals--);
    } else {
      work = refuseInHaste(conn, ticket);
    }
    work.catch((err) => {
      this.#options.logger.error("http connection failed", { error: err });
      closeQuietly(conn);
    });
  }

  /** Requests one after another, each within its deadline, until either side ends. */
  async #serveConnection(
    conn: Deno.Conn,
    firstDeadlineMs: number,
    answer: (event: RequestEvent) => Promise<Outcome>,
  ): Promise<void> {
    const one: Served = { http: this.#serveHttp(conn), busy: false };
    this.#served.add(one);
    try {
      let deadline = firstDeadlineMs;
      let first = true;
      while (!this.#stopping) {
        // A malformed request rejects (hyper has answered 400): the connection is over.
        const event = await within(one.http.nextRequest(), deadline);
        if (event === "timeout") {
          this.#options.router.limitHit(first ? "http_header_timeout" : "http_idle_timeout");
          break;
        }
        if (event === null) break;
        one.busy = true;
        const outcome = await answer(event);
        one.busy = false;
        // The socket is the WebSocket's now: closing the HTTP side could take it along.
        if (outcome === "upgraded") return;
        if (outcome === "over") {
          // Its answer said `connection: close`: hyper ends the connection once it is out.
          await within(one.http.nextRequest(), LAST_ANSWER_MS);
          break;
        }
        first = false;
        deadline = this.#options.idleTimeoutMs;
      }
      closeHttp(one.http);
    } finally {
      this.#served.delete(one);
    }
  }

  async #serveAdmitted(
    conn: Deno.Conn,
    peer: string,
    proxied: boolean,
    ticket: Ticket,
  ): Promise<void> {
    let handedOver = false;
    const place: ConnectionPlace = {
      handOver() {
        handedOver = true;
        return () => ticket.release();
      },
    };
    try {
      await this.#serveConnection(conn, this.#options.headerTimeoutMs, async (event) => {
        const response = await this.#options.handle(event.request, peer, place, proxied);
        const sent = await event.respondWith(response).then(() => true, () => false);
        if (handedOver) return "upgraded";
        return sent ? "answered" : "over";
      });
    } finally {
      if (!handedOver) ticket.release();
    }
  }

  async #serveRefused(conn: Deno.Conn, refusal: Refusal): Promise<void> {
    await this.#serveConnection(conn, REFUSED_HEADER_MS, async (event) => {
      const response = this.#options.refuse(event.request, refusal);
      await event.respondWith(response).catch(() => {});
      // One answer, then the connection goes (an upgraded refusal closes itself).
      return response.status === 101 ? "upgraded" : "over";
    });
  }
}

function closeHttp(http: HttpConn): void {
  try {
    http.close();
  } catch { /* closed already */ }
}

/**
 * A refused connection past the patient ones: a fixed 503 written at once, without reading the
 * request, then the socket goes after a short drain. A browser's WebSocket sees a failed
 * upgrade; every other client reads the refusal.
 */
async function refuseInHaste(conn: Deno.Conn, refusal: Refusal): Promise<void> {
  const body = JSON.stringify({ error: { code: refusal.code, message: refusal.message } });
  const head = [
    "HTTP/1.1 503 Service Unavailable",
    "content-type: application/json; charset=utf-8",
    `content-length: ${new TextEncoder().encode(body).length}`,
    ...refusal.retryAfter === undefined ? [] : [`retry-after: ${refusal.retryAfter}`],
    "connection: close",
  ];
  const bytes = new TextEncoder().encode(head.join("\r\n") + "\r\n\r\n" + body);
  if (await within(writeAll(conn, bytes), 50) !== true) return closeQuietly(conn);
  await closeAfterDraining(conn, undefined, 50);
}
