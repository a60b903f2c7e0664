/**
 * Semantic checks of a Job's failure and success handling, as the API server makes them:
 * `podFailurePolicy` (rules on exit codes and pod conditions), `successPolicy` (Indexed Jobs)
 * and the per-index backoff limit its FailIndex action relies on.
 */
import { countIndexes, parseIndexes } from '../model/indexes.js';
import { validateLabelKey } from '../model/names.js';
import type { JobSpec } from '../model/types.js';
import type { Problems } from './validate-problems.js';

/** Kubernetes' limits on the lists of these policies. */
const MAX_RULES = 20;
const MAX_EXIT_CODES = 255;
const MAX_CONDITIONS = 20;

/** The checks of `podFailurePolicy`, `successPolicy`, `backoffLimitPerIndex` and `maxFailedIndexes` (`path` is the Job spec's). */
export function checkJobPolicies(p: Problems, path: string, spec: JobSpec): void {
  const indexed = spec.completionMode === 'Indexed';
  if (spec.backoffLimitPerIndex !== undefined && !indexed) {
    p.forbidden(`${path}.backoffLimitPerIndex`, "requires `completionMode` 'Indexed'");
  }
  if (spec.maxFailedIndexes !== undefined) {
    if (spec.backoffLimitPerIndex === undefined) p.required(`${path}.backoffLimitPerIndex`, 'when `maxFailedIndexes` is set');
    else if (spec.completions !== undefined && spec.maxFailedIndexes > spec.completions) {
      p.invalid(`${path}.maxFailedIndexes`, spec.maxFailedIndexes, 'must be less than or equal to completions');
    }
  }
  if (spec.podFailurePolicy) checkPodFailurePolicy(p, `${path}.podFailurePolicy`, spec, path);
  if (spec.successPolicy) checkSuccessPolicy(p, `${path}.successPolicy`, spec);
}

function checkPodFailurePolicy(p: Problems, at: string, spec: JobSpec, specPath: string): void {
  const policy = spec.podFailurePolicy!;
  const restart = spec.template.spec.restartPolicy;
  // A rule judges a failed pod; with OnFailure the kubelet restarts containers and no pod fails.
  if (restart !== undefined && restart !== 'Never') {
    p.invalid(`${specPath}.template.spec.restartPolicy`, restart, 'only "Never" is supported when `podFailurePolicy` is specified');
  }
  if (policy.rules.length > MAX_RULES) p.say(`${at}.rules`, `must have at most ${MAX_RULES} items`);
  const containers = new Set([...spec.template.spec.containers, ...(spec.template.spec.initContainers ?? [])].map((c) => c.name));
  policy.rules.forEach((rule, i) => {
    const rat = `${at}.rules[${i}]`;
    if (rule.action === 'FailIndex' && spec.backoffLimitPerIndex === undefined) {
      p.invalid(`${rat}.action`, rule.action, 'FailIndex is only supported when `backoffLimitPerIndex` is set');
    }
    if (rule.onExitCodes && rule.onPodConditions) p.forbidden(rat, 'may not specify both `onExitCodes` and `onPodConditions`');
    else if (!rule.onExitCodes && !rule.onPodConditions) p.required(rat, 'one of `onExitCodes` or `onPodConditions`');
    const codes = rule.onExitCodes;
    if (codes) {
      const cat = `${rat}.onExitCodes`;
      if (codes.containerName !== undefined && !containers.has(codes.containerName)) {
        p.notFound(`${cat}.containerName`, codes.containerName, 'no container of that name in the pod template');
      }
      if (codes.values.length === 0) p.required(`${cat}.values`, 'at least one exit code');
      if (codes.values.length > MAX_EXIT_CODES) p.say(`${cat}.values`, `must have at most ${MAX_EXIT_CODES} items`);
      codes.values.forEach((v, j) => {
        const vat = `${cat}.values[${j}]`;
        if (codes.operator === 'In' && v === 0) p.invalid(vat, v, 'must not be 0 for the In operator');
        if (j > 0 && v === codes.values[j - 1]) p.duplicate(vat, v);
        else if (j > 0 && v < codes.values[j - 1]!) p.invalid(vat, v, 'must be ordered');
      });
    }
    if (rule.onPodConditions) {
      if (rule.onPodConditions.length > MAX_CONDITIONS) p.say(`${rat}.onPodConditions`, `must have at most ${MAX_CONDITIONS} items`);
      rule.onPodConditions.forEach((c, j) => {
        const bad = validateLabelKey(c.type);
        if (bad) p.invalid(`${rat}.onPodConditions[${j}].type`, c.type, bad);
      });
    }
  });
}

function checkSuccessPolicy(p: Problems, at: string, spec: JobSpec): void {
  const policy = spec.successPolicy!;
  if (spec.completionMode !== 'Indexed') {
    p.forbidden(at, "requires `completionMode` 'Indexed'");
    return;
  }
  if (policy.rules.length === 0) p.required(`${at}.rules`, 'at least one rule');
  if (policy.rules.length > MAX_RULES) p.say(`${at}.rules`, `must have at most ${MAX_RULES} items`);
  const completions = spec.completions ?? 0;
  policy.rules.forEach((rule, i) => {
    const rat = `${at}.rules[${i}]`;
    if (rule.succeededIndexes === undefined && rule.succeededCount === undefined) {
      p.required(rat, 'at least one of `succeededIndexes` or `succeededCount`');
      return;
    }
    let size = completions;
    if (rule.succeededIndexes !== undefined) {
      const parsed = parseIndexes(rule.succeededIndexes, completions);
      if (parsed.error !== undefined) p.invalid(`${rat}.succeededIndexes`, rule.succeededIndexes, parsed.error);
      else size = countIndexes(parsed.ranges);
    }
    if (rule.succeededCount !== undefined) {
      if (rule.succeededCount > completions) p.invalid(`${rat}.succeededCount`, rule.succeededCount, `must be less than or equal to completions (${completions})`);
      else if (rule.succeededCount > size) p.invalid(`${rat}.succeededCount`, rule.succeededCount, `must be less than or equal to the number of succeededIndexes (${size})`);
    }
  });
}
