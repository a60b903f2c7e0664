/**
 * Semantic checks of a HorizontalPodAutoscaler (autoscaling/v2, or v1 after conversion), as the
 * API server's autoscaling validation makes them — replica bounds, the target reference, metric
 * targets, behavior windows and policies — plus what gantry can measure: the node agents report
 * cpu and memory of pods, so only `Resource` metrics on those two are accepted, and only the
 * workloads gantry scales (Deployment, StatefulSet, ReplicaSet) may be targets.
 */
import { apiGroup, SCALABLE_KINDS } from '../model/hpa.js';
import { validatePathSegmentName } from '../model/names.js';
import { parseQuantity } from '../model/quantity.js';
import type { HorizontalPodAutoscaler, HPAScalingRules, MetricSpec, Quantity } from '../model/types.js';
import type { RuleProblem } from './validate-rules.js';

/** Resources the node agents measure (what metrics-server serves). */
const MEASURED_RESOURCES = ['cpu', 'memory'];
/** Kubernetes' bounds on behavior: a window of at most an hour, a policy period of at most 30 minutes. */
const MAX_STABILIZATION_WINDOW_SECONDS = 3600;
const MAX_PERIOD_SECONDS = 1800;

type Say = (field: string, message: string) => void;

/** The problems of an autoscaler (already schema-valid, in its autoscaling/v2 form). */
export function hpaProblems(hpa: HorizontalPodAutoscaler): RuleProblem[] {
  const out: RuleProblem[] = [];
  const say: Say = (field, message) => void out.push({ field, message: `${field}${message}` });
  const spec = hpa.spec;
  checkTarget(say, spec.scaleTargetRef);
  if (spec.minReplicas !== undefined && spec.minReplicas < 1) say('spec.minReplicas', `: invalid value ${spec.minReplicas}: must be greater than or equal to 1`);
  if (spec.maxReplicas < 1) say('spec.maxReplicas', `: invalid value ${spec.maxReplicas}: must be greater than 0`);
  else if (spec.minReplicas !== undefined && spec.maxReplicas < spec.minReplicas) {
    say('spec.maxReplicas', `: invalid value ${spec.maxReplicas}: must be greater than or equal to \`minReplicas\` (${spec.minReplicas})`);
  }
  spec.metrics?.forEach((m, i) => checkMetric(say, `spec.metrics[${i}]`, m));
  if (spec.behavior?.scaleUp) checkRules(say, 'spec.behavior.scaleUp', spec.behavior.scaleUp);
  if (spec.behavior?.scaleDown) checkRules(say, 'spec.behavior.scaleDown', spec.behavior.scaleDown);
  return out;
}

function checkTarget(say: Say, ref: HorizontalPodAutoscaler['spec']['scaleTargetRef']): void {
  const at = 'spec.scaleTargetRef';
  if (ref.kind === '') say(`${at}.kind`, ' is required');
  else if (!SCALABLE_KINDS.has(ref.kind)) {
    say(`${at}.kind`, `: unsupported value ${JSON.stringify(ref.kind)}: gantry scales ${[...SCALABLE_KINDS.keys()].map((k) => JSON.stringify(k)).join(', ')}`);
  } else if (ref.apiVersion !== undefined && apiGroup(ref.apiVersion) !== SCALABLE_KINDS.get(ref.kind)) {
    say(`${at}.apiVersion`, `: invalid value ${JSON.stringify(ref.apiVersion)}: ${ref.kind} is in API group ${SCALABLE_KINDS.get(ref.kind)} (apiVersion ${SCALABLE_KINDS.get(ref.kind)}/v1)`);
  }
  if (ref.name === '') say(`${at}.name`, ' is required');
  else {
    const bad = validatePathSegmentName(ref.name);
    if (bad) say(`${at}.name`, `: invalid value ${JSON.stringify(ref.name)}: ${bad}`);
  }
}

function checkMetric(say: Say, at: string, m: MetricSpec): void {
  if (m.type !== 'Resource') {
    say(`${at}.type`, `: unsupported value ${JSON.stringify(m.type)}: gantry measures Resource metrics (cpu and memory of the pods) only`);
    return;
  }
  if (!m.resource) {
    say(`${at}.resource`, ': must populate information for the given metric source');
    return;
  }
  const { name, target } = m.resource;
  if (!MEASURED_RESOURCES.includes(name)) say(`${at}.resource.name`, `: unsupported value ${JSON.stringify(name)}: supported values: "cpu", "memory"`);
  const t = `${at}.resource.target`;
  if (target.type === 'Value') say(`${t}.type`, ': unsupported value "Value": a Resource metric targets a Utilization or an AverageValue per pod');
  if (target.averageUtilization !== undefined && target.averageValue !== undefined) {
    say(`${t}.averageValue`, ': forbidden: may not set both a target raw value and a target utilization');
  }
  if (target.averageUtilization === undefined && target.averageValue === undefined) {
    say(`${t}.averageUtilization`, ' is required: must set either a target raw value or a target utilization');
  }
  if (target.averageUtilization !== undefined && target.averageUtilization < 1) {
    say(`${t}.averageUtilization`, `: invalid value ${target.averageUtilization}: must be greater than 0`);
  }
  for (const field of ['averageValue', 'value'] as const) {
    const q = target[field];
    if (q !== undefined) checkPositive(say, `${t}.${field}`, q);
  }
}

function checkPositive(say: Say, field: string, q: Quantity): void {
  const v = parseQuantity(q);
  if (v === undefined) say(field, `: invalid value ${JSON.stringify(q)}: quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'`);
  else if (v <= 0) say(field, `: invalid value ${JSON.stringify(q)}: must be positive`);
}

function checkRules(say: Say, at: string, r: HPAScalingRules): void {
  const w = r.stabilizationWindowSeconds;
  if (w !== undefined && w < 0) say(`${at}.stabilizationWindowSeconds`, `: invalid value ${w}: must be greater than or equal to zero`);
  if (w !== undefined && w > MAX_STABILIZATION_WINDOW_SECONDS) say(`${at}.stabilizationWindowSeconds`, `: invalid value ${w}: must be less than or equal to ${MAX_STABILIZATION_WINDOW_SECONDS}`);
  if (r.policies !== undefined && r.policies.length === 0) say(`${at}.policies`, ' is required: must specify at least one Policy');
  r.policies?.forEach((p, i) => {
    const pat = `${at}.policies[${i}]`;
    if (p.periodSeconds <= 0) say(`${pat}.periodSeconds`, `: invalid value ${p.periodSeconds}: must be greater than zero`);
    else if (p.periodSeconds > MAX_PERIOD_SECONDS) say(`${pat}.periodSeconds`, `: invalid value ${p.periodSeconds}: must be less than or equal to ${MAX_PERIOD_SECONDS}`);
    if (p.value <= 0) say(`${pat}.value`, `: invalid value ${p.value}: must be greater than zero`);
  });
}
