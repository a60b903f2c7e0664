/**
 * The node agent's metrics, after the kubelet's: how long pods take from creation to running
 * and to ready (the pod startup SLO's measure), container restarts, and image pulls. They live in
 * whatever process runs the agent: `gantry up` serves them on the API's /metrics, `gantry agent`
 * on its own --metrics-listen address.
 */
import { Counter, Histogram, type Registry } from 'prom-client';

/** Round numbers around the 5 s startup SLO, up to an hour (as the kubelet's buckets). */
const POD_START_BUCKETS = [0.5, 1, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 45, 60, 120, 300, 600, 1800, 3600];
const PULL_BUCKETS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];

/**
 * Why a container ended before its restart, as its terminated state says. Anything else counts
 * as `Other`: the label takes only these values.
 */
export const RESTART_REASONS = ['Completed', 'Error', 'OOMKilled', 'StartError', 'ContainerStatusUnknown', 'Other'] as const;

/** `gantry_kubelet_*`. */
export class KubeletMetrics {
  private readonly running: Histogram;
  private readonly ready: Histogram;
  private readonly restarts: Counter<'reason'>;
  private readonly pulls: Counter<'result'>;
  private readonly pullDuration: Histogram;

  constructor(registry: Registry) {
    this.running = new Histogram({
      name: 'gantry_kubelet_pod_start_total_duration_seconds',
      help: 'Seconds from a pod\'s creation to all its containers running on this node, image pulls and init containers included (creation times have whole seconds).',
      buckets: POD_START_BUCKETS,
      registers: [registry],
    });
    this.ready = new Histogram({
      name: 'gantry_kubelet_pod_ready_duration_seconds',
      help: 'Seconds from a pod\'s creation to its Ready condition first becoming True on this node (creation times have whole seconds).',
      buckets: POD_START_BUCKETS,
      registers: [registry],
    });
    this.restarts = new Counter({
      name: 'gantry_kubelet_container_restarts_total',
      help: 'Containers restarted on this node, by the reason their previous instance ended (Completed, Error, OOMKilled, StartError, ContainerStatusUnknown, Other).',
      labelNames: ['reason'] as const,
      registers: [registry],
    });
    this.pulls = new Counter({
      name: 'gantry_kubelet_image_pulls_total',
      help: 'Image pulls from a registry by result (success, failure); images already present are not pulled.',
      labelNames: ['result'] as const,
      registers: [registry],
    });
    this.pulls.inc({ result: 'success' }, 0);
    this.pulls.inc({ result: 'failure' }, 0);
    this.pullDuration = new Histogram({
      name: 'gantry_kubelet_image_pull_duration_seconds',
      help: 'Seconds a successful image pull took (manifest, layers and unpacking).',
      buckets: PULL_BUCKETS,
      registers: [registry],
    });
  }

  /** A pod's containers all run, `seconds` after its creation. */
  podRunning(seconds: number): void {
    this.running.observe(Math.max(0, seconds));
  }

  /** A pod became Ready, `seconds` after its creation. */
  podReady(seconds: number): void {
    this.ready.observe(Math.max(0, seconds));
  }

  /** A container is started again; `reason` is why its previous instance ended. */
  containerRestarted(reason: string | undefined): void {
    const known = (RESTART_REASONS as readonly string[]).includes(reason ?? '') ? reason! : 'Other';
    this.restarts.inc({ reason: known });
  }

  /** A pull succeeded after `seconds`. */
  imagePulled(seconds: number): void {
    this.pulls.inc({ result: 'success' });
    this.pullDuration.observe(seconds);
  }

  /** A pull failed. */
  imagePullFailed(): void {
    this.pulls.inc({ result: 'failure' });
  }
}
