/**
 * The replica calculator of Kubernetes' horizontal pod autoscaler (pkg/controller/podautoscaler
 * `replica_calculator.go`), as pure functions of the pods, their metrics and the time:
 *
 * - desired = ceil(currentMetric / target × ready pods), unless the ratio is within the tolerance
 *   (default 0.1) of 1, when the count stays;
 * - pods being deleted or failed are left out; pending pods and — for CPU — pods not yet ready or
 *   still in their first minutes with a reading taken before they became ready are "unready";
 *   pods without a reading are "missing";
 * - with missing or unready pods the ratio is computed again as if missing pods used 100% of
 *   their request (on a scale-down; 0% on a scale-up) and unready pods 0% (only on a scale-up),
 *   and the scale is left alone when that flips the direction or lands within the tolerance.
 *
 * Metric values are in milli-units (millicores; bytes × 1000), as Kubernetes' `MilliValue()`.
 */
import { parseQuantity } from '../../model/quantity.js';
import type { Condition, Pod } from '../../model/types.js';

/** A pod's reading: the sum over its containers, when it was taken and over what window. */
export interface PodMetric {
  value: number;
  timestamp: number;
  windowMs: number;
}

/** Readings by pod name. */
export type PodMetricsInfo = Map<string, PodMetric>;

/** The controller's settings the calculation depends on, and the time it runs at. */
export interface CalculatorSettings {
  /** How far from 1 the usage ratio must be to act (Kubernetes' default 0.1). */
  tolerance: number;
  /** A pod's first minutes in which its CPU readings may still be of its start-up (default 5 min). */
  cpuInitializationPeriodMs: number;
  /** How soon after its start a pod is taken to have never been ready yet (default 30 s). */
  initialReadinessDelayMs: number;
  now: number;
}

/** A calculation's outcome, or why there is none (words of Kubernetes' errors). */
export type Calculated<T> = ({ ok: true } & T) | { ok: false; error: string };

/** How the pods a selector picks stand for the calculation. */
export interface PodGroups {
  readyPodCount: number;
  unready: Set<string>;
  missing: Set<string>;
  ignored: Set<string>;
}

/** Sorts the pods as Kubernetes' `groupPods` does (see the module comment). */
export function groupPods(pods: readonly Pod[], metrics: PodMetricsInfo, resource: string, s: CalculatorSettings): PodGroups {
  const g: PodGroups = { readyPodCount: 0, unready: new Set(), missing: new Set(), ignored: new Set() };
  for (const pod of pods) {
    const name = pod.metadata.name;
    if (pod.metadata.deletionTimestamp || pod.status?.phase === 'Failed') {
      g.ignored.add(name);
      continue;
    }
    if ((pod.status?.phase ?? 'Pending') === 'Pending') {
      g.unready.add(name);
      continue;
    }
    const metric = metrics.get(name);
    if (!metric) {
      g.missing.add(name);
      continue;
    }
    if (resource === 'cpu' && cpuUnready(pod, metric, s)) {
      g.unready.add(name);
      continue;
    }
    g.readyPodCount++;
  }
  return g;
}

/** Whether a CPU reading of the pod is not to be trusted yet. */
function cpuUnready(pod: Pod, metric: PodMetric, s: CalculatorSettings): boolean {
  const ready = pod.status?.conditions?.find((c: Condition) => c.type === 'Ready');
  const started = pod.status?.startTime ? Date.parse(pod.status.startTime) : undefined;
  if (!ready || started === undefined) return true;
  const transition = ready.lastTransitionTime ? Date.parse(ready.lastTransitionTime) : started;
  if (started + s.cpuInitializationPeriodMs > s.now) {
    // Still starting: unready, or no full window of readings since it became ready.
    return ready.status === 'False' || metric.timestamp < transition + metric.windowMs;
  }
  // Unready and never ready since its start.
  return ready.status === 'False' && started + s.initialReadinessDelayMs > transition;
}

/**
 * Each pod's request of `resource` in milli-units: its containers and its restartable init
 * containers (sidecars). A container without a request counts its limit (the API server makes
 * one of the other); with neither, the pod cannot be measured against its request.
 */
export function podRequests(pods: readonly Pod[], resource: string): Calculated<{ requests: Map<string, number> }> {
  const requests = new Map<string, number>();
  for (const pod of pods) {
    let sum = 0;
    const containers = [...pod.spec.containers, ...(pod.spec.initContainers ?? []).filter((c) => (c as { restartPolicy?: string }).restartPolicy === 'Always')];
    for (const c of containers) {
      const q = c.resources?.requests?.[resource] ?? c.resources?.limits?.[resource];
      const v = q === undefined ? undefined : parseQuantity(q);
      if (v === undefined) return { ok: false, error: `missing request for ${resource} in container ${c.name} of Pod ${pod.metadata.name}` };
      sum += Math.ceil(v * 1000 - 1e-9);
    }
    requests.set(pod.metadata.name, sum);
  }
  return { ok: true, requests };
}

/**
 * Usage over request, as Kubernetes' `GetResourceUtilizationRatio`: the whole-percent
 * utilization of the pods that have both (truncated), its ratio to the target, and the average
 * raw value per pod.
 */
export function utilizationRatio(metrics: PodMetricsInfo, requests: Map<string, number>, targetUtilization: number): Calculated<{ ratio: number; utilization: number; rawAverage: number }> {
  let metricsTotal = 0;
  let requestsTotal = 0;
  let entries = 0;
  for (const [name, m] of metrics) {
    const request = requests.get(name);
    // Readings of pods the selector no longer picks are extraneous.
    if (request === undefined) continue;
    metricsTotal += m.value;
    requestsTotal += request;
    entries++;
  }
  if (requestsTotal === 0) return { ok: false, error: 'no metrics returned matched known pods' };
  const utilization = Math.trunc((metricsTotal * 100) / requestsTotal);
  return { ok: true, ratio: utilization / targetUtilization, utilization, rawAverage: Math.trunc(metricsTotal / entries) };
}

/** Average value over target, as Kubernetes' `GetMetricUsageRatio`. */
export function usageRatio(metrics: PodMetricsInfo, targetUsage: number): { ratio: number; usage: number } {
  let total = 0;
  for (const m of metrics.values()) total += m.value;
  const usage = Math.trunc(total / metrics.size);
  return { ratio: usage / targetUsage, usage };
}

/** Inputs of a calculation. */
export interface CalculationInput {
  currentReplicas: number;
  resource: string;
  /** The pods the target's selector picks. */
  pods: readonly Pod[];
  /** Their readings (a copy is changed, not this). */
  metrics: PodMetricsInfo;
  settings: CalculatorSettings;
}

/** Desired replicas for a target utilization (percent of the pods' requests). */
export function resourceReplicas(input: CalculationInput & { targetUtilization: number }): Calculated<{ replicas: number; utilization: number; rawUtilization: number }> {
  const { currentReplicas, pods, resource, settings: s } = input;
  if (pods.length === 0) return { ok: false, error: 'no pods returned by selector while calculating replica count' };
  const metrics = new Map(input.metrics);
  const g = groupPods(pods, metrics, resource, s);
  for (const name of [...g.ignored, ...g.unready]) metrics.delete(name);
  const req = podRequests(pods, resource);
  if (!req.ok) return req;
  if (metrics.size === 0) return { ok: false, error: 'did not receive metrics for targeted pods (pods might be unready)' };
  const first = utilizationRatio(metrics, req.requests, input.targetUtilization);
  if (!first.ok) return first;
  const { ratio, utilization, rawAverage: rawUtilization } = first;
  const scaleUpWithUnready = g.unready.size > 0 && ratio > 1;
  if (!scaleUpWithUnready && g.missing.size === 0) {
    if (Math.abs(1 - ratio) <= s.tolerance) return { ok: true, replicas: currentReplicas, utilization, rawUtilization };
    return { ok: true, replicas: Math.ceil(ratio * g.readyPodCount), utilization, rawUtilization };
  }
  if (g.missing.size > 0) {
    // A scale-down assumes missing pods use all of their request; a scale-up, none of it.
    for (const name of g.missing) {
      if (ratio < 1) metrics.set(name, { value: req.requests.get(name) ?? 0, timestamp: 0, windowMs: 0 });
      else if (ratio > 1) metrics.set(name, { value: 0, timestamp: 0, windowMs: 0 });
    }
  }
  if (scaleUpWithUnready) for (const name of g.unready) metrics.set(name, { value: 0, timestamp: 0, windowMs: 0 });
  const second = utilizationRatio(metrics, req.requests, input.targetUtilization);
  if (!second.ok) return second;
  return { ok: true, replicas: rebalanced(currentReplicas, ratio, second.ratio, metrics.size, s.tolerance), utilization, rawUtilization };
}

/** Desired replicas for a target average value per pod (milli-units). */
export function rawResourceReplicas(input: CalculationInput & { targetUsage: number }): Calculated<{ replicas: number; usage: number }> {
  const { currentReplicas, pods, resource, settings: s, targetUsage } = input;
  if (pods.length === 0) return { ok: false, error: 'no pods returned by selector while calculating replica count' };
  const metrics = new Map(input.metrics);
  const g = groupPods(pods, metrics, resource, s);
  for (const name of [...g.ignored, ...g.unready]) metrics.delete(name);
  if (metrics.size === 0) return { ok: false, error: 'did not receive metrics for targeted pods (pods might be unready)' };
  const { ratio, usage } = usageRatio(metrics, targetUsage);
  const scaleUpWithUnready = g.unready.size > 0 && ratio > 1;
  if (!scaleUpWithUnready && g.missing.size === 0) {
    if (Math.abs(1 - ratio) <= s.tolerance) return { ok: true, replicas: currentReplicas, usage };
    return { ok: true, replicas: Math.ceil(ratio * g.readyPodCount), usage };
  }
  for (const name of g.missing) metrics.set(name, { value: ratio < 1 ? targetUsage : 0, timestamp: 0, windowMs: 0 });
  if (scaleUpWithUnready) for (const name of g.unready) metrics.set(name, { value: 0, timestamp: 0, windowMs: 0 });
  const second = usageRatio(metrics, targetUsage);
  return { ok: true, replicas: rebalanced(currentReplicas, ratio, second.ratio, metrics.size, s.tolerance), usage };
}

/**
 * The count after the second look: unchanged when it lands within the tolerance, flips the
 * direction of the first, or would move against it once the assumed pods are counted.
 */
function rebalanced(current: number, ratio: number, newRatio: number, counted: number, tolerance: number): number {
  if (Math.abs(1 - newRatio) <= tolerance || (ratio < 1 && newRatio > 1) || (ratio > 1 && newRatio < 1)) return current;
  const replicas = Math.ceil(newRatio * counted);
  if ((newRatio < 1 && replicas > current) || (newRatio > 1 && replicas < current)) return current;
  return replicas;
}
