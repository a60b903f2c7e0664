/**
 * The horizontal pod autoscaler controller, as Kubernetes' (pkg/controller/podautoscaler
 * `horizontal.go`): every sync period (default 15 s) each HorizontalPodAutoscaler reads its
 * target's scale (spec.replicas and selector of the Deployment, StatefulSet or ReplicaSet), the
 * usage of the pods the selector picks (src/model/metrics.ts: the agents' reports in the control
 * plane's memory), computes the count each metric asks for (./replicas.ts), takes the highest,
 * normalizes it (./behavior.ts: stabilization, policies, min/max), and when it differs writes the
 * target's spec.replicas — what the scale subresource does — with a `SuccessfulRescale` Event in
 * Kubernetes' words. Its status (currentReplicas, desiredReplicas, currentMetrics, lastScaleTime,
 * the AbleToScale/ScalingActive/ScalingLimited conditions) is written in one place at the end,
 * only when it changed.
 *
 * Like Kubernetes' controller it acts once per period whatever wakes it: a status write, or
 * the change of a pod, does not make it rescale sooner; a change of the autoscaler's spec does.
 * Its memory of recommendations and scale events lives here, per autoscaler, and is lost on a
 * restart or a change of leader (Kubernetes' controller-manager loses it the same way).
 */
import { errorMessage, isGantryError } from '../../errors.js';
import { SCALABLE_KINDS } from '../../model/hpa.js';
import { parseKey } from '../../model/keys.js';
import type { ResourceMetricsReader } from '../../model/metrics.js';
import { cpuMillis, formatDecimalNanos } from '../../model/quantity.js';
import { matchesSelector } from '../../model/selectors.js';
import { k8sTime } from '../../model/time.js';
import type { Condition, Deployment, HorizontalPodAutoscaler, HorizontalPodAutoscalerStatus, MetricSpec, MetricStatus, Pod, ReplicaSet, StatefulSet } from '../../model/types.js';
import { copy, sameJson } from '../objects.js';
import type { Controller, ReconcileContext, Result, Watch } from '../runtime.js';
import { newHistory, normalizeReplicas, recordScale, type ScaleHistory } from './behavior.js';
import { rawResourceReplicas, resourceReplicas, type CalculatorSettings, type PodMetricsInfo } from './replicas.js';

/** Kubernetes' defaults of the controller's flags. */
export const HPA_DEFAULTS = {
  syncPeriodMs: 15_000,
  tolerance: 0.1,
  cpuInitializationPeriodMs: 5 * 60_000,
  initialReadinessDelayMs: 30_000,
  downscaleStabilizationMs: 5 * 60_000,
} as const;

/** Options of {@link HorizontalPodAutoscalerController}: Kubernetes' `--horizontal-pod-autoscaler-*` flags. */
export interface HpaControllerOptions {
  /** Where pod usage comes from. */
  metrics: ResourceMetricsReader;
  syncPeriodMs?: number;
  tolerance?: number;
  cpuInitializationPeriodMs?: number;
  initialReadinessDelayMs?: number;
  /** The scale-down window of autoscalers that set none. */
  downscaleStabilizationMs?: number;
}

type Scalable = Deployment | StatefulSet | ReplicaSet;

/** The outcome of one metric. */
type MetricOutcome =
  | { ok: true; replicas: number; name: string; status: MetricStatus }
  | { ok: false; reason: string; error: string; context: string };

/** Keeps every HorizontalPodAutoscaler's target at the replicas its metrics ask for. */
export class HorizontalPodAutoscalerController implements Controller {
  readonly name = 'horizontal-pod-autoscaler';
  readonly kinds = ['HorizontalPodAutoscaler'] as const;
  // Cached for reading only: the controller acts on its period, not on their changes.
  readonly watches: readonly Watch[] = ['Pod', 'Deployment', 'StatefulSet', 'ReplicaSet'].map((kind) => ({ kind, keys: () => [] }));
  private readonly o: Required<Omit<HpaControllerOptions, 'metrics'>> & { metrics: ResourceMetricsReader };
  private readonly histories = new Map<string, ScaleHistory>();
  /** When each autoscaler was last computed, and for which generation of its spec. */
  private readonly lastSync = new Map<string, { at: number; generation: number | undefined }>();

  constructor(opts: HpaControllerOptions) {
    this.o = {
      metrics: opts.metrics,
      syncPeriodMs: opts.syncPeriodMs ?? HPA_DEFAULTS.syncPeriodMs,
      tolerance: opts.tolerance ?? HPA_DEFAULTS.tolerance,
      cpuInitializationPeriodMs: opts.cpuInitializationPeriodMs ?? HPA_DEFAULTS.cpuInitializationPeriodMs,
      initialReadinessDelayMs: opts.initialReadinessDelayMs ?? HPA_DEFAULTS.initialReadinessDelayMs,
      downscaleStabilizationMs: opts.downscaleStabilizationMs ?? HPA_DEFAULTS.downscaleStabilizationMs,
    };
  }

  async reconcile(key: string, ctx: ReconcileContext): Promise<Result | void> {
    const hpa = ctx.cache.get<HorizontalPodAutoscaler>(parseKey(key));
    if (!hpa) {
      this.histories.delete(key);
      this.lastSync.delete(key);
      return;
    }
    const now = ctx.now();
    const last = this.lastSync.get(key);
    if (last && last.generation === hpa.metadata.generation && now - last.at < this.o.syncPeriodMs) {
      return { requeueAfter: this.o.syncPeriodMs - (now - last.at) };
    }
    this.lastSync.set(key, { at: now, generation: hpa.metadata.generation });
    await this.sync(key, hpa, ctx, now);
    return { requeueAfter: this.o.syncPeriodMs };
  }

  private async sync(key: string, hpa: HorizontalPodAutoscaler, ctx: ReconcileContext, now: number): Promise<void> {
    const ns = hpa.metadata.namespace ?? 'default';
    const status: HorizontalPodAutoscalerStatus = copy(hpa.status ?? { currentReplicas: 0, desiredReplicas: 0 });
    const conditions = new Conditions(status.conditions ?? [], now);
    const ref = hpa.spec.scaleTargetRef;
    const reference = `${ref.kind}/${ns}/${ref.name}`;

    const target = SCALABLE_KINDS.has(ref.kind) ? ctx.cache.get<Scalable>({ kind: ref.kind, namespace: ns, name: ref.name }) : undefined;
    if (!target) {
      const message = SCALABLE_KINDS.has(ref.kind) ? `${pluralOf(ref.kind)}.apps "${ref.name}" not found` : `no scale subresource for kind ${ref.kind}`;
      ctx.events.emit(hpa, 'Warning', 'FailedGetScale', message);
      conditions.set('AbleToScale', 'False', 'FailedGetScale', `the HPA controller was unable to get the target's current scale: ${message}`);
      await this.writeStatus(hpa, { ...status, conditions: conditions.list }, ctx);
      return;
    }
    conditions.set('AbleToScale', 'True', 'SucceededGetScale', 'the HPA controller was able to get the target\'s current scale');
    const currentReplicas = target.spec.replicas ?? 1;
    let history = this.histories.get(key);
    if (!history) this.histories.set(key, (history = newHistory(currentReplicas, now)));

    const minReplicas = hpa.spec.minReplicas ?? 1;
    let desired = 0;
    let reason = '';
    let rescale = true;
    let metricStatuses: MetricStatus[] | undefined;
    if (currentReplicas === 0 && minReplicas !== 0) {
      rescale = false;
      conditions.set('ScalingActive', 'False', 'ScalingDisabled', 'scaling is disabled since the replica count of the target is zero');
    } else if (currentReplicas > hpa.spec.maxReplicas) {
      reason = 'Current number of replicas above Spec.MaxReplicas';
      desired = hpa.spec.maxReplicas;
    } else if (currentReplicas < minReplicas) {
      reason = 'Current number of replicas below Spec.MinReplicas';
      desired = minReplicas;
    } else {
      const computed = this.computeForMetrics(hpa, target, currentReplicas, ctx, conditions, now);
      metricStatuses = computed.statuses;
      if (!computed.ok) {
        ctx.events.emit(hpa, 'Warning', 'FailedComputeMetricsReplicas', computed.error);
        ctx.log.info({ hpa: key, err: computed.error }, `failed to compute desired number of replicas based on listed metrics for ${reference}`);
        await this.writeStatus(hpa, { ...status, currentReplicas, currentMetrics: computed.statuses, conditions: conditions.list }, ctx);
        return;
      }
      desired = computed.replicas;
      if (desired > currentReplicas) reason = `${computed.metric} above target`;
      if (desired < currentReplicas) reason = 'All metrics below target';
      const normalized = normalizeReplicas({ hpa, history, currentReplicas, desired, minReplicas, now, downscaleStabilizationMs: this.o.downscaleStabilizationMs });
      conditions.set('AbleToScale', 'True', normalized.ableToScale.reason, normalized.ableToScale.message);
      conditions.set('ScalingLimited', normalized.scalingLimited.limited ? 'True' : 'False', normalized.scalingLimited.reason, normalized.scalingLimited.message);
      desired = normalized.replicas;
      rescale = desired !== currentReplicas;
    }

    if (rescale) {
      try {
        await this.scale(target, desired, ctx, `${hpa.metadata.name}: New size: ${desired}; reason: ${reason}`);
      } catch (err) {
        if (isGantryError(err, 'NotFound')) return;
        const message = errorMessage(err);
        ctx.events.emit(hpa, 'Warning', 'FailedRescale', `New size: ${desired}; reason: ${reason}; error: ${message}`);
        conditions.set('AbleToScale', 'False', 'FailedUpdateScale', `the HPA controller was unable to update the target scale: ${message}`);
        await this.writeStatus(hpa, { ...status, currentReplicas, conditions: conditions.list }, ctx).catch(() => undefined);
        // Computed again at once: a stale read of the target is the usual cause.
        this.lastSync.delete(key);
        throw err;
      }
      conditions.set('AbleToScale', 'True', 'SucceededRescale', `the HPA controller was able to update the target scale to ${desired}`);
      ctx.events.emit(hpa, 'Normal', 'SuccessfulRescale', `New size: ${desired}; reason: ${reason}`);
      recordScale(hpa, history, { from: currentReplicas, to: desired, now });
      ctx.log.info({ hpa: key, from: currentReplicas, to: desired, reason }, `successful rescale of ${hpa.metadata.name}`);
    } else {
      desired = currentReplicas;
    }
    const next: HorizontalPodAutoscalerStatus = {
      currentReplicas,
      desiredReplicas: desired,
      ...(rescale ? { lastScaleTime: k8sTime(now) } : status.lastScaleTime ? { lastScaleTime: status.lastScaleTime } : {}),
      ...(metricStatuses ? { currentMetrics: metricStatuses } : {}),
      conditions: conditions.list,
    };
    await this.writeStatus(hpa, next, ctx);
  }

  /**
   * The highest count any metric asks for, with every metric's status (as Kubernetes'
   * `computeReplicasForMetrics`): an error when no metric could be computed, or when some could
   * not and the others would scale down (a partial view never removes pods).
   */
  private computeForMetrics(hpa: HorizontalPodAutoscaler, target: Scalable, currentReplicas: number, ctx: ReconcileContext, conditions: Conditions, now: number):
    { ok: true; replicas: number; metric: string; statuses: MetricStatus[] } | { ok: false; error: string; statuses: MetricStatus[] } {
    const ns = hpa.metadata.namespace ?? 'default';
    const pods = ctx.cache.list<Pod>('Pod', { namespace: ns }).filter((p) => matchesSelector(target.spec.selector, p.metadata.labels));
    const settings: CalculatorSettings = {
      tolerance: this.o.tolerance,
      cpuInitializationPeriodMs: this.o.cpuInitializationPeriodMs,
      initialReadinessDelayMs: this.o.initialReadinessDelayMs,
      now,
    };
    const specs = hpa.spec.metrics ?? [];
    const statuses: MetricStatus[] = [];
    let replicas = 0;
    let metric = '';
    let invalid = 0;
    let firstInvalid: { reason: string; error: string; context: string } | undefined;
    for (const spec of specs) {
      const out = this.computeForMetric(spec, pods, currentReplicas, settings);
      if (!out.ok) {
        ctx.events.emit(hpa, 'Warning', out.reason, out.error);
        invalid++;
        firstInvalid ??= out;
        // Kubernetes keeps an empty status in the metric's place.
        statuses.push({ type: spec.type });
        continue;
      }
      statuses.push(out.status);
      if (replicas === 0 || out.replicas > replicas) {
        replicas = out.replicas;
        metric = out.name;
      }
    }
    if (firstInvalid && (invalid >= specs.length || replicas < currentReplicas)) {
      conditions.set('ScalingActive', 'False', firstInvalid.reason, `the HPA was unable to compute the replica count: ${firstInvalid.error}`);
      return { ok: false, error: `invalid metrics (${invalid} invalid out of ${specs.length}), first error is: ${firstInvalid.context}${firstInvalid.error}`, statuses };
    }
    conditions.set('ScalingActive', 'True', 'ValidMetricFound', `the HPA was able to successfully calculate a replica count from ${metric}`);
    return { ok: true, replicas, metric, statuses };
  }

  private computeForMetric(spec: MetricSpec, pods: Pod[], currentReplicas: number, settings: CalculatorSettings): MetricOutcome {
    if (spec.type !== 'Resource' || !spec.resource) {
      return { ok: false, reason: 'InvalidMetricSourceType', error: `unknown metric source type "${spec.type}"`, context: '' };
    }
    const { name: resource, target } = spec.resource;
    const metrics = this.podMetrics(pods, resource);
    if (target.averageValue !== undefined) {
      const targetUsage = cpuMillis(target.averageValue);
      const out = metrics.size === 0 ? noMetrics(resource) : rawResourceReplicas({ currentReplicas, resource, pods, metrics, settings, targetUsage });
      if (!out.ok) return { ok: false, reason: 'FailedGetResourceMetric', error: `failed to get ${resource} usage: ${out.error}`, context: `failed to get ${resource} resource metric value: ` };
      return { ok: true, replicas: out.replicas, name: `${resource} resource`, status: { type: 'Resource', resource: { name: resource, current: { averageValue: milliQuantity(out.usage) } } } };
    }
    if (target.averageUtilization === undefined) {
      return { ok: false, reason: 'FailedGetResourceMetric', error: 'invalid resource metric source: neither an average utilization target nor an average value (usage) target was set', context: `failed to get ${resource} resource metric value: ` };
    }
    const out = metrics.size === 0 ? noMetrics(resource) : resourceReplicas({ currentReplicas, resource, pods, metrics, settings, targetUtilization: target.averageUtilization });
    if (!out.ok) return { ok: false, reason: 'FailedGetResourceMetric', error: `failed to get ${resource} utilization: ${out.error}`, context: `failed to get ${resource} resource metric value: ` };
    return {
      ok: true,
      replicas: out.replicas,
      name: `${resource} resource utilization (percentage of request)`,
      status: { type: 'Resource', resource: { name: resource, current: { averageUtilization: out.utilization, averageValue: milliQuantity(out.rawUtilization) } } },
    };
  }

  /** The pods' readings of `resource` in milli-units, summed over their containers (pods missing one are left out). */
  private podMetrics(pods: Pod[], resource: string): PodMetricsInfo {
    const out: PodMetricsInfo = new Map();
    for (const pod of pods) {
      const sample = this.o.metrics.podMetrics(pod);
      if (!sample || sample.containers.length === 0) continue;
      let sum = 0;
      for (const c of sample.containers) {
        // Each container's value in milli-units, rounded up, as Quantity.MilliValue().
        sum += resource === 'cpu' ? Math.ceil(c.usage.cpuNanoCores / 1e6) : c.usage.memoryBytes * 1000;
      }
      out.set(pod.metadata.name, { value: sum, timestamp: sample.timestamp, windowMs: sample.windowMs });
    }
    return out;
  }

  /** Writes the target's spec.replicas, as the scale subresource does (nothing else changes). */
  private async scale(target: Scalable, replicas: number, ctx: ReconcileContext, reason: string): Promise<void> {
    const next = copy(target);
    next.spec = { ...next.spec, replicas };
    await ctx.store.update(next, { origin: { ...ctx.origin, reason } });
  }

  private async writeStatus(hpa: HorizontalPodAutoscaler, status: HorizontalPodAutoscalerStatus, ctx: ReconcileContext): Promise<void> {
    if (sameJson(hpa.status, status)) return;
    const next = copy(hpa);
    next.status = status;
    try {
      await ctx.store.update(next, { origin: { ...ctx.origin, reason: `autoscaler ${hpa.metadata.name}: ${status.currentReplicas} current, ${status.desiredReplicas} desired` } });
    } catch (err) {
      // Gone meanwhile: its delete event ends this key.
      if (!isGantryError(err, 'NotFound')) throw err;
    }
  }
}

/** The error Kubernetes' metrics client gives when the metrics API has nothing for the pods. */
function noMetrics(resource: string): { ok: false; error: string } {
  return { ok: false, error: `unable to get metrics for resource ${resource}: no metrics returned from resource metrics API` };
}

/** A milli-value as a quantity, as resource.NewMilliQuantity(v, DecimalSI) prints ("250m", "1", "31457280"). */
function milliQuantity(milli: number): string {
  return formatDecimalNanos(BigInt(Math.trunc(milli)) * 1_000_000n);
}

function pluralOf(kind: string): string {
  return `${kind.toLowerCase()}s`;
}

/** An autoscaler's conditions, set as Kubernetes' `setCondition` does (transition time on a change of status). */
class Conditions {
  constructor(readonly list: Condition[], private readonly now: number) {
    this.list = list.map((c) => ({ ...c }));
  }

  set(type: string, status: Condition['status'], reason: string, message: string): void {
    let c = this.list.find((x) => x.type === type);
    if (!c) this.list.push((c = { type, status }));
    if (c.status !== status || !c.lastTransitionTime) c.lastTransitionTime = k8sTime(this.now);
    c.status = status;
    c.reason = reason;
    c.message = message;
  }
}
