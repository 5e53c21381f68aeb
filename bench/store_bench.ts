/**
 * The store under load: how many offline messages per second `SqliteStore` stores durably (each
 * committed before its promise resolves), and the latency of each call, at several levels of
 * concurrency (in-flight `storeOffline` calls); then the same for acknowledging them.
 *
 *   deno run -A bench/store_bench.ts [--messages 20000] [--concurrency 1,10,100]
 *     [--recipients 100] [--ack-batch 10] [--dir /path/on/the/disk/to/measure] [--json]
 *
 * Each level gets a fresh store (a real file in a temp dir, WAL + synchronous=FULL, as the server
 * runs it), sealed with a fresh data key. Every message carries a client id, as clients send
 * them. Acks remove the stored messages `--ack-batch` ids per call, per recipient. Standalone:
 * it shares nothing with the rest of bench/.
 */
import { parseArgs } from "node:util";
import { DataKey, generateDataKeyBytes } from "../lib/crypto/mod.ts";
import { SqliteStore, type StoredMessage } from "../lib/store/mod.ts";

interface Options {
  messages: number;
  concurrency: number[];
  recipients: number;
  ackBatch: number;
  dir?: string;
  json: boolean;
}

interface Phase {
  /** Calls made. */
  calls: number;
  /** Items handled (messages stored, or ids acknowledged). */
  items: number;
  seconds: number;
  /** Items per second. */
  rate: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

interface LevelResult {
  concurrency: number;
  store: Phase;
  ack: Phase;
}

function parseOptions(args: string[]): Options {
  const { values: flags } = parseArgs({
    args,
    options: {
      messages: { type: "string", default: "20000" },
      concurrency: { type: "string", default: "1,10,100" },
      recipients: { type: "string", default: "100" },
      "ack-batch": { type: "string", default: "10" },
      dir: { type: "string" },
      json: { type: "boolean", default: false },
      help: { type: "boolean", default: false },
    },
  });
  if (flags.help) {
    console.log(
      "deno run -A bench/store_bench.ts [--messages 20000] [--concurrency 1,10,100] " +
        "[--recipients 100] [--ack-batch 10] [--dir DIR] [--json]",
    );
    Deno.exit(0);
  }
  const whole = (name: string, text: string) => {
    const n = Number(text);
    if (!Number.isSafeInteger(n) || n < 1) {
      throw new RangeError(`--${name} must be a whole number ≥ 1; it is '${text}'.`);
    }
    return n;
  };
  return {
    messages: whole("messages", flags.messages),
    concurrency: flags.concurrency.split(",").map((c) => whole("concurrency", c.trim())),
    recipients: whole("recipients", flags.recipients),
    ackBatch: whole("ack-batch", flags["ack-batch"]),
    dir: flags.dir,
    json: flags.json,
  };
}

/** Runs `count` calls of `call(i)` with at most `concurrency` in flight; latencies in ms. */
async function drive(
  count: number,
  concurrency: number,
  call: (i: number) => Promise<unknown>,
): Promise<{ seconds: number; latencies: Float64Array }> {
  const latencies = new Float64Array(count);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const t0 = performance.now();
      await call(i);
      latencies[i] = performance.now() - t0;
    }
  };
  const start = performance.now();
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return { seconds: (performance.now() - start) / 1000, latencies };
}

function phase(calls: number, items: number, run: { seconds: number; latencies: Float64Array }) {
  const sorted = run.latencies.slice().sort();
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return {
    calls,
    items,
    seconds: run.seconds,
    rate: items / run.seconds,
    p50Ms: at(0.5),
    p99Ms: at(0.99),
    maxMs: sorted[sorted.length - 1],
  } satisfies Phase;
}

async function runLevel(options: Options, concurrency: number): Promise<LevelResult> {
  const dir = await Deno.makeTempDir({ prefix: "parley-store-bench-", dir: options.dir });
  const dataKey = await DataKey.fromBytes(generateDataKeyBytes(), { source: "a bench key" });
  const store = await SqliteStore.open({ path: `${dir}/parley.db`, dataKey });
  try {
    const text = "The quick brown fox jumps over the lazy dog. ".repeat(3);
    const runId = crypto.randomUUID().slice(0, 8);
    const messages: StoredMessage[] = Array.from({ length: options.messages }, (_, i) => {
      const to = `user${i % options.recipients}`;
      return {
        id: `${runId}-${i}`,
        from: "sender",
        to,
        toKey: to,
        text: `${text}#${i}`,
        ts: Date.now(),
        lang: "en",
      };
    });
    const stored = await drive(
      messages.length,
      concurrency,
      async (i) => {
        const earlier = await store.storeOffline(messages[i], {
          senderKey: "sender",
          cid: `c${i}`,
        });
        if (earlier) throw new Error(`message ${i} was taken for a duplicate`);
      },
    );

    // Acks: per recipient, `ackBatch` ids per call, the calls of all recipients interleaved.
    const byRecipient = new Map<string, string[]>();
    for (const m of messages) {
      const ids = byRecipient.get(m.toKey) ?? [];
      ids.push(m.id);
      byRecipient.set(m.toKey, ids);
    }
    const perRecipient = [...byRecipient].map(([toKey, ids]) => {
      const calls: { toKey: string; ids: string[] }[] = [];
      for (let i = 0; i < ids.length; i += options.ackBatch) {
        calls.push({ toKey, ids: ids.slice(i, i + options.ackBatch) });
      }
      return calls;
    });
    const acks: { toKey: string; ids: string[] }[] = [];
    const rounds = Math.max(...perRecipient.map((calls) => calls.length));
    for (let round = 0; round < rounds; round++) {
      for (const calls of perRecipient) if (round < calls.length) acks.push(calls[round]);
    }
    let removed = 0;
    const acked = await drive(acks.length, concurrency, async (i) => {
      const n = await store.ack(acks[i].toKey, acks[i].ids);
      removed += n;
    });
    if (removed !== messages.length) {
      throw new Error(`acks removed ${removed} of ${messages.length} messages`);
    }
    return {
      concurrency,
      store: phase(messages.length, messages.length, stored),
      ack: phase(acks.length, removed, acked),
    };
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
}

const fmt = (n: number, digits = 0) =>
  n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });

function printTable(options: Options, results: LevelResult[]) {
  console.log(
    `SqliteStore, ${fmt(options.messages)} messages to ${options.recipients} recipients, ` +
      `acks of ${options.ackBatch} ids (WAL, synchronous=FULL)`,
  );
  const header = [
    "concurrency",
    "stored msg/s",
    "store p50 ms",
    "store p99 ms",
    "acked msg/s",
    "ack p50 ms",
    "ack p99 ms",
  ];
  const rows = results.map((r) => [
    String(r.concurrency),
    fmt(r.store.rate),
    fmt(r.store.p50Ms, 2),
    fmt(r.store.p99Ms, 2),
    fmt(r.ack.rate),
    fmt(r.ack.p50Ms, 2),
    fmt(r.ack.p99Ms, 2),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padStart(widths[i])).join("  ");
  console.log(line(header));
  for (const r of rows) console.log(line(r));
}

if (import.meta.main) {
  const options = parseOptions(Deno.args);
  const results: LevelResult[] = [];
  for (const concurrency of options.concurrency) {
    results.push(await runLevel(options, concurrency));
  }
  if (options.json) console.log(JSON.stringify({ options, results }, null, 2));
  else printTable(options, results);
}
