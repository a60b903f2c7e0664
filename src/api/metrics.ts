/**
 * Prometheus metrics (prom-client), one registry per process so tests can run several servers.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The metrics gantry exports on /metrics. */
export class Metrics {
  readonly registry = new Registry();
  readonly webhookRequests = new Counter({
    name: 'gantry_webhook_requests_total',
    help: 'Webhook requests by result (accepted, ignored, refused, ping).',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly syncs = new Counter({
    name: 'gantry_sync_total',
    help: 'Sync passes by outcome (applied, unchanged, rejected, failed).',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly syncDuration = new Histogram({
    name: 'gantry_sync_duration_seconds',
    help: 'Duration of a sync pass.',
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10],
    registers: [this.registry],
  });
  readonly objects = new Gauge({
    name: 'gantry_desired_objects',
    help: 'Objects declared by the revision in force.',
    registers: [this.registry],
  });

  constructor(opts: { processMetrics?: boolean } = {}) {
    if (opts.processMetrics) collectDefaultMetrics({ register: this.registry });
  }

  /** The exposition text. */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  /** The registry's content type. */
  get contentType(): string {
    return this.registry.contentType;
  }
}
