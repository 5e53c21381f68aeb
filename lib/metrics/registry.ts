/**
 * Metrics in the Prometheus text exposition format (version 0.0.4): counters, gauges and
 * histograms with labels, kept in memory and rendered on demand by `GET /metrics`.
 */

type Labels = Record<string, string>;

interface Metric {
  readonly name: string;
  readonly help: string;
  readonly type: "counter" | "gauge" | "histogram";
  render(): string[];
}

function labelText(labels: Labels | undefined, extra?: [string, string]): string {
  const pairs = Object.entries(labels ?? {});
  if (extra) pairs.push(extra);
  if (pairs.length === 0) return "";
  const escape = (v: string) => v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
  return `{${pairs.map(([k, v]) => `${k}="${escape(v)}"`).join(",")}}`;
}

function labelKey(labels: Labels | undefined): string {
  return labels ? JSON.stringify(Object.entries(labels).sort()) : "";
}

function number(n: number): string {
  return Number.isFinite(n) ? String(n) : n > 0 ? "+Inf" : n < 0 ? "-Inf" : "NaN";
}

/** A value that only goes up. */
export class Counter implements Metric {
  readonly type = "counter";
  #values = new Map<string, { labels?: Labels; value: number }>();
  constructor(readonly name: string, readonly help: string) {}

  inc(labels?: Labels, by = 1): void {
    const key = labelKey(labels);
    const entry = this.#values.get(key);
    if (entry) entry.value += by;
    else this.#values.set(key, { labels, value: by });
  }

  /** The current value for `labels` (0 when never incremented). */
  value(labels?: Labels): number {
    return this.#values.get(labelKey(labels))?.value ?? 0;
  }

  render(): string[] {
    if (this.#values.size === 0) return [`${this.name} 0`];
    return [...this.#values.values()].map((e) =>
      `${this.name}${labelText(e.labels)} ${number(e.value)}`
    );
  }
}

/**
 * A value read when rendered (connections open, queue bytes, breaker state); as a `counter`, a
 * total kept elsewhere (the router's counters) that only goes up.
 */
export class Gauge implements Metric {
  constructor(
    readonly name: string,
    readonly help: string,
    readonly collect: () => number | { labels: Labels; value: number }[],
    readonly type: "gauge" | "counter" = "gauge",
  ) {}

  render(): string[] {
    const v = this.collect();
    if (typeof v === "number") return [`${this.name} ${number(v)}`];
    return v.map((e) => `${this.name}${labelText(e.labels)} ${number(e.value)}`);
  }
}

/** Observations counted into cumulative buckets (seconds, for latencies). */
export class Histogram implements Metric {
  readonly type = "histogram";
  #series = new Map<string, { labels?: Labels; counts: number[]; sum: number; count: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly buckets: readonly number[] = [
      0.001,
      0.0025,
      0.005,
      0.01,
      0.025,
      0.05,
      0.1,
      0.25,
      0.5,
      1,
      2.5,
      5,
    ],
  ) {}

  observe(value: number, labels?: Labels): void {
    const key = labelKey(labels);
    let s = this.#series.get(key);
    if (!s) {
      s = { labels, counts: new Array(this.buckets.length).fill(0), sum: 0, count: 0 };
      this.#series.set(key, s);
    }
    for (let i = 0; i < this.buckets.length; i++) if (value <= this.buckets[i]) s.counts[i]++;
    s.sum += value;
    s.count++;
  }

  /** How many observations were made for `labels`. */
  count(labels?: Labels): number {
    return this.#series.get(labelKey(labels))?.count ?? 0;
  }

  render(): string[] {
    const out: string[] = [];
    for (const s of this.#series.values()) {
      this.buckets.forEach((b, i) =>
        out.push(`${this.name}_bucket${labelText(s.labels, ["le", number(b)])} ${s.counts[i]}`)
      );
      out.push(`${this.name}_bucket${labelText(s.labels, ["le", "+Inf"])} ${s.count}`);
      out.push(`${this.name}_sum${labelText(s.labels)} ${number(s.sum)}`);
      out.push(`${this.name}_count${labelText(s.labels)} ${s.count}`);
    }
    return out;
  }
}

/** Every metric of one server, rendered together. */
export class MetricsRegistry {
  #metrics = new Map<string, Metric>();

  counter(name: string, help: string): Counter {
    return this.#add(new Counter(name, help));
  }

  gauge(name: string, help: string, collect: Gauge["collect"]): Gauge {
    return this.#add(new Gauge(name, help, collect));
  }

  /** A counter whose total is kept elsewhere and read when rendered. */
  counterFrom(name: string, help: string, collect: Gauge["collect"]): Gauge {
    return this.#add(new Gauge(name, help, collect, "counter"));
  }

  histogram(name: string, help: string, buckets?: readonly number[]): Histogram {
    return this.#add(new Histogram(name, help, buckets));
  }

  /** The whole registry in the Prometheus text format. */
  render(): string {
    const lines: string[] = [];
    for (const m of this.#metrics.values()) {
      lines.push(`# HELP ${m.name} ${m.help}`, `# TYPE ${m.name} ${m.type}`, ...m.render());
    }
    return lines.join("\n") + "\n";
  }

  #add<M extends Metric>(metric: M): M {
    if (this.#metrics.has(metric.name)) throw new Error(`metric ${metric.name} registered twice`);
    this.#metrics.set(metric.name, metric);
    return metric;
  }
}
