/**
 * The logic ReplicaSets and ReplicationControllers share, as Kubernetes' ReplicaSet controller
 * serves both (its ReplicationController manager is the same code behind a conversion): keep
 * `spec.replicas` active pods matching the selector, adopting matching orphans and releasing
 * pods that stop matching, and report status (replicas, fullyLabeledReplicas, readyReplicas,
 * availableReplicas, observedGeneration, the ReplicaFailure condition).
 *
 * Steps of one reconcile: claim pods → (if expectations are satisfied) create or delete pods →
 * write status once. The kind-specific parts (where the selector, template and replica count
 * live) come from a {@link ReplicaKind}.
 */
import { GantryError, isGantryError } from '../errors.js';
import { objectKey, parseKey } from '../model/keys.js';
import { matchesLabels, matchesSelector } from '../model/selectors.js';
import type { Condition, KubeObject, LabelSelector, Pod, PodTemplateSpec } from '../model/types.js';
import type { CacheEvent } from './cache.js';
import { Expectations } from './expectations.js';
import { copy, updateIfChanged } from './objects.js';
import { claim, controllerReferenceTo, podToOwners } from './ownership.js';
import { deletePod, isPodActive, isPodAvailable, isPodReady, msUntilAvailable, podCondition } from './pods.js';
import type { Controller, ReconcileContext, Result, Watch } from './runtime.js';
import { admissionWatches, createAdmittedPod } from './admission.js';
import { randomSuffix } from '../model/generate-name.js';

/** Condition types a ReplicaSet or ReplicationController reports. */
export const ReplicaConditionTypes = ['ReplicaFailure'] as const;
/** Reasons of the ReplicaFailure condition. */
export const ReplicaReasons = ['FailedCreate', 'FailedDelete'] as const;
/** One of {@link ReplicaReasons}. */
export type ReplicaReason = (typeof ReplicaReasons)[number];

/** Kubernetes' burstReplicas: the most pods one reconcile creates or deletes. */
const BURST = 500;

/** A replicated pod owner, as the shared logic reads it. */
export interface ReplicaOwner extends KubeObject {
  status?: {
    observedGeneration?: number;
    replicas?: number;
    fullyLabeledReplicas?: number;
    readyReplicas?: number;
    availableReplicas?: number;
    conditions?: Condition[];
  };
}

/** Where a kind keeps what the shared logic needs. */
export interface ReplicaKind<T extends ReplicaOwner> {
  kind: string;
  /** The label selector its pods match (a ReplicationController's map as matchLabels). */
  selector(owner: T): LabelSelector;
  template(owner: T): PodTemplateSpec;
  replicas(owner: T): number;
  minReadySeconds(owner: T): number;
}

/** Options for {@link ReplicaController}. */
export interface ReplicaControllerOptions {
  /** Expectations TTL (default 5 min). */
  expectationsTtlMs?: number;
}

/** Keeps the pods of every object of one replicated kind. */
export class ReplicaController<T extends ReplicaOwner> implements Controller {
  readonly kinds: readonly string[];
  readonly watches: readonly Watch[];
  /** Exposed for tests and for controllers built alike. */
  readonly expectations: Expectations;

  constructor(readonly name: string, private readonly k: ReplicaKind<T>, opts: ReplicaControllerOptions = {}) {
    this.kinds = [k.kind];
    this.watches = [{ kind: 'Pod', keys: podToOwners(k.kind, { selectorOf: (o) => k.selector(o as T) }) }, ...admissionWatches(k.kind)];
    this.expectations = new Expectations({ ttlMs: opts.expectationsTtlMs });
  }

  observe(ev: CacheEvent): void {
    this.expectations.observePod(ev, this.k.kind);
  }

  async reconcile(key: string, ctx: ReconcileContext): Promise<Result | void> {
    const owner = ctx.cache.get<T>(parseKey(key));
    if (!owner) {
      this.expectations.delete(key);
      return;
    }
    const selector = this.k.selector(owner);
    const template = this.k.template(owner);
    if (!matchesSelector(selector, template.metadata?.labels)) {
      throw invalidReplicaOwner(owner, 'spec.selector does not match spec.template.metadata.labels');
    }
    const needsSync = this.expectations.satisfied(key);
    const candidates = ctx.cache.list<Pod>('Pod', { namespace: owner.metadata.namespace }).filter(isPodActive);
    const pods = await claim(owner, candidates, { selector, store: ctx.store, origin: ctx.origin });

    let failure: { reason: ReplicaReason; err: unknown } | undefined;
    if (needsSync && !owner.metadata.deletionTimestamp) {
      failure = await this.manageReplicas(key, owner, pods, ctx);
    }

    const now = ctx.now();
    const minReady = this.k.minReadySeconds(owner);
    const status = computeStatus(owner, pods, { now, minReadySeconds: minReady, templateLabels: template.metadata?.labels, failure });
    await updateIfChanged(ctx.store, owner, { ...copy(owner), status }, { origin: ctx.origin });
    if (failure) throw failure.err;

    if (minReady > 0 && status.readyReplicas !== status.availableReplicas) {
      const waits = pods.map((p) => msUntilAvailable(p, minReady, now)).filter((x): x is number => x !== undefined);
      if (waits.length > 0) return { requeueAfter: Math.min(...waits) + 1 };
    }
  }

  private async manageReplicas(
    key: string,
    owner: T,
    pods: Pod[],
    ctx: ReconcileContext,
  ): Promise<{ reason: ReplicaReason; err: unknown } | undefined> {
    const want = this.k.replicas(owner);
    const diff = pods.length - want;
    if (diff < 0) {
      const count = Math.min(-diff, BURST);
      this.expectations.expectCreations(key, count);
      // Slow start, as Kubernetes: batches of 1, 2, 4, … so a failing template costs one error.
      let remaining = count;
      let batch = 1;
      while (remaining > 0) {
        const n = Math.min(batch, remaining);
        const results = await Promise.allSettled(Array.from({ length: n }, () => createPod(owner, this.k.template(owner), ctx)));
        remaining -= n;
        for (const r of results) if (r.status === 'fulfilled') ctx.events.emit(owner, 'Normal', 'SuccessfulCreate', `Created pod: ${r.value.metadata.name}`);
        const failed = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
        if (failed.length > 0) ctx.events.emit(owner, 'Warning', 'FailedCreate', `Error creating: ${failed[0]!.reason instanceof Error ? failed[0]!.reason.message : String(failed[0]!.reason)}`);
        if (failed.length > 0) {
          // Those creations (and the ones not attempted) will never show up in the watch.
          this.expectations.creationObserved(key, failed.length + remaining);
          return { reason: 'FailedCreate', err: failed[0]!.reason };
        }
        batch *= 2;
      }
      return undefined;
    }
    if (diff > 0) {
      const victims = podsToDelete(pods, Math.min(diff, BURST));
      this.expectations.expectDeletions(key, victims.map((p) => objectKey(p)));
      for (const pod of victims) {
        try {
          const outcome = await deletePod(ctx.store, pod, { origin: { ...ctx.origin, reason: `scale down ${owner.metadata.name} to ${want}` }, now: ctx.now });
          if (outcome === 'gone') this.expectations.deletionObserved(key, objectKey(pod));
          ctx.events.emit(owner, 'Normal', 'SuccessfulDelete', `Deleted pod: ${pod.metadata.name}`);
        } catch (err) {
          this.expectations.deletionObserved(key, objectKey(pod));
          return { reason: 'FailedDelete', err };
        }
      }
    }
    return undefined;
  }
}

async function createPod(owner: ReplicaOwner, tpl: PodTemplateSpec, ctx: ReconcileContext): Promise<Pod> {
  for (let attempt = 0; ; attempt++) {
    const pod: Pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: `${owner.metadata.name}-${randomSuffix()}`,
        namespace: owner.metadata.namespace,
        labels: { ...(tpl.metadata?.labels ?? {}) },
        ...(tpl.metadata?.annotations ? { annotations: { ...tpl.metadata.annotations } } : {}),
        ownerReferences: [controllerReferenceTo(owner)],
      },
      spec: copy(tpl.spec),
    };
    try {
      return await createAdmittedPod(pod, ctx, { nameForMessage: `${owner.metadata.name}-`, reason: `create pod for ${owner.metadata.name}` });
    } catch (err) {
      // A random name collision: try another name, as generateName does.
      if (!isGantryError(err, 'AlreadyExists') || attempt >= 3) throw err;
    }
  }
}

/**
 * The `count` pods to delete first, as Kubernetes ranks them: unscheduled before scheduled,
 * Pending before Unknown before Running, not ready before ready, more pods on the same node
 * first, ready for less time first, more restarts first, newer first.
 */
export function podsToDelete(pods: readonly Pod[], count: number): Pod[] {
  const perNode = new Map<string, number>();
  for (const p of pods) if (p.spec.nodeName) perNode.set(p.spec.nodeName, (perNode.get(p.spec.nodeName) ?? 0) + 1);
  const rank = (p: Pod): number => (p.spec.nodeName ? perNode.get(p.spec.nodeName) ?? 0 : 0);
  return [...pods].sort((a, b) => comparePodsForDeletion(a, b, rank)).slice(0, count);
}

const phaseOrder: Record<string, number> = { Pending: 0, Unknown: 1, Running: 2 };

function comparePodsForDeletion(a: Pod, b: Pod, rank: (p: Pod) => number): number {
  const an = a.spec.nodeName ?? '';
  const bn = b.spec.nodeName ?? '';
  if (an !== bn && (an === '' || bn === '')) return an === '' ? -1 : 1;
  const ap = phaseOrder[a.status?.phase ?? 'Pending'] ?? 0;
  const bp = phaseOrder[b.status?.phase ?? 'Pending'] ?? 0;
  if (ap !== bp) return ap - bp;
  const ar = isPodReady(a);
  const br = isPodReady(b);
  if (ar !== br) return ar ? 1 : -1;
  if (rank(a) !== rank(b)) return rank(b) - rank(a);
  if (ar && br) {
    const at = readySince(a);
    const bt = readySince(b);
    if (at !== bt) return bt - at;
  }
  const ac = restarts(a);
  const bc = restarts(b);
  if (ac !== bc) return bc - ac;
  return created(b) - created(a);
}

/** Ready since (ms); pods without a time sort as most recently ready. */
function readySince(p: Pod): number {
  const t = podCondition(p, 'Ready')?.lastTransitionTime;
  return t ? Date.parse(t) : Number.POSITIVE_INFINITY;
}

function restarts(p: Pod): number {
  return Math.max(0, ...(p.status?.containerStatuses ?? []).map((c) => c.restartCount));
}

/** Created at (ms); pods without a timestamp sort as newest. */
function created(p: KubeObject): number {
  const t = p.metadata.creationTimestamp;
  return t ? Date.parse(t) : Number.POSITIVE_INFINITY;
}

/** The status Kubernetes reports for a ReplicaSet or ReplicationController with these (claimed, active) pods. */
export function computeStatus(
  owner: ReplicaOwner,
  pods: readonly Pod[],
  opts: { now: number; minReadySeconds: number; templateLabels: Record<string, string> | undefined; failure?: { reason: ReplicaReason; err: unknown } },
): NonNullable<ReplicaOwner['status']> {
  const { now, failure } = opts;
  const conditions: Condition[] = (owner.status?.conditions ?? []).filter((c) => c.type !== 'ReplicaFailure').map((c) => ({ ...c }));
  const prev = owner.status?.conditions?.find((c) => c.type === 'ReplicaFailure');
  if (failure && prev?.status === 'True' && prev.reason === failure.reason) {
    // As Kubernetes' SetCondition: the same status and reason keep the condition as it is. A
    // refusal names the pod it refused, a new name each attempt: rewriting the message would
    // wake this owner again at once, and again.
    conditions.push({ ...prev });
  } else if (failure) {
    conditions.push({
      type: 'ReplicaFailure',
      status: 'True',
      reason: failure.reason,
      message: failure.err instanceof Error ? failure.err.message : String(failure.err),
      lastTransitionTime: prev?.status === 'True' ? prev.lastTransitionTime : new Date(now).toISOString(),
    });
  }
  return {
    replicas: pods.length,
    fullyLabeledReplicas: pods.filter((p) => matchesLabels(opts.templateLabels, p.metadata.labels)).length,
    readyReplicas: pods.filter(isPodReady).length,
    availableReplicas: pods.filter((p) => isPodAvailable(p, opts.minReadySeconds, now)).length,
    observedGeneration: owner.metadata.generation,
    ...(conditions.length > 0 ? { conditions } : {}),
  };
}

/** Thrown when a replicated owner cannot be reconciled for a reason the user must fix. */
export function invalidReplicaOwner(owner: KubeObject, message: string): GantryError {
  return new GantryError('InvalidManifest', `cannot reconcile ${owner.kind} ${owner.metadata.namespace}/${owner.metadata.name}: ${message}`, { object: objectKey(owner) });
}
