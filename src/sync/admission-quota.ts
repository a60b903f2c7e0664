/**
 * ResourceQuota admission of a revision, as the quota plugin admits each object a `kubectl apply`
 * of it sends, but for the revision as one: the quotas in force once it is applied (the
 * revision's own included) are charged with what its new objects use (and, for Services and
 * claims, what its updates add) on top of what the namespace's other objects use; an object that
 * would exceed a quota is a problem naming the object and the quota ("exceeded quota: compute,
 * requested: requests.cpu=500m, used: requests.cpu=1800m, limited: requests.cpu=2"), and the
 * revision is rejected whole. Pods counted by a quota that tracks cpu or memory must state those
 * requests or limits ("failed quota: compute: must specify requests.cpu for: app").
 *
 * The usage charged is written in the revision's own transaction (`status.used` of a quota
 * already in the cluster, with its resourceVersion): a controller creating pods meanwhile
 * charges the same quota, and one of the two writes fails and plans again, so they never share
 * the last room.
 */
import type { Plan, PlanEntry } from '../diff/types.js';
import { kindInfo } from '../model/kinds.js';
import {
  addUsage, chargedUsage, chargeQuota, formatUsage, objectUsage, parseUsage, quotaConstraintProblem, quotaMatches, subtractUsage, type Usage,
} from '../model/quota.js';
import type { KubeObject, Pod, ResourceQuota } from '../model/types.js';
import type { TxnOp } from '../store/types.js';
import type { PlanAdmission } from './admission.js';
import type { ManifestIssue } from './types.js';

/** Kinds whose updates can use more of a quota (Kubernetes charges updates of these only). */
const CHARGED_ON_UPDATE = new Set(['Service', 'PersistentVolumeClaim']);

/** Charges the plan's objects to the quotas in force after it; see the module comment. */
export function admitPlanQuotas(plan: Plan, live: readonly KubeObject[], opts: { now: number }): PlanAdmission {
  const { now } = opts;
  const quotas = quotasAfter(plan, live);
  if (quotas.length === 0) return { issues: [], ops: [] };
  const changes = [...plan.create, ...plan.update].filter((e) => e.desired);
  // Only the namespaces the revision adds to are charged (a resync of an applied revision adds
  // nothing), and a quota the revision writes gets its usage: their objects are all it reads.
  const touched = new Set(changes.map((e) => e.namespace ?? 'default'));
  for (const { quota, entry } of quotas) if (entry) touched.add(quota.metadata.namespace ?? 'default');
  if (touched.size === 0) return { issues: [], ops: [] };
  const liveIn = new Map<string, KubeObject[]>();
  for (const o of live) {
    const ns = o.metadata.namespace ?? 'default';
    if (!touched.has(ns)) continue;
    const list = liveIn.get(ns);
    if (list) list.push(o);
    else liveIn.set(ns, [o]);
  }
  const changesIn = new Map<string, PlanEntry[]>();
  for (const e of changes) {
    const ns = e.namespace ?? 'default';
    const list = changesIn.get(ns);
    if (list) list.push(e);
    else changesIn.set(ns, [e]);
  }
  const pruned = new Set(plan.prune.map((e) => e.key));
  const issues: ManifestIssue[] = [];
  const ops: TxnOp[] = [];
  for (const { quota, entry } of quotas) {
    const ns = quota.metadata.namespace ?? 'default';
    if (!touched.has(ns)) continue;
    // What the namespace uses without the revision's changes: live objects it keeps as they are
    // (an updated object counts as it is live; its update charges only what it adds).
    let used: Usage = new Map();
    for (const o of liveIn.get(ns) ?? []) {
      if (pruned.has(keyOf(o)) || !quotaMatches(quota, o)) continue;
      used = addUsage(used, chargedUsage(quota, objectUsage(o, now)));
    }
    let charged = false;
    for (const e of changesIn.get(ns) ?? []) {
      const obj = e.desired!;
      if (!quotaMatches(quota, obj)) continue;
      if (e.action === 'update' && !CHARGED_ON_UPDATE.has(e.kind)) continue;
      if (e.kind === 'Pod') {
        const missing = quotaConstraintProblem(quota, obj as Pod);
        if (missing) {
          issues.push(issueOf(e, 'spec.containers', `${forbidden(e)}: failed quota: ${quota.metadata.name}: ${missing}`));
          continue;
        }
      }
      const delta = e.action === 'update' && e.live ? subtractUsage(objectUsage(obj, now), objectUsage(e.live, now)) : objectUsage(obj, now);
      const charge = chargeQuota(quota, used, delta);
      if (!charge.ok) {
        issues.push(issueOf(e, undefined, `${forbidden(e)}: ${charge.message} (ResourceQuota ${ns}/${quota.metadata.name})`));
        continue;
      }
      if (charge.used !== used) charged = true;
      used = charge.used;
    }
    const status = { hard: formatUsage(parseUsage(quota.spec?.hard)), used: formatUsage(withZeros(used, quota)) };
    if (entry?.desired) {
      // A quota the revision creates or changes carries its usage in its own write.
      (entry.desired as ResourceQuota).status = status;
    } else if (charged) {
      const liveQuota = live.find((o) => o.kind === 'ResourceQuota' && o.metadata.namespace === quota.metadata.namespace && o.metadata.name === quota.metadata.name)!;
      ops.push({ op: 'update', object: { ...structuredClone(liveQuota), status } });
    }
  }
  return issues.length > 0 ? { issues, ops: [] } : { issues, ops };
}

/** The quotas in force after the plan, with the plan entry that writes each (if any). */
function quotasAfter(plan: Plan, live: readonly KubeObject[]): { quota: ResourceQuota; entry?: PlanEntry }[] {
  const out = new Map<string, { quota: ResourceQuota; entry?: PlanEntry }>();
  for (const o of live) if (o.kind === 'ResourceQuota') out.set(keyOf(o), { quota: o as ResourceQuota });
  for (const e of plan.prune) out.delete(e.key);
  for (const e of [...plan.create, ...plan.update]) if (e.kind === 'ResourceQuota' && e.desired) out.set(e.key, { quota: e.desired as ResourceQuota, entry: e });
  for (const e of plan.unchanged) if (e.kind === 'ResourceQuota' && e.live) out.set(e.key, { quota: e.live as ResourceQuota });
  return [...out.values()];
}

function keyOf(o: KubeObject): string {
  return kindInfo(o.kind)?.namespaced === false ? `${o.kind}/${o.metadata.name}` : `${o.kind}/${o.metadata.namespace ?? 'default'}/${o.metadata.name}`;
}

/** Every hard resource, 0 when nothing uses it. */
function withZeros(used: Usage, quota: ResourceQuota): Usage {
  const out: Usage = new Map();
  for (const r of Object.keys(quota.spec?.hard ?? {})) out.set(r, used.get(r) ?? { nanos: 0n, format: 'DecimalSI' });
  return out;
}

function forbidden(e: PlanEntry): string {
  return `${kindInfo(e.kind)?.plural ?? e.kind.toLowerCase()} "${e.name}" is forbidden`;
}

/** A problem admission found with a plan entry, where its manifest declares it. */
export function issueOf(e: PlanEntry, field: string | undefined, message: string): ManifestIssue {
  return { file: e.source?.file ?? '', ...(e.source ? { line: e.source.line } : {}), object: e.key, ...(field ? { field } : {}), message };
}
