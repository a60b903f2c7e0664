/**
 * A Job's `podFailurePolicy` and `successPolicy`, judged the way Kubernetes' job controller
 * judges them. Pure: the controller applies the verdicts.
 *
 * - A failed pod is matched against the failure rules in order; the first rule that matches
 *   decides: FailJob fails the Job at once, FailIndex fails the pod's index (Indexed Jobs with
 *   `backoffLimitPerIndex`), Ignore keeps the failure out of every count (the pod is replaced),
 *   Count counts it as usual (also when no rule matches). `onExitCodes` looks at the containers
 *   that terminated with a non-zero code (app containers, then init containers), `onPodConditions`
 *   at the pod's conditions.
 * - An Indexed Job succeeds early when a success rule holds: its `succeededIndexes` all
 *   succeeded, at least `succeededCount` indexes succeeded, or (both given) at least that many of
 *   those indexes.
 */
import { countIndexes, inIndexes, parseIndexes } from '../model/indexes.js';
import type { ContainerStatus, JobSpec, Pod, PodFailurePolicyAction, PodFailurePolicyRule } from '../model/types.js';

/** The rule that decided a failed pod's fate, and Kubernetes' words for it. */
export interface FailureVerdict {
  action: PodFailurePolicyAction;
  ruleIndex: number;
  message: string;
}

function exitMatches(rule: NonNullable<PodFailurePolicyRule['onExitCodes']>, status: ContainerStatus): number | undefined {
  const t = status.state.terminated;
  // A container that exited cleanly never matches, NotIn included.
  if (!t || t.exitCode === 0) return undefined;
  if (rule.containerName !== undefined && rule.containerName !== status.name) return undefined;
  const listed = rule.values.includes(t.exitCode);
  return (rule.operator === 'In') === listed ? t.exitCode : undefined;
}

/** The verdict of the Job's podFailurePolicy on a failed pod; undefined when no rule matches (it counts). */
export function judgeFailedPod(spec: Pick<JobSpec, 'podFailurePolicy'>, pod: Pod): FailureVerdict | undefined {
  const rules = spec.podFailurePolicy?.rules ?? [];
  const ns = pod.metadata.namespace ?? 'default';
  for (const [i, rule] of rules.entries()) {
    if (rule.onExitCodes) {
      for (const status of [...(pod.status?.containerStatuses ?? []), ...(pod.status?.initContainerStatuses ?? [])]) {
        const code = exitMatches(rule.onExitCodes, status);
        if (code !== undefined) {
          return { action: rule.action, ruleIndex: i, message: `Container ${status.name} for pod ${ns}/${pod.metadata.name} failed with exit code ${code} matching ${rule.action} rule at index ${i}` };
        }
      }
    }
    for (const want of rule.onPodConditions ?? []) {
      const has = pod.status?.conditions?.find((c) => c.type === want.type && c.status === (want.status ?? 'True'));
      if (has) return { action: rule.action, ruleIndex: i, message: `Pod ${ns}/${pod.metadata.name} has condition ${want.type} matching ${rule.action} rule at index ${i}` };
    }
  }
  return undefined;
}

/** The first success rule of an Indexed Job that `succeeded` satisfies (its index), or undefined. */
export function successRuleMet(spec: Pick<JobSpec, 'successPolicy' | 'completions'>, succeeded: ReadonlySet<number>): number | undefined {
  const completions = spec.completions ?? 0;
  for (const [i, rule] of (spec.successPolicy?.rules ?? []).entries()) {
    let pool = [...succeeded];
    let needed = rule.succeededCount;
    if (rule.succeededIndexes !== undefined) {
      const parsed = parseIndexes(rule.succeededIndexes, completions);
      if (parsed.error !== undefined) continue;
      pool = pool.filter((x) => inIndexes(parsed.ranges, x));
      needed ??= countIndexes(parsed.ranges);
    }
    if (needed !== undefined && pool.length >= needed) return i;
  }
  return undefined;
}
