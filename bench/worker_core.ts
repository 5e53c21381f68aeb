/**
 * What a load-generator process does, whatever runs it: the commands of wire.ts (connect, run,
 * churn, quit) over the clients its host makes. bench/worker.ts runs it in Deno with the
 * project's own client stack; bench/node/worker.ts in Node with bench/node's clients, whose
 * OpenSSL opens sealed frames far more cheaply than WebCrypto in Deno (docs/performance.md).
 * Only web-standard and `node:` APIs here, so both runtimes run the same code.
 */
import type { ClientTransport, ConnectOptions, LoadClient } from "./load_client.ts";
import { DeliveryLog } from "./deliveries.ts";
import { messageText } from "./messages.ts";
import { cpuUsage } from "node:process";
import { Histogram } from "./stats.ts";
import type {
  ChurnCommand,
  RunCommand,
  SenderTally,
  WorkerCommand,
  WorkerConfig,
  WorkerReport,
} from "./wire.ts";

/** What the runtime gives the worker. */
export interface WorkerHost {
  cfg: WorkerConfig;
  /** Opens one client and signs it in (against Parley) or greets the baseline. */
  connect(o: ConnectOptions): Promise<LoadClient>;
  /** Writes one report line to the coordinator. */
  report(r: WorkerReport): void;
  /** The coordinator's commands, one JSON object per line; ends when it goes away. */
  lines: AsyncIterable<string>;
  exit(code: number): never;
}

/** This process's CPU seconds (no permission needed, unlike /proc/self). */
function cpuSelf(): number {
  const u = cpuUsage();
  return (u.user + u.system) / 1e6;
}

/** Runs `fn` over `items` with at most `limit` at once. */
async function pool<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < items.length) await fn(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
}

function noteError(errors: string[], err: unknown): void {
  const text = err instanceof Error ? err.message : String(err);
  if (errors.length < 5 && !errors.includes(text)) errors.push(text);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

/**
 * Serves the coordinator: reports `booted`, then runs its commands one at a time, in order,
 * until its stdin ends (then exits at once, even in the middle of a command) or the deadline.
 */
export async function serveWorker(host: WorkerHost): Promise<never> {
  const { cfg, report } = host;
  // Bounded in time whatever happens: the coordinator's deadline, plus a little.
  setTimeout(() => {
    console.error(`worker ${cfg.worker}: deadline passed; exiting`);
    host.exit(3);
  }, Math.max(0, cfg.deadline - Date.now()) + 2000);

  const clients: (LoadClient | undefined)[] = new Array(cfg.count);
  const log = new DeliveryLog();
  /** Connections that ended unasked: global index, reason, performance.now(). */
  const ends: { index: number; reason: string; at: number }[] = [];
  let quitting = false;
  /** Bumped by each `disconnect`: ends of an earlier round's clients are not counted. */
  let round = 0;
  /** The users exist: a second `connect` logs them in rather than registering them. */
  let registered = false;

  function transportOf(index: number): ClientTransport {
    if (cfg.transport === "mixed") return index % 2 === 0 ? "tcp" : "ws";
    return cfg.transport;
  }

  async function connectAll(): Promise<void> {
    const slow = new Set(cfg.slow);
    const started = performance.now();
    const latency = new Histogram();
    const errors: string[] = [];
    let ok = 0;
    let failed = 0;
    const failedIndices: number[] = [];
    const indices = Array.from({ length: cfg.count }, (_, i) => cfg.first + i);
    await pool(indices, cfg.connectConcurrency, async (index) => {
      const local = index - cfg.first;
      const t0 = performance.now();
      try {
        const client = await host.connect({
          target: cfg.target,
          endpoint: cfg.endpoint,
          transport: transportOf(index),
          index,
          slow: slow.has(index),
          name: `${cfg.namePrefix}${index}`,
          password: cfg.password,
          lang: cfg.langs[index % cfg.langs.length],
          register: !registered,
          onDelivery: (d) => log.record(local, d),
        });
        latency.record((performance.now() - t0) * 1000);
        clients[local] = client;
        ok++;
        const ofRound = round;
        client.closed.then((reason) => {
          if (!quitting && ofRound === round) ends.push({ index, reason, at: performance.now() });
        });
      } catch (err) {
        failed++;
        failedIndices.push(index);
        noteError(errors, err);
      }
    });
    const ms = performance.now() - started;
    registered = true;
    for (const index of slow) clients[index - cfg.first]?.pause();
    const translation = clients.find((c) => c?.translation !== undefined)?.translation;
    report({
      type: "connected",
      ok,
      failed,
      failedIndices,
      errors,
      ms,
      latency: latency.toJSON(),
      translation,
    });
  }

  async function run(cmd: RunCommand): Promise<void> {
    log.reset(cmd.phase, cfg.count, cfg.first);
    const mine = cmd.senders
      .map((index, k) => ({ index, k }))
      .filter(({ index }) => index >= cfg.first && index < cfg.first + cfg.count);
    const tallies = new Map<number, SenderTally>();
    for (const { index } of mine) {
      tallies.set(index, { attempted: 0, accepted: 0, refused: {}, unanswered: 0, recipients: 0 });
    }
    const pending = new Set<Promise<unknown>>();
    const total = Math.floor(cmd.durationMs / 1000 * cmd.rate);
    const S = cmd.senders.length;

    await sleep(cmd.startAt - Date.now());
    const cpu0 = cpuSelf();
    const t0 = performance.now();
    const endsBefore = ends.length;
    const endedBefore = ends.map((e) => e.index);
    let maxLag = 0;
    let expected = performance.now() + 20;
    const lagTimer = setInterval(() => {
      const now = performance.now();
      maxLag = Math.max(maxLag, now - expected);
      expected = now + 20;
    }, 20);

    // Open loop: sender k sends its n-th message at (n + k/S) / rate seconds, late or not.
    while (true) {
      const elapsed = (performance.now() - t0) / 1000;
      let done = true;
      for (const { index, k } of mine) {
        const tally = tallies.get(index)!;
        const due = Math.min(total, Math.floor(elapsed * cmd.rate - k / S) + 1);
        if (tally.attempted < total) done = false;
        const client = clients[index - cfg.first];
        while (tally.attempted < due) {
          const seq = tally.attempted++;
          if (!client) {
            tally.unanswered++;
            continue;
          }
          const p = client.broadcast(messageText(cmd.phase, index, seq, cmd.size)).then((o) => {
            if (o.ok) {
              tally.accepted++;
              tally.recipients += o.recipients;
            } else if (o.code === "unanswered") tally.unanswered++;
            else tally.refused[o.code] = (tally.refused[o.code] ?? 0) + 1;
          });
          pending.add(p);
          p.finally(() => pending.delete(p));
        }
      }
      if (done || performance.now() - t0 > cmd.durationMs + 1000) break;
      await sleep(Math.min(5, 1000 / cmd.rate / Math.max(1, mine.length)));
    }
    const sendEnd = performance.now();
    // Drain: until replies are in and deliveries have been quiet for quietMs, or maxDrainMs.
    let drainTimedOut = true;
    while (performance.now() - sendEnd < cmd.maxDrainMs) {
      const now = performance.now();
      const quiet = now - Math.max(log.lastAt, sendEnd) >= cmd.quietMs;
      if (quiet && pending.size === 0) {
        drainTimedOut = false;
        break;
      }
      await sleep(25);
    }
    clearInterval(lagTimer);
    const snapshot = structuredClone(Object.fromEntries(tallies));
    // Sends still without a reply count as unanswered in this report.
    for (const tally of Object.values(snapshot)) {
      tally.unanswered = tally.attempted - tally.accepted -
        Object.values(tally.refused).reduce((a, b) => a + b, 0);
    }
    let slowClosed = 0;
    if (cmd.probeSlow && cfg.slow.length) {
      const probes = cfg.slow.map((i) => clients[i - cfg.first]?.probeClosed(2000) ?? false);
      slowClosed = (await Promise.all(probes)).filter(Boolean).length;
    }
    const slow = new Set(cfg.slow);
    const endedNow = ends.slice(endsBefore).filter((e) => !slow.has(e.index));
    const cpu1 = cpuSelf();
    report({
      type: "result",
      phase: cmd.phase,
      senders: snapshot,
      uniqueBySender: Object.fromEntries(log.uniqueBySender),
      unique: log.unique,
      duplicates: log.duplicates,
      reordered: log.reordered,
      foreign: log.foreign,
      translated: log.translated,
      untranslated: log.untranslated,
      latency: log.latency.toJSON(),
      endedBefore,
      closed: endedNow.length,
      closeReasons: [...new Set(endedNow.map((e) => e.reason))].slice(0, 5),
      slowClosed,
      cpuSeconds: cpu1 - cpu0,
      wallSeconds: (performance.now() - t0) / 1000,
      maxLagMs: maxLag,
      drainMs: Math.max(0, log.lastAt - sendEnd),
      lastDeliveryMs: log.lastAt ? log.lastAt - t0 : 0,
      drainTimedOut,
    });
  }

  /** Churn slots whose name is registered already (a churn may run more than once). */
  const registeredSlots = new Set<number>();

  async function churn(cmd: ChurnCommand): Promise<void> {
    const latency = new Histogram();
    const errors: string[] = [];
    let cycles = 0;
    let failed = 0;
    const cpu0 = cpuSelf();
    const end = performance.now() + cmd.durationMs;
    const slots = Array.from({ length: cmd.slots }, (_, i) => cmd.firstSlot + i);
    await Promise.all(slots.map(async (slot) => {
      while (performance.now() < end) {
        const t0 = performance.now();
        try {
          const client = await host.connect({
            target: cfg.target,
            endpoint: cfg.endpoint,
            transport: transportOf(slot),
            index: cfg.first + cfg.count + slot,
            slow: false,
            name: `${cfg.namePrefix}churn${slot}`,
            password: cfg.password,
            lang: cfg.langs[slot % cfg.langs.length],
            register: !registeredSlots.has(slot),
            onDelivery: () => {},
            requestTimeoutMs: 10_000,
          });
          registeredSlots.add(slot);
          latency.record((performance.now() - t0) * 1000);
          await Promise.race([client.quit(), sleep(3000)]);
          client.close();
          cycles++;
        } catch (err) {
          failed++;
          noteError(errors, err);
          await sleep(100);
        }
      }
    }));
    const cpu1 = cpuSelf();
    report({
      type: "churned",
      cycles,
      failed,
      errors,
      latency: latency.toJSON(),
      cpuSeconds: cpu1 - cpu0,
    });
  }

  async function handle(cmd: WorkerCommand): Promise<void> {
    switch (cmd.cmd) {
      case "connect":
        return await connectAll();
      case "run":
        return await run(cmd);
      case "churn":
        return await churn(cmd);
      case "disconnect": {
        round++;
        let closed = 0;
        for (const [i, c] of clients.entries()) {
          if (!c) continue;
          c.close();
          clients[i] = undefined;
          closed++;
        }
        return report({ type: "disconnected", closed });
      }
      case "quit": {
        quitting = true;
        for (const c of clients) c?.close();
        host.exit(0);
      }
    }
  }

  report({ type: "booted" });
  let queue: Promise<void> = Promise.resolve();
  try {
    for await (const line of host.lines) {
      if (!line.trim()) continue;
      const cmd = JSON.parse(line) as WorkerCommand;
      queue = queue.then(() => handle(cmd)).catch((err) => {
        report({ type: "error", message: (err as Error)?.stack ?? String(err) });
      });
    }
  } finally {
    host.exit(0);
  }
  return host.exit(0);
}
