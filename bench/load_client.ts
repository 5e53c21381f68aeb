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
import type { Endpoint, Target } from "./wire.ts";

/** A delivered message as the load generator sees it. */
export interface Delivery {
  /** The sender's own words (the original when translated). */
  text: string;
  translated: boolean;
  /** Why it was not translated, when the server says so. */
  untranslated?: string;
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

export interface ConnectOptions {
  target: Target;
  endpoint: Endpoint;
  transport: "tcp" | "ws";
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

/** The line or text message a baseline client sends first and waits to see come back. */
const HELLO = "~hello";

async function connectBaseline(o: ConnectOptions): Promise<LoadClient> {
  const hello = `${HELLO} ${o.index} ${crypto.randomUUID()}`;
  const greeted = Promise.withResolvers<void>();
  const onLine = (line: string) => {
    if (line === hello) greeted.resolve();
    else if (!line.startsWith(HELLO)) o.onDelivery({ text: line, translated: false });
  };
  let send: (text: string) => void;
  let close: () => void;
  let closed: Promise<string>;
  let raw: TcpLines | undefined;
  if (o.slow || o.transport === "tcp") {
    raw = await TcpLines.connect(o.endpoint.host, o.endpoint.tcpPort);
    const r = raw;
    const done = Promise.withResolvers<string>();
    r.start(onLine, (reason) => {
      greeted.reject(new Error(reason));
      done.resolve(reason);
    });
    send = (text) => r.send(text);
    close = () => r.close();
    closed = done.promise;
  } else {
    const socket = new WebSocket(o.endpoint.wsUrl);
    const done = Promise.withResolvers<string>();
    await new Promise<void>((resolve, reject) => {
      socket.onopen = () => resolve();
      socket.onerror = () => reject(new Error("cannot reach the baseline server"));
    });
    socket.onmessage = (e) => typeof e.data === "string" && onLine(e.data);
    socket.onclose = (e) => {
      greeted.reject(new Error(`closed (${e.code})`));
      done.resolve(e.reason || `closed (${e.code})`);
    };
    send = (text) => {
      if (socket.readyState !== WebSocket.OPEN) throw new Error("channel closed");
      socket.send(text);
    };
    close = () => socket.readyState <= WebSocket.OPEN && socket.close(1000);
    closed = done.promise;
  }
  greeted.promise.catch(() => {});
  send(hello);
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      greeted.promise,
      new Promise((_, reject) =>
        timer = setTimeout(() => reject(new Error("no echo of the hello")), 30_000)
      ),
    ]);
  } catch (err) {
    close();
    throw err;
  } finally {
    clearTimeout(timer);
  }
  return {
    index: o.index,
    closed,
    broadcast(text) {
      try {
        send(text);
        return Promise.resolve({ ok: true, recipients: 0 });
      } catch {
        return Promise.resolve({ ok: false, code: "closed" });
      }
    },
    pause: () => raw?.pause(),
    probeClosed: (ms) => raw ? raw.drainToEnd(ms) : Promise.resolve(false),
    quit() {
      close();
      return closed.then(() => {});
    },
    close,
  };
}
