/**
 * Which workloads a ConfigMap or Secret change rolls: the Deployments, StatefulSets and
 * DaemonSets whose pod template references it (volumes, projected volumes, env valueFrom and
 * envFrom of containers and init containers), in the same namespace. Shown by `gantry plan`, so
 * a reviewer sees that a one-line config edit restarts pods.
 */
import type { KubeObject } from '../model/types.js';
import type { Plan, PlanEntry } from './types.js';

/** Kinds whose pod template makes new pods when a referenced config changes. */
const ROLLING_KINDS = new Set(['Deployment', 'StatefulSet', 'DaemonSet']);

type Rec = Record<string, unknown>;
const rec = (v: unknown): Rec | undefined => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Rec) : undefined);
const list = (v: unknown): Rec[] => (Array.isArray(v) ? v.map(rec).filter((r): r is Rec => r !== undefined) : []);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** The ConfigMap and Secret names a pod spec references, as `ConfigMap/name` and `Secret/name`. */
export function podSpecConfigRefs(podSpec: unknown): Set<string> {
  const out = new Set<string>();
  const spec = rec(podSpec);
  if (!spec) return out;
  const add = (kind: 'ConfigMap' | 'Secret', name: unknown): void => {
    const n = str(name);
    if (n) out.add(`${kind}/${n}`);
  };
  for (const v of list(spec.volumes)) {
    add('ConfigMap', rec(v.configMap)?.name);
    add('Secret', rec(v.secret)?.secretName);
    for (const s of list(rec(v.projected)?.sources)) {
      add('ConfigMap', rec(s.configMap)?.name);
      add('Secret', rec(s.secret)?.name);
    }
  }
  for (const c of [...list(spec.containers), ...list(spec.initContainers)]) {
    for (const e of list(c.env)) {
      const from = rec(e.valueFrom);
      add('ConfigMap', rec(from?.configMapKeyRef)?.name);
      add('Secret', rec(from?.secretKeyRef)?.name);
    }
    for (const e of list(c.envFrom)) {
      add('ConfigMap', rec(e.configMapRef)?.name);
      add('Secret', rec(e.secretRef)?.name);
    }
  }
  return out;
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
    const template = rec(rec(o.spec)?.template);
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
