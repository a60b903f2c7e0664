/**
 * Pod priority as Kubernetes' Priority admission plugin resolves it (pure): a pod naming a
 * PriorityClass gets the class's value in `spec.priority` and its `preemptionPolicy`; a pod naming
 * none gets the global default class (the one marked `globalDefault`, the lowest value if several
 * are) or priority 0 and PreemptLowerPriority. The two built-in classes every cluster has,
 * `system-cluster-critical` and `system-node-critical`, always resolve.
 */
import { GantryError } from '../errors.js';
import type { Pod, PreemptionPolicy, PriorityClass } from './types.js';

/** Kubernetes' HighestUserDefinablePriority: a class of yours may not go above it. */
export const HIGHEST_USER_DEFINABLE_PRIORITY = 1_000_000_000;
/** Priority of pods when no class is the global default. */
export const DEFAULT_PRIORITY = 0;
/** Names reserved for the built-in classes. */
export const SYSTEM_PRIORITY_CLASS_PREFIX = 'system-';

/** The built-in PriorityClasses, as every Kubernetes cluster has them. */
export const BUILTIN_PRIORITY_CLASSES: readonly PriorityClass[] = [
  {
    apiVersion: 'scheduling.k8s.io/v1',
    kind: 'PriorityClass',
    metadata: { name: 'system-node-critical' },
    value: 2_000_001_000,
    description: 'Used for system critical pods that must not be moved from their current node.',
    preemptionPolicy: 'PreemptLowerPriority',
  },
  {
    apiVersion: 'scheduling.k8s.io/v1',
    kind: 'PriorityClass',
    metadata: { name: 'system-cluster-critical' },
    value: 2_000_000_000,
    description: 'Used for system critical pods that must run in the cluster, but can be moved to another node if necessary.',
    preemptionPolicy: 'PreemptLowerPriority',
  },
];

/** Looks PriorityClasses up by name (the cluster's and the revision's, built-ins included). */
export interface PriorityClassLookup {
  get(name: string): PriorityClass | undefined;
  /** Every class (for the global default). */
  all(): Iterable<PriorityClass>;
}

/** A lookup over these classes, with the built-ins added unless shadowed by an object of the same name. */
export function priorityClassLookup(classes: Iterable<PriorityClass>): PriorityClassLookup {
  const byName = new Map<string, PriorityClass>();
  for (const c of BUILTIN_PRIORITY_CLASSES) byName.set(c.metadata.name, c);
  for (const c of classes) byName.set(c.metadata.name, c);
  return { get: (name) => byName.get(name), all: () => byName.values() };
}

/** The global default class: marked `globalDefault`, the lowest value if several are (a race Kubernetes also resolves so). */
export function globalDefaultClass(lookup: PriorityClassLookup): PriorityClass | undefined {
  let best: PriorityClass | undefined;
  for (const c of lookup.all()) if (c.globalDefault && (!best || c.value < best.value)) best = c;
  return best;
}

/**
 * The pod as the Priority admission plugin leaves it (a copy): `priority`, `preemptionPolicy`
 * and, from the global default, `priorityClassName`.
 * @throws GantryError Forbidden (field `spec.priorityClassName` or `spec.priority`) worded as
 *   Kubernetes refuses the pod: `no PriorityClass with name high was found`, or a `priority`
 *   or `preemptionPolicy` that differs from the class's.
 */
export function admitPodPriority(pod: Pod, lookup: PriorityClassLookup): Pod {
  const name = pod.spec.priorityClassName;
  let className: string | undefined = name;
  let priority = DEFAULT_PRIORITY;
  let policy: PreemptionPolicy = 'PreemptLowerPriority';
  if (name) {
    const pc = lookup.get(name);
    if (!pc) throw new GantryError('Forbidden', `no PriorityClass with name ${name} was found`, { field: 'spec.priorityClassName' });
    priority = pc.value;
    policy = pc.preemptionPolicy ?? 'PreemptLowerPriority';
  } else {
    const def = globalDefaultClass(lookup);
    if (def) {
      className = def.metadata.name;
      priority = def.value;
      policy = def.preemptionPolicy ?? 'PreemptLowerPriority';
    }
  }
  if (pod.spec.priority !== undefined && pod.spec.priority !== priority) {
    throw new GantryError('Forbidden', `the integer value of priority (${pod.spec.priority}) must not be provided in pod spec; priority admission controller computed ${priority} from the given PriorityClass name`, { field: 'spec.priority' });
  }
  if (pod.spec.preemptionPolicy !== undefined && pod.spec.preemptionPolicy !== policy) {
    throw new GantryError('Forbidden', `the string value of PreemptionPolicy (${pod.spec.preemptionPolicy}) must not be provided in pod spec; priority admission controller computed ${policy} from the given PriorityClass name`, { field: 'spec.preemptionPolicy' });
  }
  const spec = { ...pod.spec, priority, preemptionPolicy: policy };
  if (className) spec.priorityClassName = className;
  return { ...pod, spec };
}
