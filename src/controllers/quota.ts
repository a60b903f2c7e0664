/**
 * The resource quota controller, as Kubernetes' runs it: every ResourceQuota's status is its
 * `spec.hard` and what the objects of its namespace use of each hard resource (`status.used`,
 * src/model/quota.ts), recounted whenever one of those objects changes. Admission charges new
 * pods to `status.used` as it creates them (./admission.ts) and the sync charges what a revision
 * adds; this controller is what gives usage back when pods finish or objects go, and what counts
 * a quota first.
 *
 * A terminating pod stops counting once its grace period is over; the quota is counted again
 * then.
 */
import { isGantryError } from '../errors.js';
import { parseKey } from '../model/keys.js';
import { formatUsage, parseUsage, podChargedForCompute, quotaUsed, tracksResource } from '../model/quota.js';
import type { KubeObject, Pod, ResourceQuota } from '../model/types.js';
import type { CacheEvent, CacheReader } from './cache.js';
import { copy, sameJson } from './objects.js';
import type { Controller, ReconcileContext, Result, Watch } from './runtime.js';

/** The kinds whose objects quotas count (object counts, compute, storage). */
export const QUOTA_COUNTED_KINDS: readonly string[] = [
  'Pod', 'Service', 'PersistentVolumeClaim', 'ConfigMap', 'Secret', 'ReplicationController', 'ResourceQuota',
  'Deployment', 'ReplicaSet', 'StatefulSet', 'DaemonSet', 'Job', 'CronJob', 'Ingress', 'NetworkPolicy',
  'PodDisruptionBudget', 'ServiceAccount', 'Role', 'RoleBinding', 'LimitRange', 'Endpoints', 'EndpointSlice',
];

/** Keeps the status of every ResourceQuota. */
export class ResourceQuotaController implements Controller {
  readonly name = 'resourcequota';
  readonly kinds = ['ResourceQuota'] as const;
  readonly watches: readonly Watch[] = QUOTA_COUNTED_KINDS.filter((k) => k !== 'ResourceQuota').map((kind) => ({ kind, keys: quotasCounting }));

  async reconcile(key: string, ctx: ReconcileContext): Promise<Result | void> {
    const quota = ctx.cache.get<ResourceQuota>(parseKey(key));
    if (!quota) return;
    const namespace = quota.metadata.namespace ?? 'default';
    const now = ctx.now();
    // Only the kinds the quota limits: a pod quota need not read the namespace's Secrets.
    const hard = Object.keys(quota.spec?.hard ?? {});
    const objects: KubeObject[] = [];
    for (const kind of QUOTA_COUNTED_KINDS) {
      if (ctx.cache.has(kind) && hard.some((r) => tracksResource(kind, r))) objects.push(...ctx.cache.list(kind, { namespace }));
    }
    const status = { hard: formatUsage(parseUsage(quota.spec?.hard)), used: quotaUsed(quota, objects, now) };
    if (!sameJson(quota.status ?? {}, status)) {
      const next = copy(quota);
      next.status = status;
      try {
        await ctx.store.update(next, { origin: { ...ctx.origin, reason: `usage of quota ${quota.metadata.name}` } });
      } catch (err) {
        // Gone meanwhile: its delete event ends this key; a Conflict is retried with what changed.
        if (!isGantryError(err, 'NotFound')) throw err;
      }
    }
    // A pod past its deletion grace period stops counting without any change to see: recount then.
    const expiries = objects
      .filter((o): o is Pod => o.kind === 'Pod' && !!o.metadata.deletionTimestamp && podChargedForCompute(o as Pod, now))
      .map((p) => Date.parse(p.metadata.deletionTimestamp!) + (p.metadata.deletionGracePeriodSeconds ?? p.spec.terminationGracePeriodSeconds ?? 30) * 1000);
    if (expiries.length > 0) return { requeueAfter: Math.max(0, Math.min(...expiries) - now) + 100 };
  }
}

/** An object wakes the quotas of its namespace that limit a resource it can use. */
function quotasCounting(ev: CacheEvent, cache: CacheReader): Iterable<string> {
  const ns = ev.object.metadata.namespace;
  const kind = ev.object.kind;
  return cache.list<ResourceQuota>('ResourceQuota', { namespace: ns })
    .filter((q) => Object.keys(q.spec?.hard ?? {}).some((r) => tracksResource(kind, r)))
    .map((q) => `ResourceQuota/${ns}/${q.metadata.name}`);
}
