/**
 * The disruption controller: keeps every PodDisruptionBudget's status (expectedPods,
 * currentHealthy, desiredHealthy, disruptionsAllowed, observedGeneration, the DisruptionAllowed
 * condition) in step with the pods it selects and their controllers' scale, as Kubernetes'
 * disruption controller does; the arithmetic is src/model/disruption.ts.
 *
 * The Eviction API (src/api/eviction.ts) writes the same status between two reconciles: it takes
 * a disruption at once and records the pod in `disruptedPods`. This controller keeps that record
 * until the pod is seen terminating (or two minutes pass), and does not count such pods as
 * healthy, so a recompute from a cache that has not yet seen the deletion cannot hand the
 * disruption out a second time. Both write with the resourceVersion they read (a Conflict is
 * retried), so neither overwrites the other.
 */
import { isGantryError } from '../errors.js';
import { budgetSelects, budgetStatus, nextDisruptedExpiry, type ControllerScale } from '../model/disruption.js';
import { parseKey } from '../model/keys.js';
import type { Deployment, Pod, PodDisruptionBudget, ReplicaSet, ReplicationController, StatefulSet } from '../model/types.js';
import type { CacheEvent, CacheReader } from './cache.js';
import { copy, sameJson } from './objects.js';
import { controllerRef, type Controller, type ReconcileContext, type Result, type Watch } from './runtime.js';

/** Keeps PodDisruptionBudget status. */
export class DisruptionController implements Controller {
  readonly name = 'disruption';
  readonly kinds = ['PodDisruptionBudget'] as const;
  readonly watches: readonly Watch[] = [
    { kind: 'Pod', keys: podToBudgets },
    // A scale change moves expectedPods of scale-based budgets: wake the namespace's budgets.
    { kind: 'ReplicaSet', keys: namespaceBudgets },
    { kind: 'Deployment', keys: namespaceBudgets },
    { kind: 'StatefulSet', keys: namespaceBudgets },
    { kind: 'ReplicationController', keys: namespaceBudgets },
  ];
  /** Budgets whose unmanaged pods were already reported (one Event per budget and set of pods). */
  private readonly reportedUnmanaged = new Map<string, string>();

  async reconcile(key: string, ctx: ReconcileContext): Promise<Result | void> {
    const pdb = ctx.cache.get<PodDisruptionBudget>(parseKey(key));
    if (!pdb) {
      this.reportedUnmanaged.delete(key);
      return;
    }
    const now = ctx.now();
    const pods = ctx.cache.list<Pod>('Pod', { namespace: pdb.metadata.namespace }).filter((p) => budgetSelects(pdb, p));
    const computed = budgetStatus({ pdb, pods, scaleOf: (pod) => scaleOf(pod, ctx.cache), now });
    if (computed.failure) ctx.log.warn({ key, err: computed.failure }, 'cannot compute disruption budget; allowing no disruptions');
    const unmanaged = computed.unmanagedPods.join(',');
    if (unmanaged && this.reportedUnmanaged.get(key) !== unmanaged) {
      ctx.events.emit(pdb, 'Warning', 'UnmanagedPods', `Pods selected by this PodDisruptionBudget were found to be unmanaged (${computed.unmanagedPods.join(', ')}); its status cannot count them. Set .spec.minAvailable to an integer to count them.`);
    }
    this.reportedUnmanaged.set(key, unmanaged);
    if (!sameJson(pdb.status, computed.status)) {
      if (pods.length === 0) ctx.events.emit(pdb, 'Normal', 'NoPods', 'No matching pods found');
      const next = copy(pdb);
      next.status = computed.status;
      try {
        await ctx.store.update(next, { origin: { ...ctx.origin, reason: `disruption budget ${pdb.metadata.name}: ${computed.status.disruptionsAllowed} allowed` } });
      } catch (err) {
        // Gone meanwhile: its delete event ends this key.
        if (!isGantryError(err, 'NotFound')) throw err;
      }
    }
    // An eviction's record expires: recount then.
    const expiry = nextDisruptedExpiry(computed.status.disruptedPods);
    return expiry !== undefined ? { requeueAfter: Math.max(0, expiry - now) + 100 } : undefined;
  }
}

/**
 * The scale of a pod's controller as the disruption controller reads it: a ReplicaSet owned by
 * a Deployment counts the Deployment's replicas, other ReplicaSets, StatefulSets and
 * ReplicationControllers their own.
 */
export function scaleOf(pod: Pod, cache: CacheReader): ControllerScale {
  const ref = controllerRef(pod);
  if (!ref) return 'unmanaged';
  const namespace = pod.metadata.namespace;
  if (ref.kind === 'ReplicaSet') {
    const rs = cache.get<ReplicaSet>({ kind: 'ReplicaSet', namespace, name: ref.name });
    if (!rs || rs.metadata.uid !== ref.uid) return 'unknown';
    const owner = controllerRef(rs);
    if (owner?.kind === 'Deployment') {
      const d = cache.get<Deployment>({ kind: 'Deployment', namespace, name: owner.name });
      if (d && d.metadata.uid === owner.uid) return { uid: d.metadata.uid!, replicas: d.spec.replicas ?? 1 };
    }
    return { uid: rs.metadata.uid!, replicas: rs.spec.replicas ?? 1 };
  }
  if (ref.kind === 'StatefulSet' || ref.kind === 'ReplicationController') {
    const s = cache.get<StatefulSet | ReplicationController>({ kind: ref.kind, namespace, name: ref.name });
    if (!s || s.metadata.uid !== ref.uid) return 'unknown';
    return { uid: s.metadata.uid!, replicas: s.spec.replicas ?? 1 };
  }
  return 'unknown';
}

/** A pod wakes the budgets (of its namespace) that select it, before or after the change. */
function podToBudgets(ev: CacheEvent, cache: CacheReader): Iterable<string> {
  const keys = new Set<string>();
  const ns = ev.object.metadata.namespace;
  for (const pdb of cache.list<PodDisruptionBudget>('PodDisruptionBudget', { namespace: ns })) {
    if (budgetSelects(pdb, ev.object as Pod) || (ev.prevObject && budgetSelects(pdb, ev.prevObject as Pod))) {
      keys.add(`PodDisruptionBudget/${ns}/${pdb.metadata.name}`);
    }
  }
  return keys;
}

/** Every budget of the object's namespace. */
function namespaceBudgets(ev: CacheEvent, cache: CacheReader): Iterable<string> {
  const ns = ev.object.metadata.namespace;
  return cache.list<PodDisruptionBudget>('PodDisruptionBudget', { namespace: ns }).map((p) => `PodDisruptionBudget/${ns}/${p.metadata.name}`);
}
