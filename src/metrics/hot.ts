/**
 * Counters and histograms for the hot paths (every work-queue key, every reconcile, every
 * scheduling attempt), exposed through prom-client's registry and text format like every other
 * metric.
 *
 * Why not prom-client's own Counter and Histogram there: their `inc(labels)` and
 * `observe(labels, v)` hash and validate the label set on every call, 0.5–0.9 µs each on our
 * machine (its children too: they re-hash), which cut the work queue alone (add, get, done; no
 * reconcile behind it) to about 0.3 of its keys per second without metrics; with these it keeps
 * about two thirds (`npm run bench -- metrics`), the rest being the clock reads that timing each
 * key needs. Here each label set is a child object made once by the caller, and a call is an
 * addition (a counter) or a bucket search over a dozen bounds (a histogram); the samples are
 * produced only at scrape time, in the shape prom-client formats (the same samples as its own
 * Counter and Histogram give, test/unit/metrics.hot.test.ts).
 */
import type { Metric, Registry } from 'prom-client';

type Labels = Record<string, string>;

/** One sample, as prom-client's registry formats it. */
interface Value {
  metricName?: string;
  labels: Record<string, string | number>;
  value: number;
}

/** What prom-client's registry reads of a metric at scrape time (as its own metrics' `get()` gives). */
export interface Collected {
  name: string;
  help: string;
  type: 'counter' | 'histogram';
  aggregator: 'sum';
  values: Value[];
}

/** A counter of one label set. */
export interface HotCounterChild {
  inc(n?: number): void;
}

/** A histogram of one label set. */
export interface HotHistogramChild {
  observe(value: number): void;
}

interface CounterCell {
  labels: Labels;
  value: number;
}

interface HistogramCell {
  labels: Labels;
  /** counts[i]: observations ≤ bounds[i] and > bounds[i-1]; the last one is +Inf's. */
  counts: Float64Array;
  sum: number;
  count: number;
}

/** Registers `metric` (a collector of the shape prom-client formats) in `registry`. */
function register(registry: Registry, metric: { name: string }): void {
  // prom-client's registry takes any object with `name` and `get()`; its types list its own classes.
  registry.registerMetric(metric as unknown as Metric);
}

/** A counter family whose children are plain numbers. */
export class HotCounter {
  readonly name: string;
  readonly help: string;
  private readonly cells = new Map<string, CounterCell>();

  constructor(registry: Registry, opts: { name: string; help: string }) {
    this.name = opts.name;
    this.help = opts.help;
    register(registry, this);
  }

  /** The child of `labels`, shown (at 0) from now on; the same child for the same labels. */
  child(labels: Labels): HotCounterChild {
    const key = JSON.stringify(labels);
    let cell = this.cells.get(key);
    if (!cell) {
      cell = { labels, value: 0 };
      this.cells.set(key, cell);
    }
    const c = cell;
    return {
      inc: (n = 1) => {
        c.value += n;
      },
    };
  }

  /** The samples, for prom-client's registry. */
  get(): Promise<Collected> {
    return Promise.resolve({
      name: this.name,
      help: this.help,
      type: 'counter',
      aggregator: 'sum',
      values: [...this.cells.values()].map((c) => ({ labels: c.labels, value: c.value })),
    });
  }

  /** Zeroes every child (prom-client's `registry.resetMetrics()`). */
  reset(): void {
    for (const c of this.cells.values()) c.value = 0;
  }
}

/** A histogram family whose children count into their own buckets. */
export class HotHistogram {
  readonly name: string;
  readonly help: string;
  private readonly bounds: Float64Array;
  private readonly cells = new Map<string, HistogramCell>();

  constructor(registry: Registry, opts: { name: string; help: string; buckets: readonly number[] }) {
    this.name = opts.name;
    this.help = opts.help;
    this.bounds = Float64Array.from([...opts.buckets].sort((a, b) => a - b));
    register(registry, this);
  }

  /** The child of `labels`, shown (empty) from now on; the same child for the same labels. */
  child(labels: Labels): HotHistogramChild {
    const key = JSON.stringify(labels);
    let cell = this.cells.get(key);
    if (!cell) {
      cell = { labels, counts: new Float64Array(this.bounds.length + 1), sum: 0, count: 0 };
      this.cells.set(key, cell);
    }
    const c = cell;
    const bounds = this.bounds;
    return {
      observe: (value) => {
        let i = 0;
        while (i < bounds.length && value > bounds[i]!) i++;
        c.counts[i]!++;
        c.sum += value;
        c.count++;
      },
    };
  }

  /** The samples (cumulative buckets, `+Inf`, `_sum`, `_count`), for prom-client's registry. */
  get(): Promise<Collected> {
    const values: Value[] = [];
    for (const c of this.cells.values()) {
      let cumulative = 0;
      for (let i = 0; i <= this.bounds.length; i++) {
        cumulative += c.counts[i]!;
        const le = i < this.bounds.length ? this.bounds[i]! : '+Inf';
        values.push({ metricName: `${this.name}_bucket`, labels: { ...c.labels, le }, value: cumulative });
      }
      values.push({ metricName: `${this.name}_sum`, labels: c.labels, value: c.sum });
      values.push({ metricName: `${this.name}_count`, labels: c.labels, value: c.count });
    }
    return Promise.resolve({ name: this.name, help: this.help, type: 'histogram', aggregator: 'sum', values });
  }

  /** Empties every child (prom-client's `registry.resetMetrics()`). */
  reset(): void {
    for (const c of this.cells.values()) {
      c.counts.fill(0);
      c.sum = 0;
      c.count = 0;
    }
  }
}
