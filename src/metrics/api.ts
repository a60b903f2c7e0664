/**
 * The API's metrics, after the Kubernetes API server's: requests by verb, resource and status
 * code, their latency (long-running requests — watches, logs, exec, port-forward — are counted
 * but left out of the latency, as the API server does, and gauged while open instead), and the
 * push webhook's requests. The labels are computed by src/api/request-metrics.ts from the route,
 * never from a raw URL, so their values come from a fixed set.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** What a request is, as the metrics label it. */
export interface RequestLabels {
  /** LIST, GET, WATCH, POST, PUT, PATCH, APPLY, DELETE, DELETECOLLECTION, CONNECT, … */
  verb: string;
  /** A Kubernetes resource (`pods`, `pods/log`), or the route of a gantry or discovery path. */
  resource: string;
}

/** `gantry_apiserver_*` and `gantry_webhook_requests_total`. */
export class ApiMetrics {
  private readonly total: Counter<'verb' | 'resource' | 'code'>;
  private readonly duration: Histogram<'verb' | 'resource'>;
  private readonly longRunning: Gauge<'verb' | 'resource'>;
  private readonly webhook: Counter<'result'>;

  constructor(registry: Registry) {
    this.total = new Counter({
      name: 'gantry_apiserver_request_total',
      help: 'API requests by verb, resource and HTTP status code.',
      labelNames: ['verb', 'resource', 'code'] as const,
      registers: [registry],
    });
    this.duration = new Histogram({
      name: 'gantry_apiserver_request_duration_seconds',
      help: 'API request latency by verb and resource; long-running requests (watch, log, exec, attach, port-forward) are left out.',
      labelNames: ['verb', 'resource'] as const,
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: [registry],
    });
    this.longRunning = new Gauge({
      name: 'gantry_apiserver_longrunning_requests',
      help: 'Long-running API requests open now (watch, log, exec, attach, port-forward), by verb and resource.',
      labelNames: ['verb', 'resource'] as const,
      registers: [registry],
    });
    this.webhook = new Counter({
      name: 'gantry_webhook_requests_total',
      help: 'Webhook requests by result (accepted, ignored, refused, ping).',
      labelNames: ['result'] as const,
      registers: [registry],
    });
  }

  /** A request ended with status `code` after `seconds` (not observed for a long-running one). */
  request(labels: RequestLabels, end: { code: number; seconds: number; longRunning: boolean }): void {
    this.total.inc({ verb: labels.verb, resource: labels.resource, code: String(end.code) });
    if (!end.longRunning) this.duration.observe({ verb: labels.verb, resource: labels.resource }, end.seconds);
  }

  /** A long-running request opened (+1) or closed (-1). */
  open(labels: RequestLabels, delta: 1 | -1): void {
    this.longRunning.inc({ verb: labels.verb, resource: labels.resource }, delta);
  }

  /** A webhook request ended with `result`. */
  webhookRequest(result: 'accepted' | 'ignored' | 'refused' | 'ping'): void {
    this.webhook.inc({ result });
  }
}
