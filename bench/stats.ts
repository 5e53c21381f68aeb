/**
 * A log-bucketed latency histogram (1% relative precision) that can be sent between processes
 * as JSON and merged: workers record, the coordinator merges and reads percentiles.
 */

const GROWTH = 1.01;
const LOG_GROWTH = Math.log(GROWTH);
/** 1.01^2200 µs is about 3.2e9 µs (53 minutes): far beyond any run. */
const BUCKETS = 2200;

/** What a histogram looks like on the wire: sparse [bucket, count] pairs and exact extremes. */
export interface HistogramJson {
  buckets: [number, number][];
  count: number;
  sum: number;
  min: number;
  max: number;
}

/** Summary figures in milliseconds. */
export interface LatencySummary {
  count: number;
  meanMs: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  maxMs: number;
}

export class Histogram {
  #counts = new Float64Array(BUCKETS);
  count = 0;
  sum = 0;
  min = Infinity;
  max = 0;

  /** Records a value in microseconds (negative clock noise counts as 0). */
  record(us: number): void {
    const v = us > 0 ? us : 0;
    const i = v <= 1 ? 0 : Math.min(BUCKETS - 1, Math.ceil(Math.log(v) / LOG_GROWTH));
    this.#counts[i]++;
    this.count++;
    this.sum += v;
    if (v < this.min) this.min = v;
    if (v > this.max) this.max = v;
  }

  /** The value (µs) at or below which a fraction `q` (0..1) of the records lie; 1% precise. */
  quantile(q: number): number {
    if (this.count === 0) return NaN;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.#counts[i];
      if (seen >= rank) return Math.min(this.max, Math.max(this.min, GROWTH ** i));
    }
    return this.max;
  }

  merge(other: Histogram | HistogramJson): this {
    const h = other instanceof Histogram ? other.toJSON() : other;
    for (const [i, c] of h.buckets) this.#counts[i] += c;
    this.count += h.count;
    this.sum += h.sum;
    if (h.count) {
      this.min = Math.min(this.min, h.min);
      this.max = Math.max(this.max, h.max);
    }
    return this;
  }

  toJSON(): HistogramJson {
    const buckets: [number, number][] = [];
    for (let i = 0; i < BUCKETS; i++) if (this.#counts[i]) buckets.push([i, this.#counts[i]]);
    return { buckets, count: this.count, sum: this.sum, min: this.min, max: this.max };
  }

  static from(json: HistogramJson): Histogram {
    return new Histogram().merge(json);
  }

  summary(): LatencySummary {
    const ms = (us: number) => Math.round(us) / 1000;
    return {
      count: this.count,
      meanMs: this.count ? ms(this.sum / this.count) : NaN,
      p50Ms: ms(this.quantile(0.5)),
      p95Ms: ms(this.quantile(0.95)),
      p99Ms: ms(this.quantile(0.99)),
      maxMs: this.count ? ms(this.max) : NaN,
    };
  }
}
