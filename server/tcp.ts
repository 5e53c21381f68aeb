import type { Logger } from "../lib/log.ts";
import { DEFAULT_MAX_LINE_BYTES } from "../lib/protocol/lines.ts";
import { encodeRefusal, encodeSignInTimeout } from "../lib/protocol/refusal.ts";
import type { Router } from "../lib/router/mod.ts";
import { isRefusal, type Refusal, type Ticket } from "../lib/router/admission.ts";
import type { ServerIdentity } from "../lib/crypto/mod.ts";
import { plaintextRefusal, textModeDecision } from "./plaintext_policy.ts";
import { acceptLoop } from "./accept_loop.ts";
import type { AddressRange } from "../lib/net/address_ranges.ts";
import { closeAfterDraining, within } from "./last_words.ts";
import {
  closeQuietly,
  TcpConnection,
  type TcpShared,
  writeAll,
  type WriteLimits,
} from "./tcp_connection.ts";
import type { ReadingEnded } from "./tcp_read.ts";

export interface TcpServerOptions {
  hostname: string;
  /** 0 picks a free port. */
  port: number;
  router: Router;
  logger: Logger;
  /** The server's long-term identity: signs the handshake every JSON-mode connection runs. */
  identity: ServerIdentity;
  /** @default 8192 (plaintext bytes; sealed lines may be `sealedLineLength` of it) */
  maxLineBytes?: number;
  /**
   * How long to wait for a client's first byte before greeting it in text mode. JSON clients
   * speak first (`{`), so they never see the text greeting.
   * @default 250
   */
  sniffMs?: number;
  /**
   * Outbound bytes a connection may have waiting; a reader further behind is dropped.
   * @default the router's `maxQueuedBytes` (1 MiB)
   */
  maxQueuedBytes?: number;
  /** PEM certificate chain and private key: the listener speaks TLS (`Deno.listenTls`). */
  tls?: { cert: string; key: string };
  /**
   * Accept text mode (plaintext) from any peer; otherwise only from loopback or over TLS
   * (docs/security.md §11). JSON mode is always accepted. @default false
   */
  allowPlaintext?: boolean;
  /**
   * Shares the port with the other workers' listeners (SO_REUSEPORT): the kernel spreads new
   * connections across them. Needs Deno's `--unstable-net`. @default false
   */
  reusePort?: boolean;
  /** Peers that are load balancers: their connections start with a PROXY protocol header. */
  trustedProxies?: readonly AddressRange[];
  /** Test hook: the peer address the plaintext policy judges, instead of the socket's own. */
  policyPeer?: (remote: Deno.NetAddr) => string;
}

export interface TcpServer {
  readonly addr: Deno.NetAddr;
  /** The listener speaks TLS. */
  readonly tls: boolean;
  /** Stops accepting; existing connections stay until the router closes them. */
  stopAccepting(): void;
  /** Resolves when every connection has closed. */
  drained(): Promise<void>;
}

const utf8 = new TextEncoder();

/** The options, with what every connection of the server shares. */
type ServedOptions = TcpServerOptions & TcpShared & { readingEnded: ReadingEnded };

/** Bytes the first read of a connection may take (`nextReadBuffer` sizes the later ones). */
const FIRST_READ_BYTES = 1024;

/** Listens on TCP and hands each connection to the router as text or JSON by its first byte. */
export function serveTcp(options: TcpServerOptions): TcpServer {
  const listener = openListener(options);
  let accepting = true;
  // Counted rather than kept in a set: one settled-callback pair for all, no closure per socket.
  let open = 0;
  let idle = Promise.withResolvers<void>();
  const settled = () => {
    if (--open === 0) idle.resolve();
  };
  const failed = (err: unknown) => {
    options.logger.error("tcp connection failed", { error: err });
    settled();
  };
  // A connection whose reader took over is settled by the reader, when its reading ends.
  const settledUnlessReading = (reading: boolean | void) => {
    if (!reading) settled();
  };
  // One set of write limits for every connection of this server.
  const served: ServedOptions = {
    ...options,
    writeLimits: writeLimits(options),
    maxLineBytes: options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES,
    readingEnded: { settled, failed },
  };

  // Keeps accepting after a failed accept (out of file descriptors, most often).
  void acceptLoop(listener, {
    name: "tcp",
    router: options.router,
    logger: options.logger,
    stopping: () => !accepting,
    trustedProxies: options.trustedProxies,
    onConnection(conn, peer) {
      // Limits are checked before any work is spent on the connection.
      const ticket = options.router.admission.admit(peer.hostname);
      if (open++ === 0) idle = Promise.withResolvers<void>();
      const work = isRefusal(ticket)
        ? refuseConnection(conn, options, ticket, peer)
        : handleConnection(conn, served, ticket, peer);
      work.then(settledUnlessReading, failed);
    },
  });

  return {
    addr: listener.addr as Deno.NetAddr,
    tls: options.tls !== undefined,
    stopAccepting() {
      if (!accepting) return;
      accepting = false;
      listener.close();
    },
    drained() {
      return open === 0 ? Promise.resolve() : idle.promise;
    },
  };
}

/**
 * The listening socket, TLS or not. Throws (before any connection) when the certificate or key
 * is not valid PEM or they do not match.
 */
function openListener(options: TcpServerOptions): Deno.Listener {
  const address = {
    hostname: options.hostname,
    port: options.port,
    transport: "tcp",
    // Only when asked: SO_REUSEPORT needs --unstable-net, and one listener has no use for it.
    ...options.reusePort ? { reusePort: true } : {},
  } as const;
  return options.tls
    ? Deno.listenTls({ ...address, cert: options.tls.cert, key: options.tls.key })
    : Deno.listen(address);
}

/**
 * Whether a reader took the connection over (it gives the ticket back and settles
 * `readingEnded` when its reading ends). Gives the ticket back when the connection ends before
 * (a failed TLS handshake, a client that never spoke or hung up, text mode refused).
 */
async function handleConnection(
  conn: Deno.Conn,
  options: ServedOptions,
  ticket: Ticket,
  remote: Deno.NetAddr,
): Promise<boolean> {
  let handedOver = false;
  try {
    handedOver = await startReading(conn, options, ticket, remote);
    return handedOver;
  } finally {
    if (!handedOver) ticket.release();
  }
}

/**
 * Greets, sniffs the dialect and starts the reader; false when the connection ended here. Its
 * frame ends there: nothing stays suspended for the connection's life.
 */
async function startReading(
  conn: Deno.Conn,
  options: ServedOptions,
  ticket: Ticket,
  remote: Deno.NetAddr,
): Promise<boolean> {
  const connectedAt = performance.now();
  // Finish the TLS handshake first, so the quiet wait below measures the client, not TLS.
  if (options.tls && !await finishTls(conn as Deno.TlsConn, options, remote)) return false;
  // Text mode is plaintext: only from loopback, over TLS, or when the operator allowed it.
  const textAllowed = textModeDecision({
    peer: options.policyPeer?.(remote) ?? remote.hostname,
    tls: options.tls !== undefined,
    allowPlaintext: options.allowPlaintext ?? false,
  }).allowed;
  // Enough for a client_hello or a text command; later reads size their buffer to what arrives.
  const buf = new Uint8Array(FIRST_READ_BYTES);
  const read = conn.read(buf);
  // A person with nc waits to be told how to sign in; a program speaks first. So greet in text
  // when the client is quiet, and let its first byte decide the dialect either way: `{` is JSON
  // (which skips a greeting it did not ask for), anything else text.
  let first = await within(read, options.sniffMs ?? 250);
  let greeted = false;
  if (first === "timeout" && !textAllowed) {
    // A quiet client here is a person with nc: tell them why not, before any greeting.
    await refuseTextMode(conn, options, remote, read);
    return false;
  }
  if (first === "timeout") {
    greeted = await writeAll(conn, utf8.encode(options.router.textGreeting() + "\n"));
    // The sign-in deadline runs from the socket's opening, the quiet wait included.
    const left = options.router.limits.loginTimeoutMs - (performance.now() - connectedAt);
    first = greeted ? await within(read, Math.max(0, left)) : null;
    if (first === "timeout") {
      await writeAll(conn, utf8.encode(encodeSignInTimeout() + "\n"));
      closeQuietly(conn);
      await read.catch(() => {});
      return false;
    }
  }
  if (first === null || first === 0) {
    closeQuietly(conn);
    await read.catch(() => {});
    return false;
  }
  const dialect = buf[0] === "{".charCodeAt(0) ? "json" : "text";
  if (dialect === "text" && !textAllowed) {
    await refuseTextMode(conn, options, remote);
    return false;
  }
  const opening = { remoteAddr: remote.hostname, dialect, connectedAt, greeted, ticket } as const;
  new TcpConnection(conn, options, opening).startReading(buf, first, options.readingEnded);
  return true;
}

/** Runs a TLS connection's handshake within the sign-in deadline; closes it when that fails. */
async function finishTls(
  conn: Deno.TlsConn,
  options: ServedOptions,
  remote: Deno.NetAddr,
): Promise<boolean> {
  const shaken = await within(conn.handshake().then(() => 1), options.router.limits.loginTimeoutMs);
  if (shaken === 1) return true;
  options.logger.debug("tls handshake failed", { peer: remote.hostname });
  closeQuietly(conn);
  return false;
}

/** What a TcpConnection needs to judge its reader, from the options and the router's limits. */
function writeLimits(options: TcpServerOptions): WriteLimits {
  const { router, logger } = options;
  return {
    maxQueued: options.maxQueuedBytes ?? router.limits.maxQueuedBytes,
    slowMs: router.limits.slowReaderMs,
    onTooSlow: (remoteAddr, why) => {
      router.slowReader("tcp");
      logger.info("slow reader disconnected", { transport: "tcp", remoteAddr, why });
    },
  };
}

/**
 * Turns away a connection a limit refuses, with one line saying why: an `error` object for a
 * JSON client (it speaks first, with `{`), a `!` line for a person with nc.
 */
async function refuseConnection(
  conn: Deno.Conn,
  options: TcpServerOptions,
  refusal: Refusal,
  remote: Deno.NetAddr,
): Promise<void> {
  const peer = remote.hostname;
  // Debug only: a flood would flood the log; /metrics counts refusals by limit.
  options.logger.debug("connection refused", { transport: "tcp", peer, code: refusal.code });
  // A flood of refused connections must not hold sockets open: past a few at once, the line
  // is written in haste (no wait for the first byte, a short drain) and the socket let go.
  if (patientRefusals >= MAX_PATIENT_REFUSALS) {
    return explainRefusal(conn, refusal, HASTY_REFUSAL);
  }
  patientRefusals++;
  try {
    await explainRefusal(conn, refusal, {
      ...PATIENT_REFUSAL,
      sniffMs: options.sniffMs ?? PATIENT_REFUSAL.sniffMs,
    });
  } finally {
    patientRefusals--;
  }
}

/** How long a refusal waits: for the client's first byte, for its line to go, for a hang-up. */
interface RefusalTimes {
  sniffMs: number;
  writeMs: number;
  drainMs: number;
}

/** Refusals told why at leisure right now, and how many may be at once; the rest in haste. */
let patientRefusals = 0;
const MAX_PATIENT_REFUSALS = 64;
const PATIENT_REFUSAL: RefusalTimes = { sniffMs: 250, writeMs: 1000, drainMs: 1000 };
/** About a tenth of a second per socket at most, however many come. */
const HASTY_REFUSAL: RefusalTimes = { sniffMs: 10, writeMs: 50, drainMs: 50 };

async function explainRefusal(
  conn: Deno.Conn,
  refusal: Refusal,
  times: RefusalTimes,
): Promise<void> {
  const buf = new Uint8Array(1);
  const read = conn.read(buf);
  const first = await within(read, times.sniffMs);
  const json = typeof first === "number" && buf[0] === "{".charCodeAt(0);
  const line = encodeRefusal(refusal, json ? "json" : "text");
  await within(writeAll(conn, utf8.encode(line + "\n")), times.writeMs);
  await closeAfterDraining(conn, read, times.drainMs);
}

/**
 * Answers a text-mode client the policy refuses with one line (why, and how to connect securely),
 * then hangs up. `pending` is a read still in flight on the connection.
 */
async function refuseTextMode(
  conn: Deno.Conn,
  options: TcpServerOptions,
  remote: Deno.NetAddr,
  pending?: Promise<number | null>,
): Promise<void> {
  options.logger.info("text mode refused: plaintext from a non-loopback address", {
    peer: remote.hostname,
  });
  const local = conn.localAddr as Deno.NetAddr;
  await writeAll(conn, utf8.encode(plaintextRefusal(local.hostname, local.port) + "\n"));
  await closeAfterDraining(conn, pending);
}
