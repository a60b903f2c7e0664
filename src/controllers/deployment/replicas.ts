/**
 * Replica arithmetic of the Deployment controller, as Kubernetes' deployment util does it:
 * fenceposts (maxSurge rounded up, maxUnavailable rounded down, both 0 → maxUnavailable 1),
 * the revision and replicas annotations, and the size of each ReplicaSet during a rollout or a
 * scale.
 */
import { GantryError } from '../../errors.js';
import { objectKey } from '../../model/keys.js';
import type { Deployment, KubeObject, ReplicaSet } from '../../model/types.js';

/** Revision of the rollout a ReplicaSet (and its Deployment) belongs to. */
export const REVISION_ANNOTATION = 'deployment.kubernetes.io/revision';
/** The Deployment's replicas when the ReplicaSet was last scaled (scaling-event detection). */
export const DESIRED_REPLICAS_ANNOTATION = 'deployment.kubernetes.io/desired-replicas';
/** replicas + maxSurge when the ReplicaSet was last scaled (proportional scaling). */
export const MAX_REPLICAS_ANNOTATION = 'deployment.kubernetes.io/max-replicas';

/** Kubernetes' defaults for the fields this controller reads. */
export const DEPLOYMENT_DEFAULTS = {
  replicas: 1,
  maxSurge: '25%',
  maxUnavailable: '25%',
  revisionHistoryLimit: 10,
  progressDeadlineSeconds: 600,
} as const;

/** spec.replicas with its default. */
export function desiredReplicas(d: Deployment): number {
  return d.spec.replicas ?? DEPLOYMENT_DEFAULTS.replicas;
}

/** True for the RollingUpdate strategy (the default). */
export function isRolling(d: Deployment): boolean {
  return (d.spec.strategy?.type ?? 'RollingUpdate') === 'RollingUpdate';
}

/** An int-or-percent resolved against `total`, rounding up or down. */
export function resolveIntOrPercent(value: number | string, total: number, roundUp: boolean, what: { d: Deployment; field: string }): number {
  if (typeof value === 'number') return value;
  const m = /^(\d+)%$/.exec(value);
  if (!m) {
    if (/^\d+$/.test(value)) return Number(value);
    throw new GantryError('InvalidManifest', `cannot roll out Deployment ${what.d.metadata.namespace}/${what.d.metadata.name}: ${what.field} "${value}" is neither an integer nor a percentage`, { object: objectKey(what.d), field: what.field });
  }
  const v = (Number(m[1]) * total) / 100;
  return roundUp ? Math.ceil(v) : Math.floor(v);
}

/** maxSurge and maxUnavailable as numbers (Kubernetes' ResolveFenceposts). */
export function fenceposts(d: Deployment): { maxSurge: number; maxUnavailable: number } {
  if (!isRolling(d)) return { maxSurge: 0, maxUnavailable: 0 };
  const ru = d.spec.strategy?.rollingUpdate;
  const replicas = desiredReplicas(d);
  const maxSurge = resolveIntOrPercent(ru?.maxSurge ?? DEPLOYMENT_DEFAULTS.maxSurge, replicas, true, { d, field: 'spec.strategy.rollingUpdate.maxSurge' });
  let maxUnavailable = resolveIntOrPercent(ru?.maxUnavailable ?? DEPLOYMENT_DEFAULTS.maxUnavailable, replicas, false, { d, field: 'spec.strategy.rollingUpdate.maxUnavailable' });
  // Both zero would never make progress; Kubernetes validates against it and, for percentages
  // that round to zero, forces maxUnavailable to 1.
  if (maxSurge === 0 && maxUnavailable === 0) maxUnavailable = 1;
  return { maxSurge, maxUnavailable };
}

/** maxSurge, 0 for Recreate. */
export function maxSurge(d: Deployment): number {
  return fenceposts(d).maxSurge;
}

/** maxUnavailable capped at replicas, 0 for Recreate or replicas 0 (Kubernetes' MaxUnavailable). */
export function maxUnavailable(d: Deployment): number {
  const replicas = desiredReplicas(d);
  if (!isRolling(d) || replicas === 0) return 0;
  return Math.min(fenceposts(d).maxUnavailable, replicas);
}

/** spec.replicas of a ReplicaSet. */
export function specReplicas(rs: ReplicaSet | undefined): number {
  return rs ? rs.spec.replicas ?? 1 : 0;
}

/** An integer annotation, or undefined when absent or malformed. */
export function intAnnotation(obj: KubeObject, name: string): number | undefined {
  const v = obj.metadata.annotations?.[name];
  if (v === undefined || !/^-?\d+$/.test(v)) return undefined;
  return Number(v);
}

/** The revision of a ReplicaSet (0 when unset). */
export function revisionOf(obj: KubeObject): number {
  return intAnnotation(obj, REVISION_ANNOTATION) ?? 0;
}

/** Sums a number over ReplicaSets. */
export function sum(rss: readonly (ReplicaSet | undefined)[], f: (rs: ReplicaSet) => number): number {
  let n = 0;
  for (const rs of rss) if (rs) n += f(rs);
  return n;
}

/** Pods a ReplicaSet may have: its spec, or more while a scale-down is still in progress. */
export function podsUpperBound(rs: ReplicaSet): number {
  return Math.max(specReplicas(rs), rs.status?.replicas ?? 0);
}

/** Available pods a ReplicaSet keeps once it reaches its spec (the RS deletes unavailable first). */
export function keptAvailable(rs: ReplicaSet): number {
  return Math.min(rs.status?.availableReplicas ?? 0, specReplicas(rs));
}

/**
 * Replicas for the new ReplicaSet in this step (Kubernetes' NewRSNewReplicas). Recreate: all at
 * once. RollingUpdate: up to replicas + maxSurge in total. gantry counts each ReplicaSet at
 * max(spec, status) replicas so that pods still being removed count against the surge.
 */
export function newRSNewReplicas(d: Deployment, all: readonly ReplicaSet[], newRS: ReplicaSet | undefined): number {
  const replicas = desiredReplicas(d);
  if (!isRolling(d)) return replicas;
  const current = sum(all, podsUpperBound);
  const maxTotal = replicas + maxSurge(d);
  const newReplicas = specReplicas(newRS);
  if (current >= maxTotal) return newReplicas;
  const up = Math.min(maxTotal - current, replicas - newReplicas);
  return newReplicas + Math.max(0, up);
}

/** Creation time in ms (missing sorts last). */
export function createdAt(obj: KubeObject): number {
  const t = obj.metadata.creationTimestamp;
  return t ? Date.parse(t) : Number.POSITIVE_INFINITY;
}

/** Oldest first; ties by name for determinism. */
export function byCreation(a: KubeObject, b: KubeObject): number {
  return createdAt(a) - createdAt(b) || (a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0);
}

/** Kubernetes' GetProportion: how many replicas `rs` gains (or loses) in a proportional scale. */
export function proportion(d: Deployment, rs: ReplicaSet, toAdd: number, added: number): number {
  if (specReplicas(rs) === 0 || toAdd === 0 || toAdd === added) return 0;
  const fraction = replicaSetFraction(d, rs);
  const allowed = toAdd - added;
  return toAdd > 0 ? Math.min(fraction, allowed) : Math.max(fraction, allowed);
}

function replicaSetFraction(d: Deployment, rs: ReplicaSet): number {
  const replicas = desiredReplicas(d);
  if (replicas === 0) return -specReplicas(rs);
  const deploymentReplicas = replicas + maxSurge(d);
  const annotated = intAnnotation(rs, MAX_REPLICAS_ANNOTATION) ?? d.status?.replicas ?? 0;
  if (annotated === 0) return 0;
  const size = (specReplicas(rs) * deploymentReplicas) / annotated;
  return Math.round(size) - specReplicas(rs);
}
