/**
 * The GitOps side's metrics: sync passes by outcome and their duration, the objects the
 * revision in force declares, which revision that is (an info metric, as kube-state-metrics'
 * `*_info`), and the Git fetches behind each pass.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** The revision in force, as `gantry_sync_info` labels it. */
export interface InForce {
  /** Full commit id. */
  revision: string;
  /** The ref followed (branch, tag or commit). */
  ref: string;
  /** The repository, as shown to users (credentials removed). */
  repo: string;
}

/** `gantry_sync_*`, `gantry_desired_objects` and `gantry_git_fetch_*`. */
export class SyncMetrics {
  private readonly passes: Counter<'outcome'>;
  private readonly duration: Histogram;
  private readonly objects: Gauge;
  private readonly info: Gauge<'revision' | 'ref' | 'repo'>;
  private readonly fetchDuration: Histogram;
  private readonly fetchFailures: Counter<'code'>;

  constructor(registry: Registry) {
    this.passes = new Counter({
      name: 'gantry_sync_total',
      help: 'Sync passes by outcome (applied, unchanged, rejected, failed, held).',
      labelNames: ['outcome'] as const,
      registers: [registry],
    });
    this.duration = new Histogram({
      name: 'gantry_sync_duration_seconds',
      help: 'Duration of a sync pass.',
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10],
      registers: [registry],
    });
    this.objects = new Gauge({
      name: 'gantry_desired_objects',
      help: 'Objects declared by the revision in force.',
      registers: [registry],
    });
    this.info = new Gauge({
      name: 'gantry_sync_info',
      help: 'The revision in force (value 1): its commit, the ref followed and the repository.',
      labelNames: ['revision', 'ref', 'repo'] as const,
      registers: [registry],
    });
    this.fetchDuration = new Histogram({
      name: 'gantry_git_fetch_duration_seconds',
      help: 'Duration of a fetch from the remote repository, failed ones included.',
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: [registry],
    });
    this.fetchFailures = new Counter({
      name: 'gantry_git_fetch_failures_total',
      help: 'Failed fetches from the remote repository, by error code (AuthFailed, SourceUnavailable, …).',
      labelNames: ['code'] as const,
      registers: [registry],
    });
  }

  /** A pass ended with `outcome` after `seconds`. */
  pass(outcome: string, seconds: number): void {
    this.passes.inc({ outcome });
    this.duration.observe(seconds);
  }

  /** The revision loaded for a pass declares `n` objects. */
  desiredObjects(n: number): void {
    this.objects.set(n);
  }

  /** `revision` is now in force: the info metric names it alone (one series, never one per revision). */
  inForce(revision: InForce): void {
    this.info.reset();
    this.info.set({ revision: revision.revision, ref: revision.ref, repo: revision.repo }, 1);
  }

  /** A fetch ended after `seconds`; `failure` is its error code when it failed. */
  fetched(seconds: number, failure?: string): void {
    this.fetchDuration.observe(seconds);
    if (failure !== undefined) this.fetchFailures.inc({ code: failure });
  }
}
