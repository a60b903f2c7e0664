/**
 * The controllers' metrics, named after controller-runtime's and client-go's workqueue's (with
 * gantry's prefix), so dashboards and alerts written for a Kubernetes controller manager read
 * them unchanged: reconciles by result per controller, and per queue its depth, adds, time
 * waiting, time in work and retries. Labels are controller and queue names: a fixed set.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

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
  private readonly total: Counter<'controller' | 'result'>;
  private readonly errors: Counter<'controller'>;

  constructor(registry: Registry) {
    this.total = new Counter({
      name: 'gantry_controller_runtime_reconcile_total',
      help: 'Reconciles per controller by result: success, error (stalled or retried with backoff), requeue (asked to run again later, or waiting for something).',
      labelNames: ['controller', 'result'] as const,
      registers: [registry],
    });
    this.errors = new Counter({
      name: 'gantry_controller_runtime_reconcile_errors_total',
      help: 'Reconciles per controller that ended in an error.',
      labelNames: ['controller'] as const,
      registers: [registry],
    });
  }

  /** The observer of controller `name`. Label sets are built once here, not per reconcile. */
  forController(name: string): ReconcileObserver {
    const labels = {
      success: { controller: name, result: 'success' },
      error: { controller: name, result: 'error' },
      requeue: { controller: name, result: 'requeue' },
    } as const;
    const own = { controller: name };
    // Every controller shows all three results from the start, so a rate over them is never absent.
    for (const l of Object.values(labels)) this.total.inc(l, 0);
    this.errors.inc(own, 0);
    return {
      reconciled: (result) => {
        this.total.inc(labels[result]);
        if (result === 'error') this.errors.inc(own);
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
  private readonly adds: Counter<'name'>;
  private readonly retries: Counter<'name'>;
  private readonly queueDuration: Histogram<'name'>;
  private readonly workDuration: Histogram<'name'>;

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
    this.adds = new Counter({ name: 'gantry_workqueue_adds_total', help: 'Keys added to each work queue.', labelNames: ['name'] as const, registers: [registry] });
    this.retries = new Counter({ name: 'gantry_workqueue_retries_total', help: 'Keys put back in each work queue after a failure.', labelNames: ['name'] as const, registers: [registry] });
    this.queueDuration = new Histogram({
      name: 'gantry_workqueue_queue_duration_seconds',
      help: 'How long a key waits in the queue before a worker takes it.',
      labelNames: ['name'] as const,
      buckets: QUEUE_BUCKETS,
      registers: [registry],
    });
    this.workDuration = new Histogram({
      name: 'gantry_workqueue_work_duration_seconds',
      help: 'How long a worker takes over a key (one reconcile).',
      labelNames: ['name'] as const,
      buckets: QUEUE_BUCKETS,
      registers: [registry],
    });
  }

  /**
   * The observer of the queue `name`, whose depth is read from `depth` at each scrape. A later
   * queue of the same name (a controller manager of a new leader term) takes the name over.
   */
  forQueue(name: string, depth: () => number): QueueObserver {
    this.depths.set(name, depth);
    const labels = { name };
    this.adds.inc(labels, 0);
    this.retries.inc(labels, 0);
    return {
      added: () => this.adds.inc(labels),
      retried: () => this.retries.inc(labels),
      waited: (s) => this.queueDuration.observe(labels, s),
      worked: (s) => this.workDuration.observe(labels, s),
    };
  }
}
