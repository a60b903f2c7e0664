/**
 * Admission of a revision's plan, as the API server's admission plugins would admit each object
 * a `kubectl apply` of the revision sends, against what the revision and the cluster declare
 * together (the revision's objects win: they land in the same transaction):
 *
 * - new Pods: ServiceAccount (account name, pull secrets, token volume; a missing account is an
 *   error), LimitRange defaults (stored in the pod), Priority (`priority` and `preemptionPolicy`
 *   from the class or the global default; a missing class is an error), LimitRange constraints;
 * - new PersistentVolumeClaims: the PersistentVolumeClaim items of LimitRanges;
 * - PriorityClasses: one global default at most; value and preemption policy fixed once created;
 * - Endpoints: only for Services without a selector (a selector's are the endpoints controller's);
 * - ResourceQuotas (./admission-quota.ts): a revision whose objects would exceed a quota is
 *   rejected whole, naming the object and the quota.
 *
 * Problems name the file, the object and the field, and reject the revision: nothing of it is
 * applied, as `kubectl apply` of a bad object fails.
 */
import type { Plan, PlanEntry } from '../diff/types.js';
import { isGantryError } from '../errors.js';
import { isManaged } from '../model/annotations.js';
import { claimLimitViolations, limitViolationError, admitPodLimits } from '../model/limitrange.js';
import { admitPodPriority, priorityClassLookup, type PriorityClassLookup } from '../model/priority.js';
import { admitPod, DEFAULT_SERVICE_ACCOUNT, podServiceAccount } from '../model/serviceaccount.js';
import type { Endpoints, KubeObject, LimitRange, PersistentVolumeClaim, Pod, PriorityClass, Service, ServiceAccount } from '../model/types.js';
import type { TxnOp } from '../store/types.js';
import { admitPlanQuotas, issueOf } from './admission-quota.js';
import type { ManifestIssue } from './types.js';

/** What admission found: the problems (none: admitted), and the quota usage writes the plan's transaction must carry. */
export interface PlanAdmission {
  issues: ManifestIssue[];
  /** Quota status updates (usage the revision charges), to append to the plan's transaction. */
  ops: TxnOp[];
}

/**
 * Admits `plan` in place (new Pods get what admission adds) against `live` (the cluster's
 * objects of every declarable kind). `now` dates quota usage of terminating pods.
 */
export function admitPlan(plan: Plan, live: readonly KubeObject[], opts: { now?: number } = {}): PlanAdmission {
  const view = new EffectiveObjects(plan, live);
  const issues = [
    ...admitPlanPods(plan, live, view),
    ...admitClaims(plan, view),
    ...checkGlobalDefaults(plan, view),
    ...checkPriorityClassUpdates(plan),
    ...checkEndpoints(plan, view),
  ];
  if (issues.length > 0) return { issues, ops: [] };
  return admitPlanQuotas(plan, live, { now: opts.now ?? Date.now() });
}

/**
 * The objects of a kind as they will be once the plan is applied: live ones, minus prunes,
 * overridden by the revision's. Indexed per kind on first use: a resync of 10,000 unchanged
 * objects that creates no Pod asks for nothing.
 */
export class EffectiveObjects {
  private readonly byKind = new Map<string, Map<string, KubeObject>>();

  constructor(private readonly plan: Plan, private readonly live: readonly KubeObject[]) {}

  private index(kind: string): Map<string, KubeObject> {
    let m = this.byKind.get(kind);
    if (m) return m;
    m = new Map();
    const key = (ns: string | undefined, name: string): string => `${ns ?? ''}/${name}`;
    for (const o of this.live) if (o.kind === kind) m.set(key(o.metadata.namespace, o.metadata.name), o);
    for (const e of this.plan.prune) if (e.kind === kind) m.delete(key(e.namespace, e.name));
    for (const list of [this.plan.create, this.plan.update, this.plan.unchanged]) {
      for (const e of list) if (e.kind === kind && e.desired) m.set(key(e.desired.metadata.namespace, e.desired.metadata.name), e.desired);
    }
    this.byKind.set(kind, m);
    return m;
  }

  /** Objects of `kind` (in `namespace` when given). */
  list<T extends KubeObject>(kind: string, namespace?: string): T[] {
    const all = [...this.index(kind).values()] as T[];
    return namespace === undefined ? all : all.filter((o) => (o.metadata.namespace ?? 'default') === namespace);
  }

  /** One object of `kind`. */
  get<T extends KubeObject>(kind: string, namespace: string | undefined, name: string): T | undefined {
    return this.index(kind).get(`${namespace ?? ''}/${name}`) as T | undefined;
  }
}

/**
 * Admits the Pods `plan` creates, in place (their `desired` objects). `live` holds the cluster's
 * objects (ServiceAccounts, LimitRanges, PriorityClasses; others are ignored). Returns the
 * problems; none means every Pod was admitted.
 */
export function admitPlanPods(plan: Plan, live: readonly KubeObject[], view = new EffectiveObjects(plan, live)): ManifestIssue[] {
  // `default` is never missing: gantry's service-account controller makes it in every namespace in use.
  const accounts = (ns: string, name: string): ServiceAccount | undefined => view.get<ServiceAccount>('ServiceAccount', ns, name);
  let classes: PriorityClassLookup | undefined;
  const issues: ManifestIssue[] = [];
  for (const e of plan.create) {
    if (e.kind !== 'Pod' || !e.desired) continue;
    const ns = e.namespace ?? 'default';
    let pod = e.desired as Pod;
    const name = podServiceAccount(pod);
    const sa = accounts(ns, name);
    if (!sa && name !== DEFAULT_SERVICE_ACCOUNT) {
      issues.push(issueOf(e, 'spec.serviceAccountName', `spec.serviceAccountName: serviceaccount "${name}" not found in namespace ${ns}: declare it in the repo (pods "${e.name}" is forbidden: error looking up service account ${ns}/${name})`));
      continue;
    }
    try {
      pod = admitPod(pod, sa);
      pod = admitPodPriority(pod, (classes ??= priorityClassLookup(view.list<PriorityClass>('PriorityClass'))));
      pod = admitPodLimits(pod, view.list<LimitRange>('LimitRange', ns));
    } catch (err) {
      if (!isGantryError(err, 'Forbidden')) throw err;
      const field = err.location.field;
      const why = field === 'spec.priorityClassName' ? `${field}: ${err.message}: declare the PriorityClass in the repo (pods "${e.name}" is forbidden)` : err.message;
      issues.push(issueOf(e, field, why));
      continue;
    }
    e.desired = pod;
  }
  return issues;
}

/** New claims against the PersistentVolumeClaim items of their namespace's LimitRanges. */
function admitClaims(plan: Plan, view: EffectiveObjects): ManifestIssue[] {
  const issues: ManifestIssue[] = [];
  for (const e of plan.create) {
    if (e.kind !== 'PersistentVolumeClaim' || !e.desired) continue;
    const violations = claimLimitViolations(e.desired as PersistentVolumeClaim, view.list<LimitRange>('LimitRange', e.namespace ?? 'default'));
    if (violations.length > 0) {
      issues.push(issueOf(e, 'spec.resources.requests[storage]', limitViolationError(violations, { resource: 'persistentvolumeclaims', name: e.name }).message));
    }
  }
  return issues;
}

/** A PriorityClass's value and preemption policy cannot change once it exists (pods carry them already). */
function checkPriorityClassUpdates(plan: Plan): ManifestIssue[] {
  const issues: ManifestIssue[] = [];
  for (const e of plan.update) {
    if (e.kind !== 'PriorityClass' || !e.desired || !e.live) continue;
    const want = e.desired as PriorityClass;
    const was = e.live as PriorityClass;
    if (want.value !== was.value) issues.push(issueOf(e, 'value', `value: invalid value ${want.value}: field is immutable (was ${was.value}); give the class a new name`));
    if ((want.preemptionPolicy ?? 'PreemptLowerPriority') !== (was.preemptionPolicy ?? 'PreemptLowerPriority')) {
      issues.push(issueOf(e, 'preemptionPolicy', `preemptionPolicy: invalid value "${want.preemptionPolicy ?? 'PreemptLowerPriority'}": field is immutable`));
    }
  }
  return issues;
}

/** A class the revision marks the global default while another already is (Kubernetes allows one). */
function checkGlobalDefaults(plan: Plan, view: EffectiveObjects): ManifestIssue[] {
  if (![...plan.create, ...plan.update].some((e) => e.kind === 'PriorityClass')) return [];
  const defaults = view.list<PriorityClass>('PriorityClass').filter((c) => c.globalDefault);
  if (defaults.length < 2) return [];
  const issues: ManifestIssue[] = [];
  for (const e of [...plan.create, ...plan.update]) {
    if (e.kind !== 'PriorityClass' || !(e.desired as PriorityClass | undefined)?.globalDefault) continue;
    const other = defaults.find((c) => c.metadata.name !== e.name)!;
    issues.push(issueOf(e, 'globalDefault', `globalDefault: forbidden: PriorityClass ${other.metadata.name} is already marked as default. Only one default can exist`));
  }
  return issues;
}

/** Endpoints declared for a Service with a selector would be overwritten by the endpoints controller at once. */
function checkEndpoints(plan: Plan, view: EffectiveObjects): ManifestIssue[] {
  const issues: ManifestIssue[] = [];
  for (const e of [...plan.create, ...plan.update]) {
    if (e.kind !== 'Endpoints' || !e.desired || !isManaged((e.desired as Endpoints).metadata)) continue;
    const svc = view.get<Service>('Service', e.namespace ?? 'default', e.name);
    if (svc?.spec.selector && Object.keys(svc.spec.selector).length > 0) {
      issues.push(issueOf(e, 'metadata.name', `metadata.name: Service ${e.namespace ?? 'default'}/${e.name} has a selector, so its Endpoints are the endpoints controller's: remove the selector to declare them by hand, or remove these Endpoints`));
    }
  }
  return issues;
}
