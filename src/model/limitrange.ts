/**
 * LimitRange admission as Kubernetes' LimitRanger plugin does it (pure):
 *
 * - defaults: a container (or init container) without a limit for a resource gets the limit
 *   `default` of every Container item of the namespace's LimitRanges, and one without a request
 *   the `defaultRequest`; the pod is annotated `kubernetes.io/limit-ranger` with what was set
 *   ("LimitRanger plugin set: cpu, memory request for container app; cpu limit for container app");
 * - constraints: per Container item, each container's request and limit against `min` and `max`
 *   and its limit/request against `maxLimitRequestRatio`; per Pod item, the pod's total (app
 *   containers and sidecars, or the largest init container when bigger); per PersistentVolumeClaim
 *   item, a claim's requested storage against `min` and `max`.
 *
 * Messages are Kubernetes' ("maximum cpu usage per Container is 1, but limit is 2"), followed by
 * the LimitRange that says so.
 */
import { GantryError } from '../errors.js';
import { addExact, compareExact, formatExact, maxExact, milliValue, parseExact, ZERO, type ExactQuantity } from './exact-quantity.js';
import type { Container, LimitRange, LimitRangeItem, PersistentVolumeClaim, Pod, Quantity } from './types.js';

/** The annotation the LimitRanger writes on a pod it defaulted. */
export const LIMIT_RANGER_ANNOTATION = 'kubernetes.io/limit-ranger';

type ResourceMap = Record<string, Quantity>;

/** A constraint a LimitRange puts on an object, broken: the range and Kubernetes' words. */
export interface LimitViolation {
  limitRange: string;
  message: string;
}

/** LimitRanges in the order admission applies them (by name, for a stable result). */
function ordered(ranges: readonly LimitRange[]): LimitRange[] {
  return [...ranges].sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0));
}

/** A sidecar: an init container that keeps running (`restartPolicy: Always`). */
function isSidecar(c: Container): boolean {
  return (c as Container & { restartPolicy?: string }).restartPolicy === 'Always';
}

/**
 * The pod with the LimitRanges' container defaults filled in (a copy, annotated with what was
 * set), or the pod itself when no range sets anything for it.
 */
export function applyLimitRangeDefaults(pod: Pod, ranges: readonly LimitRange[]): Pod {
  const defaults = { limits: {} as ResourceMap, requests: {} as ResourceMap };
  for (const lr of ordered(ranges)) {
    for (const item of lr.spec.limits ?? []) {
      if (item.type !== 'Container') continue;
      // Ranges apply one after the other: a resource the first one set is no longer missing.
      const d = containerItemDefaults(item);
      for (const [k, v] of Object.entries(d.requests)) defaults.requests[k] ??= v;
      for (const [k, v] of Object.entries(d.limits)) defaults.limits[k] ??= v;
    }
  }
  if (Object.keys(defaults.limits).length === 0 && Object.keys(defaults.requests).length === 0) return pod;
  // Only containers and their resources change: copy those, share the rest of the spec.
  const spec = {
    ...pod.spec,
    containers: pod.spec.containers.map((c) => ({ ...c })),
    ...(pod.spec.initContainers ? { initContainers: pod.spec.initContainers.map((c) => ({ ...c })) } : {}),
  };
  const notes: string[] = [];
  const merge = (c: Container, what: string): void => {
    const limits = { ...(c.resources?.limits ?? {}) };
    const requests = { ...(c.resources?.requests ?? {}) };
    const setLimits: string[] = [];
    const setRequests: string[] = [];
    for (const [k, v] of Object.entries(defaults.limits)) if (limits[k] === undefined) (limits[k] = v, setLimits.push(k));
    for (const [k, v] of Object.entries(defaults.requests)) if (requests[k] === undefined) (requests[k] = v, setRequests.push(k));
    if (setLimits.length === 0 && setRequests.length === 0) return;
    c.resources = { ...c.resources, ...(Object.keys(limits).length ? { limits } : {}), ...(Object.keys(requests).length ? { requests } : {}) };
    if (setRequests.length) notes.push(`${setRequests.sort().join(', ')} request for ${what} ${c.name}`);
    if (setLimits.length) notes.push(`${setLimits.sort().join(', ')} limit for ${what} ${c.name}`);
  };
  for (const c of spec.containers) merge(c, 'container');
  for (const c of spec.initContainers ?? []) merge(c, 'init container');
  if (notes.length === 0) return pod;
  return {
    ...pod,
    metadata: { ...pod.metadata, annotations: { ...pod.metadata.annotations, [LIMIT_RANGER_ANNOTATION]: `LimitRanger plugin set: ${notes.join('; ')}` } },
    spec,
  };
}

/** A Container item's defaults after the API server's LimitRange defaulting (max → default → defaultRequest, min → defaultRequest). */
function containerItemDefaults(item: LimitRangeItem): { limits: ResourceMap; requests: ResourceMap } {
  const limits: ResourceMap = { ...(item.max ?? {}), ...(item.default ?? {}) };
  const requests: ResourceMap = { ...(item.min ?? {}), ...limits, ...(item.defaultRequest ?? {}) };
  return { limits, requests };
}

/** Every constraint of the namespace's LimitRanges the pod breaks (after defaults). */
export function podLimitViolations(pod: Pod, ranges: readonly LimitRange[]): LimitViolation[] {
  const out: LimitViolation[] = [];
  for (const lr of ordered(ranges)) {
    const say = (message: string | undefined): void => {
      if (message) out.push({ limitRange: lr.metadata.name, message });
    };
    for (const item of lr.spec.limits ?? []) {
      if (item.type === 'Container') {
        for (const c of [...pod.spec.containers, ...(pod.spec.initContainers ?? [])]) {
          const req = c.resources?.requests ?? {};
          const lim = c.resources?.limits ?? {};
          for (const [k, v] of Object.entries(item.min ?? {})) say(minConstraint('Container', k, v, req, lim));
          for (const [k, v] of Object.entries(item.max ?? {})) say(maxConstraint('Container', k, v, req, lim));
          for (const [k, v] of Object.entries(item.maxLimitRequestRatio ?? {})) say(ratioConstraint('Container', k, v, req, lim));
        }
      } else if (item.type === 'Pod') {
        const req = podTotals(pod, 'requests');
        const lim = podTotals(pod, 'limits');
        for (const [k, v] of Object.entries(item.min ?? {})) say(minConstraint('Pod', k, v, req, lim));
        for (const [k, v] of Object.entries(item.max ?? {})) say(maxConstraint('Pod', k, v, req, lim));
        for (const [k, v] of Object.entries(item.maxLimitRequestRatio ?? {})) say(ratioConstraint('Pod', k, v, req, lim));
      }
    }
  }
  return out;
}

/** Every constraint of the namespace's PersistentVolumeClaim items the claim's requested storage breaks. */
export function claimLimitViolations(claim: PersistentVolumeClaim, ranges: readonly LimitRange[]): LimitViolation[] {
  const out: LimitViolation[] = [];
  const req = claim.spec.resources?.requests ?? {};
  for (const lr of ordered(ranges)) {
    for (const item of lr.spec.limits ?? []) {
      if (item.type !== 'PersistentVolumeClaim') continue;
      for (const [k, v] of Object.entries(item.min ?? {})) {
        const m = minConstraint('PersistentVolumeClaim', k, v, req, {});
        if (m) out.push({ limitRange: lr.metadata.name, message: m });
      }
      for (const [k, v] of Object.entries(item.max ?? {})) {
        const q = req[k];
        const enforced = exact(v);
        const m = q === undefined
          ? `maximum ${k} usage per PersistentVolumeClaim is ${formatExact(enforced)}.  No request is specified`
          : compareExact(exact(q), enforced) > 0 ? `maximum ${k} usage per PersistentVolumeClaim is ${formatExact(enforced)}, but request is ${formatExact(exact(q))}` : undefined;
        if (m) out.push({ limitRange: lr.metadata.name, message: m });
      }
    }
  }
  return out;
}

/**
 * The violations as one admission error, worded as Kubernetes refuses the object
 * (`<plural> "<name>" is forbidden: …`), each naming its LimitRange; several are listed in
 * brackets, as Kubernetes aggregates them.
 */
export function limitViolationError(violations: readonly LimitViolation[], opts: { resource: string; name: string; field?: string }): GantryError {
  const parts = violations.map((v) => `${v.message} (LimitRange ${v.limitRange})`);
  const text = parts.length === 1 ? parts[0]! : `[${parts.join(', ')}]`;
  return new GantryError('Forbidden', `${opts.resource} "${opts.name}" is forbidden: ${text}`, opts.field ? { field: opts.field } : {});
}

/**
 * The pod as the LimitRanger leaves it: defaults filled in, then checked.
 * @throws GantryError Forbidden naming each broken constraint and its LimitRange.
 */
export function admitPodLimits(pod: Pod, ranges: readonly LimitRange[], nameForMessage = pod.metadata.name): Pod {
  if (ranges.length === 0) return pod;
  const admitted = applyLimitRangeDefaults(pod, ranges);
  const violations = podLimitViolations(admitted, ranges);
  if (violations.length > 0) throw limitViolationError(violations, { resource: 'pods', name: nameForMessage, field: 'spec.containers' });
  return admitted;
}

function exact(q: Quantity): ExactQuantity {
  return parseExact(q) ?? ZERO;
}

function minConstraint(type: string, name: string, enforcedQ: Quantity, request: ResourceMap, limit: ResourceMap): string | undefined {
  const enforced = exact(enforcedQ);
  const e = formatExact(enforced);
  if (request[name] === undefined) return `minimum ${name} usage per ${type} is ${e}.  No request is specified`;
  const req = exact(request[name]!);
  if (compareExact(req, enforced) < 0) return `minimum ${name} usage per ${type} is ${e}, but request is ${formatExact(req)}`;
  if (limit[name] !== undefined && compareExact(exact(limit[name]!), enforced) < 0) return `minimum ${name} usage per ${type} is ${e}, but limit is ${formatExact(exact(limit[name]!))}`;
  return undefined;
}

function maxConstraint(type: string, name: string, enforcedQ: Quantity, request: ResourceMap, limit: ResourceMap): string | undefined {
  const enforced = exact(enforcedQ);
  const e = formatExact(enforced);
  if (limit[name] === undefined) return `maximum ${name} usage per ${type} is ${e}.  No limit is specified`;
  const lim = exact(limit[name]!);
  if (compareExact(lim, enforced) > 0) return `maximum ${name} usage per ${type} is ${e}, but limit is ${formatExact(lim)}`;
  if (request[name] !== undefined && compareExact(exact(request[name]!), enforced) > 0) return `maximum ${name} usage per ${type} is ${e}, but request is ${formatExact(exact(request[name]!))}`;
  return undefined;
}

function ratioConstraint(type: string, name: string, enforcedQ: Quantity, request: ResourceMap, limit: ResourceMap): string | undefined {
  const e = formatExact(exact(enforcedQ));
  const req = request[name] === undefined ? 0n : milliValue(exact(request[name]!));
  const lim = limit[name] === undefined ? 0n : milliValue(exact(limit[name]!));
  if (req === 0n) return `${name} max limit to request ratio per ${type} is ${e}, but no request is specified or request is 0`;
  if (lim === 0n) return `${name} max limit to request ratio per ${type} is ${e}, but no limit is specified or limit is 0`;
  const ratio = Number(lim) / Number(req);
  if (ratio * 1000 > Number(milliValue(exact(enforcedQ)))) return `${name} max limit to request ratio per ${type} is ${e}, but provided ratio is ${ratio.toFixed(6)}`;
  return undefined;
}

/**
 * A pod's total requests or limits per resource, as Kubernetes counts them: app containers and
 * sidecars summed, or the largest init container (with the sidecars started before it) when bigger.
 */
export function podTotals(pod: Pod, which: 'requests' | 'limits'): ResourceMap {
  const sum = new Map<string, ExactQuantity>();
  const add = (into: Map<string, ExactQuantity>, m: ResourceMap | undefined): void => {
    for (const [k, v] of Object.entries(m ?? {})) into.set(k, addExact(into.get(k) ?? ZERO, exact(v)));
  };
  for (const c of pod.spec.containers) add(sum, c.resources?.[which]);
  const sidecars = new Map<string, ExactQuantity>();
  const initMax = new Map<string, ExactQuantity>();
  for (const c of pod.spec.initContainers ?? []) {
    let use: Map<string, ExactQuantity>;
    if (isSidecar(c)) {
      add(sum, c.resources?.[which]);
      add(sidecars, c.resources?.[which]);
      use = sidecars;
    } else {
      use = new Map(sidecars);
      add(use, c.resources?.[which]);
    }
    for (const [k, v] of use) initMax.set(k, maxExact(initMax.get(k) ?? v, v));
  }
  for (const [k, v] of initMax) sum.set(k, maxExact(sum.get(k) ?? v, v));
  const out: ResourceMap = {};
  for (const [k, v] of sum) out[k] = formatExact(v);
  return out;
}
