/**
 * The audit trail's metrics: how far the status branch trails the store (the lag from a change
 * reaching the recorder to its commit, and the changes still queued), commits written, and
 * changes dropped after repeated write failures (each is logged too).
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** `gantry_audit_*`. */
export class AuditMetrics {
  private readonly lag: Histogram;
  private readonly commits: Counter;
  private readonly dropped: Counter;
  private queued: (() => number) | undefined;

  constructor(registry: Registry) {
    this.lag = new Histogram({
      name: 'gantry_audit_lag_seconds',
      help: 'Seconds from a store change (or sync record) reaching the audit recorder to its commit on the status branch.',
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers: [registry],
    });
    this.commits = new Counter({ name: 'gantry_audit_commits_total', help: 'Commits written to the status branch (one per change or sync record).', registers: [registry] });
    this.dropped = new Counter({ name: 'gantry_audit_dropped_total', help: 'Changes the audit trail gave up on after repeated write failures (each is logged).', registers: [registry] });
    const self = this;
    new Gauge({
      name: 'gantry_audit_queue_depth',
      help: 'Changes waiting to be committed to the status branch.',
      registers: [registry],
      collect() {
        this.set(self.queued?.() ?? 0);
      },
    });
  }

  /**
   * The recorder options that report to these metrics (`onCommitted`, `onDropped` of
   * src/audit/recorder.ts; its times are performance.now() milliseconds).
   */
  recorderHooks(): { onCommitted(batch: { items: ReadonlyArray<{ enqueuedAt: number; committedAt: number }> }): void; onDropped(count: number): void } {
    return {
      onCommitted: (batch) => this.committed(batch.items.map((i) => (i.committedAt - i.enqueuedAt) / 1000)),
      onDropped: (count) => this.droppedChanges(count),
    };
  }

  /** Changes committed, each `seconds` after it was queued. */
  committed(lags: readonly number[]): void {
    for (const s of lags) this.lag.observe(s);
    this.commits.inc(lags.length);
  }

  /** `n` changes were dropped. */
  droppedChanges(n: number): void {
    this.dropped.inc(n);
  }

  /** Reads the queue depth from `source` (the running recorder) until the returned function is called. */
  countQueuedWith(source: () => number): () => void {
    this.queued = source;
    return () => {
      if (this.queued === source) this.queued = undefined;
    };
  }
}
