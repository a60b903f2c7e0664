/**
 * Deployment status and conditions, worded as Kubernetes reports them.
 */
import type { Condition, Deployment, ReplicaSet } from '../../model/types.js';
import { DEPLOYMENT_DEFAULTS, desiredReplicas, maxUnavailable, sum } from './replicas.js';

/** Condition types a Deployment reports. */
export const DeploymentConditionTypes = ['Available', 'Progressing'] as const;
/** One of {@link DeploymentConditionTypes}. */
export type DeploymentConditionType = (typeof DeploymentConditionTypes)[number];

/** Reasons of the Available condition. */
export const AvailableReasons = ['MinimumReplicasAvailable', 'MinimumReplicasUnavailable'] as const;
/** Reasons of the Progressing condition. */
export const ProgressingReasons = [
  'NewReplicaSetCreated',
  'FoundNewReplicaSet',
  'ReplicaSetUpdated',
  'NewReplicaSetAvailable',
  'ProgressDeadlineExceeded',
  'DeploymentPaused',
  'DeploymentResumed',
] as const;
/** A reason of a Deployment condition. */
export type DeploymentReason = (typeof AvailableReasons)[number] | (typeof ProgressingReasons)[number];

/** Deployment status as this controller writes it. */
export type DeploymentStatus = NonNullable<Deployment['status']>;

/** A typed condition. */
export interface DeploymentCondition extends Condition {
  type: DeploymentConditionType;
  reason: DeploymentReason;
}

/** The condition of this type in a status. */
export function getCondition(status: DeploymentStatus | undefined, type: DeploymentConditionType): Condition | undefined {
  return status?.conditions?.find((c) => c.type === type);
}

/** A new condition stamped with `now` and the Deployment's generation. */
export function newCondition(
  d: Deployment,
  type: DeploymentConditionType,
  status: Condition['status'],
  reason: DeploymentReason,
  message: string,
  now: number,
): DeploymentCondition {
  const t = new Date(now).toISOString();
  return { type, status, reason, message, lastUpdateTime: t, lastTransitionTime: t, observedGeneration: d.metadata.generation };
}

/**
 * Kubernetes' SetDeploymentCondition: nothing changes when status and reason are the same;
 * the transition time is kept when only the reason changes.
 */
export function setCondition(status: DeploymentStatus, cond: DeploymentCondition): void {
  const conds = status.conditions ?? [];
  const cur = conds.find((c) => c.type === cond.type);
  if (cur && cur.status === cond.status && cur.reason === cond.reason) {
    cur.observedGeneration = cond.observedGeneration;
    return;
  }
  if (cur && cur.status === cond.status) cond.lastTransitionTime = cur.lastTransitionTime;
  status.conditions = [...conds.filter((c) => c.type !== cond.type), cond];
}

/** Removes a condition. */
export function removeCondition(status: DeploymentStatus, type: DeploymentConditionType): void {
  if (!status.conditions) return;
  status.conditions = status.conditions.filter((c) => c.type !== type);
}

/** progressDeadlineSeconds, or undefined when there is no deadline. */
export function progressDeadline(d: Deployment): number | undefined {
  const v = d.spec.progressDeadlineSeconds ?? DEPLOYMENT_DEFAULTS.progressDeadlineSeconds;
  return v >= 2147483647 ? undefined : v;
}

/**
 * Kubernetes' calculateStatus: counts from the ReplicaSets, and the Available condition.
 * `conditions` carries the working conditions of this reconcile.
 */
export function calculateStatus(
  d: Deployment,
  all: readonly ReplicaSet[],
  newRS: ReplicaSet | undefined,
  base: DeploymentStatus,
  now: number,
): DeploymentStatus {
  const available = sum(all, (rs) => rs.status?.availableReplicas ?? 0);
  const total = sum(all, (rs) => rs.spec.replicas ?? 1);
  const status: DeploymentStatus = {
    observedGeneration: d.metadata.generation,
    replicas: sum(all, (rs) => rs.status?.replicas ?? 0),
    updatedReplicas: newRS?.status?.replicas ?? 0,
    readyReplicas: sum(all, (rs) => rs.status?.readyReplicas ?? 0),
    availableReplicas: available,
    unavailableReplicas: Math.max(0, total - available),
    conditions: (base.conditions ?? []).map((c) => ({ ...c })),
    ...(base.collisionCount !== undefined ? { collisionCount: base.collisionCount } : {}),
  };
  if (available >= desiredReplicas(d) - maxUnavailable(d)) {
    setCondition(status, newCondition(d, 'Available', 'True', 'MinimumReplicasAvailable', 'Deployment has minimum availability.', now));
  } else {
    setCondition(status, newCondition(d, 'Available', 'False', 'MinimumReplicasUnavailable', 'Deployment does not have minimum availability.', now));
  }
  return status;
}

/** Kubernetes' DeploymentComplete: every replica updated and available at this generation. */
export function deploymentComplete(d: Deployment, s: DeploymentStatus | undefined): boolean {
  const r = desiredReplicas(d);
  return (
    (s?.updatedReplicas ?? 0) === r &&
    (s?.replicas ?? 0) === r &&
    (s?.availableReplicas ?? 0) === r &&
    (s?.observedGeneration ?? 0) >= (d.metadata.generation ?? 0)
  );
}

/** Kubernetes' DeploymentProgressing: the new status shows progress over the old one. */
export function deploymentProgressing(old: DeploymentStatus | undefined, next: DeploymentStatus): boolean {
  const oldOld = (old?.replicas ?? 0) - (old?.updatedReplicas ?? 0);
  const newOld = (next.replicas ?? 0) - (next.updatedReplicas ?? 0);
  return (
    (next.updatedReplicas ?? 0) > (old?.updatedReplicas ?? 0) ||
    newOld < oldOld ||
    (next.readyReplicas ?? 0) > (old?.readyReplicas ?? 0) ||
    (next.availableReplicas ?? 0) > (old?.availableReplicas ?? 0)
  );
}

/** Kubernetes' DeploymentTimedOut: the Progressing condition is older than the deadline. */
export function deploymentTimedOut(d: Deployment, s: DeploymentStatus, now: number): boolean {
  const deadline = progressDeadline(d);
  if (deadline === undefined) return false;
  const c = getCondition(s, 'Progressing');
  if (!c) return false;
  if (c.reason === 'NewReplicaSetAvailable') return false;
  if (c.reason === 'ProgressDeadlineExceeded') return true;
  const from = Date.parse(c.lastUpdateTime ?? c.lastTransitionTime ?? '');
  if (Number.isNaN(from)) return false;
  return from + deadline * 1000 < now;
}
