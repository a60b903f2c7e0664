/**
 * The controllers' metrics, named after controller-runtime's and client-go's workqueue's (with
 * gantry's prefix), so dashboards and alerts written for a Kubernetes controller manager read
 * them unchanged: reconciles by result per controller, and per queue its depth, adds, time
 * waiting, time in work and retries. Labels are controller and queue names: a fixed set. They
 * are counted on every key and every reconcile, so with the hot-path families of ./hot.ts.
 */
import { Gauge, type Registry } from 'prom-client';
import { HotCounter, HotHistogram } from './hot.js';

/** Time in a work queue or in a reconcile: 100 µs to a minute. */
const QUEUE_BUCKETS = [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60];

/** What one reconcile came to, as controller-runtime counts it. */
export type ReconcileResult = 'success' | 'error' | 'requeue';

/** Counts one controller's reconciles. */
export interface ReconcileObserver {
  /** A reconcile ended; `error` also counts in the errors total. */
  reconciled(result: ReconcileResult): void;
}

/** `gantry_controller_runtime_reconcile_total` and `…_errors_total`. */
export class ControllerMetrics {
  private readonly total: HotCounter;
  private readonly errors: HotCounter;

  constructor(registry: Registry) {
    this.total = new HotCounter(registry, {
      name: 'gantry_controller_runtime_reconcile_total',
      help: 'Reconciles per controller by result: success, error (stalled or retried with backoff), requeue (asked to run again later, or waiting for something).',
    });
    this.errors = new HotCounter(registry, {
      name: 'gantry_controller_runtime_reconcile_errors_total',
      help: 'Reconciles per controller that ended in an error.',
    });
  }

  /** The observer of controller `name`; every result shows (at 0) from now on, so a rate over them is never absent. */
  forController(name: string): ReconcileObserver {
    const results = {
      success: this.total.child({ controller: name, result: 'success' }),
      error: this.total.child({ controller: name, result: 'error' }),
      requeue: this.total.child({ controller: name, result: 'requeue' }),
    };
    const errors = this.errors.child({ controller: name });
    return {
      reconciled: (result) => {
        results[result].inc();
        if (result === 'error') errors.inc();
      },
    };
  }
}

/** What a work queue reports (client-go's queue metrics); all times in seconds. */
export interface QueueObserver {
  /** A key went into the queue (an add of a key already waiting is no add). */
  added(): void;
  /** A key was put back after a failure (rate-limited). */
  retried(): void;
  /** A key was handed to a worker after waiting this long since it was added. */
  waited(seconds: number): void;
  /** A worker finished with a key after this long. */
  worked(seconds: number): void;
}

/** `gantry_workqueue_*{name}`: one series per queue. */
export class WorkqueueMetrics {
  private readonly depths = new Map<string, () => number>();
  private readonly adds: HotCounter;
  private readonly retries: HotCounter;
  private readonly queueDuration: HotHistogram;
  private readonly workDuration: HotHistogram;

  constructor(registry: Registry) {
    const depths = this.depths;
    new Gauge({
      name: 'gantry_workqueue_depth',
      help: 'Keys waiting in each work queue.',
      labelNames: ['name'] as const,
      registers: [registry],
      // Read at scrape time: the queues pay nothing for it.
      collect() {
        this.reset();
        for (const [name, depth] of depths) this.set({ name }, depth());
      },
    });
    this.adds = new HotCounter(registry, { name: 'gantry_workqueue_adds_total', help: 'Keys added to each work queue.' });
    this.retries = new HotCounter(registry, { name: 'gantry_workqueue_retries_total', help: 'Keys put back in each work queue after a failure.' });
    this.queueDuration = new HotHistogram(registry, {
      name: 'gantry_workqueue_queue_duration_seconds',
      help: 'How long a key waits in the queue before a worker takes it.',
      buckets: QUEUE_BUCKETS,
    });
    this.workDuration = new HotHistogram(registry, {
      name: 'gantry_workqueue_work_duration_seconds',
      help: 'How long a worker takes over a key (one reconcile).',
      buckets: QUEUE_BUCKETS,
    });
  }

  /**
   * The observer of the queue `name`, whose depth is read from `depth` at each scrape. A later
   * queue of the same name (a controller manager of a new leader term) takes the name over.
   */
  forQueue(name: string, depth: () => number): QueueObserver {
    this.depths.set(name, depth);
    const labels = { name };
    const adds = this.adds.child(labels);
    const retries = this.retries.child(labels);
    const waited = this.queueDuration.child(labels);
    const worked = this.workDuration.child(labels);
    return {
      added: () => adds.inc(),
      retried: () => retries.inc(),
      waited: (s) => waited.observe(s),
      worked: (s) => worked.observe(s),
    };
  }
}
