/**
 * Pod helpers shared by controllers and the node agent: readiness and availability as
 * Kubernetes computes them, and the pod deletion protocol.
 *
 * ## Pod deletion protocol
 *
 * Kubernetes deletes pods gracefully: the API server sets `metadata.deletionTimestamp`, the
 * kubelet stops the containers (SIGTERM, then SIGKILL after the grace period) and then removes
 * the object. gantry does the same without an API server:
 *
 * 1. Whoever wants a pod gone (a controller, GC, the CLI) calls {@link deletePod}.
 *    - A pod with no `spec.nodeName` runs nowhere: it is deleted from the store at once (with a
 *      resourceVersion precondition, so a pod bound meanwhile is not removed behind its node).
 *    - A bound pod gets `metadata.deletionTimestamp` (now, ISO 8601) through an update; nothing
 *      else changes. A pod that already has one is left alone (deletion is idempotent).
 * 2. The node agent that runs the pod sees the update, stops its containers within
 *    `spec.terminationGracePeriodSeconds` (default 30) counted from the deletionTimestamp, tears
 *    down its sandbox, and then deletes the object from the store (origin `node/<name>`).
 * 3. Everyone else treats a pod with a deletionTimestamp as terminating: controllers do not count
 *    it as active (a ReplicaSet replaces it at once), the scheduler does not bind it, and it stays
 *    visible until the node agent removes it (a Recreate rollout waits for that).
 * 4. A pod whose node is unreachable or gone is force-deleted (removed from the store without
 *    waiting for an agent) by the node lifecycle controller (`nodelifecycle.ts`).
 */
import { GantryError, isGantryError } from '../errors.js';
import { objectRef, refKey } from '../model/keys.js';
import type { Condition, Pod } from '../model/types.js';
import type { Store, WriteOrigin } from '../store/types.js';

/** What {@link deletePod} did. */
export type DeletePodOutcome = 'deleted' | 'terminating' | 'gone';

/**
 * Deletes a pod following the protocol above: direct delete when unbound, deletionTimestamp
 * when bound (with `metadata.deletionGracePeriodSeconds` when `gracePeriodSeconds` is given). `pod` may be a (frozen) cached copy; the store is re-read on conflict. Returns
 * `gone` when the pod no longer exists (or was replaced by another with the same name).
 */
export async function deletePod(
  store: Store,
  pod: Pod,
  opts: { origin: WriteOrigin; now?: () => number; gracePeriodSeconds?: number },
): Promise<DeletePodOutcome> {
  const ref = objectRef(pod);
  const now = opts.now ?? Date.now;
  let current: Pod | undefined = pod;
  for (let attempt = 0; attempt < 5; attempt++) {
    if (attempt > 0) current = await store.get<Pod>(ref);
    if (!current || current.metadata.uid !== pod.metadata.uid) return 'gone';
    if (current.metadata.deletionTimestamp) return 'terminating';
    try {
      if (!current.spec.nodeName) {
        const res = await store.delete(ref, { origin: opts.origin, resourceVersion: current.metadata.resourceVersion });
        return res ? 'deleted' : 'gone';
      }
      const next: Pod = structuredClone(current);
      next.metadata.deletionTimestamp = new Date(now()).toISOString();
      // A deletion that names its own grace period (an eviction's DeleteOptions) overrides the spec's.
      if (opts.gracePeriodSeconds !== undefined) next.metadata.deletionGracePeriodSeconds = opts.gracePeriodSeconds;
      await store.update(next, { origin: opts.origin });
      return 'terminating';
    } catch (err) {
      if (isGantryError(err, 'NotFound')) return 'gone';
      if (!isGantryError(err, 'Conflict')) throw err;
    }
  }
  throw new GantryError('Conflict', `cannot delete Pod ${ref.namespace}/${ref.name}: it kept changing under 5 attempts`, { object: refKey(ref) });
}

/** The pod's condition of this type. */
export function podCondition(pod: Pod, type: string): Condition | undefined {
  return pod.status?.conditions?.find((c) => c.type === type);
}

/** True when the pod's Ready condition is True. */
export function isPodReady(pod: Pod): boolean {
  return podCondition(pod, 'Ready')?.status === 'True';
}

/**
 * True when the pod has been ready for at least minReadySeconds (Kubernetes' IsPodAvailable):
 * measured from the Ready condition's lastTransitionTime.
 */
export function isPodAvailable(pod: Pod, minReadySeconds: number, now: number): boolean {
  const c = podCondition(pod, 'Ready');
  if (c?.status !== 'True') return false;
  if (!minReadySeconds) return true;
  if (!c.lastTransitionTime) return false;
  return Date.parse(c.lastTransitionTime) + minReadySeconds * 1000 <= now;
}

/**
 * Milliseconds until a ready pod becomes available, or undefined when it is not ready or
 * already available (used to requeue at the right moment).
 */
export function msUntilAvailable(pod: Pod, minReadySeconds: number, now: number): number | undefined {
  const c = podCondition(pod, 'Ready');
  if (c?.status !== 'True' || !minReadySeconds || !c.lastTransitionTime) return undefined;
  const left = Date.parse(c.lastTransitionTime) + minReadySeconds * 1000 - now;
  return left > 0 ? left : undefined;
}

/** True for pods that count towards a controller's replicas: not finished, not terminating. */
export function isPodActive(pod: Pod): boolean {
  const phase = pod.status?.phase;
  return phase !== 'Succeeded' && phase !== 'Failed' && !pod.metadata.deletionTimestamp;
}
