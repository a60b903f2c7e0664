/**
 * PodStatus as the kubelet reports it, computed from the agent's {@link PodRuntime}: phase,
 * conditions (PodScheduled, Initialized, ContainersReady, Ready), container statuses. Sidecars
 * (init containers with `restartPolicy: Always`) count as initialized once started, count in
 * readiness like app containers, and not in the phase: a pod whose app containers finished is
 * Running until its sidecars are stopped, then Succeeded or Failed by its app containers. Pure.
 */
import type { Condition, ContainerState, ContainerStatus, Pod, PodPhase, PodStatus } from '../../model/types.js';
import type { ContainerRuntime, PodRuntime } from './runtime.js';

/** `containerd://<id>` as Kubernetes shows container ids. */
export function containerIdUri(id: string): string {
  return `containerd://${id}`;
}

/** The Kubernetes state of one container. */
function stateOf(c: ContainerRuntime): ContainerState {
  if (c.waiting && c.phase !== 'running') return { waiting: { ...c.waiting } };
  if (c.phase === 'running') return { running: { startedAt: c.startedAt } };
  if (c.phase === 'exited' && c.terminated) return { terminated: { ...c.terminated } };
  return { waiting: { reason: 'ContainerCreating' } };
}

/** The container's status entry. */
export function containerStatus(c: ContainerRuntime): ContainerStatus {
  const s: ContainerStatus = {
    name: c.name,
    state: stateOf(c),
    // While an exited container waits to be restarted, its exit is already the "last" state.
    lastState: c.phase === 'exited' && c.waiting && c.terminated ? { terminated: { ...c.terminated } } : c.lastTerminated ? { terminated: { ...c.lastTerminated } } : {},
    ready: c.phase === 'running' && c.ready,
    restartCount: c.restartCount,
    image: c.image,
    imageID: c.imageID,
    started: c.phase === 'running' && c.started,
  };
  if (c.id && c.phase !== 'none') s.containerID = containerIdUri(c.id);
  return s;
}

/** True when an init container counts as done: completed, or (a sidecar) running and started. */
function initDone(spec: { name: string; restartPolicy?: string }, rt: PodRuntime): boolean {
  const c = rt.init.get(spec.name);
  if (spec.restartPolicy === 'Always') return c?.phase === 'running' && c.started;
  return c?.phase === 'exited' && c.terminated?.exitCode === 0;
}

/** True once the pod's init containers are all done (and, for good, once they have been). */
export function isInitialized(pod: Pod, rt: PodRuntime): boolean {
  return !!rt.initialized || (pod.spec.initContainers ?? []).every((ic) => initDone(ic, rt));
}

/** Pod phase from its containers, following the kubelet's getPhase (sidecars: see the module comment). */
export function podPhase(pod: Pod, rt: PodRuntime): PodPhase {
  const phase = regularPhase(pod, rt);
  if (rt.terminal || (phase !== 'Succeeded' && phase !== 'Failed')) return phase;
  // The app containers are done; the pod is not until its sidecars are stopped.
  return [...rt.init.values()].some((c) => c.sidecar && c.phase === 'running') ? 'Running' : phase;
}

/** The phase as the app containers alone make it (the kubelet's getPhase without sidecars). */
export function regularPhase(pod: Pod, rt: PodRuntime): PodPhase {
  if (rt.terminal) return rt.terminal;
  const policy = pod.spec.restartPolicy ?? 'Always';
  if (!isInitialized(pod, rt)) return 'Pending';
  let waiting = 0;
  let running = 0;
  let stopped = 0;
  let succeeded = 0;
  for (const spec of pod.spec.containers) {
    const c = rt.app.get(spec.name);
    if (!c) {
      waiting++;
      continue;
    }
    if (c.phase === 'running') running++;
    else if (c.phase === 'exited' && !c.waiting) {
      stopped++;
      if (c.terminated?.exitCode === 0) succeeded++;
    } else if (c.phase === 'exited' || c.lastTerminated) {
      // Waiting to restart after an exit (CrashLoopBackOff): counts as stopped, as in the kubelet.
      stopped++;
    } else {
      waiting++;
    }
  }
  if (waiting > 0) return 'Pending';
  if (running > 0) return 'Running';
  if (stopped > 0) {
    if (policy === 'Always') return 'Running';
    if (stopped === succeeded) return 'Succeeded';
    if (policy === 'Never') return 'Failed';
    return 'Running';
  }
  return 'Pending';
}

/** Sets a condition, keeping lastTransitionTime when the status did not change. */
function setCondition(prev: Condition[], next: Omit<Condition, 'lastTransitionTime'>, now: string): Condition {
  const old = prev.find((c) => c.type === next.type);
  const c: Condition = { type: next.type, status: next.status, lastProbeTime: null, lastTransitionTime: old && old.status === next.status ? old.lastTransitionTime : now };
  if (next.reason) c.reason = next.reason;
  if (next.message) c.message = next.message;
  return c;
}

/**
 * The full status to write. `prev` is the status in the store (its PodScheduled condition is the
 * scheduler's and is kept; other lastTransitionTimes are kept when unchanged).
 */
export function computePodStatus(pod: Pod, rt: PodRuntime, opts: { hostIP: string; now: string }): PodStatus {
  const prevConds = pod.status?.conditions ?? [];
  const phase = podPhase(pod, rt);
  const initStatuses = (pod.spec.initContainers ?? []).map((ic) => {
    const c = rt.init.get(ic.name);
    if (!c) return { name: ic.name, state: { waiting: { reason: 'PodInitializing' } }, lastState: {}, ready: false, restartCount: 0, image: ic.image, imageID: '', started: false };
    const s = containerStatus(c);
    // Init containers are "ready" once they completed successfully; a sidecar by its readiness.
    if (!c.sidecar) s.ready = c.phase === 'exited' && c.terminated?.exitCode === 0;
    return s;
  });
  const incompleteInits = (pod.spec.initContainers ?? []).filter((ic) => !initDone(ic, rt)).map((ic) => ic.name);
  const initialized = isInitialized(pod, rt);
  const appStatuses = pod.spec.containers.map((spec) => {
    const c = rt.app.get(spec.name);
    if (!c) {
      return { name: spec.name, state: { waiting: { reason: initialized ? 'ContainerCreating' : 'PodInitializing' } }, lastState: {}, ready: false, restartCount: 0, image: spec.image, imageID: '', started: false };
    }
    return containerStatus(c);
  });
  const sidecarStatuses = initStatuses.filter((s) => (pod.spec.initContainers ?? []).some((ic) => ic.name === s.name && ic.restartPolicy === 'Always'));
  const unready = [...sidecarStatuses, ...appStatuses].filter((s) => !s.ready).map((s) => s.name);
  const finished = phase === 'Succeeded' || phase === 'Failed';

  const conditions: Condition[] = [];
  const scheduled = prevConds.find((c) => c.type === 'PodScheduled');
  conditions.push(scheduled ? { ...scheduled } : setCondition(prevConds, { type: 'PodScheduled', status: 'True' }, opts.now));
  conditions.push(
    setCondition(prevConds, initialized ? { type: 'Initialized', status: 'True' } : { type: 'Initialized', status: 'False', reason: 'ContainersNotInitialized', message: `containers with incomplete status: [${incompleteInits.join(' ')}]` }, opts.now),
  );
  let readyCond: Omit<Condition, 'lastTransitionTime'>;
  if (finished) readyCond = { type: 'ContainersReady', status: 'False', reason: 'PodCompleted' };
  else if (unready.length === 0) readyCond = { type: 'ContainersReady', status: 'True' };
  else readyCond = { type: 'ContainersReady', status: 'False', reason: 'ContainersNotReady', message: `containers with unready status: [${unready.join(' ')}]` };
  conditions.push(setCondition(prevConds, readyCond, opts.now));
  conditions.push(setCondition(prevConds, { ...readyCond, type: 'Ready' }, opts.now));

  const status: PodStatus = { phase, conditions, hostIP: opts.hostIP };
  if (rt.podIP) {
    status.podIP = rt.podIP;
    status.podIPs = [{ ip: rt.podIP }];
  }
  if (rt.startTime) status.startTime = rt.startTime;
  if (initStatuses.length > 0) status.initContainerStatuses = initStatuses;
  status.containerStatuses = appStatuses;
  if (rt.message) status.message = rt.message;
  return status;
}

