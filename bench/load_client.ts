/**
 * One simulated user of the load generator. Against Parley it is the project's own client stack:
 * ParleyClient over SecureChannel, over TcpChannel or lib/client/ws_channel.ts (Deno has the
 * WebSocket API), with a tap that takes `message` events before ParleyClient (which would hide
 * duplicates) and drops `presence` (nobody here needs it). Against the baseline it speaks the
 * trivial protocol: plain lines or WebSocket text, no sign-in, no encryption.
 */
import { ParleyClient, SecureChannel, ServerError, TcpChannel } from "../lib/client/mod.ts";
import type { FrameChannel } from "../lib/client/mod.ts";
import { type IdentityVerifier, pinFingerprint } from "../lib/crypto/mod.ts";
import type { MessageEvent } from "../lib/protocol/types.ts";
import { WsChannel } from "../lib/client/ws_channel.ts";
import { TcpLines } from "./tcp_lines.ts";
import { baselineClient, type Lines, textClient } from "./line_clients.ts";
import type { Endpoint, Target } from "./wire.ts";

/** A delivered message as the load generator sees it. */
export interface Delivery {
  /** The sender's own words (the original when translated). */
  text: string;
  translated: boolean;
  /** Why it was not translated, when the server says so. */
  untranslated?: string;
  /**
   * When its bytes reached the load-generator process (`clockMs`), before the client opened and
   * parsed them; absent: when it was counted.
   */
  at?: number;
}

/** The outcome of one broadcast: accepted (with the server's recipient count) or refused. */
export type SendOutcome = { ok: true; recipients: number } | { ok: false; code: string };

export interface LoadClient {
  readonly index: number;
  /** Resolves with the reason once the connection has ended. */
  readonly closed: Promise<string>;
  /** The provider named in `welcome.translation` (Parley, when the server reports it). */
  readonly translation?: string;
  broadcast(text: string): Promise<SendOutcome>;
  /** Stops reading (slow clients only). */
  pause(): void;
  /** Reads again, discarding; tells whether the server had ended the connection (slow only). */
  probeClosed(ms: number): Promise<boolean>;
  /** Polite goodbye (Parley `quit`), then close. */
  quit(): Promise<void>;
  close(): void;
}

/** JSON mode over TCP, over the WebSocket, or text mode over TCP (nc-style lines). */
export type ClientTransport = "tcp" | "ws" | "text";

export interface ConnectOptions {
  target: Target;
  endpoint: Endpoint;
  transport: ClientTransport;
  index: number;
  /** Stops reading when told: always TCP. */
  slow: boolean;
  name: string;
  password: string;
  lang: string;
  /** Register (a new name) or log in. */
  register: boolean;
  onDelivery: (d: Delivery) => void;
  requestTimeoutMs?: number;
}

const verifiers = new Map<string, IdentityVerifier>();

export function connectClient(o: ConnectOptions): Promise<LoadClient> {
  return o.target === "parley" ? connectParley(o) : connectBaseline(o);
}

async function connectParley(o: ConnectOptions): Promise<LoadClient> {
  if (o.transport === "text") {
    return await textClient(o, await TcpLines.connect(o.endpoint.host, o.endpoint.tcpPort));
  }
  const fp = o.endpoint.fingerprint!;
  let verifyIdentity = verifiers.get(fp);
  if (!verifyIdentity) verifiers.set(fp, verifyIdentity = pinFingerprint(fp));
  let raw: TcpLines | undefined;
  let secure: SecureChannel;
  if (o.slow) {
    raw = await TcpLines.connect(o.endpoint.host, o.endpoint.tcpPort);
    secure = await SecureChannel.establish(raw, { verifyIdentity });
  } else if (o.transport === "tcp") {
    secure = await TcpChannel.connect({
      hostname: o.endpoint.host,
      port: o.endpoint.tcpPort,
      verifyIdentity,
    });
  } else {
    secure = await SecureChannel.establish(await WsChannel.open(o.endpoint.wsUrl), {
      verifyIdentity,
    });
  }
  const client = new ParleyClient(new MessageTap(secure, o.onDelivery), {
    buffer: false,
    autoAck: false,
    requestTimeoutMs: o.requestTimeoutMs ?? 30_000,
  });
  try {
    if (o.register) await client.register(o.name, o.password, o.lang);
    else await client.login(o.name, o.password, o.lang);
  } catch (err) {
    client.close();
    throw err;
  }
  const welcome = client.welcome as { translation?: string } | undefined;
  return {
    index: o.index,
    closed: client.closed,
    translation: welcome?.translation,
    broadcast: (text) =>
      client.send("all", text).then(
        (sent) => ({ ok: true, recipients: sent.recipients }),
        (err) => ({ ok: false, code: err instanceof ServerError ? err.code : "unanswered" }),
      ),
    pause: () => raw?.pause(),
    probeClosed: (ms) => raw ? raw.drainToEnd(ms) : Promise.resolve(false),
    quit: () => client.quit(),
    close: () => client.close(),
  };
}

/**
 * Between the SecureChannel and the ParleyClient: `message` events go to the load generator,
 * `presence` events nowhere, everything else (replies) on to the client.
 */
class MessageTap implements FrameChannel {
  #inner: FrameChannel;
  #onDelivery: (d: Delivery) => void;

  constructor(inner: FrameChannel, onDelivery: (d: Delivery) => void) {
    this.#inner = inner;
    this.#onDelivery = onDelivery;
  }

  send(frame: string): void {
    this.#inner.send(frame);
  }

  start(onFrame: (frame: string) => void, onClose: (reason: string) => void): void {
    this.#inner.start((frame) => {
      if (frame.startsWith('{"type":"presence"')) return;
      let event: { type?: unknown };
      try {
        event = JSON.parse(frame);
      } catch {
        return onFrame(frame);
      }
      if (event.type === "message") {
        const m = event as MessageEvent;
        this.#onDelivery({
          text: m.original?.text ?? m.text,
          translated: m.original !== undefined,
          untranslated: m.untranslated,
        });
      } else if (event.type !== "presence") onFrame(frame);
    }, onClose);
  }

  close(): void {
    this.#inner.close();
  }
}

/** A WebSocket's text messages as lines: the baseline's WebSocket clients. */
async function wsLines(url: string): Promise<Lines> {
  const socket = new WebSocket(url);
  await new Promise<void>((resolve, reject) => {
    socket.onopen = () => resolve();
    socket.onerror = () => reject(new Error("cannot reach the baseline server"));
  });
  const ended = Promise.withResolvers<boolean>();
  return {
    send(line) {
      if (socket.readyState !== WebSocket.OPEN) throw new Error("channel closed");
      socket.send(line);
    },
    start(onLine, onClose) {
      socket.onmessage = (e) => typeof e.data === "string" && onLine(e.data);
      socket.onclose = (e) => {
        ended.resolve(true);
        onClose(e.reason || `closed (${e.code})`);
      };
    },
    pause() {},
    drainToEnd: () => Promise.resolve(false),
    close: () => socket.readyState <= WebSocket.OPEN && socket.close(1000),
  };
}

async function connectBaseline(o: ConnectOptions): Promise<LoadClient> {
  const lines = o.slow || o.transport !== "ws"
    ? await TcpLines.connect(o.endpoint.host, o.endpoint.tcpPort)
    : await wsLines(o.endpoint.wsUrl);
  return await baselineClient(o, lines);
}
