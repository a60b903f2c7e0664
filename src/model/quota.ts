/**
 * ResourceQuota arithmetic as Kubernetes' quota evaluators and admission plugin do it (pure):
 * what an object uses, which quotas count it, what a quota's `status.used` is for a namespace's
 * objects, and whether charging a new object fits.
 *
 * Resources a quota may limit (`spec.hard`):
 * - compute, for pods that are not finished (and not past their deletion grace period):
 *   `requests.cpu` (also `cpu`), `requests.memory` (also `memory`), `limits.cpu`, `limits.memory`,
 *   the same for `ephemeral-storage`, hugepages (`hugepages-<size>`, `requests.hugepages-<size>`)
 *   and extended resources (`requests.<domain>/<name>`); a pod's amount is its effective total
 *   (app containers and sidecars, or the largest init container when bigger);
 * - object counts: `pods` (unfinished pods), `services`, `services.loadbalancers`,
 *   `services.nodeports` (node ports of NodePort and LoadBalancer Services), `configmaps`,
 *   `secrets`, `persistentvolumeclaims`, `replicationcontrollers`, `resourcequotas`, and
 *   `count/<resource>[.<group>]` for any namespaced kind (`count/deployments.apps`,
 *   `count/pods` counts finished pods too);
 * - storage: `requests.storage` and, per class, `<class>.storageclass.storage.k8s.io/requests.storage`
 *   and `…/persistentvolumeclaims`.
 *
 * Scopes (`spec.scopes`, `spec.scopeSelector`) narrow a quota to pods: Terminating (with
 * `activeDeadlineSeconds`), NotTerminating, BestEffort (no requests or limits at all),
 * NotBestEffort, PriorityClass (In / NotIn / Exists / DoesNotExist on the pod's class) and
 * CrossNamespacePodAffinity (an affinity term naming other namespaces). A scoped quota counts
 * no other kind.
 */
import { kindInfo } from './kinds.js';
import { addExact, compareExact, formatExact, parseExact, subtractExact, ZERO, type ExactQuantity } from './exact-quantity.js';
import { podTotals } from './limitrange.js';
import type { Container, KubeObject, PersistentVolumeClaim, Pod, Quantity, ResourceQuota, ScopedResourceSelectorRequirement, Service } from './types.js';

/** Usage per resource name. */
export type Usage = Map<string, ExactQuantity>;

const ONE: ExactQuantity = { nanos: 1_000_000_000n, format: 'DecimalSI' };

/** Compute resources a pod is charged, besides the hugepages and extended ones. */
const POD_COMPUTE = new Set([
  'cpu', 'memory', 'ephemeral-storage',
  'requests.cpu', 'requests.memory', 'requests.ephemeral-storage',
  'limits.cpu', 'limits.memory', 'limits.ephemeral-storage',
]);

/** The resources whose presence on every container a quota tracking them demands (Kubernetes' "mistake" it keeps). */
const MUST_SPECIFY = ['cpu', 'limits.cpu', 'limits.memory', 'memory', 'requests.cpu', 'requests.memory'] as const;

/** Object count resources with a name of their own (beside `count/<plural>`). */
const LEGACY_COUNTS: Record<string, string> = {
  Pod: 'pods',
  Service: 'services',
  ConfigMap: 'configmaps',
  Secret: 'secrets',
  PersistentVolumeClaim: 'persistentvolumeclaims',
  ReplicationController: 'replicationcontrollers',
  ResourceQuota: 'resourcequotas',
};

const STORAGE_CLASS_SUFFIX = '.storageclass.storage.k8s.io/';

/** `count/<plural>` for the core group, `count/<plural>.<group>` otherwise; undefined for kinds gantry does not know. */
export function countResourceName(kind: string): string | undefined {
  const info = kindInfo(kind);
  if (!info || !info.namespaced) return undefined;
  const slash = info.apiVersion.indexOf('/');
  return slash < 0 ? `count/${info.plural}` : `count/${info.plural}.${info.apiVersion.slice(0, slash)}`;
}

function q(v: Quantity | undefined): ExactQuantity | undefined {
  return v === undefined ? undefined : parseExact(v);
}

function bump(u: Usage, name: string, v: ExactQuantity): void {
  u.set(name, addExact(u.get(name) ?? ZERO, v));
}

/** True for a resource name Kubernetes calls native (no domain, or a kubernetes.io one). */
function isNative(name: string): boolean {
  const slash = name.indexOf('/');
  if (slash < 0) return true;
  const domain = name.slice(0, slash);
  return domain === 'kubernetes.io' || domain.endsWith('.kubernetes.io');
}

/** True when a pod counts for compute quota: not finished, not past its deletion grace period. */
export function podChargedForCompute(pod: Pod, now: number): boolean {
  const phase = pod.status?.phase;
  if (phase === 'Succeeded' || phase === 'Failed') return false;
  const deleted = pod.metadata.deletionTimestamp;
  if (deleted) {
    const grace = pod.metadata.deletionGracePeriodSeconds ?? pod.spec.terminationGracePeriodSeconds ?? 30;
    if (now > Date.parse(deleted) + grace * 1000) return false;
  }
  return true;
}

/** What one object uses, per resource name (Kubernetes' evaluators' Usage). */
export function objectUsage(obj: KubeObject, now: number): Usage {
  const u: Usage = new Map();
  const count = countResourceName(obj.kind);
  if (count) u.set(count, ONE);
  switch (obj.kind) {
    case 'Pod':
      podUsage(obj as Pod, now, u);
      break;
    case 'Service': {
      const svc = obj as Service;
      u.set('services', ONE);
      const type = svc.spec.type ?? 'ClusterIP';
      if (type === 'LoadBalancer') u.set('services.loadbalancers', ONE);
      if (type === 'LoadBalancer' || type === 'NodePort') {
        const ports = svc.spec.ports?.length ?? 0;
        if (ports > 0) u.set('services.nodeports', parseExact(ports)!);
      }
      break;
    }
    case 'PersistentVolumeClaim': {
      const pvc = obj as PersistentVolumeClaim;
      u.set('persistentvolumeclaims', ONE);
      const storage = q(pvc.spec.resources?.requests?.storage);
      if (storage) u.set('requests.storage', storage);
      const cls = pvc.spec.storageClassName;
      if (cls) {
        u.set(`${cls}${STORAGE_CLASS_SUFFIX}persistentvolumeclaims`, ONE);
        if (storage) u.set(`${cls}${STORAGE_CLASS_SUFFIX}requests.storage`, storage);
      }
      break;
    }
    default: {
      const legacy = LEGACY_COUNTS[obj.kind];
      if (legacy) u.set(legacy, ONE);
    }
  }
  return u;
}

function podUsage(pod: Pod, now: number, u: Usage): void {
  if (!podChargedForCompute(pod, now)) return;
  u.set('pods', ONE);
  const requests = podTotals(pod, 'requests');
  const limits = podTotals(pod, 'limits');
  for (const [name, v] of Object.entries(requests)) {
    const amount = parseExact(v);
    if (!amount) continue;
    if (name === 'cpu' || name === 'memory' || name === 'ephemeral-storage') {
      u.set(name, amount);
      u.set(`requests.${name}`, amount);
    } else if (name.startsWith('hugepages-')) {
      u.set(name, amount);
      u.set(`requests.${name}`, amount);
    } else if (!isNative(name)) {
      u.set(`requests.${name}`, amount);
    }
  }
  for (const name of ['cpu', 'memory', 'ephemeral-storage']) {
    const amount = q(limits[name]);
    if (amount) u.set(`limits.${name}`, amount);
  }
}

/** True when `resource` is one a quota can charge an object of `kind` with. */
export function tracksResource(kind: string, resource: string): boolean {
  if (resource === countResourceName(kind)) return true;
  switch (kind) {
    case 'Pod':
      return resource === 'pods' || POD_COMPUTE.has(resource) || resource.startsWith('hugepages-') || resource.startsWith('requests.hugepages-')
        || (resource.startsWith('requests.') && !isNative(resource.slice('requests.'.length)));
    case 'Service':
      return resource === 'services' || resource === 'services.loadbalancers' || resource === 'services.nodeports';
    case 'PersistentVolumeClaim':
      return resource === 'persistentvolumeclaims' || resource === 'requests.storage'
        || (resource.includes(STORAGE_CLASS_SUFFIX) && /\/(requests\.storage|persistentvolumeclaims)$/.test(resource));
    default:
      return LEGACY_COUNTS[kind] === resource;
  }
}

/** The quota's scope terms: `scopes` (each as Exists) and its scopeSelector's expressions. */
export function quotaScopes(quota: ResourceQuota): ScopedResourceSelectorRequirement[] {
  return [
    ...(quota.spec?.scopes ?? []).map((s) => ({ scopeName: s, operator: 'Exists' as const })),
    ...(quota.spec?.scopeSelector?.matchExpressions ?? []),
  ];
}

/** A pod's QoS is BestEffort when no container (init ones included) has a cpu or memory request or limit. */
export function isBestEffort(pod: Pod): boolean {
  const all: Container[] = [...pod.spec.containers, ...(pod.spec.initContainers ?? [])];
  return all.every((c) => ['cpu', 'memory'].every((r) => c.resources?.requests?.[r] === undefined && c.resources?.limits?.[r] === undefined));
}

function crossNamespaceAffinity(pod: Pod): boolean {
  const a = pod.spec.affinity;
  const terms = [
    ...(a?.podAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? []),
    ...(a?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? []),
    ...(a?.podAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? []).map((w) => w.podAffinityTerm),
    ...(a?.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? []).map((w) => w.podAffinityTerm),
  ];
  return terms.some((t) => (t.namespaces?.length ?? 0) > 0 || (t as { namespaceSelector?: unknown }).namespaceSelector !== undefined);
}

/** True when the pod is in the scope term. */
export function podMatchesScope(pod: Pod, term: ScopedResourceSelectorRequirement): boolean {
  let inScope: boolean;
  switch (term.scopeName) {
    case 'Terminating': inScope = pod.spec.activeDeadlineSeconds !== undefined && pod.spec.activeDeadlineSeconds >= 0; break;
    case 'NotTerminating': inScope = !(pod.spec.activeDeadlineSeconds !== undefined && pod.spec.activeDeadlineSeconds >= 0); break;
    case 'BestEffort': inScope = isBestEffort(pod); break;
    case 'NotBestEffort': inScope = !isBestEffort(pod); break;
    case 'CrossNamespacePodAffinity': inScope = crossNamespaceAffinity(pod); break;
    case 'PriorityClass': {
      const cls = pod.spec.priorityClassName;
      switch (term.operator) {
        case 'Exists': return !!cls;
        case 'DoesNotExist': return !cls;
        case 'In': return !!cls && (term.values ?? []).includes(cls);
        case 'NotIn': return !cls || !(term.values ?? []).includes(cls);
      }
      return false;
    }
    default: return false;
  }
  return term.operator === 'DoesNotExist' ? !inScope : inScope;
}

/** True when the quota counts `obj`: one of its hard resources applies to the kind, and every scope term matches. */
export function quotaMatches(quota: ResourceQuota, obj: KubeObject): boolean {
  if ((quota.metadata.namespace ?? 'default') !== (obj.metadata.namespace ?? 'default')) return false;
  const hard = Object.keys(quota.spec?.hard ?? {});
  if (!hard.some((r) => tracksResource(obj.kind, r))) return false;
  const scopes = quotaScopes(quota);
  if (scopes.length === 0) return true;
  if (obj.kind !== 'Pod') return false;
  return scopes.every((s) => podMatchesScope(obj as Pod, s));
}

/** The usage masked to the quota's hard resources. */
export function chargedUsage(quota: ResourceQuota, usage: Usage): Usage {
  const out: Usage = new Map();
  for (const r of Object.keys(quota.spec?.hard ?? {})) {
    const v = usage.get(r);
    if (v && v.nanos !== 0n) out.set(r, v);
  }
  return out;
}

/**
 * The quota's `status.used` for these objects (every object of the namespace the caller has;
 * others are skipped): one entry per hard resource, 0 when nothing uses it.
 */
export function quotaUsed(quota: ResourceQuota, objects: Iterable<KubeObject>, now: number): Record<string, string> {
  const total: Usage = new Map();
  for (const r of Object.keys(quota.spec?.hard ?? {})) total.set(r, ZERO);
  for (const o of objects) {
    if (!quotaMatches(quota, o)) continue;
    for (const [r, v] of chargedUsage(quota, objectUsage(o, now))) bump(total, r, v);
  }
  return formatUsage(total);
}

/** Usage as quota status writes it: canonical quantities by resource name. */
export function formatUsage(u: Usage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [r, v] of [...u].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) out[r] = formatExact(v);
  return out;
}

/** Parses a status or spec map of quantities. */
export function parseUsage(m: Record<string, Quantity> | undefined): Usage {
  const out: Usage = new Map();
  for (const [k, v] of Object.entries(m ?? {})) {
    const p = parseExact(v);
    if (p) out.set(k, p);
  }
  return out;
}

/** a + b per resource. */
export function addUsage(a: Usage, b: Usage): Usage {
  const out: Usage = new Map(a);
  for (const [k, v] of b) bump(out, k, v);
  return out;
}

/** a − b per resource, never below zero (an update's delta, as Kubernetes' SubtractWithNonNegativeResult). */
export function subtractUsage(a: Usage, b: Usage): Usage {
  const out: Usage = new Map();
  for (const [k, v] of a) {
    const d = subtractExact(v, b.get(k) ?? ZERO);
    if (d.nanos > 0n) out.set(k, d);
  }
  return out;
}

/**
 * Kubernetes' pod constraint for quotas that track cpu or memory: every container must state the
 * request or limit the quota counts ("must specify limits.cpu for: app; requests.memory for: app,init").
 * Undefined when the pod states them all.
 */
export function quotaConstraintProblem(quota: ResourceQuota, pod: Pod): string | undefined {
  const hard = new Set(Object.keys(quota.spec?.hard ?? {}));
  const required = MUST_SPECIFY.filter((r) => hard.has(r));
  if (required.length === 0) return undefined;
  const missing = new Map<string, Set<string>>();
  for (const c of [...pod.spec.containers, ...(pod.spec.initContainers ?? [])]) {
    for (const r of required) {
      const has = r.startsWith('limits.') ? c.resources?.limits?.[r.slice(7)] !== undefined
        : c.resources?.requests?.[r.replace(/^requests\./, '')] !== undefined;
      if (has) continue;
      let set = missing.get(r);
      if (!set) missing.set(r, (set = new Set()));
      set.add(c.name);
    }
  }
  if (missing.size === 0) return undefined;
  const parts = [...missing.keys()].sort().map((r) => `${r} for: ${[...missing.get(r)!].sort().join(',')}`);
  return `must specify ${parts.join('; ')}`;
}

/** The outcome of charging a quota with a new object. */
export type Charge =
  | { ok: true; used: Usage }
  | { ok: false; message: string };

/**
 * Charges `delta` (an object's usage, or an update's increase) to a quota whose current usage is
 * `used`: the new usage, or Kubernetes' refusal ("exceeded quota: compute, requested:
 * requests.cpu=500m, used: requests.cpu=1800m, limited: requests.cpu=2"). Only the hard
 * resources count; a resource the quota does not limit is never exceeded.
 */
export function chargeQuota(quota: ResourceQuota, used: Usage, delta: Usage): Charge {
  const hard = parseUsage(quota.spec?.hard);
  const requested = chargedUsage(quota, delta);
  if (requested.size === 0) return { ok: true, used };
  const exceeded: string[] = [];
  for (const [r, v] of requested) {
    const next = addExact(used.get(r) ?? ZERO, v);
    const limit = hard.get(r);
    if (limit && compareExact(next, limit) > 0) exceeded.push(r);
  }
  if (exceeded.length > 0) {
    exceeded.sort();
    const show = (m: Usage, r: string): string => `${r}=${formatExact(m.get(r) ?? ZERO)}`;
    return {
      ok: false,
      message: `exceeded quota: ${quota.metadata.name}, requested: ${exceeded.map((r) => show(requested, r)).join(',')}, used: ${exceeded.map((r) => show(used, r)).join(',')}, limited: ${exceeded.map((r) => show(hard, r)).join(',')}`,
    };
  }
  return { ok: true, used: addUsage(used, requested) };
}

/**
 * The hard resources the quota's status does not yet count, sorted (Kubernetes refuses to charge
 * such a quota: "status unknown for quota: compute, resources: requests.cpu"); empty when it counts them all.
 */
export function unknownUsage(quota: ResourceQuota, kind: string): string[] {
  const used = quota.status?.used ?? {};
  return Object.keys(quota.spec?.hard ?? {}).filter((r) => tracksResource(kind, r) && used[r] === undefined).sort();
}
