/**
 * Health per kind, following Argo CD's checks for Kubernetes kinds (gitops-engine
 * `pkg/health`): a Deployment past its progress deadline is Degraded, a rollout under way is
 * Progressing, a paused Deployment or suspended Job/CronJob is Suspended, a failed Job is
 * Degraded, a Service of type LoadBalancer or an Ingress without an address is Progressing.
 *
 * Beyond Argo CD's workload checks, a workload that is not healthy looks at its pods, so the
 * reason names the pod and what is wrong with it: a container in CrashLoopBackOff or
 * ImagePullBackOff/ErrImagePull makes the workload Degraded at once; a pod the scheduler cannot
 * place keeps it Progressing with the scheduler's message (Degraded once the Deployment's
 * progress deadline passes, as Kubernetes itself reports it). "0 of 4 pods running" is never
 * Healthy.
 *
 * Pure: callers pass the object and the pods and ReplicaSets around it ({@link Related}).
 */
import type {
  Condition, ContainerStatus, CronJob, DaemonSet, Deployment, HorizontalPodAutoscaler, Ingress, Job, KubeObject, Pod, ReplicaSet, Service, StatefulSet,
} from '../model/types.js';
import type { Health } from './types.js';

/** The objects a workload's health depends on, looked up by owner uid. */
export interface Related {
  /** Objects of `kind` whose controlling owner has `uid`. */
  ownedBy(kind: 'Pod' | 'ReplicaSet' | 'Job', uid: string | undefined): readonly KubeObject[];
  /** The time to judge by (ms since the epoch): "restarted a moment ago" depends on it. */
  now: number;
}

/** A {@link Related} over lists of objects. */
export function relatedFrom(objects: Iterable<KubeObject>, now = Date.now()): Related {
  const index = new Map<string, KubeObject[]>();
  for (const o of objects) {
    if (o.kind !== 'Pod' && o.kind !== 'ReplicaSet' && o.kind !== 'Job') continue;
    const owner = o.metadata.ownerReferences?.find((r) => r.controller);
    if (!owner) continue;
    const key = `${o.kind}/${owner.uid}`;
    const list = index.get(key);
    if (list) list.push(o);
    else index.set(key, [o]);
  }
  return { ownedBy: (kind, uid) => (uid ? index.get(`${kind}/${uid}`) ?? [] : []), now };
}

const healthy = (message?: string): Health => (message ? { status: 'Healthy', message } : { status: 'Healthy' });
const progressing = (reason: string, message: string): Health => ({ status: 'Progressing', reason, message });
const degraded = (reason: string, message: string): Health => ({ status: 'Degraded', reason, message });

/** The health of one object, or undefined for kinds without a health check (config, RBAC-like objects). */
export function objectHealth(obj: KubeObject, related: Related): Health | undefined {
  switch (obj.kind) {
    case 'Deployment': return deploymentHealth(obj as Deployment, related);
    case 'ReplicaSet': return withPods(replicaSetHealth(obj as ReplicaSet), related.ownedBy('Pod', obj.metadata.uid), related);
    // The older ReplicaSet: the same status, the same check.
    case 'ReplicationController': return withPods(replicaSetHealth(obj as unknown as ReplicaSet), related.ownedBy('Pod', obj.metadata.uid), related);
    case 'StatefulSet': return withPods(statefulSetHealth(obj as StatefulSet), related.ownedBy('Pod', obj.metadata.uid), related);
    case 'DaemonSet': return withPods(daemonSetHealth(obj as DaemonSet), related.ownedBy('Pod', obj.metadata.uid), related);
    case 'Job': return withPods(jobHealth(obj as Job), related.ownedBy('Pod', obj.metadata.uid), related, { escalate: false });
    case 'CronJob': return cronJobHealth(obj as CronJob, related);
    case 'Pod': return podHealth(obj as Pod, related.now);
    case 'Service': return serviceHealth(obj as Service);
    case 'Ingress': return ingressHealth(obj as Ingress);
    case 'HorizontalPodAutoscaler': return autoscalerHealth(obj as HorizontalPodAutoscaler);
    default: return undefined;
  }
}

function condition(conditions: readonly Condition[] | undefined, type: string): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

function observed(obj: KubeObject & { status?: { observedGeneration?: number } }): boolean {
  return (obj.metadata.generation ?? 0) <= (obj.status?.observedGeneration ?? 0);
}

/** Argo CD's Deployment check, then the pods of its ReplicaSets when it is not healthy. */
export function deploymentHealth(d: Deployment, related: Related): Health {
  const pods = related.ownedBy('ReplicaSet', d.metadata.uid).flatMap((rs) => related.ownedBy('Pod', rs.metadata.uid));
  if (d.spec.paused) return { status: 'Suspended', reason: 'Paused', message: `Deployment "${d.metadata.name}" is paused` };
  const st = d.status ?? {};
  const want = d.spec.replicas ?? 1;
  if (!observed(d)) {
    return withPods(progressing('RolloutPending', 'Waiting for rollout to finish: observed deployment generation less than desired generation'), pods, related);
  }
  const cond = condition(st.conditions, 'Progressing');
  if (cond?.reason === 'ProgressDeadlineExceeded') {
    const h = degraded('ProgressDeadlineExceeded', `Deployment "${d.metadata.name}" exceeded its progress deadline (${d.spec.progressDeadlineSeconds ?? 600}s)`);
    const why = worstPod(pods, related.now);
    return why ? { ...h, message: `${h.message}; ${why.message}` } : h;
  }
  let h: Health;
  if ((st.updatedReplicas ?? 0) < want) {
    h = progressing('RolloutInProgress', `Waiting for rollout to finish: ${st.updatedReplicas ?? 0} out of ${want} new replicas have been updated`);
  } else if ((st.replicas ?? 0) > (st.updatedReplicas ?? 0)) {
    h = progressing('RolloutInProgress', `Waiting for rollout to finish: ${(st.replicas ?? 0) - (st.updatedReplicas ?? 0)} old replicas are pending termination`);
  } else if ((st.availableReplicas ?? 0) < (st.updatedReplicas ?? 0)) {
    h = progressing('RolloutInProgress', `Waiting for rollout to finish: ${st.availableReplicas ?? 0} of ${st.updatedReplicas ?? 0} updated replicas are available`);
  } else {
    h = healthy(`${st.availableReplicas ?? 0}/${want} replicas available`);
  }
  return withPods(h, pods, related);
}

/** Argo CD's ReplicaSet check. */
export function replicaSetHealth(rs: ReplicaSet): Health {
  if (!observed(rs)) return progressing('RolloutPending', 'Waiting for rollout to finish: observed replica set generation less than desired generation');
  const failure = condition(rs.status?.conditions, 'ReplicaFailure');
  if (failure?.status === 'True') return degraded(failure.reason ?? 'ReplicaFailure', failure.message ?? 'replica failure');
  const want = rs.spec.replicas ?? 1;
  const available = rs.status?.availableReplicas ?? 0;
  if (available < want) return progressing('PodsNotAvailable', `Waiting for rollout to finish: ${available} out of ${want} new replicas are available`);
  return healthy();
}

/** Argo CD's StatefulSet check. */
export function statefulSetHealth(s: StatefulSet): Health {
  const st = s.status ?? {};
  if (!observed(s) || st.observedGeneration === undefined) {
    return progressing('RolloutPending', 'Waiting for statefulset spec update to be observed');
  }
  const want = s.spec.replicas ?? 1;
  if ((st.readyReplicas ?? 0) < want) return progressing('PodsNotReady', `Waiting for ${want - (st.readyReplicas ?? 0)} pods to be ready`);
  const strategy = s.spec.updateStrategy ?? {};
  const partition = strategy.rollingUpdate?.partition;
  if ((strategy.type ?? 'RollingUpdate') === 'RollingUpdate' && partition !== undefined && partition > 0) {
    const target = Math.max(0, want - partition);
    if ((st.updatedReplicas ?? 0) < target) {
      return progressing('RolloutInProgress', `Waiting for partitioned roll out to finish: ${st.updatedReplicas ?? 0} out of ${target} new pods have been updated`);
    }
    return healthy(`partitioned roll out complete: ${st.updatedReplicas ?? 0} new pods have been updated`);
  }
  if (strategy.type === 'OnDelete') return healthy(`statefulset has ${st.readyReplicas ?? 0} ready pods`);
  if (st.updateRevision && st.currentRevision !== st.updateRevision) {
    return progressing('RolloutInProgress', `waiting for statefulset rolling update to complete ${st.updatedReplicas ?? 0} pods at revision ${st.updateRevision}`);
  }
  return healthy(`${st.readyReplicas ?? 0}/${want} pods ready`);
}

/** Argo CD's DaemonSet check. */
export function daemonSetHealth(d: DaemonSet): Health {
  const st = d.status ?? {};
  if (!observed(d)) return progressing('RolloutPending', 'Waiting for rollout to finish: observed daemon set generation less than desired generation');
  const want = st.desiredNumberScheduled ?? 0;
  if (d.spec.updateStrategy?.type === 'OnDelete') return healthy(`${st.updatedNumberScheduled ?? 0} out of ${want} new pods have been updated`);
  if ((st.updatedNumberScheduled ?? 0) < want) {
    return progressing('RolloutInProgress', `Waiting for daemon set "${d.metadata.name}" rollout to finish: ${st.updatedNumberScheduled ?? 0} out of ${want} new pods have been updated`);
  }
  if ((st.numberAvailable ?? 0) < want) {
    return progressing('PodsNotAvailable', `Waiting for daemon set "${d.metadata.name}" rollout to finish: ${st.numberAvailable ?? 0} of ${want} updated pods are available`);
  }
  return healthy(`${st.numberAvailable ?? 0}/${want} pods available`);
}

/** Argo CD's Job check: Failed is Degraded, Complete Healthy, suspended Suspended, else Progressing. */
export function jobHealth(j: Job): Health {
  const conds = j.status?.conditions ?? [];
  const failed = conds.find((c) => c.type === 'Failed' && c.status === 'True');
  if (failed) return degraded(failed.reason ?? 'JobFailed', `Job "${j.metadata.name}" failed${failed.message ? `: ${failed.message}` : ''}`);
  if (conds.some((c) => c.type === 'Complete' && c.status === 'True')) return healthy(`Job "${j.metadata.name}" completed`);
  if (j.spec.suspend) return { status: 'Suspended', reason: 'Suspended', message: `Job "${j.metadata.name}" is suspended` };
  return progressing('JobRunning', `Job "${j.metadata.name}": ${j.status?.active ?? 0} active, ${j.status?.succeeded ?? 0} of ${j.spec.completions ?? 1} succeeded, ${j.status?.failed ?? 0} failed`);
}

/** A CronJob: Suspended when suspended, Degraded when its most recent Job failed, else Healthy. */
export function cronJobHealth(c: CronJob, related: Related): Health {
  if (c.spec.suspend) return { status: 'Suspended', reason: 'Suspended', message: `CronJob "${c.metadata.name}" is suspended` };
  const jobs = [...related.ownedBy('Job', c.metadata.uid)] as Job[];
  jobs.sort((a, b) => (a.metadata.creationTimestamp ?? '').localeCompare(b.metadata.creationTimestamp ?? ''));
  const last = jobs[jobs.length - 1];
  if (last) {
    const h = jobHealth(last);
    if (h.status === 'Degraded') return degraded(h.reason ?? 'JobFailed', `last run ${h.message}`);
  }
  return healthy();
}

/** Container waiting reasons that mean something is wrong, not merely slow (Argo CD: Err*, *Error, *BackOff). */
function isErrorReason(reason: string | undefined): boolean {
  return !!reason && (reason.startsWith('Err') || reason.endsWith('Error') || reason.endsWith('BackOff') || reason === 'InvalidImageName');
}

function statuses(p: Pod): ContainerStatus[] {
  return [...(p.status?.initContainerStatuses ?? []), ...(p.status?.containerStatuses ?? [])];
}

/** Argo CD's Pod check, with reasons that name the container. */
export function podHealth(p: Pod, now = Date.now()): Health {
  const name = p.metadata.name;
  if (p.metadata.deletionTimestamp) return progressing('Terminating', `pod ${name} is terminating`);
  for (const c of statuses(p)) {
    const w = c.state?.waiting;
    if (w && isErrorReason(w.reason)) {
      return degraded(w.reason!, `pod ${name}: container ${c.name} is waiting: ${w.reason}${w.message ? ` (${w.message})` : ''}${restarts(c)}`);
    }
  }
  const phase = p.status?.phase ?? 'Pending';
  switch (phase) {
    case 'Succeeded':
      return healthy(`pod ${name} completed`);
    case 'Failed':
      return degraded(p.status?.reason ?? 'PodFailed', `pod ${name} failed${p.status?.message ? `: ${p.status.message}` : terminatedText(p)}`);
    case 'Unknown':
      return { status: 'Unknown', reason: p.status?.reason ?? 'NodeLost', message: `pod ${name}: ${p.status?.message ?? 'its node stopped reporting'}` };
    case 'Pending': {
      const sched = condition(p.status?.conditions, 'PodScheduled');
      if (sched?.status === 'False') {
        return progressing(sched.reason ?? 'Unschedulable', `pod ${name} cannot be scheduled: ${sched.message ?? sched.reason ?? 'no node fits'}`);
      }
      const waiting = statuses(p).find((c) => c.state?.waiting?.reason)?.state.waiting;
      return progressing(waiting?.reason ?? 'Pending', `pod ${name} is pending${waiting?.reason ? ` (${waiting.reason})` : ''}`);
    }
    default: {
      const ready = condition(p.status?.conditions, 'Ready')?.status === 'True';
      const restartPolicy = p.spec.restartPolicy ?? 'Always';
      // Ready for a moment between two crashes (a crash-looping container without a readiness
      // probe is "ready" while it runs): a restart seconds ago is not health yet.
      const restarted = statuses(p).find((c) => c.restartCount > 0 && runningFor(c, now) < RECENT_RESTART_MS);
      if (restartPolicy === 'Always' && restarted) {
        return degraded('CrashLoopBackOff', `pod ${name}: container ${restarted.name} restarted ${Math.round(runningFor(restarted, now) / 1000)}s ago${restarts(restarted)}`);
      }
      if (ready) return healthy(`pod ${name} is running`);
      // Not ready, and a container has already died (Kubernetes keeps the last termination for
      // good, so Argo CD's "lastState.terminated" means "has restarted"): a crash loop caught
      // between back-offs, whether just exited or just started again.
      const crashed = statuses(p).find((c) => !c.ready && (c.lastState?.terminated || c.restartCount > 0 || (c.state?.terminated && c.state.terminated.exitCode !== 0)));
      if (restartPolicy === 'Always' && crashed) {
        const t = crashed.state?.terminated ?? crashed.lastState?.terminated;
        const exit = t ? ` (last exit code ${t.exitCode ?? '?'}${t.reason ? `, ${t.reason}` : ''})` : '';
        return degraded('CrashLoopBackOff', `pod ${name}: container ${crashed.name} keeps exiting${exit}${restarts(crashed)}`);
      }
      return progressing('PodNotReady', `pod ${name} is running but not ready`);
    }
  }
}

/** How long a restarted container must have run before it counts as healthy again. */
const RECENT_RESTART_MS = 10_000;

/** Milliseconds a running container has run; Infinity when not running or its start is unknown. */
function runningFor(c: ContainerStatus, now: number): number {
  const started = Date.parse(c.state?.running?.startedAt ?? '');
  return Number.isNaN(started) ? Infinity : Math.max(0, now - started);
}

function restarts(c: ContainerStatus): string {
  return c.restartCount > 0 ? `, restarted ${c.restartCount} time${c.restartCount === 1 ? '' : 's'}` : '';
}

function terminatedText(p: Pod): string {
  const t = statuses(p).map((c) => c.state?.terminated ?? c.lastState?.terminated).find((x) => x && (x.exitCode ?? 0) !== 0);
  return t ? `: exit code ${t.exitCode}${t.reason ? ` (${t.reason})` : ''}` : '';
}

/**
 * The most telling pod problem among `pods`: a Degraded pod first (crash loop, image pull),
 * then one the scheduler cannot place; undefined when no pod says more than the workload does.
 */
export function worstPod(pods: readonly KubeObject[], now = Date.now()): Health | undefined {
  let unschedulable: Health | undefined;
  for (const p of pods) {
    const h = podHealth(p as Pod, now);
    if (h.status === 'Degraded') return h;
    if (!unschedulable && h.status === 'Progressing' && h.reason === 'Unschedulable') unschedulable = h;
  }
  return unschedulable;
}

/**
 * A workload's own verdict, sharpened by its pods: a pod problem names the pod, and a crashing
 * pod makes even a workload whose counts look complete Degraded (its pods flap Ready between
 * crashes). With `escalate` false (Jobs, whose failed pods are retries until backoffLimit) a pod
 * problem is named but does not make the workload Degraded.
 */
function withPods(h: Health, pods: readonly KubeObject[], related: Related, opts: { escalate?: boolean } = {}): Health {
  if (h.status === 'Suspended') return h;
  const pod = worstPod(pods.filter((p) => !p.metadata.deletionTimestamp && (p as Pod).status?.phase !== 'Succeeded'), related.now);
  if (!pod) return h;
  if (h.status === 'Healthy') return pod.status === 'Degraded' && opts.escalate !== false ? { ...pod, message: `${pod.message}; ${h.message}` } : h;
  // A failed Job already says why; its failed pods only add detail.
  if (h.status === 'Degraded') return { ...h, message: `${h.message}; ${pod.message}` };
  if (opts.escalate === false) return { ...h, message: `${h.message}; ${pod.message}` };
  return { status: pod.status, reason: pod.reason, message: `${pod.message}; ${h.message}` };
}

/** Services: a LoadBalancer is Progressing until it has an address (Argo CD); others Healthy. */
export function serviceHealth(s: Service): Health {
  if (s.spec.type !== 'LoadBalancer') return healthy();
  const ingress = (s.status?.loadBalancer as { ingress?: unknown[] } | undefined)?.ingress ?? [];
  return ingress.length > 0 ? healthy() : progressing('NoAddress', `Service "${s.metadata.name}" has no load balancer address yet`);
}

/** Conditions that make an autoscaler Degraded, or Healthy, in Argo CD's check (gitops-engine `health_hpa.go`). */
const HPA_DEGRADED = new Set(['AbleToScale/FailedGetScale', 'AbleToScale/FailedUpdateScale', 'ScalingActive/FailedGetResourceMetric', 'ScalingActive/InvalidSelector']);
const HPA_HEALTHY = new Set(['AbleToScale/SucceededRescale', 'ScalingLimited/DesiredWithinRange', 'ScalingLimited/TooFewReplicas', 'ScalingLimited/TooManyReplicas']);

/**
 * Autoscalers, as Argo CD judges them: the first condition that says it cannot scale or measure
 * makes it Degraded (with that condition's message), the first that says it scaled or is in range
 * Healthy; before either, Progressing ("Waiting to Autoscale").
 */
export function autoscalerHealth(hpa: HorizontalPodAutoscaler): Health {
  for (const c of hpa.status?.conditions ?? []) {
    const key = `${c.type}/${c.reason ?? ''}`;
    if (HPA_DEGRADED.has(key)) return degraded(c.reason!, c.message ?? '');
    if (HPA_HEALTHY.has(key)) return healthy(c.message);
  }
  return progressing('WaitingToAutoscale', 'Waiting to Autoscale');
}

/** Ingresses: Healthy once the ingress controller wrote an address (Argo CD). */
export function ingressHealth(i: Ingress): Health {
  const ingress = (i.status?.loadBalancer as { ingress?: unknown[] } | undefined)?.ingress ?? [];
  return ingress.length > 0 ? healthy() : progressing('NoAddress', `Ingress "${i.metadata.name}" has no address yet (is its IngressClass served?)`);
}
