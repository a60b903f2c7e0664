/**
 * The object trees of a namespace, as Argo CD draws an application: each workload with what it
 * owns (Deployment → ReplicaSet → Pod, CronJob → Job → Pod, StatefulSet/DaemonSet → Pod), beside
 * the Services, Ingresses, ConfigMaps and Secrets, grouped into apps, each node with its health.
 * Pure: no DOM, no I/O.
 */
import { SOURCE_PATH } from '../../../src/model/annotations.js';
import { matchesLabels } from '../../../src/model/selectors.js';
import type { Ingress, KubeObject, ReplicaSet, Service } from '../../../src/model/types.js';
import { healthOf, worstHealth, type Health, type HealthStatus } from './health.js';

/** One object in a tree. */
export interface TreeNode {
  obj: KubeObject;
  health: Health;
  /** The objects it owns, newest first. */
  children: TreeNode[];
  /** Worst health of this node and everything below it. */
  rollup: HealthStatus;
  /** An old ReplicaSet scaled to zero with no pods left: kept for rollback, drawn faint. */
  idle?: boolean;
  /** For Ingresses: the Services it routes to; for Services: the pods behind it (ready/all). */
  note?: string;
}

/** The objects that belong together: one directory of the repo (or one `app` label). */
export interface AppGroup {
  name: string;
  roots: TreeNode[];
  health: HealthStatus;
}

/** Kinds drawn in a namespace's trees, in the order roots are listed. */
export const TREE_KINDS = [
  'Deployment', 'StatefulSet', 'DaemonSet', 'CronJob', 'Job', 'ReplicaSet', 'ReplicationController', 'Pod',
  'Service', 'Ingress', 'ConfigMap', 'Secret', 'PodDisruptionBudget', 'NetworkPolicy',
] as const;

const ROOT_ORDER = new Map<string, number>(TREE_KINDS.map((k, i) => [k, i]));

/** The name of the group no directory or label places an object in. */
export const NO_APP = '(other)';

/**
 * The app an object belongs to: the top directory of the manifest that declared it
 * (`web/deployment.yaml:1` → `web`), else its `app.kubernetes.io/name` or `app` label.
 */
export function appOf(obj: KubeObject): string {
  const source = obj.metadata.annotations?.[SOURCE_PATH];
  if (source) {
    const file = source.replace(/:\d+$/, '');
    const slash = file.indexOf('/');
    return slash > 0 ? file.slice(0, slash) : file.replace(/\.(ya?ml|json)$/i, '');
  }
  const labels = obj.metadata.labels ?? {};
  return labels['app.kubernetes.io/name'] ?? labels.app ?? NO_APP;
}

function revisionOf(obj: KubeObject): number {
  return Number(obj.metadata.annotations?.['deployment.kubernetes.io/revision'] ?? 0) || 0;
}

function newestFirst(a: TreeNode, b: TreeNode): number {
  const r = revisionOf(b.obj) - revisionOf(a.obj);
  if (r !== 0) return r;
  const t = (b.obj.metadata.creationTimestamp ?? '').localeCompare(a.obj.metadata.creationTimestamp ?? '');
  return t !== 0 ? t : a.obj.metadata.name.localeCompare(b.obj.metadata.name);
}

/**
 * Builds the trees of one namespace's objects: an object whose owner is among them hangs under
 * it (by owner uid, or kind and name when the uid is unknown); the rest are roots.
 */
export function buildTrees(objects: readonly KubeObject[]): TreeNode[] {
  const nodes = new Map<KubeObject, TreeNode>();
  for (const obj of objects) nodes.set(obj, { obj, health: healthOf(obj), children: [], rollup: 'Healthy' });
  const byUid = new Map<string, TreeNode>();
  const byName = new Map<string, TreeNode>();
  for (const n of nodes.values()) {
    if (n.obj.metadata.uid) byUid.set(n.obj.metadata.uid, n);
    byName.set(`${n.obj.kind}/${n.obj.metadata.name}`, n);
  }
  const roots: TreeNode[] = [];
  for (const n of nodes.values()) {
    const ref = n.obj.metadata.ownerReferences?.find((o) => o.controller) ?? n.obj.metadata.ownerReferences?.[0];
    const owner = ref ? (ref.uid ? byUid.get(ref.uid) : undefined) ?? byName.get(`${ref.kind}/${ref.name}`) : undefined;
    if (owner && owner !== n) owner.children.push(n);
    else roots.push(n);
  }
  const pods = objects.filter((o) => o.kind === 'Pod');
  for (const n of nodes.values()) {
    n.children.sort(newestFirst);
    if (n.obj.kind === 'ReplicaSet') {
      const rs = n.obj as ReplicaSet;
      n.idle = (rs.spec.replicas ?? 1) === 0 && n.children.length === 0;
    }
    if (n.obj.kind === 'Service') n.note = serviceNote(n.obj as Service, pods);
    if (n.obj.kind === 'Ingress') n.note = ingressNote(n.obj as Ingress);
  }
  for (const r of roots) rollUp(r);
  return roots.sort((a, b) => (ROOT_ORDER.get(a.obj.kind) ?? 99) - (ROOT_ORDER.get(b.obj.kind) ?? 99) || a.obj.metadata.name.localeCompare(b.obj.metadata.name));
}

function rollUp(n: TreeNode): HealthStatus {
  // The worst of the object and everything under it: a Failed pod under a Job counts too.
  const below = n.children.map(rollUp);
  n.rollup = worstHealth([n.health.status, ...below]);
  return n.rollup;
}

function serviceNote(svc: Service, pods: readonly KubeObject[]): string {
  const selector = svc.spec.selector;
  if (!selector || Object.keys(selector).length === 0) return 'no selector';
  const selected = pods.filter((p) => !p.metadata.deletionTimestamp && matchesLabels(selector, p.metadata.labels));
  const ready = selected.filter((p) => healthOf(p).status === 'Healthy' && (p.status as { phase?: string } | undefined)?.phase === 'Running');
  return `${ready.length}/${selected.length} pods ready behind it`;
}

function ingressNote(ing: Ingress): string {
  const services = new Set<string>();
  if (ing.spec.defaultBackend?.service) services.add(`default → ${ing.spec.defaultBackend.service.name}`);
  for (const rule of ing.spec.rules ?? []) {
    for (const p of rule.http?.paths ?? []) {
      if (p.backend.service) services.add(`${rule.host ?? '*'}${p.path ?? '/'} → ${p.backend.service.name}`);
    }
  }
  return [...services].join(', ');
}

/** Groups trees into apps (see {@link appOf}), apps by name with the unplaced last. */
export function groupApps(roots: readonly TreeNode[]): AppGroup[] {
  const groups = new Map<string, TreeNode[]>();
  for (const r of roots) {
    const name = appOf(r.obj);
    const list = groups.get(name) ?? [];
    list.push(r);
    groups.set(name, list);
  }
  return [...groups]
    .map(([name, list]) => ({ name, roots: list, health: worstHealth(list.map((r) => r.rollup)) }))
    .sort((a, b) => (a.name === NO_APP ? 1 : 0) - (b.name === NO_APP ? 1 : 0) || a.name.localeCompare(b.name));
}

/** Every node of the trees, depth first, for keyboard movement and search. */
export function flatten(roots: readonly TreeNode[]): TreeNode[] {
  const out: TreeNode[] = [];
  const walk = (n: TreeNode): void => {
    out.push(n);
    n.children.forEach(walk);
  };
  roots.forEach(walk);
  return out;
}
