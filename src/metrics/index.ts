/**
 * Prometheus metrics (prom-client): one {@link Metrics} per process, holding the registry that
 * `GET /metrics` (or, in `gantry agent`, the --metrics-listen address) exposes. Each part's
 * families are registered on first use, so a process exposes only the parts it runs: the
 * control plane its controllers, scheduler, sync, audit and API; an agent its node.
 *
 * This folder is a leaf: every stage may import it, it imports none of them. Naming follows
 * Prometheus' conventions (a `gantry_` prefix, `_total` counters, `_seconds` histograms) and,
 * where a Kubernetes component has the same measure, that component's name and labels. No label
 * takes a pod, node, object name or raw path: every label's values come from a fixed set.
 */
import { collectDefaultMetrics, Registry } from 'prom-client';
import { ApiMetrics } from './api.js';
import { AuditMetrics } from './audit.js';
import { ControllerMetrics, WorkqueueMetrics } from './controllers.js';
import { KubeletMetrics } from './kubelet.js';
import { SchedulerMetrics } from './scheduler.js';
import { SyncMetrics } from './sync.js';

export { ApiMetrics, type RequestLabels } from './api.js';
export { AuditMetrics } from './audit.js';
export { ControllerMetrics, WorkqueueMetrics, type QueueObserver, type ReconcileObserver, type ReconcileResult } from './controllers.js';
export { KubeletMetrics } from './kubelet.js';
export { SchedulerMetrics, type PendingPods, type ScheduleResult } from './scheduler.js';
export { SyncMetrics, type InForce } from './sync.js';

/** Options for {@link Metrics}. */
export interface MetricsOptions {
  /** Also export the process's own metrics (CPU, memory, event loop lag, GC): for a real process, not for tests. */
  processMetrics?: boolean;
}

/** The metrics of one process. Tests make one each, so several servers can run side by side. */
export class Metrics {
  readonly registry = new Registry();
  private apiPart?: ApiMetrics;
  private auditPart?: AuditMetrics;
  private controllersPart?: ControllerMetrics;
  private workqueuePart?: WorkqueueMetrics;
  private kubeletPart?: KubeletMetrics;
  private schedulerPart?: SchedulerMetrics;
  private syncPart?: SyncMetrics;

  constructor(opts: MetricsOptions = {}) {
    if (opts.processMetrics) collectDefaultMetrics({ register: this.registry });
  }

  /** API requests and the push webhook. */
  get api(): ApiMetrics {
    return (this.apiPart ??= new ApiMetrics(this.registry));
  }

  /** The audit trail's lag, queue and commits. */
  get audit(): AuditMetrics {
    return (this.auditPart ??= new AuditMetrics(this.registry));
  }

  /** Reconciles per controller. */
  get controllers(): ControllerMetrics {
    return (this.controllersPart ??= new ControllerMetrics(this.registry));
  }

  /** Work queues (the controllers' and the node agent's). */
  get workqueue(): WorkqueueMetrics {
    return (this.workqueuePart ??= new WorkqueueMetrics(this.registry));
  }

  /** The node agent: pod start latency, restarts, image pulls. */
  get kubelet(): KubeletMetrics {
    return (this.kubeletPart ??= new KubeletMetrics(this.registry));
  }

  /** The scheduler. */
  get scheduler(): SchedulerMetrics {
    return (this.schedulerPart ??= new SchedulerMetrics(this.registry));
  }

  /** Sync passes, the revision in force and Git fetches. */
  get sync(): SyncMetrics {
    return (this.syncPart ??= new SyncMetrics(this.registry));
  }

  /** The exposition text. */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  /** The exposition's content type. */
  get contentType(): string {
    return this.registry.contentType;
  }
}
