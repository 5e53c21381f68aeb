/**
 * Where an idle JSON-mode TCP connection's memory goes, step by step: Parley (or the TCP
 * baseline) is started as the bench starts it, with the inspector on, and after every step of
 * the connections' life the server is asked, over the inspector, for two full GCs, a
 * `malloc_trim` and its own account of its memory (`Deno.memoryUsage()`, glibc's `mallinfo2`,
 * and the kernel's anonymous and file-backed RSS). Steps: handshake, sign-in (registration),
 * rest, all closed, then the same users signed in again and closed again: the second round costs
 * only what a connection holds, the first also what the server builds once (compiled code, the
 * store's pages).
 *
 *   deno run -A bench/idle_steps.ts [--clients 2000] [--concurrency 8] [--rounds 2] [--baseline]
 *     [--env K=V ...]
 */
import { ParleyClient, SecureChannel } from "../lib/client/mod.ts";
import { TcpLineChannel } from "../lib/client/tcp_channel.ts";
import { pinFingerprint } from "../lib/crypto/mod.ts";
import { Inspector } from "./inspector.ts";
import { type ServerProc, startBaseline, startParley } from "./server_proc.ts";

const args = Deno.args;
const opt = (name: string, dflt: number) => {
  const i = args.indexOf(`--${name}`);
  return i === -1 ? dflt : Number(args[i + 1]);
};
const clients = opt("clients", 2000);
const concurrency = opt("concurrency", 8);
const baseline = args.includes("--baseline");
const rounds = opt("rounds", 2);
/** `--env K=V` (repeatable): more environment for the server, e.g. MALLOC_ARENA_MAX=2. */
const env: Record<string, string> = {};
args.forEach((a, i) => {
  if (a === "--env") {
    const [k, ...v] = args[i + 1].split("=");
    env[k] = v.join("=");
  }
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Figures = Record<string, number>;

async function probe(inspector: Inspector): Promise<Figures> {
  await inspector.collectGarbage();
  await sleep(300);
  await inspector.collectGarbage();
  const dump = Deno.env.get("SMAPS_DIR");
  const account = await inspector.memoryAccount(dump && `${dump}/${rows.length}.malloc.xml`);
  const status = await Deno.readTextFile(`/proc/${server.child.pid}/status`);
  const kib = (k: string) => Number(status.match(new RegExp(k + ":\\s+(\\d+)"))?.[1] ?? NaN);
  const snaps = Deno.env.get("SNAP_DIR");
  if (snaps) {
    const w = await inspector.call<{ exceptionDetails?: unknown }>("Runtime.evaluate", {
      expression:
        `import("node:v8").then((v) => { v.writeHeapSnapshot("${snaps}/${rows.length}.heapsnapshot"); return 1; })`,
      awaitPromise: true,
      returnByValue: true,
    });
    if (w.exceptionDetails) throw new Error(JSON.stringify(w.exceptionDetails));
  }
  if (dump) {
    await Deno.copyFile(`/proc/${server.child.pid}/smaps`, `${dump}/${rows.length}.smaps`);
  }
  return {
    rss: kib("VmRSS"),
    anon: kib("RssAnon"),
    file: kib("RssFile"),
    threads: kib("Threads") * 1024,
    ...account,
  };
}

async function inBatches<T>(n: number, f: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array(n);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        const i = next++;
        out[i] = await f(i);
      }
    }),
  );
  return out;
}

const server: ServerProc = baseline
  ? await startBaseline("tcp", { inspect: true, env })
  : await startParley({
    inspect: true,
    extraEnv: { PARLEY_WORKERS: "1", PARLEY_TRANSLATE_PROVIDER: "none", ...env },
  });
const inspector = await Inspector.connect(server.inspectorUrl!);
const ep = server.endpoint;
const rows: [string, Figures][] = [];
const step = async (name: string) => {
  const f = await probe(inspector);
  rows.push([name, f]);
  console.error(name, JSON.stringify(f));
};
await sleep(1000);
await step("start");

const verify = ep.fingerprint ? pinFingerprint(ep.fingerprint) : undefined;
const prefix = `s${crypto.randomUUID().slice(0, 5)}_`;
for (let round = 1; round <= rounds; round++) {
  if (baseline) {
    const conns = await inBatches(clients, async () => {
      const c = await Deno.connect({ hostname: ep.host, port: ep.tcpPort });
      await c.write(new TextEncoder().encode("~hello\n"));
      await c.read(new Uint8Array(256));
      return c;
    });
    await step(`r${round} connected`);
    await sleep(12_000);
    await step(`r${round} idle 12 s`);
    for (const c of conns) c.close();
    await sleep(2000);
    await step(`r${round} closed`);
    continue;
  }
  const channels = await inBatches(clients, async () => {
    const raw = await TcpLineChannel.connect({ hostname: ep.host, port: ep.tcpPort });
    return await SecureChannel.establish(raw, { verifyIdentity: verify! });
  });
  await step(`r${round} handshakes`);
  const users = await inBatches(clients, async (i) => {
    const c = new ParleyClient(channels[i], { buffer: false, autoAck: false });
    if (round === 1) await c.register(`${prefix}${i}`, "pw-long-enough-1", "en");
    else {
      // Sign-ins in flight from one address count against it (lib/accounts/throttle.ts): a
      // refused one waits and tries again on the same connection.
      for (let attempt = 1;; attempt++) {
        try {
          await c.login(`${prefix}${i}`, "pw-long-enough-1", "en");
          break;
        } catch (err) {
          if (attempt >= 20 || !String(err).includes("throttled")) throw err;
          await sleep(500);
        }
      }
    }
    return c;
  });
  await step(`r${round} signed in`);
  await sleep(12_000);
  await step(`r${round} idle 12 s`);
  for (const u of users) u.close();
  await sleep(3000);
  await step(`r${round} closed`);
}

const [, start] = rows[0];
console.log(
  `${baseline ? "baseline" : "parley"}, ${clients} clients: KiB per connection against start`,
);
const keys = Object.keys(start);
console.log(["step".padEnd(18), ...keys.map((k) => k.padStart(11))].join(""));
for (const [name, f] of rows) {
  console.log(
    [name.padEnd(18), ...keys.map((k) => ((f[k] - start[k]) / clients).toFixed(2).padStart(11))]
      .join(""),
  );
}
console.log(
  "absolute (MiB) at start:",
  keys.map((k) => `${k} ${(start[k] / 1024).toFixed(1)}`).join(", "),
);
inspector.close();
await server.stop();
Deno.exit(0);
