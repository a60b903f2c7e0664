/**
 * The registry of kinds gantry knows: apiVersion, scope, whether a repo may declare it, and
 * its place in apply order.
 */

/** Facts about one kind. */
export interface KindInfo {
  kind: string;
  apiVersion: string;
  /** False for cluster-scoped kinds (Namespace, Node). */
  namespaced: boolean;
  /** True when manifests in a repo may declare it; Node, Event and Sync are written by gantry. */
  declarable: boolean;
  /**
   * Apply order: lower first. Namespaces and PriorityClasses, then LimitRanges, ServiceAccounts
   * and RBAC, then config (ConfigMap, Secret), storage (StorageClass, PersistentVolume,
   * PersistentVolumeClaim), then Services and their endpoints, then workloads, then the
   * autoscalers of workloads and ResourceQuotas; prune runs in reverse.
   */
  order: number;
  /** Lower-case plural, as `gantry get` accepts it. */
  plural: string;
  /** Short names, as kubectl accepts them. */
  shortNames: string[];
}

const table: KindInfo[] = [
  { kind: 'Namespace', apiVersion: 'v1', namespaced: false, declarable: true, order: 0, plural: 'namespaces', shortNames: ['ns'] },
  { kind: 'PriorityClass', apiVersion: 'scheduling.k8s.io/v1', namespaced: false, declarable: true, order: 4, plural: 'priorityclasses', shortNames: ['pc'] },
  { kind: 'LimitRange', apiVersion: 'v1', namespaced: true, declarable: true, order: 6, plural: 'limitranges', shortNames: ['limits'] },
  // Last among what a revision writes: one transaction applies a revision, and a watcher that
  // sees a quota (and the usage it records) must already have seen the objects charged to it.
  { kind: 'ResourceQuota', apiVersion: 'v1', namespaced: true, declarable: true, order: 45, plural: 'resourcequotas', shortNames: ['quota'] },
  { kind: 'ServiceAccount', apiVersion: 'v1', namespaced: true, declarable: true, order: 8, plural: 'serviceaccounts', shortNames: ['sa'] },
  { kind: 'ClusterRole', apiVersion: 'rbac.authorization.k8s.io/v1', namespaced: false, declarable: true, order: 12, plural: 'clusterroles', shortNames: [] },
  { kind: 'ClusterRoleBinding', apiVersion: 'rbac.authorization.k8s.io/v1', namespaced: false, declarable: true, order: 13, plural: 'clusterrolebindings', shortNames: [] },
  { kind: 'Role', apiVersion: 'rbac.authorization.k8s.io/v1', namespaced: true, declarable: true, order: 14, plural: 'roles', shortNames: [] },
  { kind: 'RoleBinding', apiVersion: 'rbac.authorization.k8s.io/v1', namespaced: true, declarable: true, order: 15, plural: 'rolebindings', shortNames: [] },
  { kind: 'ConfigMap', apiVersion: 'v1', namespaced: true, declarable: true, order: 10, plural: 'configmaps', shortNames: ['cm'] },
  { kind: 'Secret', apiVersion: 'v1', namespaced: true, declarable: true, order: 10, plural: 'secrets', shortNames: [] },
  { kind: 'StorageClass', apiVersion: 'storage.k8s.io/v1', namespaced: false, declarable: true, order: 12, plural: 'storageclasses', shortNames: ['sc'] },
  { kind: 'PersistentVolume', apiVersion: 'v1', namespaced: false, declarable: true, order: 14, plural: 'persistentvolumes', shortNames: ['pv'] },
  { kind: 'PersistentVolumeClaim', apiVersion: 'v1', namespaced: true, declarable: true, order: 16, plural: 'persistentvolumeclaims', shortNames: ['pvc'] },
  { kind: 'Service', apiVersion: 'v1', namespaced: true, declarable: true, order: 20, plural: 'services', shortNames: ['svc'] },
  { kind: 'Endpoints', apiVersion: 'v1', namespaced: true, declarable: true, order: 21, plural: 'endpoints', shortNames: ['ep'] },
  { kind: 'EndpointSlice', apiVersion: 'discovery.k8s.io/v1', namespaced: true, declarable: true, order: 21, plural: 'endpointslices', shortNames: [] },
  { kind: 'IngressClass', apiVersion: 'networking.k8s.io/v1', namespaced: false, declarable: true, order: 24, plural: 'ingressclasses', shortNames: [] },
  { kind: 'NetworkPolicy', apiVersion: 'networking.k8s.io/v1', namespaced: true, declarable: true, order: 22, plural: 'networkpolicies', shortNames: ['netpol'] },
  { kind: 'Ingress', apiVersion: 'networking.k8s.io/v1', namespaced: true, declarable: true, order: 25, plural: 'ingresses', shortNames: ['ing'] },
  { kind: 'Deployment', apiVersion: 'apps/v1', namespaced: true, declarable: true, order: 30, plural: 'deployments', shortNames: ['deploy'] },
  { kind: 'StatefulSet', apiVersion: 'apps/v1', namespaced: true, declarable: true, order: 30, plural: 'statefulsets', shortNames: ['sts'] },
  { kind: 'DaemonSet', apiVersion: 'apps/v1', namespaced: true, declarable: true, order: 30, plural: 'daemonsets', shortNames: ['ds'] },
  { kind: 'ReplicaSet', apiVersion: 'apps/v1', namespaced: true, declarable: true, order: 31, plural: 'replicasets', shortNames: ['rs'] },
  { kind: 'ReplicationController', apiVersion: 'v1', namespaced: true, declarable: true, order: 31, plural: 'replicationcontrollers', shortNames: ['rc'] },
  { kind: 'CronJob', apiVersion: 'batch/v1', namespaced: true, declarable: true, order: 32, plural: 'cronjobs', shortNames: ['cj'] },
  { kind: 'Job', apiVersion: 'batch/v1', namespaced: true, declarable: true, order: 33, plural: 'jobs', shortNames: [] },
  { kind: 'HorizontalPodAutoscaler', apiVersion: 'autoscaling/v2', namespaced: true, declarable: true, order: 35, plural: 'horizontalpodautoscalers', shortNames: ['hpa'] },
  { kind: 'PodDisruptionBudget', apiVersion: 'policy/v1', namespaced: true, declarable: true, order: 26, plural: 'poddisruptionbudgets', shortNames: ['pdb'] },
  { kind: 'Pod', apiVersion: 'v1', namespaced: true, declarable: true, order: 40, plural: 'pods', shortNames: ['po'] },
  { kind: 'Node', apiVersion: 'v1', namespaced: false, declarable: false, order: 50, plural: 'nodes', shortNames: ['no'] },
  { kind: 'Sync', apiVersion: 'gantry.dev/v1', namespaced: false, declarable: false, order: 60, plural: 'syncs', shortNames: [] },
  { kind: 'Event', apiVersion: 'v1', namespaced: true, declarable: false, order: 70, plural: 'events', shortNames: ['ev'] },
];

const byKind = new Map(table.map((k) => [k.kind, k]));

/** All kinds, in apply order. */
export const KINDS: readonly KindInfo[] = [...table].sort((a, b) => a.order - b.order);

/** Kinds a repo may declare. */
export const DECLARABLE_KINDS: readonly string[] = KINDS.filter((k) => k.declarable).map((k) => k.kind);

/** Facts about `kind`, or undefined when gantry does not know it. */
export function kindInfo(kind: string): KindInfo | undefined {
  return byKind.get(kind);
}

/**
 * Resolves what a user typed (`deploy`, `deployments`, `Deployment`, `deployment`) to a kind.
 * Returns undefined when nothing matches.
 */
export function resolveKind(input: string): KindInfo | undefined {
  const lower = input.toLowerCase();
  return table.find(
    (k) => k.kind.toLowerCase() === lower || k.plural === lower || k.shortNames.includes(lower),
  );
}
