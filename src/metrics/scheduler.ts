/**
 * The scheduler's metrics, after kube-scheduler's: attempts by result, how long an attempt takes
 * (decision and bind), how long a pod waits from entering the queue to its bind, and the pods
 * pending per queue. No pod or node name is ever a label.
 */
import { Gauge, type Registry } from 'prom-client';
import { HotCounter, HotHistogram, type HotCounterChild, type HotHistogramChild } from './hot.js';

/** What a scheduling attempt came to, as kube-scheduler counts it. */
export type ScheduleResult = 'scheduled' | 'unschedulable' | 'error';

/** Pending pods by where they wait: ready to be tried, backing off after an error, or waiting for the cluster to change. */
export interface PendingPods {
  active: number;
  backoff: number;
  unschedulable: number;
}

/** From a few milliseconds to ten minutes. */
const ATTEMPT_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const POD_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];

/** `gantry_scheduler_*`; attempts and their latency are counted per pod, so with ./hot.ts. */
export class SchedulerMetrics {
  private readonly attempts: Record<ScheduleResult, { count: HotCounterChild; seconds: HotHistogramChild }>;
  private readonly podDuration: HotHistogramChild;
  private pending: (() => PendingPods) | undefined;

  constructor(registry: Registry) {
    const attempts = new HotCounter(registry, {
      name: 'gantry_scheduler_schedule_attempts_total',
      help: 'Attempts to schedule a pod, by result: scheduled (bound to a node), unschedulable (fits no node), error (the decision or the bind failed).',
    });
    const attemptDuration = new HotHistogram(registry, {
      name: 'gantry_scheduler_scheduling_attempt_duration_seconds',
      help: 'Time of one scheduling attempt: the decision and, for a pod that fits, its bind.',
      buckets: ATTEMPT_BUCKETS,
    });
    const child = (result: ScheduleResult) => ({ count: attempts.child({ result }), seconds: attemptDuration.child({ result }) });
    this.attempts = { scheduled: child('scheduled'), unschedulable: child('unschedulable'), error: child('error') };
    this.podDuration = new HotHistogram(registry, {
      name: 'gantry_scheduler_pod_scheduling_duration_seconds',
      help: 'Time from a pod entering the scheduling queue to its bind, over all its attempts.',
      buckets: POD_BUCKETS,
    }).child({});
    const self = this;
    new Gauge({
      name: 'gantry_scheduler_pending_pods',
      help: 'Pods waiting to be scheduled, by queue: active (to be tried now), backoff (after an error), unschedulable (until the cluster changes or the back-off ends).',
      labelNames: ['queue'] as const,
      registers: [registry],
      collect() {
        // Counted at scrape time from the scheduler's queue; zeros while no scheduler runs here.
        const p = self.pending?.() ?? { active: 0, backoff: 0, unschedulable: 0 };
        this.set({ queue: 'active' }, p.active);
        this.set({ queue: 'backoff' }, p.backoff);
        this.set({ queue: 'unschedulable' }, p.unschedulable);
      },
    });
  }

  /** One attempt ended with `result` after `seconds`. */
  attempt(result: ScheduleResult, seconds: number): void {
    const a = this.attempts[result];
    a.count.inc();
    a.seconds.observe(seconds);
  }

  /** A pod was bound `seconds` after it entered the queue. */
  scheduled(seconds: number): void {
    this.podDuration.observe(seconds);
  }

  /**
   * Counts the pending pods from `source` (the running scheduler's queue) until the returned
   * function is called; a scheduler started later (a new leader term) takes over.
   */
  countPending(source: () => PendingPods): () => void {
    this.pending = source;
    return () => {
      if (this.pending === source) this.pending = undefined;
    };
  }
}
