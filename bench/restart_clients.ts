/**
 * One process of the restart bench's clients (bench/restart_bench.ts starts several, so that the
 * clients' own CPU — handshakes, opening and parsing every frame — is not one core's worth).
 * Runs clients `from` to `to` (names r<i>, devices bench-<i>), each the product's
 * ReconnectingClient over TCP. Reports on stdout, one JSON object a line:
 * `{"signedIn":true,"retries":n}` once every client is signed in, then
 * `{"online":n,"received":m,"throttled":t}` whenever one of those changes. Commands on stdin:
 * `send` (each of its senders, those below `senders`, sends one message to the next client; it
 * waits in the outbox while the server is down) and `quit`.
 *
 *   deno run -A bench/restart_clients.ts '<JSON of ClientsConfig>'
 */
import { type ParleyClient, ReconnectingClient, TcpChannel } from "../lib/client/mod.ts";
import type { Welcome } from "../lib/client/client.ts";
import { pinFingerprint } from "../lib/crypto/mod.ts";
import { readLines } from "./lines.ts";

/** What the coordinator tells each process of clients. */
export interface ClientsConfig {
  port: number;
  fingerprint: string;
  from: number;
  to: number;
  /** All clients of the run (the last sender writes to r0). */
  clients: number;
  senders: number;
  resume: boolean;
  connectConcurrency: number;
}

export const PASSWORD = "bench password";
/** Reconnect delays of the bench's clients: short, so the figure is the server's, not a backoff. */
const BACKOFF = { initialDelayMs: 100, maxDelayMs: 1000 };
/** Tries of each initial sign-in before the run gives up. */
const SIGN_IN_ATTEMPTS = 5;
/** How often the counts are looked at (and printed when changed). */
const REPORT_MS = 20;

/** Runs `fn` over `items`, at most `limit` at a time. */
async function pooled<T>(items: T[], limit: number, fn: (item: T) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]);
    }),
  );
}

async function main(config: ClientsConfig): Promise<void> {
  const { port, from, to, resume } = config;
  const pin = pinFingerprint(config.fingerprint);
  const clients = new Map<number, ReconnectingClient>();
  const received = new Set<string>();
  let throttled = 0;
  let retries = 0;
  const say = (o: unknown) => console.log(JSON.stringify(o));
  const indices = Array.from({ length: to - from }, (_, k) => from + k);
  await pooled(indices, config.connectConcurrency, async (i) => {
    const name = `r${i}`;
    const device = `bench-${i}`;
    let first = true;
    const client = new ReconnectingClient({
      ...BACKOFF,
      pingIntervalMs: 0,
      requestTimeoutMs: 600_000,
      dial: () => TcpChannel.connect({ port, verifyIdentity: pin }),
      // Without resume tokens: the password at every sign-in, as clients did before them.
      signIn: resume ? undefined : async (c: ParleyClient): Promise<Welcome> => {
        const register = first;
        first = false;
        return register
          ? await c.register(name, PASSWORD, undefined, device)
          : await c.login(name, PASSWORD, undefined, device);
      },
    });
    client.on((e) => {
      if (e.type === "message" && e.text.startsWith("while down ")) received.add(e.text);
      if (e.type === "status" && e.state === "offline" && /throttled/.test(e.reason)) throttled++;
    });
    // A sign-in the loaded server did not answer in time is tried again (the account may exist
    // by then: a name taken is signed in to), so that one slow handshake does not end the run
    // before the restart it measures.
    let register = true;
    for (let attempt = 1;; attempt++) {
      try {
        await client.connect(resume ? { name, password: PASSWORD, device } : undefined, {
          register,
        });
        break;
      } catch (err) {
        if (attempt >= SIGN_IN_ATTEMPTS) throw err;
        retries++;
        if (/taken/i.test((err as Error).message)) register = false;
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
    clients.set(i, client);
  });
  say({ signedIn: true, retries });

  let last = "";
  const report = setInterval(() => {
    let online = 0;
    for (const c of clients.values()) if (c.state === "online") online++;
    const line = JSON.stringify({ online, received: received.size, throttled });
    if (line !== last) console.log(last = line);
  }, REPORT_MS);

  for await (const command of readLines(Deno.stdin.readable)) {
    if (command === "send") {
      for (let i = from; i < Math.min(to, config.senders); i++) {
        const peer = `r${(i + 1) % config.clients}`;
        clients.get(i)!.send(peer, `while down ${i}`).catch(() => {});
      }
    } else if (command === "quit") break;
  }
  clearInterval(report);
  await Promise.all([...clients.values()].map((c) => c.quit(500).catch(() => {})));
}

if (import.meta.main) {
  await main(JSON.parse(Deno.args[0]));
  Deno.exit(0);
}
