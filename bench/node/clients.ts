/**
 * The Node load generator's clients: Parley's JSON mode (TCP or WebSocket) through
 * bench/node/secure.ts, Parley's text mode and the baselines through bench/line_clients.ts. A
 * JSON client opens every sealed line it is sent (OpenSSL, a few µs), answers heartbeats, counts
 * `message` events (duplicates included) and drops presence unparsed.
 */
import type { ConnectOptions, LoadClient, SendOutcome } from "../load_client.ts";
import { baselineClient, type Lines, textClient } from "../line_clients.ts";
import { ClientHandshake, type ClientSession } from "./secure.ts";
import { TcpLines, WsLines } from "./sockets.ts";
import { defer } from "../defer.ts";

/** Opens one client of `o.target` over `o.transport`, signed in when it is Parley. */
export async function connectNodeClient(o: ConnectOptions): Promise<LoadClient> {
  const { host, tcpPort, wsUrl } = o.endpoint;
  if (o.target === "baseline") {
    return await baselineClient(
      o,
      o.slow || o.transport !== "ws"
        ? await TcpLines.connect(host, tcpPort)
        : await WsLines.connect(wsUrl),
    );
  }
  if (o.transport === "text") return await textClient(o, await TcpLines.connect(host, tcpPort));
  const lines = o.slow || o.transport === "tcp"
    ? await TcpLines.connect(host, tcpPort, "latin1")
    : await WsLines.connect(wsUrl);
  return await jsonClient(o, lines);
}

/** A reply awaited by `cid`. */
interface Pending {
  resolve(frame: Record<string, unknown>): void;
  reject(err: Error): void;
}

async function jsonClient(o: ConnectOptions, lines: Lines): Promise<LoadClient> {
  const hs = new ClientHandshake();
  let session: ClientSession | undefined;
  const ready = defer<void>();
  const ended = defer<string>();
  const pending = new Map<string, Pending>();
  let nextCid = 0;
  let closeReason: string | undefined;

  const fail = (reason: string) => {
    if (closeReason !== undefined) return;
    closeReason = reason;
    lines.close();
    ready.reject(new Error(reason));
    for (const p of pending.values()) p.reject(new Error(reason));
    pending.clear();
  };
  const sendFrame = (frame: Record<string, unknown>) =>
    lines.send(session!.seal(JSON.stringify(frame)));
  const request = (frame: Record<string, unknown>): Promise<Record<string, unknown>> => {
    const cid = `c${nextCid++}`;
    return new Promise((resolve, reject) => {
      pending.set(cid, { resolve, reject });
      try {
        sendFrame({ ...frame, cid });
      } catch (err) {
        pending.delete(cid);
        reject(err);
      }
    });
  };
  const onFrame = (text: string, at: number | undefined) => {
    // Presence is most of what a sign-in storm sends: not worth parsing.
    if (text.startsWith('{"type":"presence"')) return;
    const f = JSON.parse(text);
    switch (f.type) {
      case "message":
        o.onDelivery({
          text: f.original?.text ?? f.text,
          translated: f.original !== undefined,
          untranslated: f.untranslated,
          at,
        });
        return;
      case "heartbeat":
        if (closeReason === undefined) sendFrame({ type: "heartbeat", seq: f.seq });
        return;
      case "bye":
        return fail(`bye: ${f.reason}`);
    }
    if (typeof f.cid === "string") {
      const p = pending.get(f.cid);
      if (!p) return;
      pending.delete(f.cid);
      if (f.type === "error") p.reject(Object.assign(new Error(f.message), { code: f.code }));
      else p.resolve(f);
    }
  };
  lines.start((line, at) => {
    if (closeReason !== undefined) return;
    try {
      if (session) {
        for (const frame of session.open(line)) onFrame(frame, at);
      } else if (line.startsWith("{")) {
        // Lines before the server_hello that are not JSON are the text greeting: skipped.
        session = hs.finish(line, o.endpoint.fingerprint!);
        ready.resolve();
      }
    } catch (err) {
      fail((err as Error).message);
    }
  }, (reason) => {
    fail(reason);
    ended.resolve(closeReason!);
  });
  ready.promise.catch(() => {});
  lines.send(hs.hello);
  const timeoutMs = o.requestTimeoutMs ?? 30_000;
  const timer = setTimeout(() => fail("no welcome in time"), timeoutMs);
  try {
    await ready.promise;
    const kind = o.register ? "register" : "login";
    await request({ type: kind, name: o.name, password: o.password, lang: o.lang });
  } catch (err) {
    fail((err as Error).message);
    throw err;
  } finally {
    clearTimeout(timer);
  }
  return {
    index: o.index,
    closed: ended.promise,
    broadcast: (text) =>
      request({ type: "send", to: "all", text }).then(
        (sent): SendOutcome => ({ ok: true, recipients: Number(sent.recipients) }),
        (err): SendOutcome => ({
          ok: false,
          code: (err as { code?: string }).code ?? "unanswered",
        }),
      ),
    pause: () => lines.pause(),
    probeClosed: (ms) => lines.drainToEnd(ms),
    quit: async () => {
      try {
        sendFrame({ type: "quit" });
      } catch { /* closed already */ }
      await ended.promise;
    },
    close: () => fail("closed"),
  };
}
