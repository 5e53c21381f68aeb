/**
 * `deno task bench history`: the message log at size. Fills a fresh `SqliteStore` (a real file,
 * WAL + synchronous=FULL, sealed bodies, as the server runs it) with `--messages` messages
 * (default 1,000,000) across `--users` users and `--rooms` rooms, through `appendMessage` with
 * many calls in flight (the group commit makes that the bulk path), then measures at that size:
 *
 * - history pages (`--page` messages, the newest page and pages further back) of random
 *   conversations: pages/s and latency p50/p99;
 * - catch-up (`since`, one page of `--page`) of random users from a cursor some way back;
 * - the conversation list with unread counts (`conversations`) of random users;
 * - `readCount` of random room messages.
 *
 *   deno task bench history [--messages 1000000] [--users 1000] [--rooms 100]
 *     [--room-size 50] [--page 50] [--samples 2000] [--dir DIR] [--json]
 *
 * Standalone: no server, no baseline. Each query is run one at a time (its latency alone).
 */
import { parseArgs } from "node:util";
import { wholeFlag } from "./whole_flag.ts";
import { DataKey, generateDataKeyBytes } from "../lib/crypto/mod.ts";
import { type NewLogMessage, privateConv, roomConv, SqliteStore } from "../lib/store/mod.ts";

interface Options {
  messages: number;
  users: number;
  rooms: number;
  roomSize: number;
  page: number;
  samples: number;
  dir?: string;
  json: boolean;
}

export const HISTORY_HELP =
  "deno task bench history [--messages 1000000] [--users 1000] [--rooms 100] " +
  "[--room-size 50] [--page 50] [--samples 2000] [--dir DIR] [--json]";

function parseOptions(args: string[]): Options | "help" {
  const { values: f } = parseArgs({
    args,
    options: {
      messages: { type: "string", default: "1000000" },
      users: { type: "string", default: "1000" },
      rooms: { type: "string", default: "100" },
      "room-size": { type: "string", default: "50" },
      page: { type: "string", default: "50" },
      samples: { type: "string", default: "2000" },
      dir: { type: "string" },
      json: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (f.help) return "help";
  const whole = wholeFlag;
  const users = whole("users", f.users, 2);
  return {
    messages: whole("messages", f.messages),
    users,
    rooms: whole("rooms", f.rooms, 0),
    roomSize: Math.min(users, whole("room-size", f["room-size"])),
    page: whole("page", f.page),
    samples: whole("samples", f.samples),
    dir: f.dir,
    json: f.json,
  };
}

/** A small deterministic generator, so runs are comparable. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Timing {
  calls: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Messages (or conversations) returned per call, on average. */
  itemsPerCall: number;
}

async function time(
  samples: number,
  call: (i: number) => Promise<number>,
): Promise<Timing> {
  const latencies = new Float64Array(samples);
  let items = 0;
  const start = performance.now();
  for (let i = 0; i < samples; i++) {
    const t0 = performance.now();
    items += await call(i);
    latencies[i] = performance.now() - t0;
  }
  const seconds = (performance.now() - start) / 1000;
  const sorted = latencies.slice().sort();
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return {
    calls: samples,
    perSecond: samples / seconds,
    p50Ms: at(0.5),
    p99Ms: at(0.99),
    maxMs: sorted[sorted.length - 1],
    itemsPerCall: items / samples,
  };
}

export async function runHistoryBench(args: string[]): Promise<number> {
  const options = parseOptions(args);
  if (options === "help") {
    console.log(HISTORY_HELP);
    return 0;
  }
  const o = options;
  const dir = await Deno.makeTempDir({ prefix: "parley-history-bench-", dir: o.dir });
  const dataKey = await DataKey.fromBytes(generateDataKeyBytes(), { source: "a bench key" });
  const store = await SqliteStore.open({ path: `${dir}/parley.db`, dataKey });
  const rnd = random(15);
  const pick = (n: number) => Math.floor(rnd() * n);
  const user = (i: number) => `user${i}`;
  try {
    // Rooms, each with `roomSize` members (the first is the owner).
    const roomMembers: string[][] = [];
    for (let r = 0; r < o.rooms; r++) {
      const key = `room${r}`;
      const members = new Set<string>();
      while (members.size < o.roomSize) members.add(user(pick(o.users)));
      const [owner, ...rest] = [...members];
      await store.createRoom(
        { key, name: key, topic: "", visibility: "public", createdAt: Date.now() },
        owner,
      );
      await Promise.all(rest.map((u) => store.joinRoom(key, u)));
      roomMembers.push([owner, ...rest]);
    }
    // Each user talks privately with a handful of others; 30% of messages go to rooms.
    const peers = Array.from(
      { length: o.users },
      () => Array.from({ length: 8 }, () => pick(o.users)),
    );
    const text = "The quick brown fox jumps over the lazy dog, again and again. ";
    const make = (i: number): NewLogMessage => {
      const ts = Date.now();
      if (o.rooms > 0 && rnd() < 0.3) {
        const r = pick(o.rooms);
        const sender = roomMembers[r][pick(roomMembers[r].length)];
        return {
          id: `m${i}`,
          conv: roomConv(`room${r}`),
          senderKey: sender,
          from: sender,
          to: `#room${r}`,
          text: `${text}${i}`,
          ts,
          lang: "en",
        };
      }
      const a = pick(o.users);
      let b = peers[a][pick(8)];
      if (b === a) b = (a + 1) % o.users;
      return {
        id: `m${i}`,
        conv: privateConv(user(a), user(b)),
        senderKey: user(a),
        from: user(a),
        to: user(b),
        text: `${text}${i}`,
        ts,
        lang: "en",
      };
    };
    const fillStart = performance.now();
    const inFlight = 4000;
    let next = 0;
    let lastReport = fillStart;
    const worker = async () => {
      while (next < o.messages) {
        const i = next++;
        await store.appendMessage(make(i), `c${i}`);
        const now = performance.now();
        if (!o.json && now - lastReport > 10_000) {
          lastReport = now;
          console.error(`history: ${next.toLocaleString("en-US")} messages stored…`);
        }
      }
    };
    await Promise.all(Array.from({ length: inFlight }, worker));
    const fillSeconds = (performance.now() - fillStart) / 1000;
    // Every room member has read some way into their room: readCount has markers to count.
    await Promise.all(roomMembers.flatMap((members, r) =>
      members.map(async (u) => {
        const page = await store.history(roomConv(`room${r}`), undefined, 20);
        if (page.length) await store.markRead(u, page[0].conv, page[pick(page.length)].seq);
      })
    ));
    const last = await store.lastSeq();
    const size = (await Deno.stat(`${dir}/parley.db`)).size;

    const convOf = (): string => {
      if (o.rooms > 0 && rnd() < 0.3) return roomConv(`room${pick(o.rooms)}`);
      const a = pick(o.users);
      return privateConv(user(a), user(peers[a][pick(8)]));
    };
    const newest = await time(
      o.samples,
      async () => (await store.history(convOf(), undefined, o.page)).length,
    );
    // Further back: from a random point of the log.
    const back = await time(
      o.samples,
      async () => (await store.history(convOf(), 1 + pick(last), o.page)).length,
    );
    // Catch-up of a device 5% of the log behind, and of one that never synced.
    const behind = Math.floor(last * 0.95);
    const since = await time(
      o.samples,
      async () => (await store.since(user(pick(o.users)), behind, o.page)).messages.length,
    );
    const sinceStart = await time(
      Math.min(o.samples, 500),
      async () => (await store.since(user(pick(o.users)), 0, o.page)).messages.length,
    );
    const unread = await time(
      Math.min(o.samples, 500),
      async () => (await store.conversations(user(pick(o.users)))).length,
    );
    const readers = await time(o.samples, async () => {
      const page = await store.history(
        roomConv(`room${pick(Math.max(1, o.rooms))}`),
        undefined,
        10,
      );
      if (page.length) {
        const m = page[pick(page.length)];
        return await store.readCount(m.conv, m.seq);
      }
      return 0;
    });
    const result = {
      options: o,
      fill: { messages: o.messages, seconds: fillSeconds, perSecond: o.messages / fillSeconds },
      fileBytes: size,
      historyNewest: newest,
      historyBack: back,
      since5PercentBehind: since,
      sinceFromStart: sinceStart,
      conversationsWithUnread: unread,
      readCount: readers,
    };
    if (o.json) console.log(JSON.stringify(result, null, 2));
    else printTable(result);
    return 0;
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
}

const fmt = (n: number, digits = 0) =>
  n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });

function printTable(r: {
  options: Options;
  fill: { messages: number; seconds: number; perSecond: number };
  fileBytes: number;
  [k: string]: unknown;
}) {
  const o = r.options;
  console.log(
    `SqliteStore message log: ${fmt(r.fill.messages)} messages, ${fmt(o.users)} users, ` +
      `${fmt(o.rooms)} rooms of ${o.roomSize}; filled in ${fmt(r.fill.seconds, 1)} s ` +
      `(${fmt(r.fill.perSecond)} msg/s), file ${fmt(r.fileBytes / 2 ** 20)} MiB; ` +
      `pages of ${o.page}`,
  );
  const rows: [string, Timing][] = [
    ["history, newest page", r.historyNewest as Timing],
    ["history, page further back", r.historyBack as Timing],
    ["since, 5% of the log behind", r.since5PercentBehind as Timing],
    ["since, from the start", r.sinceFromStart as Timing],
    ["conversations + unread", r.conversationsWithUnread as Timing],
    ["readCount", r.readCount as Timing],
  ];
  const header = ["query", "calls/s", "p50 ms", "p99 ms", "max ms", "items/call"];
  const cells = rows.map(([name, t]) => [
    name,
    fmt(t.perSecond),
    fmt(t.p50Ms, 2),
    fmt(t.p99Ms, 2),
    fmt(t.maxMs, 2),
    fmt(t.itemsPerCall, 1),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]) =>
    c.map((x, i) => i === 0 ? x.padEnd(widths[i]) : x.padStart(widths[i])).join("  ");
  console.log(line(header));
  for (const c of cells) console.log(line(c));
}

if (import.meta.main) Deno.exit(await runHistoryBench(Deno.args));
