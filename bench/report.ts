/** The readable table on stdout and the JSON file of a run. */
import type { Options } from "./options.ts";
import { PARLEY_BENCH_ENV } from "./server_proc.ts";
import { GENERATOR_LIMIT_PERCENT, type PhaseResult, type TargetResult } from "./target_run.ts";

export interface RunReport {
  meta: {
    startedAt: string;
    finishedAt: string;
    host: { cores: number; os: string; deno: string; v8: string };
    gitCommit?: string;
    notes: string[];
  };
  options: Options;
  parley?: TargetResult;
  baseline?: TargetResult;
  /** Parley's figure divided by the baseline's, for each row of the table that has both. */
  ratios: Record<string, number>;
  /** Set when the run did not finish (deadline, signal, failure). */
  aborted?: string;
}

type Value = number | string | undefined;

interface Row {
  label: string;
  parley: Value;
  baseline: Value;
  /** Key in `ratios`; rows without one get no ratio. */
  key?: string;
  digits?: number;
}

const fmt = (v: Value, digits = 1): string => {
  if (v === undefined) return "—";
  if (typeof v === "string") return v;
  if (!Number.isFinite(v)) return "—";
  if (Math.abs(v) >= 10_000) return Math.round(v).toLocaleString("en-US");
  return v.toFixed(Number.isInteger(v) ? 0 : digits);
};

/**
 * The phase a table shows: the last one; for saturate, the highest rate both targets ran cleanly
 * (the same rate, so the two columns compare like with like; refining steps differ between
 * targets, the common steps do not), else the first.
 */
function shownPhase(t: TargetResult | undefined, report: RunReport): PhaseResult | undefined {
  if (!t?.phases.length) return undefined;
  if (t.saturation) {
    const targets = [report.parley, report.baseline].filter((x) => x?.saturation);
    const clean = (x: TargetResult | undefined) =>
      new Set(x!.phases.filter((p) => p.problems.length === 0).map((p) => p.rate));
    const [first, ...rest] = targets.map(clean);
    const common = [...first].filter((r) => rest.every((set) => set.has(r)));
    if (common.length === 0) return t.phases[0];
    const rate = Math.max(...common);
    return t.phases.find((p) => p.rate === rate) ?? t.phases[0];
  }
  return t.phases.at(-1);
}

function rows(report: RunReport): Row[] {
  const { parley: P, baseline: B } = report;
  const out: Row[] = [];
  const both = (label: string, get: (t: TargetResult) => Value, key?: string, digits?: number) => {
    const p = P ? get(P) : undefined;
    const b = B ? get(B) : undefined;
    if (p === undefined && b === undefined) return;
    out.push({ label, parley: p, baseline: b, key, digits });
  };
  const ph = (label: string, get: (p: PhaseResult) => Value, key?: string, digits?: number) =>
    both(
      label,
      (t) => {
        const p = shownPhase(t, report);
        return p ? get(p) : undefined;
      },
      key,
      digits,
    );

  both("clients signed in", (t) => t.connect && `${t.connect.ok}/${t.connect.clients}`);
  both("connect rate (logins/s)", (t) => t.connect?.perSecond, "loginsPerSec");
  both("login latency p50 (ms)", (t) => t.connect?.latency.p50Ms, "loginP50Ms");
  both("login latency p99 (ms)", (t) => t.connect?.latency.p99Ms, "loginP99Ms");
  both("server CPU per login (ms)", (t) => t.connect?.serverCpuMsPerLogin, "cpuMsPerLogin", 2);
  both("RSS per idle connection (KiB)", (t) => t.connect?.rssPerConnectionKiB, "rssPerConnKiB");
  both("server RSS connected (MiB)", (t) => t.connect && t.connect.rssAfterKiB / 1024, "rssMiB");
  both(
    "RSS per idle connection after hold (KiB)",
    (t) => t.idle?.rssPerConnectionKiB,
    "idleRssPerConnKiB",
  );
  both("connections held after hold", (t) => t.idle?.stillOpen, "idleStillOpen", 0);
  both(
    "RSS per idle connection after GC + trim (KiB)",
    (t) => t.idle?.settled?.rssPerConnectionKiB,
    "settledRssPerConnKiB",
  );
  both("JS heap used after GC (MiB)", (t) => t.idle?.settled?.heapUsedMiB, "settledHeapMiB", 1);
  both(
    "JS heap per idle connection after GC (KiB)",
    (t) => t.idle?.settled?.heapPerConnectionKiB,
    "settledHeapPerConnKiB",
  );
  both(
    "server JS heap after hold, used/total (MiB)",
    (t) =>
      t.idle?.heapUsedMiB === undefined
        ? undefined
        : `${t.idle.heapUsedMiB.toFixed(1)}/${t.idle.heapTotalMiB?.toFixed(1)}`,
  );
  both("server external memory after hold (MiB)", (t) => t.idle?.externalMiB, "idleExternalMiB", 1);
  both("idle server CPU (%)", (t) => t.idle?.serverCpuPercent, "idleCpuPercent", 2);
  both(
    "second round: signed in again after all closed",
    (t) => t.idle?.warm && `${t.idle.warm.stillOpen}/${t.idle.warm.signedIn}`,
  );
  both(
    "second round: RSS per idle connection after GC + trim (KiB)",
    (t) => t.idle?.warm?.rssPerConnectionKiB,
    "warmRssPerConnKiB",
  );
  both(
    "second round: JS heap per idle connection (KiB)",
    (t) => t.idle?.warm?.heapPerConnectionKiB,
    "warmHeapPerConnKiB",
  );
  both(
    "second round: malloc in use per idle connection (KiB)",
    (t) => t.idle?.warm?.mallocPerConnectionKiB,
    "warmMallocPerConnKiB",
  );

  if (P?.saturation || B?.saturation) {
    both("sustained rate (msgs/s/sender)", (t) => t.saturation?.sustainedRate, "sustainedRate", 2);
    both(
      "sustained deliveries/s",
      (t) => t.saturation?.sustainedDeliveriesPerSec,
      "sustainedDeliveriesPerSec",
    );
    const shown = shownPhase(P ?? B, report);
    out.push({
      label: `(below: the step at ${shown?.rate ?? "?"}/s per sender)`,
      parley: "",
      baseline: "",
    });
  }
  ph("offered deliveries/s", (p) => p.offeredPerSec);
  ph("delivered msgs/s (drain incl.)", (p) => p.deliveredPerSec, "deliveredPerSec");
  ph("lost / duplicated", (p) => `${p.lost}${p.drainTimedOut ? "*" : ""} / ${p.duplicates}`);
  ph("latency p50 (ms)", (p) => p.latency.p50Ms, "p50Ms", 2);
  ph("latency p95 (ms)", (p) => p.latency.p95Ms, "p95Ms", 2);
  ph("latency p99 (ms)", (p) => p.latency.p99Ms, "p99Ms", 2);
  ph("latency max (ms)", (p) => p.latency.maxMs, "maxMs", 2);
  ph("server CPU (s)", (p) => p.serverCpuSeconds, "serverCpuSeconds", 2);
  ph("server CPU (%)", (p) => p.serverCpuPercent, "serverCpuPercent");
  ph("server CPU per delivery (µs)", (p) => p.usPerDelivery, "usPerDelivery", 2);
  ph("refused / unanswered sends", (p) => {
    const refused = Object.values(p.refused).reduce((a, b) => a + b, 0);
    return `${refused} / ${p.unanswered}`;
  });
  ph("connections closed (before / in phase)", (p) => `${p.endedBefore} / ${p.closed}`);
  ph(
    "load generator CPU (% of a core, max)",
    (p) =>
      `${fmt(p.workerCpuMaxPercent)}${
        p.workerCpuMaxPercent > GENERATOR_LIMIT_PERCENT ? " (the limit)" : ""
      }`,
  );
  ph("load generator max timer lag (ms)", (p) => p.workerMaxLagMs);
  if (report.options.slow) {
    ph("slow clients dropped by server", (p) => `${p.slowClosed}/${p.slowClients}`);
    ph("last slow client dropped after (s)", (p) => p.slowDroppedWithinS, undefined, 1);
    ph("server RSS growth in phase (MiB)", (p) => (p.rssAfterKiB - p.rssBeforeKiB) / 1024);
  }
  if (report.options.translate) {
    ph("translated deliveries", (p) => p.translated);
    ph(
      "untranslated (reason: n)",
      (p) => Object.entries(p.untranslated).map(([k, n]) => `${k}: ${n}`).join(", ") || "0",
    );
    ph("translator calls (texts/call)", (p) =>
      p.translator &&
      `${p.translator.calls} (${fmt(p.translator.texts / Math.max(1, p.translator.calls))})`);
  }
  both("churn cycles/s (connect, login, quit)", (t) => t.churn?.cyclesPerSec, "churnPerSec");
  both("churn cycle p50 (ms)", (t) => t.churn?.latency.p50Ms, "churnP50Ms", 2);
  both("churn cycle p99 (ms)", (t) => t.churn?.latency.p99Ms, "churnP99Ms", 2);
  both("churn failures", (t) => t.churn?.failed);
  both("server CPU per cycle (ms)", (t) => t.churn?.serverCpuMsPerCycle, "cpuMsPerCycle", 2);
  both("RSS before / after / settled (MiB)", (t) =>
    t.churn &&
    [t.churn.rssBeforeKiB, t.churn.rssAfterKiB, t.churn.rssSettledKiB]
      .map((k) => fmt(k / 1024)).join(" / "));
  both(
    "settled RSS vs before",
    (t) => t.churn && `${fmt((t.churn.rssSettledKiB / t.churn.rssBeforeKiB - 1) * 100)}%`,
  );
  both(
    "server JS heap settled, used/total (MiB)",
    (t) =>
      t.churn?.heapUsedMiB === undefined
        ? undefined
        : `${fmt(t.churn.heapUsedMiB)}/${fmt(t.churn.heapTotalMiB ?? NaN)}`,
  );
  both(
    "open fds before / settled",
    (t) => t.churn && `${t.churn.fdsBefore} / ${t.churn.fdsSettled}`,
  );
  return out;
}

/** Fills `report.ratios` from the table's rows. */
export function computeRatios(report: RunReport): void {
  report.ratios = {};
  for (const r of rows(report)) {
    if (r.key && typeof r.parley === "number" && typeof r.baseline === "number" && r.baseline) {
      report.ratios[r.key] = r.parley / r.baseline;
    }
  }
}

function table(report: RunReport): string {
  const data = rows(report).map((r) => {
    const ratio = r.key ? report.ratios[r.key] : undefined;
    return [
      r.label,
      fmt(r.parley, r.digits),
      fmt(r.baseline, r.digits),
      ratio === undefined ? "" : `${ratio >= 100 ? ratio.toFixed(0) : ratio.toFixed(2)}×`,
    ];
  });
  const head = ["", "Parley", "baseline", "Parley/baseline"];
  const widths = head.map((h, i) => Math.max(h.length, ...data.map((d) => d[i].length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
  return [line(head), widths.map((w) => "-".repeat(w)).join("  "), ...data.map(line)].join("\n");
}

function stepsTable(t: TargetResult): string {
  const lines = [`  ${t.target} steps (rate/sender → delivered/s, p99 ms, lost, result):`];
  for (const p of t.phases) {
    lines.push(
      `    ${fmt(p.rate, 2).padStart(7)}/s → ${fmt(p.deliveredPerSec).padStart(9)}/s  p99 ${
        fmt(p.latency.p99Ms, 2).padStart(8)
      }  lost ${String(p.lost).padStart(6)}  generator ${fmt(p.workerCpuMaxPercent).padStart(3)}%${
        p.workerCpuMaxPercent > GENERATOR_LIMIT_PERCENT ? " (the limit)" : ""
      }  ${p.problems.length ? p.problems.join("; ") : "ok"}`,
    );
  }
  if (t.saturation) lines.push(`    stopped: ${t.saturation.stopReason}`);
  return lines.join("\n");
}

/** The whole readable report. */
export function render(report: RunReport): string {
  const o = report.options;
  const shape = o.scenario === "churn"
    ? `${o.clients} churn slots for ${o.duration} s`
    : o.scenario === "idle"
    ? `${o.clients} idle clients, held ${o.duration} s`
    : `${o.clients} clients, ${o.senders} senders × ${o.rate}/s for ${o.duration} s, ${o.size}-byte messages`;
  const workers = report.parley?.workers ?? report.baseline?.workers;
  const out = [
    "",
    `Parley bench: ${o.scenario}, transport ${o.transport}, ${shape}, ` +
    `translation ${o.translate ? "on (fake provider)" : "off"}` +
    (o.slow ? `, ${o.slow} slow clients` : "") +
    (workers ? `, ${workers} load-generator process(es) in ${o.generator ?? "deno"}` : ""),
    ...report.meta.notes.map((n) => `  note: ${n}`),
    "",
    table(report),
  ];
  for (const t of [report.parley, report.baseline]) {
    if (t?.saturation) out.push("", stepsTable(t));
  }
  const issues: string[] = [];
  if ([report.parley, report.baseline].some((t) => t?.phases.some((p) => p.drainTimedOut))) {
    issues.push(
      "* still arriving when the drain limit passed: part of 'lost' may be late, not lost",
    );
  }
  for (const t of [report.parley, report.baseline]) {
    if (!t) continue;
    const name = t.target === "parley" ? "Parley" : "baseline";
    if (t.error) issues.push(`${name}: FAILED: ${t.error}`);
    for (const e of t.connect?.errors ?? []) issues.push(`${name}: sign-in error: ${e}`);
    for (const e of t.churn?.errors ?? []) issues.push(`${name}: churn error: ${e}`);
    const warm = t.idle?.warm;
    if (warm?.failed) {
      issues.push(`${name}: second round: ${warm.failed} sign-ins failed`);
      for (const e of warm.errors) issues.push(`${name}: second round sign-in error: ${e}`);
    }
    if (t.connect && t.idle && t.idle.stillOpen < t.connect.ok) {
      issues.push(
        `${name}: ${t.connect.ok - t.idle.stillOpen} of ${t.connect.ok} signed-in connections ` +
          "were gone by the end of the hold",
      );
    }
    for (const p of t.phases) {
      for (const x of p.problems) issues.push(`${name} phase ${p.phase} (${p.rate}/s): ${x}`);
      for (const x of p.warnings) issues.push(`${name} phase ${p.phase}: warning: ${x}`);
    }
    const logged = Object.entries(t.serverLog.counts).map(([k, n]) => `${k} ${n}`).join(", ");
    if (logged) {
      issues.push(`${name} server logged: ${logged}`);
      for (const l of t.serverLog.lines.slice(0, 8)) issues.push(`    ${l}`);
    }
    if (t.translator) {
      const s = t.translator;
      issues.push(
        `${name}: fake translator: ${s.calls} calls, ${s.texts} texts, ${s.refused} refused`,
      );
    }
  }
  if (report.parley?.connect && o.translate && report.parley.connect.translation === undefined) {
    issues.push("Parley: welcome has no 'translation' field: this server may not translate yet");
  }
  for (const t of [report.parley, report.baseline]) {
    if (t?.saturation?.stopReason.startsWith("reached --max-steps")) {
      issues.push(
        `${t.target}: saturation stopped at --max-steps before failing: its sustained rate is a ` +
          "lower bound",
      );
    }
  }
  if (report.aborted) issues.push(`run aborted: ${report.aborted}`);
  if (issues.length) out.push("", "Observations:", ...issues.map((i) => `  ${i}`));
  return out.join("\n");
}

export function benchNotes(o: Options): string[] {
  const lifted = Object.keys(PARLEY_BENCH_ENV).filter((k) => k !== "PARLEY_KDF_ITERATIONS");
  const notes = [
    "Parley runs with PARLEY_KDF_ITERATIONS=1000 (600,000 by default): sign-ins are cheaper " +
    "than in production",
    `Parley runs with limits lifted (${lifted.join(", ")}); a server that does not know them yet ` +
    "keeps its defaults (10 commands/s per connection, burst 30)",
    "baseline: bench/baseline_" + ({ mixed: "mixed", text: "tcp" }[o.transport as string] ??
      o.transport) +
    ".ts, a zero-feature Deno broadcast server (no sign-in, no encryption, no storage); its " +
    "'login' is a connect plus one broadcast round trip",
    "latency: send→receive, stamped by the sender (performance.timeOrigin + performance.now())",
  ];
  if (o.translate) {
    notes.push("translation: fake Google-v2 provider on loopback, langs en es fr de ja");
  }
  notes.push(
    `Parley runs ${o.serverWorkers} worker${o.serverWorkers === 1 ? "" : "s"} (--server-workers)` +
      `; the load generator shares this machine's ${navigator.hardwareConcurrency} cores with it` +
      (o.generatorNice
        ? `, at niceness ${o.generatorNice} (--generator-nice), so the server runs first`
        : ""),
  );
  return notes;
}

/** Writes the JSON; returns its path. */
export async function writeJson(report: RunReport, path: string): Promise<string> {
  const dir = path.slice(0, path.lastIndexOf("/"));
  if (dir) await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(path, JSON.stringify(report, null, 2) + "\n");
  return path;
}
