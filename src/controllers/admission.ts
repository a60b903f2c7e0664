/**
 * Admission of the pods controllers create, as the API server's admission chain admits a pod a
 * controller posts, in its order:
 *
 * 1. ServiceAccount (src/model/serviceaccount.ts): a pod naming an account that does not exist is
 *    refused (`pods "web-7d4b9-" is forbidden: error looking up service account default/reader:
 *    serviceaccount "reader" not found`);
 * 2. LimitRanger, defaults (src/model/limitrange.ts): missing requests and limits from the
 *    namespace's LimitRanges, in the pod as stored;
 * 3. Priority (src/model/priority.ts): `priority` and `preemptionPolicy` from the pod's class (or
 *    the global default); a class that does not exist refuses the pod;
 * 4. LimitRanger, constraints: min, max and ratios, each refusal naming its LimitRange;
 * 5. ResourceQuota (src/model/quota.ts): every quota of the namespace that counts the pod is
 *    charged in the same store transaction that creates the pod (`status.used` with its
 *    resourceVersion, so two creations racing for the last room cannot both get it); a pod that
 *    would exceed one is refused (`exceeded quota: compute, requested: …, used: …, limited: …`).
 *
 * The claims a StatefulSet makes go through the claim limits of LimitRanges and the quotas the
 * same way ({@link createAdmittedClaim}).
 *
 * A refused pod is a `Forbidden` (or, for a missing account, `NotFound`) error with disposition
 * waiting: the controller reports it (`FailedCreate`) and tries again later — at once when a
 * ServiceAccount appears or a quota gets room (see {@link admissionWatches}).
 */
import { GantryError, isGantryError } from '../errors.js';
import { applyDefaults } from '../model/defaults.js';
import { objectKey } from '../model/keys.js';
import { kindInfo } from '../model/kinds.js';
import { admitPodLimits, claimLimitViolations, limitViolationError } from '../model/limitrange.js';
import { admitPodPriority, priorityClassLookup } from '../model/priority.js';
import { chargeQuota, objectUsage, parseUsage, quotaConstraintProblem, quotaMatches, unknownUsage, formatUsage } from '../model/quota.js';
import { admitPod, podServiceAccount } from '../model/serviceaccount.js';
import type { KubeObject, LimitRange, PersistentVolumeClaim, Pod, PriorityClass, ResourceQuota, ServiceAccount } from '../model/types.js';
import type { TxnOp, WriteOrigin } from '../store/types.js';
import type { CacheEvent, CacheReader } from './cache.js';
import type { ReconcileContext, Watch } from './runtime.js';

/**
 * The pod as the ServiceAccount admission leaves it, the account read from the cache.
 * @throws GantryError NotFound (waiting) worded as Kubernetes refuses the pod; `nameForMessage`
 *   is how the message names it (a ReplicaSet's pods by their generateName prefix).
 */
export function admitNewPod(pod: Pod, cache: CacheReader, nameForMessage = pod.metadata.name): Pod {
  const namespace = pod.metadata.namespace || 'default';
  const sa = cache.get<ServiceAccount>({ kind: 'ServiceAccount', namespace, name: podServiceAccount(pod) });
  try {
    return admitPod(pod, sa);
  } catch (err) {
    if (!isGantryError(err, 'NotFound')) throw err;
    throw new GantryError('NotFound', `pods "${nameForMessage}" is forbidden: ${err.message}`, { object: err.location.object, field: err.location.field, disposition: 'waiting', retryAfterMs: err.retryAfterMs });
  }
}

/**
 * The pod as the whole admission chain leaves it, before quota (steps 1–4 above), from what the
 * cache holds of the namespace. `nameForMessage` names the pod in refusals: for a controller's
 * pods its generateName prefix, as the API server's mutating steps name them, so that the
 * controller's FailedCreate events and conditions read the same at every attempt (the API
 * server's validating steps would name the random name of each attempt).
 */
export function admitPodChain(pod: Pod, cache: CacheReader, nameForMessage = pod.metadata.name): Pod {
  const namespace = pod.metadata.namespace || 'default';
  let admitted = admitNewPod(applyDefaults(pod), cache, nameForMessage);
  const ranges = cache.has('LimitRange') ? cache.list<LimitRange>('LimitRange', { namespace }) : [];
  const classes = cache.has('PriorityClass') ? cache.list<PriorityClass>('PriorityClass') : [];
  try {
    admitted = admitPodPriority(admitted, priorityClassLookup(classes));
  } catch (err) {
    if (!isGantryError(err, 'Forbidden')) throw err;
    throw new GantryError('Forbidden', `pods "${nameForMessage}" is forbidden: ${err.message}`, { field: err.location.field });
  }
  return admitPodLimits(admitted, ranges, nameForMessage);
}

/** Options of {@link createAdmittedPod}. */
export interface CreatePodOptions {
  /** How refusals of the mutating steps name the pod (default its name). */
  nameForMessage?: string;
  /** The write's origin reason. */
  reason: string;
}

/** Attempts at charging quotas whose resourceVersion moved meanwhile before giving up (Conflict). */
const QUOTA_ATTEMPTS = 5;

/**
 * Admits `pod` (every step above) and creates it, charging the namespace's quotas in the same
 * transaction. Returns the pod as stored.
 * @throws GantryError Forbidden/NotFound (waiting) when admission refuses it, AlreadyExists when
 *   the name is taken, Conflict when quotas kept changing under {@link QUOTA_ATTEMPTS} attempts.
 */
export async function createAdmittedPod(pod: Pod, ctx: ReconcileContext, opts: CreatePodOptions): Promise<Pod> {
  const name = opts.nameForMessage ?? pod.metadata.name;
  const admitted = admitPodChain(pod, ctx.cache, name);
  return createCharged(admitted, ctx, { name, reason: opts.reason });
}

/**
 * Admits a PersistentVolumeClaim a controller makes (a StatefulSet's): the PersistentVolumeClaim
 * items of the namespace's LimitRanges, then its quotas, charged in the transaction that creates it.
 * @throws GantryError Forbidden (waiting) naming the LimitRange or quota.
 */
export async function createAdmittedClaim(claim: PersistentVolumeClaim, ctx: ReconcileContext, opts: { reason: string }): Promise<PersistentVolumeClaim> {
  const namespace = claim.metadata.namespace || 'default';
  const ranges = ctx.cache.has('LimitRange') ? ctx.cache.list<LimitRange>('LimitRange', { namespace }) : [];
  const violations = claimLimitViolations(claim, ranges);
  if (violations.length > 0) throw limitViolationError(violations, { resource: 'persistentvolumeclaims', name: claim.metadata.name, field: 'spec.resources.requests[storage]' });
  return createCharged(claim, ctx, { name: claim.metadata.name, reason: opts.reason });
}

/** Creates `obj`, charging every quota of its namespace that counts it, in one transaction. */
async function createCharged<T extends KubeObject>(obj: T, ctx: ReconcileContext, opts: { name: string; reason: string }): Promise<T> {
  const origin: WriteOrigin = { ...ctx.origin, reason: opts.reason };
  const namespace = obj.metadata.namespace || 'default';
  let quotas = ctx.cache.has('ResourceQuota') ? ctx.cache.list<ResourceQuota>('ResourceQuota', { namespace }).filter((q) => quotaMatches(q, obj)) : [];
  if (quotas.length === 0) return ctx.store.create(obj, { origin });
  for (let attempt = 1; ; attempt++) {
    const charged = chargeQuotas(obj, quotas, { now: ctx.now(), name: opts.name });
    // The object first: a watcher that sees a quota's new usage has already seen what it counts.
    const ops: TxnOp[] = [{ op: 'create', object: obj }, ...charged.map((object) => ({ op: 'update' as const, object }))];
    try {
      const res = await ctx.store.txn(ops, { origin });
      return res.objects[0] as T;
    } catch (err) {
      if (!isGantryError(err, 'Conflict') || attempt >= QUOTA_ATTEMPTS) throw err;
      // Another creation charged a quota first: charge the usage it left.
      const fresh = await Promise.all(quotas.map((q) => ctx.store.get<ResourceQuota>({ kind: 'ResourceQuota', namespace, name: q.metadata.name })));
      quotas = fresh.filter((q): q is ResourceQuota => q !== undefined && quotaMatches(q, obj));
      if (quotas.length === 0) return ctx.store.create(obj, { origin });
    }
  }
}

/**
 * The quotas with the object charged to their `status.used`, as the quota admission plugin does it.
 * @throws GantryError Forbidden naming the quota: a container without the request or limit it
 *   counts, a quota whose usage is not known yet, or one the object would exceed.
 */
function chargeQuotas(obj: KubeObject, quotas: readonly ResourceQuota[], opts: { now: number; name: string }): ResourceQuota[] {
  const { now } = opts;
  const plural = kindInfo(obj.kind)?.plural ?? obj.kind.toLowerCase();
  const forbid = (message: string): GantryError =>
    new GantryError('Forbidden', `${plural} "${opts.name}" is forbidden: ${message}`, { object: objectKey(obj) });
  const usage = objectUsage(obj, now);
  const out: ResourceQuota[] = [];
  for (const quota of [...quotas].sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1))) {
    const missing = obj.kind === 'Pod' ? quotaConstraintProblem(quota, obj as Pod) : undefined;
    if (missing) throw forbid(`failed quota: ${quota.metadata.name}: ${missing}`);
    const unknown = unknownUsage(quota, obj.kind);
    if (unknown.length > 0) throw forbid(`status unknown for quota: ${quota.metadata.name}, resources: ${unknown.join(',')}`);
    const charge = chargeQuota(quota, parseUsage(quota.status?.used), usage);
    if (!charge.ok) throw forbid(charge.message);
    const next = structuredClone(quota) as ResourceQuota;
    next.status = { ...next.status, used: { ...next.status?.used, ...formatUsage(charge.used) } };
    out.push(next);
  }
  return out;
}

/**
 * Watches of the kinds admission reads, waking `ownerKind` objects of the namespace when a
 * refused pod may now be admitted: a ServiceAccount appears, a quota gets room (its usage fell,
 * its limits rose, or it went), a LimitRange or PriorityClass changes.
 */
export function admissionWatches(ownerKind: string): Watch[] {
  const owners = (namespace: string | undefined, cache: CacheReader): string[] =>
    cache.list(ownerKind, namespace ? { namespace } : {}).map((o) => objectKey(o));
  return [
    { kind: 'ServiceAccount', keys: (ev, cache) => (ev.type === 'ADDED' ? owners(ev.object.metadata.namespace, cache) : []) },
    { kind: 'ResourceQuota', keys: (ev, cache) => (quotaGotRoom(ev) ? owners(ev.object.metadata.namespace, cache) : []) },
    { kind: 'LimitRange', keys: (ev, cache) => owners(ev.object.metadata.namespace, cache) },
    { kind: 'PriorityClass', keys: (ev, cache) => (ev.type === 'ADDED' ? owners(undefined, cache) : []) },
  ];
}

/**
 * True when a quota change may admit a pod it refused: the quota went, its usage fell or became
 * known (the quota controller's first count), or a limit rose or went.
 */
function quotaGotRoom(ev: CacheEvent): boolean {
  if (ev.type !== 'MODIFIED') return ev.type === 'DELETED';
  const prev = ev.prevObject as ResourceQuota | undefined;
  const next = ev.object as ResourceQuota;
  if (!prev) return true;
  const usedBefore = parseUsage(prev.status?.used);
  for (const [r, v] of parseUsage(next.status?.used)) {
    const was = usedBefore.get(r);
    if (!was || v.nanos < was.nanos) return true;
  }
  const hardNow = parseUsage(next.spec?.hard);
  for (const [r, was] of parseUsage(prev.spec?.hard)) {
    const now = hardNow.get(r);
    if (!now || now.nanos > was.nanos) return true;
  }
  return false;
}
