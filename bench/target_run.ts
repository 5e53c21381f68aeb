/**
 * One target's part of a run: start its server (Parley, with the fake translator when asked, or
 * the baseline), start the workers, connect the clients, run measured phases, stop everything.
 * Each step samples the server process (/proc) around it.
 */
import {
  type FakeTranslator,
  startFakeTranslator,
  type TranslatorStats,
} from "./fake_translator.ts";
import type { Options } from "./options.ts";
import { Inspector } from "./inspector.ts";
import { WorkerPool } from "./pool.ts";
import { type ProcSample, sample } from "./proc.ts";
import { type ServerProc, startBaseline, startParley } from "./server_proc.ts";
import { Histogram, type LatencySummary } from "./stats.ts";
import type { Endpoint, ResultReport, SenderTally, Target, WorkerConfig } from "./wire.ts";

export const LANGS = ["en", "es", "fr", "de", "ja"];
/**
 * A load-generator process above this share of one core (its CPU over the phase) is taken to
 * be the limit: its clients read late, and latency and throughput measure it, not the server.
 */
export const GENERATOR_LIMIT_PERCENT = 85;
const PASSWORD = "bench-password-1";

/** The churn scenario's unmeasured warm-up, and its rest before "before" and "settled". */
const CHURN_WARMUP_MS = 3000;
const CHURN_SETTLE_MS = 15_000;
/**
 * After a GC, until both servers' next memory trim (every 10 s) has handed freed pages back.
 * BENCH_SETTLE_MS shortens it for the bench's own tests, which check the steps, not the figures.
 */
const SETTLE_AFTER_GC_MS = Number(Deno.env.get("BENCH_SETTLE_MS") ?? 11_000);
/** The second round's hold (idle scenario): past a connection's rest after 10 quiet seconds. */
const WARM_HOLD_MS = Math.min(12_000, SETTLE_AFTER_GC_MS + 1000);

export interface ConnectResult {
  clients: number;
  ok: number;
  failed: number;
  errors: string[];
  seconds: number;
  /** Sign-ins (Parley) or connect+hello round trips (baseline) per second. */
  perSecond: number;
  latency: LatencySummary;
  /** Server CPU ms per sign-in. */
  serverCpuMsPerLogin: number;
  rssBeforeKiB: number;
  /** After the sign-ins and a 2 s pause. */
  rssAfterKiB: number;
  rssPerConnectionKiB: number;
  /** The server's open descriptors before the sign-ins and after them. */
  fdsBefore: number;
  fdsAfter: number;
  /** `welcome.translation`, when the server reports it. */
  translation?: string;
}

export interface PhaseResult {
  phase: number;
  rate: number;
  senders: number;
  /**
   * From the phase's start to the last delivery, or `--duration` if that is later: deliveries/s
   * are counted over the whole phase, drain included, so a server that falls behind and catches
   * up after the senders stop is not credited with the catching up for free.
   */
  seconds: number;
  size: number;
  attempted: number;
  accepted: number;
  refused: Record<string, number>;
  unanswered: number;
  /** Sum of `recipients` in `sent` replies (Parley's own count). */
  serverRecipients: number;
  expected: number;
  delivered: number;
  lost: number;
  /** Distinct deliveries beyond those expected (e.g. of sends whose reply was lost). */
  extra: number;
  duplicates: number;
  reordered: number;
  foreign: number;
  offeredPerSec: number;
  deliveredPerSec: number;
  latency: LatencySummary;
  serverCpuSeconds: number;
  serverCpuPercent: number;
  usPerDelivery: number;
  rssBeforeKiB: number;
  rssAfterKiB: number;
  /** Receivers of each broadcast: signed-in, connected, reading clients, less the sender. */
  receivers: number;
  /** Clients that had lost their connection before the phase began (not counted as receivers). */
  endedBefore: number;
  closed: number;
  closeReasons: string[];
  slowClients: number;
  slowClosed: number;
  /**
   * Seconds from the phase's start (when traffic to the paused slow clients begins) to the last
   * slow-reader disconnect the server logged in the phase; undefined when it logged none.
   */
  slowDroppedWithinS?: number;
  workerCpuMaxPercent: number;
  workerMaxLagMs: number;
  drainMs: number;
  /**
   * Deliveries were still arriving when the drain limit (10 s after sending stopped) ended the
   * phase: some of `lost` may be late rather than lost.
   */
  drainTimedOut: boolean;
  translated: number;
  untranslated: Record<string, number>;
  translator?: TranslatorStats;
  /** What went wrong in this phase (lost, refused, closed, p99 over the limit...). */
  problems: string[];
  /** What may make the figures less trustworthy (a load generator at full CPU). */
  warnings: string[];
}

export interface ChurnResult {
  slots: number;
  seconds: number;
  cycles: number;
  failed: number;
  errors: string[];
  cyclesPerSec: number;
  latency: LatencySummary;
  serverCpuSeconds: number;
  serverCpuMsPerCycle: number;
  rssBeforeKiB: number;
  rssAfterKiB: number;
  /** After a 3 s pause. */
  rssSettledKiB: number;
  fdsBefore: number;
  fdsSettled: number;
  /** Parley's JS heap when settled (from /metrics), in MiB. */
  heapUsedMiB?: number;
  heapTotalMiB?: number;
}

export interface IdleResult {
  seconds: number;
  serverCpuPercent: number;
  /** Server RSS at the end of the hold, and per connection still open (from before the sign-ins). */
  rssKiB: number;
  rssPerConnectionKiB: number;
  /**
   * Connections the server still holds at the end: Parley's own count (/metrics), or the
   * baseline's descriptors beyond those before the sign-ins.
   */
  stillOpen: number;
  /** Parley's own account of its memory at the end (from /metrics), in MiB. */
  heapUsedMiB?: number;
  heapTotalMiB?: number;
  externalMiB?: number;
  /**
   * After the hold, two full GCs asked through the inspector and a wait for the next memory
   * trim (both servers trim every 10 s): RSS per connection still open, and the JS heap used.
   * The same measure for Parley and the baseline, whatever V8's own collector did meanwhile.
   */
  settled?: {
    rssKiB: number;
    rssPerConnectionKiB: number;
    heapUsedMiB: number;
    /** JS heap used per connection still open, against the heap after a GC before the sign-ins. */
    heapPerConnectionKiB?: number;
  };
  /**
   * The same users signed in again after every client closed (`warmRound`): the growth from the
   * server with no connection, after it has served them once, to the server holding them again,
   * both after GCs and a trim. What a connection costs, without what the server builds once
   * (compiled code, the store's pages, its allocator's high-water mark) and keeps whatever the
   * connections do.
   */
  warm?: {
    signedIn: number;
    /** Sign-ins of the second round that failed, and the first few distinct errors. */
    failed: number;
    errors: string[];
    stillOpen: number;
    /** RSS with every client closed (after GC + trim), before the second round. */
    rssBetweenKiB: number;
    rssKiB: number;
    rssPerConnectionKiB: number;
    heapPerConnectionKiB: number;
    /** malloc's bytes in use (native memory the RSS holds, without its placement). */
    mallocPerConnectionKiB: number;
  };
}

export interface TargetResult {
  target: Target;
  transport: string;
  serverEnv: Record<string, string>;
  workers: number;
  clientsPerWorker: number[];
  rssStartKiB: number;
  connect?: ConnectResult;
  phases: PhaseResult[];
  idle?: IdleResult;
  churn?: ChurnResult;
  saturation?: { sustainedRate?: number; sustainedDeliveriesPerSec?: number; stopReason: string };
  serverLog: { counts: Record<string, number>; lines: string[] };
  translator?: TranslatorStats;
  error?: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

/** Splits `clients` into contiguous shares, one per worker. */
export function planWorkers(opts: Options, clients: number): number[] {
  const cores = navigator.hardwareConcurrency || 1;
  const workers = Math.max(
    1,
    Math.min(
      opts.workers ?? Math.min(cores * 2, Math.ceil(clients / opts.clientsPerWorker)),
      clients,
    ),
  );
  return Array.from(
    { length: workers },
    (_, w) => Math.floor((clients * (w + 1)) / workers) - Math.floor((clients * w) / workers),
  );
}

/** Sender k is client floor(k * clients / senders): spread evenly over the workers. */
export function senderIndices(clients: number, senders: number): number[] {
  return Array.from({ length: senders }, (_, k) => Math.floor((k * clients) / senders));
}

/** Slow clients: evenly spread among the non-senders. */
export function slowIndices(clients: number, senders: number[], slow: number): number[] {
  const sending = new Set(senders);
  const others = Array.from({ length: clients }, (_, i) => i).filter((i) => !sending.has(i));
  return Array.from(
    { length: slow },
    (_, j) => others[Math.floor(((j + 0.5) * others.length) / slow)],
  );
}

export class TargetRun {
  readonly target: Target;
  readonly opts: Options;
  readonly result: TargetResult;
  readonly senders: number[];
  readonly slow: number[];
  server!: ServerProc;
  translator?: FakeTranslator;
  pool?: WorkerPool;
  inspector?: Inspector;
  #deadline: number;
  #namePrefix = `b${crypto.randomUUID().slice(0, 6)}_`;
  #failed = new Set<number>();
  /** The JS heap used after a GC before the sign-ins (idle scenario). */
  #heapBeforeBytes: number | undefined;
  #shares: number[];

  private constructor(target: Target, opts: Options, deadline: number) {
    this.target = target;
    this.opts = opts;
    this.#deadline = deadline;
    const clients = opts.scenario === "churn" ? 0 : opts.clients;
    this.senders = opts.scenario === "churn" || opts.scenario === "idle"
      ? []
      : senderIndices(clients, opts.senders);
    this.slow = slowIndices(clients, this.senders, opts.slow);
    this.#shares = planWorkers(opts, opts.clients);
    this.result = {
      target,
      transport: opts.transport,
      serverEnv: {},
      workers: this.#shares.length,
      clientsPerWorker: opts.scenario === "churn" ? [] : this.#shares,
      rssStartKiB: NaN,
      phases: [],
      serverLog: { counts: {}, lines: [] },
    };
  }

  static async start(target: Target, opts: Options, deadline: number): Promise<TargetRun> {
    const run = new TargetRun(target, opts, deadline);
    let extraEnv: Record<string, string> = { PARLEY_TRANSLATE_PROVIDER: "none" };
    if (target === "parley" && opts.translate) {
      run.translator = await startFakeTranslator({ delayMs: opts.translateDelay });
      extraEnv = {
        PARLEY_TRANSLATE_PROVIDER: "google",
        PARLEY_TRANSLATE_URL: run.translator.url,
        PARLEY_TRANSLATE_KEY: run.translator.key,
      };
    }
    // The idle scenario asks both servers for a GC before it measures (bench/inspector.ts).
    const inspect = opts.scenario === "idle";
    if (target === "parley") {
      run.server = await startParley({
        // Parley's own --workers (the load generator's processes are --workers here).
        extraEnv: { ...extraEnv, PARLEY_WORKERS: String(opts.serverWorkers) },
        verbose: opts.verbose,
        profileDir: opts.profile,
        parleyDir: opts.parleyDir,
        inspect,
      });
    } else {
      run.server = await startBaseline(opts.transport, { inspect, wsBaseline: opts.wsBaseline });
    }
    // Connected before the first sample, so that the session's own memory is in "before".
    if (run.server.inspectorUrl) run.inspector = await Inspector.connect(run.server.inspectorUrl);
    run.result.serverEnv = run.server.env;
    run.result.serverLog = run.server.log;
    await sleep(500);
    run.result.rssStartKiB = (await sample(run.server.child.pid)).rssKiB;
    return run;
  }

  /** Milliseconds left before the run's hard deadline (less a margin for cleaning up). */
  get remainingMs(): number {
    return Math.max(1000, this.#deadline - Date.now() - 3000);
  }

  async #startPool(counts: number[]): Promise<void> {
    let first = 0;
    const configs: WorkerConfig[] = counts.map((count, worker) => {
      const cfg: WorkerConfig = {
        target: this.target,
        worker,
        first,
        count,
        endpoint: this.server.endpoint,
        transport: this.opts.transport,
        langs: this.opts.translate ? LANGS : ["en"],
        slow: this.slow.filter((i) => i >= first && i < first + count),
        namePrefix: this.#namePrefix,
        password: PASSWORD,
        connectConcurrency: this.opts.connectConcurrency,
        deadline: this.#deadline,
      };
      first += count;
      return cfg;
    });
    this.pool = await WorkerPool.start(
      configs,
      this.opts.verbose,
      this.opts.generator,
      this.opts.generatorNice,
    );
  }

  /** Connects and signs in every client; measures logins/s and RSS per connection. */
  async connect(): Promise<ConnectResult> {
    await this.#startPool(this.#shares);
    const pid = this.server.child.pid;
    if (this.inspector) {
      await this.inspector.collectGarbage();
      this.#heapBeforeBytes = (await this.inspector.heapUsage()).usedSize;
      // Measured as the end is (holdIdle): after the GC, the next memory trim. Without it "before"
      // sometimes held the start-up's freed memory and sometimes not: Parley's RSS before the
      // sign-ins read 88.6 MiB in one run and 113.9 in the next, ±6 KiB per connection at 2,000.
      await sleep(SETTLE_AFTER_GC_MS);
    }
    const before = await sample(pid);
    const t0 = performance.now();
    const reports = await this.pool!.connect(this.remainingMs);
    const seconds = (performance.now() - t0) / 1000;
    const cpuAfter = await sample(pid);
    await sleep(2000);
    const after = await sample(pid);
    const latency = new Histogram();
    const errors: string[] = [];
    let ok = 0;
    let failed = 0;
    for (const r of reports) {
      ok += r.ok;
      failed += r.failed;
      latency.merge(r.latency);
      for (const i of r.failedIndices) this.#failed.add(i);
      for (const e of r.errors) if (errors.length < 8 && !errors.includes(e)) errors.push(e);
    }
    const result: ConnectResult = {
      clients: this.opts.clients,
      ok,
      failed,
      errors,
      seconds,
      perSecond: ok / seconds,
      latency: latency.summary(),
      serverCpuMsPerLogin: ((cpuAfter.cpuSeconds - before.cpuSeconds) * 1000) / Math.max(1, ok),
      rssBeforeKiB: before.rssKiB,
      rssAfterKiB: after.rssKiB,
      rssPerConnectionKiB: (after.rssKiB - before.rssKiB) / Math.max(1, ok),
      fdsBefore: before.fds,
      fdsAfter: after.fds,
      translation: reports.find((r) => r.translation !== undefined)?.translation,
    };
    this.result.connect = result;
    return result;
  }

  /** Holds the connected clients idle for `seconds`: the server's idle CPU. */
  async holdIdle(seconds: number): Promise<IdleResult> {
    const pid = this.server.child.pid;
    const a = await sample(pid);
    await sleep(Math.min(seconds * 1000, this.remainingMs));
    const b = await sample(pid);
    const c = this.result.connect;
    // Counted by the server, not from the sign-ins: a connection dropped meanwhile must not
    // make the others look cheaper. Parley says how many it holds (/metrics); for the baseline,
    // its descriptors beyond those before the sign-ins.
    const memory = await serverMemory(this.server.endpoint);
    const stillOpen = memory.connections ?? (c ? b.fds - c.fdsBefore : NaN);
    const idle: IdleResult = {
      heapUsedMiB: memory.heapUsedMiB,
      heapTotalMiB: memory.heapTotalMiB,
      externalMiB: memory.externalMiB,
      seconds: (b.at - a.at) / 1000,
      serverCpuPercent: ((b.cpuSeconds - a.cpuSeconds) / ((b.at - a.at) / 1000)) * 100,
      rssKiB: b.rssKiB,
      rssPerConnectionKiB: c ? (b.rssKiB - c.rssBeforeKiB) / Math.max(1, stillOpen) : NaN,
      stillOpen,
    };
    if (this.inspector && c) {
      try {
        await this.inspector.collectGarbage();
        await sleep(SETTLE_AFTER_GC_MS);
        const s = await sample(pid);
        const heap = await this.inspector.heapUsage();
        idle.settled = {
          rssKiB: s.rssKiB,
          rssPerConnectionKiB: (s.rssKiB - c.rssBeforeKiB) / Math.max(1, stillOpen),
          heapUsedMiB: heap.usedSize / 1048576,
          heapPerConnectionKiB: this.#heapBeforeBytes === undefined
            ? undefined
            : (heap.usedSize - this.#heapBeforeBytes) / 1024 / Math.max(1, stillOpen),
        };
        if (this.opts.heapSnapshot) {
          await Deno.mkdir(this.opts.heapSnapshot, { recursive: true });
          await this.inspector.writeHeapSnapshot(
            `${this.opts.heapSnapshot}/${this.target}.heapsnapshot`,
          );
        }
      } catch { /* no figure: the inspector went away */ }
    }
    this.result.idle = idle;
    return idle;
  }

  /**
   * After `holdIdle`: closes every client, lets the server settle (GC + trim), signs the same
   * users in again and measures the growth once more (`IdleResult.warm`), the same way for
   * Parley and the baseline.
   */
  async warmRound(): Promise<void> {
    const idle = this.result.idle;
    const inspector = this.inspector;
    if (!idle || !inspector || !this.pool) return;
    const pid = this.server.child.pid;
    const settle = async () => {
      await inspector.collectGarbage();
      await sleep(SETTLE_AFTER_GC_MS);
      return { proc: await sample(pid), heap: (await inspector.heapUsage()).usedSize };
    };
    try {
      await this.pool.disconnect(30_000);
      // The server sees the clients go and lets their sessions go.
      await sleep(2000);
      const between = await settle();
      const mallocBefore = await this.#mallocInUseKiB();
      if (this.opts.memoryDump) await this.#dumpMemory(this.opts.memoryDump, "closed");
      const reports = await this.pool.connect(this.remainingMs);
      // Past a rest (`restAfterMs`), as the first round's hold is.
      await sleep(WARM_HOLD_MS);
      const memory = await serverMemory(this.server.endpoint);
      const after = await settle();
      const mallocAfter = await this.#mallocInUseKiB();
      if (this.opts.memoryDump) await this.#dumpMemory(this.opts.memoryDump, "warm");
      const c = this.result.connect;
      const stillOpen = memory.connections ?? (c ? after.proc.fds - c.fdsBefore : NaN);
      const n = Math.max(1, stillOpen);
      const errors = [...new Set(reports.flatMap((r) => r.errors))].slice(0, 8);
      idle.warm = {
        signedIn: reports.reduce((k, r) => k + r.ok, 0),
        failed: reports.reduce((k, r) => k + r.failed, 0),
        errors,
        stillOpen,
        rssBetweenKiB: between.proc.rssKiB,
        rssKiB: after.proc.rssKiB,
        rssPerConnectionKiB: (after.proc.rssKiB - between.proc.rssKiB) / n,
        heapPerConnectionKiB: (after.heap - between.heap) / 1024 / n,
        mallocPerConnectionKiB: (mallocAfter - mallocBefore) / n,
      };
    } catch { /* no figure: the inspector or the workers went away */ }
  }

  /**
   * malloc's bytes in use (all arenas), read after the RSS: steadier than the RSS, which also
   * counts where the allocator placed them (free memory on pages it cannot give back).
   */
  async #mallocInUseKiB(): Promise<number> {
    return await this.inspector!.memoryAccount().then((a) => a.mallocUsed, () => NaN);
  }

  /**
   * `--memory-dump`, second round: the server's `smaps` (which mapping holds its RSS) and its own
   * account (`Inspector.memoryAccount`: malloc in use and free, and `malloc_info` arena by arena)
   * in `dir` as `<target>-<step>.*`, with every client closed and again with all signed in:
   * their difference is what the connections hold. Read after the figures, as it trims.
   */
  async #dumpMemory(dir: string, step: string): Promise<void> {
    await Deno.mkdir(dir, { recursive: true });
    const base = `${dir}/${this.target}-${step}`;
    await Deno.copyFile(`/proc/${this.server.child.pid}/smaps`, `${base}.smaps`);
    const account = await this.inspector!.memoryAccount(`${base}.malloc.xml`)
      .catch((err) => ({ error: `${err}` }));
    await Deno.writeTextFile(`${base}.json`, JSON.stringify(account));
  }

  /** One measured phase of broadcasts at `rate` per sender. */
  async phase(rate: number, options: { probeSlow?: boolean } = {}): Promise<PhaseResult> {
    const opts = this.opts;
    const phase = this.result.phases.length + 1;
    const durationMs = opts.duration * 1000;
    const maxDrainMs = 10_000;
    const startAt = Date.now() + 500;
    const tr0 = this.translator && structuredClone(this.translator.stats);
    const pid = this.server.child.pid;
    const sending = this.pool!.run({
      cmd: "run",
      phase,
      senders: this.senders,
      rate,
      startAt,
      durationMs,
      size: opts.size,
      quietMs: 1000,
      maxDrainMs,
      probeSlow: options.probeSlow,
    }, Math.min(this.remainingMs, durationMs + maxDrainMs + 30_000));
    sending.catch(() => {}); // awaited below; not unhandled meanwhile
    await sleep(startAt - Date.now());
    const before: ProcSample = await sample(pid);
    const reports = await sending;
    const after = await sample(pid);
    const r = this.#summarize(phase, rate, reports, before, after, maxDrainMs);
    const drops = this.server.log.slowReaderDrops.filter((t) => t >= startAt);
    if (drops.length) r.slowDroppedWithinS = (Math.max(...drops) - startAt) / 1000;
    if (tr0 && this.translator) {
      const now = this.translator.stats;
      const byTarget: Record<string, number> = {};
      for (const [k, v] of Object.entries(now.byTarget)) {
        if (v - (tr0.byTarget[k] ?? 0)) byTarget[k] = v - (tr0.byTarget[k] ?? 0);
      }
      r.translator = {
        calls: now.calls - tr0.calls,
        texts: now.texts - tr0.texts,
        chars: now.chars - tr0.chars,
        refused: now.refused - tr0.refused,
        byTarget,
      };
    }
    this.result.phases.push(r);
    return r;
  }

  #summarize(
    phase: number,
    rate: number,
    reports: ResultReport[],
    before: ProcSample,
    after: ProcSample,
    maxDrainMs: number,
  ): PhaseResult {
    const opts = this.opts;
    const tallies: Record<string, SenderTally> = {};
    const unique: Record<string, number> = {};
    const latency = new Histogram();
    const refused: Record<string, number> = {};
    const untranslated: Record<string, number> = {};
    const closeReasons: string[] = [];
    let duplicates = 0, reordered = 0, foreign = 0, translated = 0, closed = 0, slowClosed = 0;
    let workerCpuMax = 0, lagMax = 0, drainMs = 0, drainTimedOut = false, lastDeliveryMs = 0;
    for (const rep of reports) {
      Object.assign(tallies, rep.senders);
      for (const [k, n] of Object.entries(rep.uniqueBySender)) unique[k] = (unique[k] ?? 0) + n;
      latency.merge(rep.latency);
      duplicates += rep.duplicates;
      reordered += rep.reordered;
      foreign += rep.foreign;
      translated += rep.translated;
      closed += rep.closed;
      slowClosed += rep.slowClosed;
      for (const [k, n] of Object.entries(rep.untranslated)) {
        untranslated[k] = (untranslated[k] ?? 0) + n;
      }
      for (const c of rep.closeReasons) if (!closeReasons.includes(c)) closeReasons.push(c);
      workerCpuMax = Math.max(workerCpuMax, (rep.cpuSeconds / rep.wallSeconds) * 100);
      lagMax = Math.max(lagMax, rep.maxLagMs);
      drainMs = Math.max(drainMs, rep.drainMs);
      lastDeliveryMs = Math.max(lastDeliveryMs, rep.lastDeliveryMs);
      drainTimedOut ||= rep.drainTimedOut;
    }
    const slow = new Set(this.slow);
    // Receivers: signed in, still connected when the phase started, and reading.
    const gone = new Set(this.#failed);
    for (const rep of reports) for (const i of rep.endedBefore) gone.add(i);
    const fast = opts.clients - gone.size - this.slow.filter((i) => !gone.has(i)).length;
    let attempted = 0, accepted = 0, unanswered = 0, recipients = 0, expected = 0;
    let delivered = 0, lost = 0, extra = 0;
    for (const [k, t] of Object.entries(tallies)) {
      attempted += t.attempted;
      accepted += t.accepted;
      unanswered += t.unanswered;
      recipients += t.recipients;
      for (const [code, n] of Object.entries(t.refused)) refused[code] = (refused[code] ?? 0) + n;
      const senderIsReceiver = !gone.has(Number(k)) && !slow.has(Number(k));
      const e = t.accepted * (fast - (senderIsReceiver ? 1 : 0));
      const u = unique[k] ?? 0;
      expected += e;
      delivered += u;
      lost += Math.max(0, e - u);
      extra += Math.max(0, u - e);
    }
    const seconds = Math.max(opts.duration, lastDeliveryMs / 1000);
    const cpu = after.cpuSeconds - before.cpuSeconds;
    const wall = (after.at - before.at) / 1000;
    const summary = latency.summary();
    const problems: string[] = [];
    if (lost) {
      problems.push(
        drainTimedOut
          ? `${lost} not delivered when the ${
            maxDrainMs / 1000
          } s drain limit passed (late or lost)`
          : `${lost} lost`,
      );
    }
    if (duplicates) problems.push(`${duplicates} duplicated`);
    const refusedTotal = Object.values(refused).reduce((a, b) => a + b, 0);
    if (refusedTotal) {
      problems.push(`${refusedTotal} sends refused (${Object.keys(refused).join(", ")})`);
    }
    if (unanswered) problems.push(`${unanswered} sends unanswered`);
    if (closed) problems.push(`${closed} connections closed (${closeReasons.join("; ")})`);
    const endedEarly = gone.size - this.#failed.size;
    if (endedEarly) problems.push(`${endedEarly} connections had closed before the phase`);
    if (summary.p99Ms > opts.p99LimitMs) {
      problems.push(`p99 ${summary.p99Ms} ms > ${opts.p99LimitMs} ms`);
    }
    const warnings: string[] = [];
    if (workerCpuMax > GENERATOR_LIMIT_PERCENT) {
      warnings.push(
        `a load-generator process used ${workerCpuMax.toFixed(0)}% of a core (over ` +
          `${GENERATOR_LIMIT_PERCENT}%): the generator, not the server, was the limit`,
      );
    }
    return {
      phase,
      rate,
      senders: this.senders.length,
      seconds,
      size: opts.size,
      attempted,
      accepted,
      refused,
      unanswered,
      serverRecipients: recipients,
      expected,
      delivered,
      lost,
      extra,
      duplicates,
      reordered,
      foreign,
      offeredPerSec: this.senders.length * rate * Math.max(0, fast - 1),
      deliveredPerSec: delivered / seconds,
      latency: summary,
      serverCpuSeconds: cpu,
      serverCpuPercent: (cpu / wall) * 100,
      usPerDelivery: delivered ? (cpu * 1e6) / delivered : NaN,
      rssBeforeKiB: before.rssKiB,
      rssAfterKiB: after.rssKiB,
      receivers: Math.max(0, fast - 1),
      endedBefore: gone.size - this.#failed.size,
      closed,
      closeReasons,
      slowClients: this.slow.length,
      slowClosed,
      workerCpuMaxPercent: workerCpuMax,
      workerMaxLagMs: lagMax,
      drainMs,
      drainTimedOut,
      translated,
      untranslated,
      problems,
      warnings,
    };
  }

  /** Connect-sign-in-quit cycles on --clients slots for --duration seconds. */
  async churn(): Promise<ChurnResult> {
    const shares = this.#shares;
    await this.#startPool(shares.map(() => 0));
    const pid = this.server.child.pid;
    const durationMs = this.opts.duration * 1000;
    let firstSlot = 0;
    const firsts = shares.map((n) => (firstSlot += n) - n);
    const cycle = (ms: number) =>
      this.pool!.churn(
        (i) => ({ cmd: "churn", durationMs: ms, slots: shares[i], firstSlot: firsts[i] }),
        Math.min(this.remainingMs, ms + 30_000),
      );
    // A fresh process grows once as its code is compiled and its caches fill; a warm-up run and
    // a rest first, so "before" is a warm server at rest, as "settled" is.
    await cycle(CHURN_WARMUP_MS);
    await sleep(CHURN_SETTLE_MS);
    const before = await sample(pid);
    const reports = await cycle(durationMs);
    const after = await sample(pid);
    // Long enough for a memory trim (server/memory_trim.ts, every 10 s) and V8's idle GC.
    await sleep(CHURN_SETTLE_MS);
    const settled = await sample(pid);
    const memory = await serverMemory(this.server.endpoint);
    const latency = new Histogram();
    const errors: string[] = [];
    let cycles = 0, failed = 0;
    for (const r of reports) {
      cycles += r.cycles;
      failed += r.failed;
      latency.merge(r.latency);
      for (const e of r.errors) if (errors.length < 8 && !errors.includes(e)) errors.push(e);
    }
    const seconds = (after.at - before.at) / 1000;
    const cpu = after.cpuSeconds - before.cpuSeconds;
    const churn: ChurnResult = {
      slots: this.opts.clients,
      seconds,
      cycles,
      failed,
      errors,
      cyclesPerSec: cycles / seconds,
      latency: latency.summary(),
      serverCpuSeconds: cpu,
      serverCpuMsPerCycle: cycles ? (cpu * 1000) / cycles : NaN,
      rssBeforeKiB: before.rssKiB,
      rssAfterKiB: after.rssKiB,
      rssSettledKiB: settled.rssKiB,
      fdsBefore: before.fds,
      fdsSettled: settled.fds,
      heapUsedMiB: memory.heapUsedMiB,
      heapTotalMiB: memory.heapTotalMiB,
    };
    this.result.churn = churn;
    return churn;
  }

  /** Stops the workers, the server and the fake translator. */
  async stop(): Promise<void> {
    this.inspector?.close();
    this.pool?.close();
    await this.server?.stop();
    if (this.translator) {
      this.result.translator = this.translator.stats;
      await this.translator.close();
    }
  }
}

/**
 * Parley's heap and external memory, and the connections it holds, from its /metrics (the
 * baseline has none: empty).
 */
async function serverMemory(
  endpoint: Endpoint,
): Promise<
  Pick<IdleResult, "heapUsedMiB" | "heapTotalMiB" | "externalMiB"> & { connections?: number }
> {
  try {
    const res = await fetch(`http://${endpoint.host}:${endpoint.wsPort}/metrics`, {
      signal: AbortSignal.timeout(5000),
    });
    if (!res.ok) {
      await res.body?.cancel();
      return {};
    }
    const text = await res.text();
    const mib = (re: RegExp) => {
      const m = text.match(re);
      return m ? Number(m[1]) / 1048576 : undefined;
    };
    const open = [...text.matchAll(/^parley_connections\{[^}]*\} (\d+)$/gm)];
    return {
      connections: open.length ? open.reduce((n, m) => n + Number(m[1]), 0) : undefined,
      heapUsedMiB: mib(/^parley_heap_bytes\{kind="used"\} (\d+)/m),
      heapTotalMiB: mib(/^parley_heap_bytes\{kind="total"\} (\d+)/m),
      externalMiB: mib(/^parley_external_memory_bytes (\d+)/m),
    };
  } catch {
    return {};
  }
}
