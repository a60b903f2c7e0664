/**
 * Pod start latency, as the kubelet measures its startup SLO: from the pod's creation to all its
 * containers running, and to Ready, each observed once per pod when the agent's own status write
 * first shows it. A pod that already showed it when the agent (re)started is not observed again:
 * its start happened before, and counting it now would count the agent's downtime as start time.
 */
import type { KubeletMetrics } from '../../metrics/index.js';
import type { Pod, PodStatus } from '../../model/types.js';

/** The start milestones a pod has reached (or was seen to have reached). */
export interface StartMilestones {
  /** Running, with every app container running. */
  running: boolean;
  /** Condition Ready is True. */
  ready: boolean;
}

/** What a status shows of the milestones. */
export function milestonesOf(status: PodStatus | undefined): StartMilestones {
  const containers = status?.containerStatuses ?? [];
  const running = status?.phase === 'Running' && containers.length > 0 && containers.every((c) => c.state?.running !== undefined);
  const ready = status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;
  return { running, ready };
}

/**
 * Observes the milestones the status of `written` (a pod as the agent just wrote it) shows for
 * the first time (not in `seen`), each as seconds since the pod's creation at `nowMs`, and
 * records them in `seen`.
 */
export function observeStart(metrics: KubeletMetrics, written: Pod, opts: { seen: StartMilestones; nowMs: number }): void {
  const { seen } = opts;
  if (seen.running && seen.ready) return;
  const reached = milestonesOf(written.status);
  const created = Date.parse(written.metadata.creationTimestamp ?? '');
  if (Number.isNaN(created)) return;
  const seconds = (opts.nowMs - created) / 1000;
  if (reached.running && !seen.running) {
    seen.running = true;
    metrics.podRunning(seconds);
  }
  if (reached.ready && !seen.ready) {
    seen.ready = true;
    metrics.podReady(seconds);
  }
}
