/**
 * Which workloads a ConfigMap or Secret change rolls: the Deployments, StatefulSets and
 * DaemonSets whose pod template references it (volumes, projected volumes, env valueFrom and
 * envFrom of containers and init containers), in the same namespace. Shown by `gantry plan`, so
 * a reviewer sees that a one-line config edit restarts pods.
 */
import { CONFIG_ROLLING_KINDS as ROLLING_KINDS, configReferences } from '../model/config-hash.js';
import type { KubeObject } from '../model/types.js';
import type { Plan, PlanEntry } from './types.js';

/** The ConfigMap and Secret names a pod spec references, as `ConfigMap/name` and `Secret/name`. */
export function podSpecConfigRefs(podSpec: unknown): Set<string> {
  const refs = configReferences(podSpec);
  return new Set([...refs.configMaps.map((n) => `ConfigMap/${n}`), ...refs.secrets.map((n) => `Secret/${n}`)]);
}

/**
 * The workloads among `objects` that a change to config `kind`/`namespace`/`name` rolls, as
 * `Kind namespace/name`, sorted.
 */
export function workloadsUsing(kind: string, namespace: string, name: string, objects: readonly KubeObject[]): string[] {
  const wanted = `${kind}/${name}`;
  const out: string[] = [];
  for (const o of objects) {
    if (!ROLLING_KINDS.has(o.kind) || (o.metadata.namespace ?? 'default') !== namespace) continue;
    const template = (o.spec as { template?: { spec?: unknown } } | undefined)?.template;
    if (podSpecConfigRefs(template?.spec).has(wanted)) out.push(`${o.kind} ${namespace}/${o.metadata.name}`);
  }
  return out.sort();
}

/**
 * Sets `rolls` on the plan's ConfigMap and Secret updates and prunes: the workloads of the
 * desired side (created, updated or unchanged) whose pods the change replaces.
 */
export function annotateRolls(plan: Plan): void {
  const workloads = [...plan.create, ...plan.update, ...plan.unchanged]
    .map((e) => e.desired)
    .filter((o): o is KubeObject => o !== undefined && ROLLING_KINDS.has(o.kind));
  const annotate = (e: PlanEntry): void => {
    if (e.kind !== 'ConfigMap' && e.kind !== 'Secret') return;
    const rolls = workloadsUsing(e.kind, e.namespace ?? 'default', e.name, workloads);
    if (rolls.length > 0) e.rolls = rolls;
  };
  plan.update.forEach(annotate);
  plan.prune.forEach(annotate);
}
