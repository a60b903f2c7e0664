/**
 * PodDisruptionBudget arithmetic as Kubernetes' disruption controller and Eviction API do it
 * (policy/v1), as pure functions: which pods a budget selects, how many it expects and needs
 * healthy, how many disruptions that leaves, and whether one eviction may go ahead.
 *
 * - `minAvailable: N` (a count): expected = the matching pods, desired = N.
 * - `minAvailable: P%` or `maxUnavailable` (count or percent): expected = the sum of the scales
 *   of the pods' controllers (a Deployment's replicas for its ReplicaSets' pods, a ReplicaSet's or
 *   StatefulSet's own), each counted once; percents are rounded up, so `minAvailable: 50%` of 3 is
 *   2 and `maxUnavailable: 50%` of 3 is 2 (desired 1). Pods without a controller are skipped
 *   (and reported); a pod whose controller has no scale (a DaemonSet's, a Job's) is an error.
 * - healthy = Ready pods that are not terminating and were not evicted in the last two minutes
 *   (`status.disruptedPods`, the Eviction API's record that bridges the time until the pod's
 *   deletion is seen).
 * - disruptionsAllowed = healthy − desired, never below 0, and 0 while nothing is expected.
 */
import type { Condition, LabelSelector, Pod, PodDisruptionBudget, PodDisruptionBudgetStatus } from './types.js';
import { matchesSelector } from './selectors.js';
import { k8sTime } from './time.js';

/** The condition the disruption controller keeps on every budget. */
export const DISRUPTION_ALLOWED_CONDITION = 'DisruptionAllowed';

/** Reasons of the DisruptionAllowed condition, as Kubernetes spells them. */
export const DisruptionReasons = {
  sufficient: 'SufficientPods',
  insufficient: 'InsufficientPods',
  syncFailed: 'SyncFailed',
} as const;

/** How long an eviction recorded in `disruptedPods` keeps its pod out of the healthy count. */
export const DISRUPTED_POD_TIMEOUT_MS = 2 * 60_000;

/** The message of an eviction a budget refuses (429), word for word Kubernetes'. */
export const EVICTION_REFUSED_MESSAGE = "Cannot evict pod as it would violate the pod's disruption budget.";

/**
 * An int-or-percent scaled against `total`: a count as is, `P%` as P × total / 100, rounded up
 * or down. Throws on text that is not a percent (validation rejects it before it gets here).
 */
export function scaledValue(v: number | string, opts: { total: number; roundUp: boolean }): number {
  const { total, roundUp } = opts;
  if (typeof v === 'number') return v;
  const m = /^(\d+)%$/.exec(v);
  if (!m) throw new Error(`invalid value for IntOrString: "${v}" is not an integer or a percent`);
  const exact = (Number(m[1]) * total) / 100;
  return roundUp ? Math.ceil(exact) : Math.floor(exact);
}

/** True when the budget selects the pod: same namespace, and its selector matches (none: no pods; `{}`: all). */
export function budgetSelects(pdb: PodDisruptionBudget, pod: Pod): boolean {
  if ((pdb.metadata.namespace ?? 'default') !== (pod.metadata.namespace ?? 'default')) return false;
  return matchesSelector(pdb.spec.selector as LabelSelector | undefined, pod.metadata.labels);
}

/** What the scale lookup says of a pod's controller. */
export type ControllerScale =
  /** A controller with a scale: its uid (to count it once) and replicas. */
  | { uid: string; replicas: number }
  /** The pod has no controller. */
  | 'unmanaged'
  /** The pod's controller has no scale (DaemonSet, Job) or is gone. */
  | 'unknown';

/** Expected and desired healthy pods of a budget. */
export interface BudgetNeeds {
  expectedPods: number;
  desiredHealthy: number;
  /** Names of matching pods without a controller, which a scale-based budget cannot count. */
  unmanagedPods: string[];
}

/**
 * The budget's expected and desired healthy counts for its matching `pods`.
 * @throws Error "found no controllers for pod X" when a scale is needed and a pod's controller has none.
 */
export function budgetNeeds(pdb: PodDisruptionBudget, opts: { pods: readonly Pod[]; scaleOf: (pod: Pod) => ControllerScale }): BudgetNeeds {
  const { pods, scaleOf } = opts;
  const { minAvailable, maxUnavailable } = pdb.spec;
  const scaled = (): { expected: number; unmanaged: string[] } => {
    const seen = new Map<string, number>();
    const unmanaged: string[] = [];
    for (const pod of pods) {
      const s = scaleOf(pod);
      if (s === 'unmanaged') unmanaged.push(pod.metadata.name);
      else if (s === 'unknown') throw new Error(`found no controllers for pod "${pod.metadata.name}"`);
      else seen.set(s.uid, s.replicas);
    }
    let expected = 0;
    for (const n of seen.values()) expected += n;
    return { expected, unmanaged };
  };
  if (maxUnavailable !== undefined) {
    const { expected, unmanaged } = scaled();
    const desired = Math.max(0, expected - scaledValue(maxUnavailable, { total: expected, roundUp: true }));
    return { expectedPods: expected, desiredHealthy: desired, unmanagedPods: unmanaged };
  }
  if (typeof minAvailable === 'number') return { expectedPods: pods.length, desiredHealthy: minAvailable, unmanagedPods: [] };
  if (typeof minAvailable === 'string') {
    const { expected, unmanaged } = scaled();
    return { expectedPods: expected, desiredHealthy: scaledValue(minAvailable, { total: expected, roundUp: true }), unmanagedPods: unmanaged };
  }
  // Neither set: nothing is expected, so nothing may be disrupted.
  return { expectedPods: 0, desiredHealthy: 0, unmanagedPods: [] };
}

/** True when the pod's Ready condition is True. */
function ready(pod: Pod): boolean {
  return pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

/**
 * The `disruptedPods` still in force at `now`: entries of pods that still match, are not yet
 * terminating and were evicted less than {@link DISRUPTED_POD_TIMEOUT_MS} ago.
 */
export function liveDisruptedPods(recorded: Record<string, string> | undefined, opts: { pods: readonly Pod[]; now: number }): Record<string, string> {
  const { pods, now } = opts;
  const out: Record<string, string> = {};
  if (!recorded) return out;
  const byName = new Map(pods.map((p) => [p.metadata.name, p]));
  for (const [name, at] of Object.entries(recorded)) {
    const pod = byName.get(name);
    if (!pod || pod.metadata.deletionTimestamp) continue;
    if (Date.parse(at) + DISRUPTED_POD_TIMEOUT_MS <= now) continue;
    out[name] = at;
  }
  return out;
}

/** Ready pods, not terminating and not recently evicted. */
export function countHealthy(pods: readonly Pod[], opts: { disrupted: Record<string, string>; now: number }): number {
  const { disrupted, now } = opts;
  let n = 0;
  for (const pod of pods) {
    if (pod.metadata.deletionTimestamp) continue;
    const at = disrupted[pod.metadata.name];
    if (at !== undefined && Date.parse(at) + DISRUPTED_POD_TIMEOUT_MS > now) continue;
    if (ready(pod)) n++;
  }
  return n;
}

/** disruptionsAllowed: healthy beyond desired, and 0 while the budget expects no pods. */
export function disruptionsAllowed(counts: { currentHealthy: number; desiredHealthy: number; expectedPods: number }): number {
  const { currentHealthy, desiredHealthy, expectedPods } = counts;
  const allowed = currentHealthy - desiredHealthy;
  return expectedPods <= 0 || allowed <= 0 ? 0 : allowed;
}

/** The DisruptionAllowed condition for `allowed`, keeping the transition time when the status holds. */
export function disruptionCondition(allowed: number, prev: Condition[] | undefined, opts: { now: string; generation?: number; failure?: string }): Condition {
  const old = prev?.find((c) => c.type === DISRUPTION_ALLOWED_CONDITION);
  const status = !opts.failure && allowed > 0 ? 'True' : 'False';
  const reason = opts.failure ? DisruptionReasons.syncFailed : allowed > 0 ? DisruptionReasons.sufficient : DisruptionReasons.insufficient;
  return {
    type: DISRUPTION_ALLOWED_CONDITION,
    status,
    reason,
    message: opts.failure ?? '',
    ...(opts.generation !== undefined ? { observedGeneration: opts.generation } : {}),
    lastTransitionTime: old && old.status === status && old.lastTransitionTime ? old.lastTransitionTime : opts.now,
  };
}

/** Everything the disruption controller needs to compute a budget's status. */
export interface BudgetInput {
  pdb: PodDisruptionBudget;
  /** The pods the budget selects. */
  pods: readonly Pod[];
  scaleOf: (pod: Pod) => ControllerScale;
  now: number;
}

/** A budget's status, and the reason it could not be computed, if it could not. */
export interface BudgetStatus {
  status: PodDisruptionBudgetStatus;
  failure?: string;
  unmanagedPods: string[];
}

/**
 * The status the disruption controller writes. When the needs cannot be computed (a pod whose
 * controller has no scale), the budget fails safe: no disruptions allowed, condition SyncFailed.
 */
export function budgetStatus(input: BudgetInput): BudgetStatus {
  const { pdb, pods, now } = input;
  const nowText = k8sTime(now);
  const generation = pdb.metadata.generation;
  const disrupted = liveDisruptedPods(pdb.status?.disruptedPods, { pods, now });
  let needs: BudgetNeeds;
  try {
    needs = budgetNeeds(pdb, { pods, scaleOf: input.scaleOf });
  } catch (err) {
    const failure = err instanceof Error ? err.message : String(err);
    const prev = pdb.status;
    return {
      failure,
      unmanagedPods: [],
      status: {
        ...(generation !== undefined ? { observedGeneration: generation } : {}),
        ...(Object.keys(disrupted).length ? { disruptedPods: disrupted } : {}),
        disruptionsAllowed: 0,
        currentHealthy: prev?.currentHealthy ?? 0,
        desiredHealthy: prev?.desiredHealthy ?? 0,
        expectedPods: prev?.expectedPods ?? 0,
        conditions: [disruptionCondition(0, prev?.conditions, { now: nowText, generation, failure })],
      },
    };
  }
  const currentHealthy = countHealthy(pods, { disrupted, now });
  const allowed = disruptionsAllowed({ currentHealthy, desiredHealthy: needs.desiredHealthy, expectedPods: needs.expectedPods });
  return {
    unmanagedPods: needs.unmanagedPods,
    status: {
      ...(generation !== undefined ? { observedGeneration: generation } : {}),
      ...(Object.keys(disrupted).length ? { disruptedPods: disrupted } : {}),
      disruptionsAllowed: allowed,
      currentHealthy,
      desiredHealthy: needs.desiredHealthy,
      expectedPods: needs.expectedPods,
      conditions: [disruptionCondition(allowed, pdb.status?.conditions, { now: nowText, generation })],
    },
  };
}

/** The earliest time (epoch ms) an entry of `disrupted` expires, for the controller's requeue. */
export function nextDisruptedExpiry(disrupted: Record<string, string> | undefined): number | undefined {
  let next: number | undefined;
  for (const at of Object.values(disrupted ?? {})) {
    const t = Date.parse(at) + DISRUPTED_POD_TIMEOUT_MS;
    if (next === undefined || t < next) next = t;
  }
  return next;
}

/** What the Eviction API decides for one pod. */
export type EvictionVerdict =
  /** Delete the pod; `decrement` names the budget whose disruptionsAllowed the eviction uses up. */
  | { allowed: true; decrement?: PodDisruptionBudget; why: string }
  /** Refuse: 429 (the budget has no disruption to give, or has not caught up) or 403, 500. */
  | { allowed: false; code: 429 | 403 | 500; reason: string; message: string; cause?: string };

/**
 * Whether `pod` may be evicted given the budgets that select it (Kubernetes' eviction REST
 * handler): finished, pending and terminating pods always; no budget, always; more than one
 * budget, never; a pod that is not Ready when the budget's policy is AlwaysAllow, or when the
 * budget is already met (IfHealthyBudget, the default) without counting it; otherwise only when
 * the budget has caught up with its spec and allows a disruption, which the eviction takes.
 */
export function evictionVerdict(pod: Pod, budgets: readonly PodDisruptionBudget[]): EvictionVerdict {
  const phase = pod.status?.phase ?? 'Pending';
  if (phase === 'Succeeded' || phase === 'Failed' || phase === 'Pending' || pod.metadata.deletionTimestamp) {
    return { allowed: true, why: pod.metadata.deletionTimestamp ? 'the pod is already terminating' : `the pod is ${phase}` };
  }
  if (budgets.length === 0) return { allowed: true, why: 'no PodDisruptionBudget selects the pod' };
  if (budgets.length > 1) {
    return { allowed: false, code: 500, reason: 'InternalError', message: 'This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.' };
  }
  const pdb = budgets[0]!;
  const st = pdb.status;
  if (!ready(pod)) {
    if (pdb.spec.unhealthyPodEvictionPolicy === 'AlwaysAllow') return { allowed: true, why: `the pod is not Ready and ${pdb.metadata.name} always allows evicting unhealthy pods` };
    if (st && st.desiredHealthy > 0 && st.currentHealthy >= st.desiredHealthy) return { allowed: true, why: `the pod is not Ready and ${pdb.metadata.name} has the healthy pods it needs without it` };
  }
  if (!st || (st.observedGeneration ?? 0) < (pdb.metadata.generation ?? 1)) {
    return { allowed: false, code: 429, reason: 'TooManyRequests', message: EVICTION_REFUSED_MESSAGE, cause: `The disruption budget ${pdb.metadata.name} is still being processed by the server.` };
  }
  if (st.disruptionsAllowed < 0) return { allowed: false, code: 403, reason: 'Forbidden', message: `poddisruptionbudgets.policy "${pdb.metadata.name}" is forbidden: pdb disruptions allowed is negative` };
  if (st.disruptionsAllowed === 0) {
    return { allowed: false, code: 429, reason: 'TooManyRequests', message: EVICTION_REFUSED_MESSAGE, cause: `The disruption budget ${pdb.metadata.name} needs ${st.desiredHealthy} healthy pods and has ${st.currentHealthy} currently` };
  }
  return { allowed: true, decrement: pdb, why: `${pdb.metadata.name} allows ${st.disruptionsAllowed} disruption(s)` };
}

/**
 * The budget after an eviction took one of its disruptions: disruptionsAllowed − 1, the pod
 * recorded in disruptedPods at `now`, the condition False once none is left.
 */
export function takeDisruption(pdb: PodDisruptionBudget, opts: { podName: string; now: number }): PodDisruptionBudget {
  const { podName, now } = opts;
  const next = structuredClone(pdb) as PodDisruptionBudget;
  const st = next.status!;
  st.disruptionsAllowed -= 1;
  const nowText = k8sTime(now);
  st.disruptedPods = { ...(st.disruptedPods ?? {}), [podName]: nowText };
  if (st.disruptionsAllowed === 0) {
    st.conditions = [disruptionCondition(0, st.conditions, { now: nowText, generation: st.observedGeneration })];
  }
  return next;
}
