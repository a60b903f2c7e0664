/**
 * The vocabulary of health and sync, as Argo CD users know it: every object and the app as a
 * whole have a sync state (does the live state match Git?) and a health (is it doing its job?),
 * each with a reason a person can act on.
 */

/** Health states, as Argo CD names them. */
export const HealthStatuses = {
  Healthy: 'Healthy',
  Suspended: 'Suspended',
  Progressing: 'Progressing',
  Missing: 'Missing',
  Degraded: 'Degraded',
  Unknown: 'Unknown',
} as const;
/** One of {@link HealthStatuses}. */
export type HealthStatus = (typeof HealthStatuses)[keyof typeof HealthStatuses];

/** Sync states. `Rejected`: the revision Git asks for was refused (invalid), the last good one stays. */
export const SyncStates = {
  Synced: 'Synced',
  OutOfSync: 'OutOfSync',
  Rejected: 'Rejected',
  Unknown: 'Unknown',
} as const;
/** One of {@link SyncStates}. */
export type SyncState = (typeof SyncStates)[keyof typeof SyncStates];

/**
 * Worst last, as Argo CD orders them (gitops-engine `health.IsWorse`): an app is as healthy as
 * its least healthy object.
 */
const HEALTH_ORDER: readonly HealthStatus[] = ['Healthy', 'Suspended', 'Progressing', 'Missing', 'Degraded', 'Unknown'];

/** True when `a` is worse than `b`. */
export function isWorse(a: HealthStatus, b: HealthStatus): boolean {
  return HEALTH_ORDER.indexOf(a) > HEALTH_ORDER.indexOf(b);
}

/** A health with its reason: a short code (`CrashLoopBackOff`) and a sentence naming what to look at. */
export interface Health {
  status: HealthStatus;
  /** Short machine-readable cause, e.g. `ProgressDeadlineExceeded`, `CrashLoopBackOff`, `Unschedulable`. */
  reason?: string;
  message?: string;
}

/** A sync state with its reason. */
export interface Sync {
  status: SyncState;
  reason?: string;
  message?: string;
  /** The revision in force (last applied). */
  revision?: string;
}

/** Sync and health of one object the repo declares. */
export interface ObjectHealth {
  kind: string;
  namespace?: string;
  name: string;
  /** `Kind/namespace/name`. */
  key: string;
  sync: Sync;
  /** Absent for kinds without a health check (ConfigMap, Secret, …): they count as healthy. */
  health?: Health;
}

/** Sync and health of a group of objects: the app, or one namespace of it. */
export interface GroupHealth {
  sync: Sync;
  health: Health;
  /** Objects by health, for a one-line summary. */
  counts: Partial<Record<HealthStatus, number>>;
}

/** The app (the whole synced repo path): its state, per namespace, and per object. */
export interface AppHealth extends GroupHealth {
  namespaces: Record<string, GroupHealth>;
  objects: ObjectHealth[];
}
