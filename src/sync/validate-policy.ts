/**
 * Semantic checks of the namespace policy kinds, as the API server validates them:
 *
 * - LimitRange: one item per type; resource names a container may use (Pod, Container) or
 *   `storage` (PersistentVolumeClaim, which needs a min or a max); no defaults on a Pod item;
 *   quantities that parse and are not negative; min ≤ default request ≤ default ≤ max, a
 *   maxLimitRequestRatio of at least 1 and no more than max/min (checked after the defaulting the
 *   API server does: default from max, default request from default or min);
 * - ResourceQuota: resource names a quota can count, whole numbers for counts, scopes that do not
 *   contradict each other and that apply to every resource the quota limits, scope selector terms
 *   with the operators their scope allows;
 * - PriorityClass: a value no higher than 1000000000, and `system-` names only for the built-in
 *   classes (with their values).
 */
import { applyDefaults } from '../model/defaults.js';
import { compareExact, formatExact, milliValue, parseExact, type ExactQuantity } from '../model/exact-quantity.js';
import { validateLabelKey } from '../model/names.js';
import { BUILTIN_PRIORITY_CLASSES, HIGHEST_USER_DEFINABLE_PRIORITY, SYSTEM_PRIORITY_CLASS_PREFIX } from '../model/priority.js';
import type { KubeObject, LimitRange, PriorityClass, Quantity, ResourceQuota, ResourceQuotaScope } from '../model/types.js';
import type { Problems } from './validate-problems.js';

/** Adds the problems of a LimitRange, ResourceQuota or PriorityClass to `p`. */
export function policyProblems(p: Problems, obj: KubeObject): void {
  if (obj.kind === 'LimitRange') checkLimitRange(p, applyDefaults(obj as LimitRange));
  else if (obj.kind === 'ResourceQuota') checkResourceQuota(p, obj as ResourceQuota);
  else if (obj.kind === 'PriorityClass') checkPriorityClass(p, obj as PriorityClass);
}

const QUANTITY_HINT = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$' (e.g. '500m', '128Mi', '2')";

/** Parses a quantity, reporting one that does not parse or is negative. */
function quantity(p: Problems, field: string, v: Quantity): ExactQuantity | undefined {
  const q = parseExact(v);
  if (!q) {
    p.invalid(field, v, QUANTITY_HINT);
    return undefined;
  }
  if (q.nanos < 0n) {
    p.invalid(field, v, 'must be greater than or equal to 0');
    return undefined;
  }
  return q;
}

/** Resource names a container may ask for (Kubernetes' validateContainerResourceName). */
function containerResourceProblem(name: string): string | undefined {
  if (['cpu', 'memory', 'ephemeral-storage'].includes(name) || name.startsWith('hugepages-')) return undefined;
  if (name.includes('/')) return validateLabelKey(name);
  return 'must be a standard resource type (cpu, memory, ephemeral-storage, hugepages-<size>) or fully qualified';
}

const LIMIT_FIELDS = ['max', 'min', 'default', 'defaultRequest', 'maxLimitRequestRatio'] as const;

function checkLimitRange(p: Problems, lr: LimitRange): void {
  const types = new Set<string>();
  lr.spec.limits.forEach((item, i) => {
    const at = `spec.limits[${i}]`;
    if (types.has(item.type)) p.duplicate(`${at}.type`, item.type);
    types.add(item.type);
    if (item.type === 'Pod') {
      if (item.default) p.forbidden(`${at}.default`, "may not be specified when `type` is 'Pod'");
      if (item.defaultRequest) p.forbidden(`${at}.defaultRequest`, "may not be specified when `type` is 'Pod'");
    }
    if (item.type === 'PersistentVolumeClaim' && item.min?.storage === undefined && item.max?.storage === undefined) {
      p.required(`${at}.limits`, 'either minimum or maximum storage value is required, but neither was provided');
    }
    const values: Partial<Record<(typeof LIMIT_FIELDS)[number], Map<string, ExactQuantity>>> = {};
    // Defaulting copies a name from max into default and defaultRequest: say what is wrong with it once.
    const reported = new Set<string>();
    for (const f of LIMIT_FIELDS) {
      const m = new Map<string, ExactQuantity>();
      values[f] = m;
      for (const [name, v] of Object.entries(item[f] ?? {})) {
        const field = `${at}.${f}[${name}]`;
        const bad = item.type === 'PersistentVolumeClaim'
          ? (name === 'storage' ? undefined : 'must be "storage" for a PersistentVolumeClaim limit')
          : containerResourceProblem(name);
        if (bad) {
          if (!reported.has(name)) p.invalid(field, name, bad);
          reported.add(name);
          continue;
        }
        const q = quantity(p, field, v);
        if (q) m.set(name, q);
      }
    }
    const names = new Set(LIMIT_FIELDS.flatMap((f) => [...values[f]!.keys()]));
    for (const k of names) checkLimitOrder(p, at, k, values);
  });
}

/** min ≤ defaultRequest ≤ default ≤ max and the ratio bounds, for one resource, in Kubernetes' words. */
function checkLimitOrder(p: Problems, at: string, k: string, v: Partial<Record<(typeof LIMIT_FIELDS)[number], Map<string, ExactQuantity>>>): void {
  const min = v.min!.get(k);
  const max = v.max!.get(k);
  const def = v.default!.get(k);
  const req = v.defaultRequest!.get(k);
  const ratio = v.maxLimitRequestRatio!.get(k);
  const s = formatExact;
  const gt = (a: ExactQuantity | undefined, b: ExactQuantity | undefined): boolean => a !== undefined && b !== undefined && compareExact(a, b) > 0;
  if (gt(min, max)) p.invalid(`${at}.min[${k}]`, s(min!), `min value ${s(min!)} is greater than max value ${s(max!)}`);
  if (gt(min, req)) p.invalid(`${at}.defaultRequest[${k}]`, s(req!), `min value ${s(min!)} is greater than default request value ${s(req!)}`);
  if (gt(req, max)) p.invalid(`${at}.defaultRequest[${k}]`, s(req!), `default request value ${s(req!)} is greater than max value ${s(max!)}`);
  if (gt(req, def)) p.invalid(`${at}.defaultRequest[${k}]`, s(req!), `default request value ${s(req!)} is greater than default limit value ${s(def!)}`);
  if (gt(min, def)) p.invalid(`${at}.default[${k}]`, s(min!), `min value ${s(min!)} is greater than default value ${s(def!)}`);
  if (gt(def, max)) p.invalid(`${at}.default[${k}]`, s(max!), `default value ${s(def!)} is greater than max value ${s(max!)}`);
  if (ratio !== undefined) {
    if (milliValue(ratio) < 1000n) p.invalid(`${at}.maxLimitRequestRatio[${k}]`, s(ratio), `ratio ${s(ratio)} is less than 1`);
    else if (min !== undefined && max !== undefined && milliValue(min) > 0n) {
      const bound = Number(milliValue(max)) / Number(milliValue(min));
      if (Number(milliValue(ratio)) / 1000 > bound) p.invalid(`${at}.maxLimitRequestRatio[${k}]`, s(ratio), `ratio ${s(ratio)} is greater than max/min = ${bound.toFixed(6)}`);
    }
  }
}

/** Quota resource names with a name of their own (Kubernetes' standard quota resources). */
const STANDARD_QUOTA = new Set([
  'cpu', 'memory', 'ephemeral-storage', 'requests.cpu', 'requests.memory', 'requests.storage', 'requests.ephemeral-storage',
  'limits.cpu', 'limits.memory', 'limits.ephemeral-storage', 'pods', 'services', 'replicationcontrollers', 'resourcequotas',
  'secrets', 'persistentvolumeclaims', 'configmaps', 'services.nodeports', 'services.loadbalancers',
]);

/** Resources that count objects: their limits are whole numbers. */
const COUNTED = new Set(['pods', 'services', 'replicationcontrollers', 'resourcequotas', 'secrets', 'persistentvolumeclaims', 'configmaps', 'services.nodeports', 'services.loadbalancers']);

/** The pod resources a scoped quota may limit (Kubernetes' IsResourceQuotaScopeValidForResource). */
const POD_SCOPED = new Set(['pods', 'cpu', 'memory', 'requests.cpu', 'requests.memory', 'limits.cpu', 'limits.memory']);

/** Scopes that are a yes/no property of a pod (selectable with Exists / DoesNotExist only). */
const BOOLEAN_SCOPES = new Set<ResourceQuotaScope>(['Terminating', 'NotTerminating', 'BestEffort', 'NotBestEffort', 'CrossNamespacePodAffinity']);

function quotaResourceProblem(name: string): string | undefined {
  if (STANDARD_QUOTA.has(name) || name.startsWith('hugepages-') || name.startsWith('requests.hugepages-')) return undefined;
  if (name.startsWith('count/')) return name.length > 'count/'.length ? undefined : 'must name a resource after "count/"';
  if (name.includes('/')) return validateLabelKey(name.replace(/^requests\./, ''));
  return 'must be a standard resource for quota (pods, services, configmaps, secrets, persistentvolumeclaims, replicationcontrollers, resourcequotas, services.nodeports, services.loadbalancers, requests.cpu, requests.memory, requests.storage, limits.cpu, limits.memory, …), count/<resource>[.<group>], or fully qualified';
}

function checkResourceQuota(p: Problems, quota: ResourceQuota): void {
  const hard = quota.spec?.hard ?? {};
  const badNames = new Set<string>();
  for (const [name, v] of Object.entries(hard)) {
    const field = `spec.hard[${name}]`;
    const bad = quotaResourceProblem(name);
    if (bad) {
      p.invalid(field, name, bad);
      badNames.add(name);
      continue;
    }
    const q = quantity(p, field, v);
    const integral = COUNTED.has(name) || name.startsWith('count/') || name.endsWith('/persistentvolumeclaims');
    if (q && integral && q.nanos % 1_000_000_000n !== 0n) p.invalid(field, v, 'must be an integer');
  }
  const scopes = quota.spec?.scopes ?? [];
  const seen = new Set<string>();
  scopes.forEach((s, i) => {
    if (seen.has(s)) p.duplicate(`spec.scopes[${i}]`, s);
    seen.add(s);
  });
  const terms = quota.spec?.scopeSelector?.matchExpressions ?? [];
  terms.forEach((t, i) => {
    const at = `spec.scopeSelector.matchExpressions[${i}]`;
    const values = t.values ?? [];
    if (BOOLEAN_SCOPES.has(t.scopeName) && t.operator !== 'Exists' && t.operator !== 'DoesNotExist') {
      p.invalid(`${at}.operator`, t.operator, `must be 'Exists' or 'DoesNotExist' when scope is any of Terminating, NotTerminating, BestEffort, NotBestEffort or CrossNamespacePodAffinity`);
    }
    if ((t.operator === 'In' || t.operator === 'NotIn') && values.length === 0) p.required(`${at}.values`, "must be specified when `operator` is 'In' or 'NotIn'");
    if ((t.operator === 'Exists' || t.operator === 'DoesNotExist') && values.length > 0) p.forbidden(`${at}.values`, "may not be specified when `operator` is 'Exists' or 'DoesNotExist'");
  });
  // The scopes a pod must be in, as the quota counts them.
  const all = new Map<ResourceQuotaScope, boolean>();
  for (const s of scopes) all.set(s, true);
  for (const t of terms) all.set(t.scopeName, t.operator !== 'DoesNotExist');
  const pairs: [ResourceQuotaScope, ResourceQuotaScope][] = [['Terminating', 'NotTerminating'], ['BestEffort', 'NotBestEffort']];
  for (const [a, b] of pairs) {
    if ((all.get(a) === true && all.get(b) === true) || (all.has(a) && all.get(a) === false && all.has(b) && all.get(b) === false)) {
      p.invalid(scopes.length ? 'spec.scopes' : 'spec.scopeSelector', [...all.keys()], `conflicting scopes: ${a} and ${b}`);
    }
  }
  if (all.size === 0) return;
  const bestEffortOnly = all.get('BestEffort') === true;
  for (const name of Object.keys(hard)) {
    if (badNames.has(name)) continue;
    const ok = bestEffortOnly ? name === 'pods' : POD_SCOPED.has(name);
    if (!ok) p.invalid(`spec.hard[${name}]`, name, 'unsupported scope applied to resource');
  }
}

function checkPriorityClass(p: Problems, pc: PriorityClass): void {
  const name = pc.metadata.name;
  if (name.startsWith(SYSTEM_PRIORITY_CLASS_PREFIX)) {
    const builtin = BUILTIN_PRIORITY_CLASSES.find((c) => c.metadata.name === name);
    const why = !builtin ? `${name} is not a known system priority class`
      : builtin.value !== pc.value ? `value of ${name} PriorityClass must be ${builtin.value}`
        : pc.globalDefault ? `globalDefault of ${name} PriorityClass must be false` : undefined;
    if (why) p.forbidden('metadata.name', `priority class names with '${SYSTEM_PRIORITY_CLASS_PREFIX}' prefix are reserved for system use only. error: ${why}`);
  } else if (pc.value > HIGHEST_USER_DEFINABLE_PRIORITY) {
    p.forbidden('value', `maximum allowed value of a user defined priority is ${HIGHEST_USER_DEFINABLE_PRIORITY}`);
  }
}
