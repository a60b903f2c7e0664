/**
 * HorizontalPodAutoscaler facts every stage shares: the API server's defaults for autoscaling/v2,
 * the conversion of an autoscaling/v1 manifest into the stored autoscaling/v2 form, which
 * workloads an autoscaler may scale and how to name its target, and the TARGETS cell kubectl
 * prints. The algorithm itself lives with its controller (src/controllers/hpa).
 */
import { canonicalQuantityText } from './quantity.js';
import type { HorizontalPodAutoscaler, HPAScalingPolicy, HPAScalingRules, KubeObject, MetricSpec, MetricStatus } from './types.js';

/** The version gantry stores and serves autoscalers in. */
export const HPA_API_VERSION = 'autoscaling/v2';

/**
 * The kinds an autoscaler may scale, by the API group its `scaleTargetRef.apiVersion` must name:
 * those with a scale subresource that gantry runs (spec.replicas and a label selector).
 */
export const SCALABLE_KINDS: ReadonlyMap<string, string> = new Map([
  ['Deployment', 'apps'],
  ['StatefulSet', 'apps'],
  ['ReplicaSet', 'apps'],
]);

/** The CPU utilization an autoscaler without metrics aims at (Kubernetes' default, 80%). */
export const DEFAULT_CPU_UTILIZATION = 80;

/**
 * The scale-down stabilization window when the spec leaves it unset: the controller's
 * `--horizontal-pod-autoscaler-downscale-stabilization` default, 5 minutes.
 */
export const DEFAULT_DOWNSCALE_STABILIZATION_SECONDS = 300;

/** Kubernetes' default scale-up rules: double or add 4 pods every 15 s, whichever is more, at once. */
export function defaultScaleUpRules(): Required<HPAScalingRules> {
  return {
    stabilizationWindowSeconds: 0,
    selectPolicy: 'Max',
    policies: [{ type: 'Pods', value: 4, periodSeconds: 15 }, { type: 'Percent', value: 100, periodSeconds: 15 }],
  };
}

/** Kubernetes' default scale-down rules: anything down to minReplicas every 15 s (the window stays unset: 300 s). */
export function defaultScaleDownRules(): HPAScalingRules & { selectPolicy: 'Max' | 'Min' | 'Disabled'; policies: HPAScalingPolicy[] } {
  return { selectPolicy: 'Max', policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }] };
}

type Rec = Record<string, unknown>;

const isRec = (v: unknown): v is Rec => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Rewrites an autoscaling/v1 HorizontalPodAutoscaler into autoscaling/v2, in place, as the API
 * server converts between the versions: `targetCPUUtilizationPercentage` becomes one Resource
 * metric on cpu (none, when unset: defaulting then adds the 80% default). Anything else is left.
 */
export function convertHpaInPlace(obj: KubeObject): void {
  if (obj.kind !== 'HorizontalPodAutoscaler' || obj.apiVersion !== 'autoscaling/v1') return;
  obj.apiVersion = HPA_API_VERSION;
  if (!isRec(obj.spec)) return;
  const target = obj.spec.targetCPUUtilizationPercentage;
  delete obj.spec.targetCPUUtilizationPercentage;
  if (typeof target === 'number') {
    obj.spec.metrics = [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: target } } }];
  }
}

/** An autoscaling/v1 autoscaler as autoscaling/v2 (a new object; the input is not modified). */
export function hpaAsV2<T extends KubeObject>(obj: T): T {
  const out = structuredClone(obj);
  convertHpaInPlace(out);
  return out;
}

/**
 * The API server's defaults of an autoscaling/v2 spec, in place: minReplicas 1, a cpu target of
 * 80% when no metric is given, and — only when `behavior` is given — every unset rule of it
 * (scale-down's stabilization window stays unset: the controller reads that as 300 s).
 */
export function defaultHpaSpec(spec: Rec): void {
  if (spec.minReplicas === undefined) spec.minReplicas = 1;
  if (!Array.isArray(spec.metrics) || spec.metrics.length === 0) {
    spec.metrics = [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: DEFAULT_CPU_UTILIZATION } } }];
  }
  if (!isRec(spec.behavior)) return;
  spec.behavior.scaleUp = fillRules(spec.behavior.scaleUp, defaultScaleUpRules());
  spec.behavior.scaleDown = fillRules(spec.behavior.scaleDown, defaultScaleDownRules());
}

function fillRules(given: unknown, defaults: HPAScalingRules): HPAScalingRules {
  if (!isRec(given)) return defaults;
  const out: Rec = { ...given };
  for (const [k, v] of Object.entries(defaults)) if (out[k] === undefined || out[k] === null) out[k] = v;
  return out as HPAScalingRules;
}

/** The key of the workload an autoscaler scales (`Deployment/default/web`). */
export function scaleTargetKey(hpa: HorizontalPodAutoscaler): string {
  const ref = hpa.spec.scaleTargetRef;
  return `${ref.kind}/${hpa.metadata.namespace ?? 'default'}/${ref.name}`;
}

/** The API group of an apiVersion (`apps/v1` → `apps`, `v1` → ''). */
export function apiGroup(apiVersion: string | undefined): string {
  if (!apiVersion) return '';
  const slash = apiVersion.indexOf('/');
  return slash < 0 ? '' : apiVersion.slice(0, slash);
}

/**
 * kubectl's TARGETS cell (v1.32 `formatHPAMetrics`): per metric `<resource>: <current>/<target>`
 * (`cpu: 42%/50%`, `memory: <unknown>/80%`, `cpu: 120m/200m`), at most two, then `+ N more...`;
 * `<none>` without metrics.
 */
export function hpaTargets(hpa: HorizontalPodAutoscaler): string {
  const specs = hpa.spec.metrics ?? [];
  if (specs.length === 0) return '<none>';
  const statuses = hpa.status?.currentMetrics ?? [];
  const list = specs.map((spec, i) => metricCell(spec, statuses[i]));
  const max = 2;
  return list.length > max ? `${list.slice(0, max).join(', ')} + ${list.length - max} more...` : list.join(', ');
}

function metricCell(spec: MetricSpec, status: MetricStatus | undefined): string {
  if (spec.type !== 'Resource' || !spec.resource) return '<unknown type>';
  const { name, target } = spec.resource;
  const current = status?.resource?.current;
  if (target.averageValue !== undefined) {
    const now = current?.averageValue !== undefined ? canonicalQuantityText(current.averageValue) : '<unknown>';
    return `${name}: ${now}/${canonicalQuantityText(target.averageValue)}`;
  }
  const now = current?.averageUtilization !== undefined ? `${current.averageUtilization}%` : '<unknown>';
  const want = target.averageUtilization !== undefined ? `${target.averageUtilization}%` : '<auto>';
  return `${name}: ${now}/${want}`;
}
