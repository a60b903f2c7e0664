/**
 * From the count the metrics ask for to the count the autoscaler sets, as Kubernetes'
 * horizontal controller normalizes it (`normalizeDesiredReplicas…` in horizontal.go):
 *
 * - stabilization: the recommendations of the last window are remembered; a scale-down takes the
 *   highest of its window (default 300 s), a scale-up the lowest of its own (default 0 s);
 * - without `behavior`: at most double (or 4) the current count at once, never outside
 *   [minReplicas, maxReplicas];
 * - with `behavior`: each direction's policies bound the change within their period, counting
 *   the scale events of that period (`selectPolicy` Max takes the policy allowing the most
 *   change, Min the least, Disabled none), then the bounds.
 *
 * Pure apart from the {@link ScaleHistory} the controller keeps per autoscaler, which these
 * functions update as the Kubernetes controller updates its maps; time comes in as `now`.
 */
import { DEFAULT_DOWNSCALE_STABILIZATION_SECONDS, defaultScaleDownRules, defaultScaleUpRules } from '../../model/hpa.js';
import type { HorizontalPodAutoscaler, HPAScalingRules } from '../../model/types.js';

/** A recommendation the metrics made, and when. */
interface Recommendation {
  replicas: number;
  at: number;
}

/** A change the autoscaler made (positive either way), and when; outdated slots are reused. */
interface ScaleEvent {
  change: number;
  at: number;
  outdated: boolean;
}

/** What the controller remembers of one autoscaler between its reconciles. */
export interface ScaleHistory {
  recommendations: Recommendation[];
  scaleUpEvents: ScaleEvent[];
  scaleDownEvents: ScaleEvent[];
}

/** A new, empty history, with the current count as the first recommendation (as Kubernetes seeds it). */
export function newHistory(currentReplicas: number, now: number): ScaleHistory {
  return { recommendations: [{ replicas: currentReplicas, at: now }], scaleUpEvents: [], scaleDownEvents: [] };
}

/** A reason and message for a condition, in Kubernetes' words. */
export interface ConditionWords {
  reason: string;
  message: string;
}

/** The normalized count, and what the AbleToScale and ScalingLimited conditions say about it. */
export interface Normalized {
  replicas: number;
  /** AbleToScale (True): stabilized, or ready for a new scale. */
  ableToScale: ConditionWords;
  /** ScalingLimited: True when the bounds or the rate changed the count. */
  scalingLimited: ConditionWords & { limited: boolean };
}

/** Inputs of a normalization. */
export interface NormalizeInput {
  hpa: HorizontalPodAutoscaler;
  history: ScaleHistory;
  currentReplicas: number;
  /** What the metrics ask for. */
  desired: number;
  minReplicas: number;
  now: number;
  /** Scale-down window when the spec sets none; default 300 s. */
  downscaleStabilizationMs?: number;
}

/** Normalizes `desired` by the autoscaler's behavior (or the defaults without one), recording the recommendation. */
export function normalizeReplicas(input: NormalizeInput): Normalized {
  return input.hpa.spec.behavior ? withBehavior(input) : withoutBehavior(input);
}

const READY: ConditionWords = { reason: 'ReadyForNewScale', message: 'recommended size matches current size' };

function withoutBehavior(input: NormalizeInput): Normalized {
  const { history, now, desired } = input;
  const window = input.downscaleStabilizationMs ?? DEFAULT_DOWNSCALE_STABILIZATION_SECONDS * 1000;
  // The highest recommendation of the window; the oldest slot past it is reused.
  let stabilized = desired;
  let oldIndex = -1;
  const cutoff = now - window;
  history.recommendations.forEach((rec, i) => {
    if (rec.at < cutoff) oldIndex = i;
    else if (rec.replicas > stabilized) stabilized = rec.replicas;
  });
  record(history, oldIndex, { replicas: desired, at: now });
  const ableToScale = stabilized !== desired
    ? { reason: 'ScaleDownStabilized', message: 'recent recommendations were higher than current one, applying the highest recent recommendation' }
    : READY;
  const scaleUpLimit = Math.max(2 * input.currentReplicas, 4);
  const max = input.hpa.spec.maxReplicas;
  let limit: ConditionWords = max > scaleUpLimit
    ? { reason: 'ScaleUpLimit', message: 'the desired replica count is increasing faster than the maximum scale rate' }
    : { reason: 'TooManyReplicas', message: 'the desired replica count is more than the maximum replica count' };
  let replicas = stabilized;
  if (stabilized < input.minReplicas) {
    limit = { reason: 'TooFewReplicas', message: 'the desired replica count is less than the minimum replica count' };
    replicas = input.minReplicas;
  } else if (stabilized > Math.min(max, scaleUpLimit)) {
    replicas = Math.min(max, scaleUpLimit);
  } else {
    limit = { reason: 'DesiredWithinRange', message: 'the desired count is within the acceptable range' };
  }
  return { replicas, ableToScale, scalingLimited: { ...limit, limited: replicas !== stabilized } };
}

function withBehavior(input: NormalizeInput): Normalized {
  const { hpa, history, now, desired, currentReplicas } = input;
  const up = rulesOf(hpa.spec.behavior?.scaleUp, defaultScaleUpRules());
  const down = rulesOf(hpa.spec.behavior?.scaleDown, defaultScaleDownRules());
  const upWindow = (up.stabilizationWindowSeconds ?? 0) * 1000;
  const downWindow = down.stabilizationWindowSeconds !== undefined ? down.stabilizationWindowSeconds * 1000 : input.downscaleStabilizationMs ?? DEFAULT_DOWNSCALE_STABILIZATION_SECONDS * 1000;

  // Stabilization: the lowest recommendation of the scale-up window, or the highest of the
  // scale-down one; slots older than both windows are reused.
  const scalingUp = desired >= currentReplicas;
  const cutoff = now - (scalingUp ? upWindow : downWindow);
  const obsolete = now - Math.max(upWindow, downWindow);
  let stabilized = desired;
  let oldIndex = -1;
  history.recommendations.forEach((rec, i) => {
    if (rec.at > cutoff) stabilized = scalingUp ? Math.min(rec.replicas, stabilized) : Math.max(rec.replicas, stabilized);
    if (rec.at < obsolete) oldIndex = i;
  });
  record(history, oldIndex, { replicas: desired, at: now });
  const ableToScale = stabilized === desired
    ? READY
    : scalingUp
      ? { reason: 'ScaleUpStabilized', message: 'recent recommendations were lower than current one, applying the lowest recent recommendation' }
      : { reason: 'ScaleDownStabilized', message: 'recent recommendations were higher than current one, applying the highest recent recommendation' };

  // The rate: what the policies allow within their periods.
  const max = hpa.spec.maxReplicas;
  let replicas = stabilized;
  let limit: ConditionWords = { reason: 'DesiredWithinRange', message: 'the desired count is within the acceptable range' };
  if (stabilized > currentReplicas) {
    const rateLimit = Math.max(scaleUpLimit(currentReplicas, history.scaleUpEvents, up, now), currentReplicas);
    const allowed = max > rateLimit ? rateLimit : max;
    if (stabilized > allowed) {
      replicas = allowed;
      limit = max > rateLimit
        ? { reason: 'ScaleUpLimit', message: 'the desired replica count is increasing faster than the maximum scale rate' }
        : { reason: 'TooManyReplicas', message: 'the desired replica count is more than the maximum replica count' };
    }
  } else if (stabilized < currentReplicas) {
    const rateLimit = Math.min(scaleDownLimit(currentReplicas, history.scaleDownEvents, down, now), currentReplicas);
    const allowed = input.minReplicas < rateLimit ? rateLimit : input.minReplicas;
    if (stabilized < allowed) {
      replicas = allowed;
      limit = input.minReplicas < rateLimit
        ? { reason: 'ScaleDownLimit', message: 'the desired replica count is decreasing faster than the maximum scale rate' }
        : { reason: 'TooFewReplicas', message: 'the desired replica count is less than the minimum replica count' };
    }
  }
  return { replicas, ableToScale, scalingLimited: { ...limit, limited: replicas !== stabilized } };
}

/**
 * Remembers a scale the controller made, for the policies' periods: in the direction's list,
 * reusing a slot older than the direction's longest period. Only with `behavior` (without one
 * no policy reads them).
 */
export function recordScale(hpa: HorizontalPodAutoscaler, history: ScaleHistory, change: { from: number; to: number; now: number }): void {
  const behavior = hpa.spec.behavior;
  if (!behavior) return;
  const upward = change.to > change.from;
  const rules = upward ? rulesOf(behavior.scaleUp, defaultScaleUpRules()) : rulesOf(behavior.scaleDown, defaultScaleDownRules());
  const events = upward ? history.scaleUpEvents : history.scaleDownEvents;
  const longest = Math.max(0, ...(rules.policies ?? []).map((p) => p.periodSeconds)) * 1000;
  let reuse = -1;
  events.forEach((e, i) => {
    if (e.at < change.now - longest) e.outdated = true;
    if (e.outdated) reuse = i;
  });
  const event: ScaleEvent = { change: Math.abs(change.to - change.from), at: change.now, outdated: false };
  if (reuse >= 0) events[reuse] = event;
  else events.push(event);
}

function record(history: ScaleHistory, oldIndex: number, rec: Recommendation): void {
  if (oldIndex >= 0) history.recommendations[oldIndex] = rec;
  else history.recommendations.push(rec);
}

/** The spec's rules with Kubernetes' defaults for whatever they leave out. */
function rulesOf(given: HPAScalingRules | undefined, defaults: HPAScalingRules): HPAScalingRules {
  if (!given) return defaults;
  return {
    stabilizationWindowSeconds: given.stabilizationWindowSeconds ?? defaults.stabilizationWindowSeconds,
    selectPolicy: given.selectPolicy ?? defaults.selectPolicy,
    policies: given.policies ?? defaults.policies,
  };
}

/** Replicas changed by the scale events of the last `periodSeconds`. */
function changedWithin(periodSeconds: number, events: readonly ScaleEvent[], now: number): number {
  const cutoff = now - periodSeconds * 1000;
  let sum = 0;
  for (const e of events) if (e.at > cutoff) sum += e.change;
  return sum;
}

/** The most replicas the scale-up policies allow now. */
function scaleUpLimit(current: number, events: readonly ScaleEvent[], rules: HPAScalingRules, now: number): number {
  if (rules.selectPolicy === 'Disabled') return current;
  // Max takes the policy allowing the biggest change; Min the smallest.
  const pick = rules.selectPolicy === 'Min' ? Math.min : Math.max;
  let result = rules.selectPolicy === 'Min' ? Number.MAX_SAFE_INTEGER : Number.MIN_SAFE_INTEGER;
  for (const p of rules.policies ?? []) {
    const periodStart = current - changedWithin(p.periodSeconds, events, now);
    const proposed = p.type === 'Pods' ? periodStart + p.value : Math.ceil(periodStart * (1 + p.value / 100));
    result = pick(result, proposed);
  }
  return result;
}

/** The fewest replicas the scale-down policies allow now. */
function scaleDownLimit(current: number, events: readonly ScaleEvent[], rules: HPAScalingRules, now: number): number {
  if (rules.selectPolicy === 'Disabled') return current;
  // Max takes the policy allowing the biggest change (the lowest count); Min the smallest.
  const pick = rules.selectPolicy === 'Min' ? Math.max : Math.min;
  let result = rules.selectPolicy === 'Min' ? Number.MIN_SAFE_INTEGER : Number.MAX_SAFE_INTEGER;
  for (const p of rules.policies ?? []) {
    const periodStart = current + changedWithin(p.periodSeconds, events, now);
    const proposed = p.type === 'Pods' ? periodStart - p.value : Math.trunc(periodStart * (1 - p.value / 100));
    result = pick(result, proposed);
  }
  return result;
}
