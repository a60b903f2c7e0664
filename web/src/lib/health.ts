/**
 * The dashboard's display health of an object, read from its status alone (Argo CD's health
 * words: Healthy, Progressing, Degraded, Suspended, Unknown).
 *
 * This is the dashboard's own, deliberately small reading: everything the views need goes
 * through {@link healthOf}, so that a shared health module (the one `gantry status` will use)
 * can replace this file without touching a view. Pure: no DOM, no I/O.
 */
import { podStatus } from '../../../src/model/columns.js';
import type {
  Condition, CronJob, DaemonSet, Deployment, Job, KubeObject, Node, Pod, ReplicaSet, StatefulSet,
} from '../../../src/model/types.js';

/** How an object is doing. */
export type HealthStatus = 'Healthy' | 'Progressing' | 'Degraded' | 'Suspended' | 'Unknown';

/** An object's health and a short reason a person can read ("1/2 ready", "CrashLoopBackOff"). */
export interface Health {
  status: HealthStatus;
  message: string;
}

/** Waiting reasons that do not clear by themselves: the pod is broken until something changes. */
const BAD_WAITING = new Set([
  'CrashLoopBackOff', 'ImagePullBackOff', 'ErrImagePull', 'InvalidImageName', 'CreateContainerConfigError',
  'CreateContainerError', 'RunContainerError', 'ErrImageNeverPull',
]);

/** Worst first: the order a group of objects reports its health in. */
const SEVERITY: Record<HealthStatus, number> = { Degraded: 0, Progressing: 1, Unknown: 2, Suspended: 3, Healthy: 4 };

/** The worse of several healths (Healthy for none). */
export function worstHealth(list: readonly HealthStatus[]): HealthStatus {
  let worst: HealthStatus = 'Healthy';
  for (const h of list) if (SEVERITY[h] < SEVERITY[worst]) worst = h;
  return worst;
}

function condition(conds: Condition[] | undefined, type: string): Condition | undefined {
  return conds?.find((c) => c.type === type);
}

function generationSeen(obj: KubeObject & { status?: { observedGeneration?: number } }): boolean {
  const gen = obj.metadata.generation;
  const seen = obj.status?.observedGeneration;
  return gen === undefined || seen === undefined || seen >= gen;
}

/** Pods: a waiting reason that needs a fix is Degraded; not yet ready is Progressing. */
export function podHealth(pod: Pod): Health {
  const text = podStatus(pod);
  if (pod.metadata.deletionTimestamp) return { status: 'Progressing', message: 'Terminating' };
  const phase = pod.status?.phase ?? 'Pending';
  const statuses = [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])];
  const stuck = statuses.find((cs) => cs.state.waiting?.reason && BAD_WAITING.has(cs.state.waiting.reason));
  if (stuck) return { status: 'Degraded', message: stuck.state.waiting!.message ? `${stuck.state.waiting!.reason}: ${stuck.state.waiting!.message}` : stuck.state.waiting!.reason! };
  if (phase === 'Succeeded') return { status: 'Healthy', message: 'Completed' };
  if (phase === 'Failed') return { status: 'Degraded', message: pod.status?.message ?? text };
  if (phase === 'Unknown') return { status: 'Unknown', message: pod.status?.message ?? 'Unknown' };
  if (phase === 'Pending') {
    const scheduled = condition(pod.status?.conditions, 'PodScheduled');
    if (scheduled?.status === 'False' && scheduled.reason === 'Unschedulable') return { status: 'Degraded', message: scheduled.message ?? 'Unschedulable' };
    return { status: 'Progressing', message: text };
  }
  const ready = condition(pod.status?.conditions, 'Ready')?.status === 'True';
  if (ready) return { status: 'Healthy', message: text };
  // Running but not ready: a container that keeps restarting says more than "not ready".
  const restarts = statuses.reduce((n, cs) => n + (cs.restartCount ?? 0), 0);
  return { status: 'Progressing', message: restarts > 0 ? `not ready (${restarts} restart${restarts === 1 ? '' : 's'})` : 'not ready' };
}

/** Deployments: up to date, ready and available at the desired count, or on the way there. */
export function deploymentHealth(d: Deployment): Health {
  const want = d.spec.replicas ?? 1;
  const st = d.status ?? {};
  const updated = st.updatedReplicas ?? 0;
  const available = st.availableReplicas ?? 0;
  const total = st.replicas ?? 0;
  const counts = `${st.readyReplicas ?? 0}/${want} ready`;
  if (d.spec.paused) return { status: 'Suspended', message: `paused, ${counts}` };
  const progressing = condition(st.conditions, 'Progressing');
  if (progressing?.status === 'False' && progressing.reason === 'ProgressDeadlineExceeded') {
    return { status: 'Degraded', message: progressing.message ?? 'progress deadline exceeded' };
  }
  if (!generationSeen(d)) return { status: 'Progressing', message: 'waiting for the controller to see the change' };
  if (updated < want) return { status: 'Progressing', message: `rolling out: ${updated}/${want} updated, ${counts}` };
  if (total > updated) return { status: 'Progressing', message: `rolling out: ${total - updated} old replica${total - updated === 1 ? '' : 's'} to remove` };
  if (available < want) return { status: 'Progressing', message: `${available}/${want} available` };
  return { status: 'Healthy', message: counts };
}

/** ReplicaSets: ready at their desired count. */
export function replicaSetHealth(rs: ReplicaSet): Health {
  const want = rs.spec.replicas ?? 1;
  const ready = rs.status?.readyReplicas ?? 0;
  const message = `${ready}/${want} ready`;
  if (!generationSeen(rs)) return { status: 'Progressing', message };
  if (ready < want || (rs.status?.replicas ?? 0) > want) return { status: 'Progressing', message };
  return { status: 'Healthy', message };
}

/** StatefulSets: ready and updated at the desired count. */
export function statefulSetHealth(s: StatefulSet): Health {
  const want = s.spec.replicas ?? 1;
  const ready = s.status?.readyReplicas ?? 0;
  const message = `${ready}/${want} ready`;
  if (!generationSeen(s)) return { status: 'Progressing', message };
  if (ready < want) return { status: 'Progressing', message };
  if (s.status?.updateRevision && s.status.currentRevision && s.status.updateRevision !== s.status.currentRevision) {
    return { status: 'Progressing', message: `rolling out: ${s.status.updatedReplicas ?? 0}/${want} updated` };
  }
  return { status: 'Healthy', message };
}

/** DaemonSets: one ready, up-to-date pod on every node that should run one. */
export function daemonSetHealth(d: DaemonSet): Health {
  const st = d.status ?? {};
  const want = st.desiredNumberScheduled ?? 0;
  const message = `${st.numberReady ?? 0}/${want} ready`;
  if (!generationSeen(d)) return { status: 'Progressing', message };
  if ((st.updatedNumberScheduled ?? 0) < want || (st.numberReady ?? 0) < want) return { status: 'Progressing', message };
  return { status: 'Healthy', message };
}

/** Jobs: Complete is Healthy, Failed is Degraded, suspended is Suspended, else running. */
export function jobHealth(j: Job): Health {
  const conds = j.status?.conditions;
  const failed = condition(conds, 'Failed');
  if (failed?.status === 'True') return { status: 'Degraded', message: failed.message ?? failed.reason ?? 'failed' };
  if (condition(conds, 'Complete')?.status === 'True') return { status: 'Healthy', message: 'complete' };
  if (j.spec.suspend) return { status: 'Suspended', message: 'suspended' };
  const done = j.status?.succeeded ?? 0;
  return { status: 'Progressing', message: `${done}/${j.spec.completions ?? 1} done, ${j.status?.active ?? 0} running` };
}

/** CronJobs: suspended or scheduling; the health of each run is its Job's. */
export function cronJobHealth(c: CronJob): Health {
  if (c.spec.suspend) return { status: 'Suspended', message: 'suspended' };
  const last = c.status?.lastScheduleTime;
  return { status: 'Healthy', message: `${c.spec.schedule}${last ? `, last run ${last}` : ', not run yet'}` };
}

/** Nodes: Ready and schedulable. */
export function nodeHealth(n: Node): Health {
  const ready = condition(n.status?.conditions, 'Ready');
  if (ready?.status !== 'True') return { status: ready ? 'Degraded' : 'Unknown', message: ready?.message ?? 'NotReady' };
  if (n.spec.unschedulable) return { status: 'Suspended', message: 'Ready, SchedulingDisabled' };
  return { status: 'Healthy', message: 'Ready' };
}

/**
 * The display health of any object. Kinds without a status of their own (ConfigMap, Secret,
 * Service, Ingress, …) are Healthy once they exist.
 */
export function healthOf(obj: KubeObject): Health {
  switch (obj.kind) {
    case 'Pod': return podHealth(obj as Pod);
    case 'Deployment': return deploymentHealth(obj as Deployment);
    case 'ReplicaSet': return replicaSetHealth(obj as ReplicaSet);
    // The older ReplicaSet: the same status.
    case 'ReplicationController': return replicaSetHealth(obj as unknown as ReplicaSet);
    case 'StatefulSet': return statefulSetHealth(obj as StatefulSet);
    case 'DaemonSet': return daemonSetHealth(obj as DaemonSet);
    case 'Job': return jobHealth(obj as Job);
    case 'CronJob': return cronJobHealth(obj as CronJob);
    case 'Node': return nodeHealth(obj as Node);
    default: return { status: 'Healthy', message: '' };
  }
}
