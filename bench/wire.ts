/**
 * What the coordinator (main.ts) and its load-generator workers (worker.ts) say to each other:
 * one JSON object per line, commands on the worker's stdin, reports on its stdout.
 */
import type { HistogramJson } from "./stats.ts";

/**
 * How clients reach the server. `mixed`: even client indices TCP, odd WebSocket. `text`: Parley's
 * text mode over TCP (nc-style lines, no encryption); its baseline is the TCP line server.
 */
export type TransportMode = "tcp" | "ws" | "mixed" | "text";

/** Parley (login, encryption) or the zero-feature baseline server (bench/baseline_*.ts). */
export type Target = "parley" | "baseline";

/** Where the server under test listens. */
export interface Endpoint {
  host: string;
  /** TCP port (Parley's JSON mode, or the baseline's line server). */
  tcpPort: number;
  /** HTTP port of the WebSocket endpoint. */
  wsPort: number;
  /** `ws://host:port/ws` for Parley, `ws://host:port/` for the baseline. */
  wsUrl: string;
  /** Parley's identity fingerprint (clients pin it). */
  fingerprint?: string;
}

/** Everything a worker needs, given as its only argument (JSON). */
export interface WorkerConfig {
  target: Target;
  worker: number;
  /** Global index of this worker's first client; it runs `count` consecutive ones. */
  first: number;
  count: number;
  endpoint: Endpoint;
  transport: TransportMode;
  /** Languages clients register with, spread by index. */
  langs: string[];
  /** Global indices of clients that stop reading once signed in (always over TCP). */
  slow: number[];
  /** Prefix of user names, unique per run. */
  namePrefix: string;
  password: string;
  /** Connections being set up at once. */
  connectConcurrency: number;
  /** Epoch ms after which the worker exits whatever it is doing. */
  deadline: number;
}

/** One measured phase: senders broadcast at `rate` per second each, from `startAt` (epoch ms). */
export interface RunCommand {
  cmd: "run";
  phase: number;
  /** Global client indices that send. */
  senders: number[];
  rate: number;
  startAt: number;
  durationMs: number;
  /** Text size of each message, in bytes. */
  size: number;
  /** Quiet time after which deliveries are over. */
  quietMs: number;
  /** Longest wait for late deliveries and replies once sending stops. */
  maxDrainMs: number;
  /** Afterwards, find out which slow clients the server dropped (they read again, discarding). */
  probeSlow?: boolean;
}

/** Connect-sign-in-disconnect cycles on `slots` parallel slots for `durationMs`. */
export interface ChurnCommand {
  cmd: "churn";
  durationMs: number;
  slots: number;
  /** Global index of this worker's first slot (names stay unique across workers). */
  firstSlot: number;
}

export type WorkerCommand =
  | { cmd: "connect" }
  /** Closes every client (the next `connect` signs the same users in again). */
  | { cmd: "disconnect" }
  | RunCommand
  | ChurnCommand
  | { cmd: "quit" };

/** A sender's tally for one phase. */
export interface SenderTally {
  attempted: number;
  /** Answered `sent` (Parley) or written (baseline). */
  accepted: number;
  /** Refused by the server, by error code (e.g. `rate_limited`). */
  refused: Record<string, number>;
  /** No reply before the drain ended (or the connection closed). */
  unanswered: number;
  /** Sum of `recipients` in the `sent` replies (Parley only). */
  recipients: number;
}

export interface ConnectedReport {
  type: "connected";
  ok: number;
  failed: number;
  /** Global indices of the clients that could not connect or sign in. */
  failedIndices: number[];
  /** The first few distinct errors. */
  errors: string[];
  /** Wall time from the command to the last sign-in. */
  ms: number;
  /** Connect-to-welcome times. */
  latency: HistogramJson;
  /** `welcome.translation` as the server reported it, if it did. */
  translation?: string;
}

export interface ResultReport {
  type: "result";
  phase: number;
  senders: Record<string, SenderTally>;
  /** Distinct deliveries of this phase's messages, by sender. */
  uniqueBySender: Record<string, number>;
  unique: number;
  duplicates: number;
  /** Deliveries that came after a higher sequence number from the same sender. */
  reordered: number;
  /** Messages of another phase, or not bench messages at all. */
  foreign: number;
  /** Deliveries that carried a translation (`original`), and untranslated ones by reason. */
  translated: number;
  untranslated: Record<string, number>;
  latency: HistogramJson;
  /** Clients (global indices) whose connection had already ended when the phase started. */
  endedBefore: number[];
  /** Clients whose connection ended during the phase, with reasons (first few). */
  closed: number;
  closeReasons: string[];
  /** Slow clients (not reading) whose connection the server ended. */
  slowClosed: number;
  /** This worker's CPU seconds and wall seconds during the phase, and its worst timer lag. */
  cpuSeconds: number;
  wallSeconds: number;
  maxLagMs: number;
  /** Ms from the end of sending to the last delivery. */
  drainMs: number;
  /** Ms from the phase's start to the last delivery (0: none): the phase, drain included. */
  lastDeliveryMs: number;
  /** Deliveries or replies were still coming when the drain limit ended the phase. */
  drainTimedOut: boolean;
}

export interface ChurnReport {
  type: "churned";
  cycles: number;
  failed: number;
  errors: string[];
  /** Connect-to-welcome (Parley) or connect-to-echo (baseline) times. */
  latency: HistogramJson;
  cpuSeconds: number;
}

export type WorkerReport =
  | { type: "booted" }
  | ConnectedReport
  | ResultReport
  | ChurnReport
  | { type: "disconnected"; closed: number }
  | { type: "error"; message: string };
