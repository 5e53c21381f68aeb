/**
 * The load clients that speak plain lines, over any line transport: Parley's text mode (what a
 * person with `nc` types) and the zero-feature baselines' trivial protocol. Only web-standard
 * APIs here: the Deno generator (load_client.ts, over TcpLines or WebSocket) and the Node one
 * (bench/node/) run the same code.
 */
import type { ConnectOptions, LoadClient, SendOutcome } from "./load_client.ts";
import { defer } from "./defer.ts";

/** Lines both ways, one connection: what the clients below need of a transport. */
export interface Lines {
  send(line: string): void;
  /**
   * `arrivedAt` (`clockMs`): when the bytes of the line reached this process, where the
   * transport knows it (see bench/node/sockets.ts); a delivery's latency ends there.
   */
  start(
    onLine: (line: string, arrivedAt?: number) => void,
    onClose: (reason: string) => void,
  ): void;
  /** Stops reading (slow clients). */
  pause(): void;
  /** Reads again, discarding; tells whether the connection ends within `ms`. */
  drainToEnd(ms: number): Promise<boolean>;
  close(): void;
}

/** Waits for `ready`, for at most `ms`; on failure closes and rethrows. */
async function within<T>(ready: Promise<T>, ms: number, what: string, close: () => void) {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      ready,
      new Promise<never>((_, reject) => timer = setTimeout(() => reject(new Error(what)), ms)),
    ]);
  } catch (err) {
    close();
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

/** The line or text message a baseline client sends first and waits to see come back. */
const HELLO = "~hello";

/**
 * A client of the baseline broadcast server: sends a hello, waits for its echo, then counts
 * every other bench line as a delivery. `lines` is a TCP line connection or a WebSocket.
 */
export async function baselineClient(o: ConnectOptions, lines: Lines): Promise<LoadClient> {
  const hello = `${HELLO} ${o.index} ${crypto.randomUUID()}`;
  const greeted = defer<void>();
  const ended = defer<string>();
  lines.start((line, at) => {
    if (line === hello) greeted.resolve();
    else if (!line.startsWith(HELLO)) o.onDelivery({ text: line, translated: false, at });
  }, (reason) => {
    greeted.reject(new Error(reason));
    ended.resolve(reason);
  });
  greeted.promise.catch(() => {});
  lines.send(hello);
  await within(greeted.promise, 30_000, "no echo of the hello", () => lines.close());
  return {
    index: o.index,
    closed: ended.promise,
    broadcast(text) {
      try {
        lines.send(text);
        return Promise.resolve({ ok: true, recipients: 0 });
      } catch {
        return Promise.resolve({ ok: false, code: "closed" });
      }
    },
    pause: () => lines.pause(),
    probeClosed: (ms) => lines.drainToEnd(ms),
    quit() {
      lines.close();
      return ended.promise.then(() => {});
    },
    close: () => lines.close(),
  };
}

/**
 * A text-mode client of Parley (docs/protocol.md, "Text mode"): `/register` or `/login` as its
 * first line, `@all <text>` to broadcast, answered in order by `(sent to all: …)` or `! …`.
 * Every line that starts with `[` is a message.
 */
export async function textClient(o: ConnectOptions, lines: Lines): Promise<LoadClient> {
  const signedIn = defer<void>();
  const ended = defer<string>();
  /** Broadcasts waiting for their answer, oldest first: text mode answers in order. */
  const waiting: ((outcome: SendOutcome) => void)[] = [];
  let welcomed = false;
  lines.start((line, at) => {
    if (line.startsWith("[")) {
      o.onDelivery({ text: line, translated: false, at });
    } else if (!welcomed) {
      if (/^\* (Registered\. )?Welcome/.test(line)) {
        welcomed = true;
        signedIn.resolve();
      } else if (line.startsWith("! ")) signedIn.reject(new Error(line.slice(2)));
    } else if (line.startsWith("(sent to all")) {
      const n = line.match(/(\d+) (?:person|people) online/);
      waiting.shift()?.({ ok: true, recipients: n ? Number(n[1]) : 0 });
    } else if (line.startsWith("! ")) {
      waiting.shift()?.({ ok: false, code: line.includes("Slow down") ? "rate_limited" : "error" });
    }
  }, (reason) => {
    signedIn.reject(new Error(reason));
    for (const answer of waiting.splice(0)) answer({ ok: false, code: "unanswered" });
    ended.resolve(reason);
  });
  signedIn.promise.catch(() => {});
  lines.send(`/${o.register ? "register" : "login"} ${o.name} ${o.password} ${o.lang}`);
  await within(
    signedIn.promise,
    o.requestTimeoutMs ?? 30_000,
    "no welcome in text mode",
    () => lines.close(),
  );
  return {
    index: o.index,
    closed: ended.promise,
    broadcast(text) {
      try {
        lines.send(`@all ${text}`);
      } catch {
        return Promise.resolve({ ok: false, code: "closed" });
      }
      return new Promise((resolve) => waiting.push(resolve));
    },
    pause: () => lines.pause(),
    probeClosed: (ms) => lines.drainToEnd(ms),
    quit() {
      try {
        lines.send("/quit");
      } catch { /* closed already */ }
      return ended.promise.then(() => {});
    },
    close: () => lines.close(),
  };
}
