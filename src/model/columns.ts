/**
 * The columns kubectl prints per kind (`kubectl get`), as pure functions of an object: the CLI's
 * tables and the API's server-side Tables (`as=Table`) both use them.
 */
import { hpaTargets } from './hpa.js';
import { accessModesShort, claimClass, isDefaultClass, volumeClass } from './storage.js';
import type {
  ConfigMap, CronJob, DaemonSet, Deployment, Endpoints, EndpointSlice, HorizontalPodAutoscaler, Ingress, IngressClass, Job, KubeObject,
  Namespace, Node, PersistentVolume, PersistentVolumeClaim, Pod, PodDisruptionBudget, PriorityClass, RbacSubject, ReplicaSet,
  ReplicationController, ResourceQuota, RoleBinding, Secret, Service, ServiceAccount, StatefulSet, StorageClass,
} from './types.js';
import { canonicalExact } from './exact-quantity.js';
import { k8sTime } from './time.js';

/** A column: header and how to read the cell. */
export interface Column {
  header: string;
  cell: (obj: KubeObject, now: number) => string;
  wide?: boolean;
}

const name: Column = { header: 'NAME', cell: (o) => o.metadata.name };
const age: Column = { header: 'AGE', cell: (o, now) => ageOf(o.metadata.creationTimestamp, now) };

/** kubectl's short human duration: 45s, 2m30s, 15m, 3h20m, 5h, 2d4h, 40d, 2y30d. */
export function humanDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 10) return s % 60 === 0 ? `${m}m` : `${m}m${s % 60}s`;
  if (m < 180) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 8) return m % 60 === 0 ? `${h}h` : `${h}h${m % 60}m`;
  if (h < 48) return `${h}h`;
  const d = Math.floor(h / 24);
  if (d < 8) return h % 24 === 0 ? `${d}d` : `${d}d${h % 24}h`;
  if (d < 365 * 2) return `${d}d`;
  const y = Math.floor(d / 365);
  return d % 365 === 0 ? `${y}y` : `${y}y${d % 365}d`;
}

function ageOf(ts: string | undefined, now: number): string {
  return ts ? humanDuration(now - Date.parse(ts)) : '<unknown>';
}

/** Names of the pod's sidecars (init containers with `restartPolicy: Always`). */
function sidecarNames(pod: Pod): Set<string> {
  return new Set((pod.spec.initContainers ?? []).filter((c) => c.restartPolicy === 'Always').map((c) => c.name));
}

/** kubectl's READY of a pod: ready app containers and started, ready sidecars, of both. */
export function podReady(pod: Pod): string {
  const sidecars = sidecarNames(pod);
  const ready = (pod.status?.containerStatuses ?? []).filter((c) => c.ready).length
    + (pod.status?.initContainerStatuses ?? []).filter((c) => sidecars.has(c.name) && c.started && c.ready).length;
  return `${ready}/${pod.spec.containers.length + sidecars.size}`;
}

/** kubectl's RESTARTS of a pod: its app containers' and its sidecars' restarts. */
export function podRestarts(pod: Pod): number {
  const sidecars = sidecarNames(pod);
  return [...(pod.status?.containerStatuses ?? []), ...(pod.status?.initContainerStatuses ?? []).filter((c) => sidecars.has(c.name))].reduce((n, c) => n + c.restartCount, 0);
}

/** The STATUS kubectl shows for a pod: a waiting/terminated reason beats the phase. */
export function podStatus(pod: Pod): string {
  if (pod.metadata.deletionTimestamp) return 'Terminating';
  const st = pod.status ?? {};
  let reason: string = st.reason ?? st.phase ?? 'Pending';
  if (st.conditions?.some((c) => c.type === 'PodScheduled' && c.reason === 'SchedulingGated')) reason = 'SchedulingGated';
  const sidecars = sidecarNames(pod);
  for (const [i, cs] of (st.initContainerStatuses ?? []).entries()) {
    if (cs.state.terminated && cs.state.terminated.exitCode === 0) continue;
    // A sidecar that started lets the pod go on, as kubectl counts it.
    if (sidecars.has(cs.name) && cs.started) continue;
    if (cs.state.terminated) return `Init:${cs.state.terminated.reason ?? `ExitCode:${cs.state.terminated.exitCode}`}`;
    if (cs.state.waiting?.reason && cs.state.waiting.reason !== 'PodInitializing') return `Init:${cs.state.waiting.reason}`;
    return `Init:${i}/${pod.spec.initContainers?.length ?? 0}`;
  }
  for (const cs of st.containerStatuses ?? []) {
    if (cs.state.waiting?.reason) reason = cs.state.waiting.reason;
    else if (cs.state.terminated?.reason) reason = cs.state.terminated.reason;
  }
  return reason;
}

interface EventLike extends KubeObject {
  involvedObject?: { kind?: string; name?: string };
  reason?: string;
  message?: string;
  type?: string;
  lastTimestamp?: string;
  count?: number;
}

/** Roles print their creation time, as kubectl does (RFC 3339, UTC). */
const createdAt: Column = { header: 'CREATED AT', cell: (o) => (o.metadata.creationTimestamp ? k8sTime(Date.parse(o.metadata.creationTimestamp)) : '') };

/** A binding's subjects of one kind, as kubectl lists them (service accounts as `namespace/name`). */
function subjectsCell(kind: RbacSubject['kind']): (o: KubeObject) => string {
  return (o) => ((o as RoleBinding).subjects ?? []).filter((s) => s.kind === kind).map((s) => (kind === 'ServiceAccount' ? `${s.namespace ?? ''}/${s.name}` : s.name)).join(', ');
}

const bindingColumns: Column[] = [
  name,
  { header: 'ROLE', cell: (o) => `${(o as RoleBinding).roleRef.kind}/${(o as RoleBinding).roleRef.name}` },
  age,
  { header: 'USERS', cell: subjectsCell('User'), wide: true },
  { header: 'GROUPS', cell: subjectsCell('Group'), wide: true },
  { header: 'SERVICEACCOUNTS', cell: subjectsCell('ServiceAccount'), wide: true },
];

const columns: Record<string, Column[]> = {
  Event: [
    { header: 'LAST SEEN', cell: (o, now) => ageOf((o as EventLike).lastTimestamp ?? o.metadata.creationTimestamp, now) },
    { header: 'TYPE', cell: (o) => (o as EventLike).type ?? 'Normal' },
    { header: 'REASON', cell: (o) => (o as EventLike).reason ?? '' },
    { header: 'OBJECT', cell: (o) => `${((o as EventLike).involvedObject?.kind ?? '').toLowerCase()}/${(o as EventLike).involvedObject?.name ?? ''}` },
    { header: 'MESSAGE', cell: (o) => (o as EventLike).message ?? '' },
  ],
  Namespace: [name, { header: 'STATUS', cell: (o) => (o as Namespace).status?.phase ?? 'Active' }, age],
  ConfigMap: [name, { header: 'DATA', cell: (o) => String(Object.keys((o as ConfigMap).data ?? {}).length + Object.keys((o as ConfigMap).binaryData ?? {}).length) }, age],
  Secret: [name, { header: 'TYPE', cell: (o) => (o as Secret).type ?? 'Opaque' }, { header: 'DATA', cell: (o) => String(Object.keys((o as Secret).data ?? {}).length) }, age],
  Pod: [
    name,
    { header: 'READY', cell: (o) => podReady(o as Pod) },
    { header: 'STATUS', cell: (o) => podStatus(o as Pod) },
    { header: 'RESTARTS', cell: (o) => String(podRestarts(o as Pod)) },
    age,
    { header: 'IP', cell: (o) => (o as Pod).status?.podIP ?? '<none>', wide: true },
    { header: 'NODE', cell: (o) => (o as Pod).spec.nodeName ?? '<none>', wide: true },
    { header: 'NOMINATED NODE', cell: (o) => (o as Pod).status?.nominatedNodeName || '<none>', wide: true },
    { header: 'READINESS GATES', cell: () => '<none>', wide: true },
  ],
  Deployment: [
    name,
    { header: 'READY', cell: (o) => { const d = o as Deployment; return `${d.status?.readyReplicas ?? 0}/${d.spec.replicas ?? 1}`; } },
    { header: 'UP-TO-DATE', cell: (o) => String((o as Deployment).status?.updatedReplicas ?? 0) },
    { header: 'AVAILABLE', cell: (o) => String((o as Deployment).status?.availableReplicas ?? 0) },
    age,
  ],
  ReplicaSet: [
    name,
    { header: 'DESIRED', cell: (o) => String((o as ReplicaSet).spec.replicas ?? 1) },
    { header: 'CURRENT', cell: (o) => String((o as ReplicaSet).status?.replicas ?? 0) },
    { header: 'READY', cell: (o) => String((o as ReplicaSet).status?.readyReplicas ?? 0) },
    age,
  ],
  ReplicationController: [
    name,
    { header: 'DESIRED', cell: (o) => String((o as ReplicationController).spec.replicas ?? 1) },
    { header: 'CURRENT', cell: (o) => String((o as ReplicationController).status?.replicas ?? 0) },
    { header: 'READY', cell: (o) => String((o as ReplicationController).status?.readyReplicas ?? 0) },
    age,
    { header: 'CONTAINERS', cell: (o) => ((o as ReplicationController).spec.template?.spec.containers ?? []).map((c) => c.name).join(','), wide: true },
    { header: 'IMAGES', cell: (o) => ((o as ReplicationController).spec.template?.spec.containers ?? []).map((c) => c.image).join(','), wide: true },
    { header: 'SELECTOR', cell: (o) => formatLabels((o as ReplicationController).spec.selector), wide: true },
  ],
  StatefulSet: [
    name,
    { header: 'READY', cell: (o) => { const s = o as StatefulSet; return `${s.status?.readyReplicas ?? 0}/${s.spec.replicas ?? 1}`; } },
    age,
  ],
  DaemonSet: [
    name,
    { header: 'DESIRED', cell: (o) => String((o as DaemonSet).status?.desiredNumberScheduled ?? 0) },
    { header: 'CURRENT', cell: (o) => String((o as DaemonSet).status?.currentNumberScheduled ?? 0) },
    { header: 'READY', cell: (o) => String((o as DaemonSet).status?.numberReady ?? 0) },
    { header: 'UP-TO-DATE', cell: (o) => String((o as DaemonSet).status?.updatedNumberScheduled ?? 0) },
    { header: 'AVAILABLE', cell: (o) => String((o as DaemonSet).status?.numberAvailable ?? 0) },
    age,
  ],
  Job: [
    name,
    { header: 'STATUS', cell: (o) => jobStatus(o as Job) },
    { header: 'COMPLETIONS', cell: (o) => { const j = o as Job; return `${j.status?.succeeded ?? 0}/${j.spec.completions ?? 1}`; } },
    { header: 'DURATION', cell: (o, now) => { const st = (o as Job).status; return st?.startTime ? humanDuration((st.completionTime ? Date.parse(st.completionTime) : now) - Date.parse(st.startTime)) : ''; } },
    age,
  ],
  CronJob: [
    name,
    { header: 'SCHEDULE', cell: (o) => (o as CronJob).spec.schedule },
    { header: 'TIMEZONE', cell: (o) => (o as CronJob).spec.timeZone ?? '<none>' },
    { header: 'SUSPEND', cell: (o) => String((o as CronJob).spec.suspend ?? false) },
    { header: 'ACTIVE', cell: (o) => String((o as CronJob).status?.active?.length ?? 0) },
    { header: 'LAST SCHEDULE', cell: (o, now) => { const t = (o as CronJob).status?.lastScheduleTime; return t ? humanDuration(now - Date.parse(t)) : '<none>'; } },
    age,
  ],
  Service: [
    name,
    { header: 'TYPE', cell: (o) => (o as Service).spec.type ?? 'ClusterIP' },
    { header: 'CLUSTER-IP', cell: (o) => (o as Service).spec.clusterIP ?? '<none>' },
    { header: 'EXTERNAL-IP', cell: () => '<none>' },
    { header: 'PORT(S)', cell: (o) => ((o as Service).spec.ports ?? []).map((p) => `${p.port}${p.nodePort ? `:${p.nodePort}` : ''}/${p.protocol ?? 'TCP'}`).join(',') || '<none>' },
    age,
    { header: 'SELECTOR', cell: (o) => Object.entries((o as Service).spec.selector ?? {}).map(([k, v]) => `${k}=${v}`).join(',') || '<none>', wide: true },
  ],
  Ingress: [
    name,
    { header: 'CLASS', cell: (o) => (o as Ingress).spec.ingressClassName ?? '<none>' },
    { header: 'HOSTS', cell: (o) => ((o as Ingress).spec.rules ?? []).map((r) => r.host ?? '*').join(',') || '*' },
    { header: 'ADDRESS', cell: (o) => ingressAddresses(o as Ingress) },
    { header: 'PORTS', cell: (o) => ((o as Ingress).spec.tls?.length ? '80, 443' : '80') },
    age,
  ],
  Node: [
    name,
    { header: 'STATUS', cell: (o) => nodeStatus(o as Node) },
    { header: 'ROLES', cell: () => '<none>' },
    age,
    { header: 'VERSION', cell: (o) => (o as Node).status?.nodeInfo?.kubeletVersion ?? '' },
    { header: 'INTERNAL-IP', cell: (o) => (o as Node).status?.addresses?.find((a) => a.type === 'InternalIP')?.address ?? '<none>', wide: true },
  ],
  PodDisruptionBudget: [
    name,
    { header: 'MIN AVAILABLE', cell: (o) => intOrPercentCell((o as PodDisruptionBudget).spec.minAvailable) },
    { header: 'MAX UNAVAILABLE', cell: (o) => intOrPercentCell((o as PodDisruptionBudget).spec.maxUnavailable) },
    { header: 'ALLOWED DISRUPTIONS', cell: (o) => String((o as PodDisruptionBudget).status?.disruptionsAllowed ?? 0) },
    age,
  ],
  HorizontalPodAutoscaler: [
    name,
    { header: 'REFERENCE', cell: (o) => { const r = (o as HorizontalPodAutoscaler).spec.scaleTargetRef; return `${r.kind}/${r.name}`; } },
    { header: 'TARGETS', cell: (o) => hpaTargets(o as HorizontalPodAutoscaler) },
    { header: 'MINPODS', cell: (o) => { const m = (o as HorizontalPodAutoscaler).spec.minReplicas; return m === undefined ? '<unset>' : String(m); } },
    { header: 'MAXPODS', cell: (o) => String((o as HorizontalPodAutoscaler).spec.maxReplicas) },
    { header: 'REPLICAS', cell: (o) => String((o as HorizontalPodAutoscaler).status?.currentReplicas ?? 0) },
    age,
  ],
  Endpoints: [
    name,
    { header: 'ENDPOINTS', cell: (o) => endpointsCell(o as Endpoints) },
    age,
  ],
  EndpointSlice: [
    name,
    { header: 'ADDRESSTYPE', cell: (o) => (o as EndpointSlice).addressType },
    { header: 'PORTS', cell: (o) => firstThree(((o as EndpointSlice).ports ?? []).map((p) => (p.port !== undefined ? String(p.port) : p.name || '*'))) },
    { header: 'ENDPOINTS', cell: (o) => firstThree(((o as EndpointSlice).endpoints ?? []).flatMap((e) => e.addresses)) },
    age,
  ],
  IngressClass: [
    name,
    { header: 'CONTROLLER', cell: (o) => (o as IngressClass).spec?.controller ?? '' },
    { header: 'PARAMETERS', cell: (o) => { const p = (o as IngressClass).spec?.parameters; return p ? `${p.kind}${p.apiGroup ? `.${p.apiGroup}` : ''}/${p.name}` : '<none>'; } },
    age,
  ],
  LimitRange: [name, createdAt],
  ResourceQuota: [
    name,
    { header: 'REQUEST', cell: (o) => quotaCell(o as ResourceQuota, false) },
    { header: 'LIMIT', cell: (o) => quotaCell(o as ResourceQuota, true) },
    age,
  ],
  PriorityClass: [
    name,
    { header: 'VALUE', cell: (o) => String((o as PriorityClass).value) },
    { header: 'GLOBAL-DEFAULT', cell: (o) => String((o as PriorityClass).globalDefault ?? false) },
    age,
    { header: 'PREEMPTIONPOLICY', cell: (o) => (o as PriorityClass).preemptionPolicy ?? '' },
  ],
  PersistentVolumeClaim: [
    name,
    { header: 'STATUS', cell: (o) => (o.metadata.deletionTimestamp ? 'Terminating' : (o as PersistentVolumeClaim).status?.phase ?? 'Pending') },
    { header: 'VOLUME', cell: (o) => (o as PersistentVolumeClaim).spec.volumeName ?? '' },
    { header: 'CAPACITY', cell: (o) => { const c = o as PersistentVolumeClaim; return c.spec.volumeName ? String(c.status?.capacity?.storage ?? '') : ''; } },
    { header: 'ACCESS MODES', cell: (o) => { const c = o as PersistentVolumeClaim; return c.spec.volumeName ? accessModesShort(c.status?.accessModes) : ''; } },
    { header: 'STORAGECLASS', cell: (o) => claimClass(o as PersistentVolumeClaim) ?? '' },
    { header: 'VOLUMEATTRIBUTESCLASS', cell: () => '<unset>' },
    age,
    { header: 'VOLUMEMODE', cell: (o) => (o as PersistentVolumeClaim).spec.volumeMode ?? 'Filesystem', wide: true },
  ],
  PersistentVolume: [
    name,
    { header: 'CAPACITY', cell: (o) => String((o as PersistentVolume).spec.capacity?.storage ?? '') },
    { header: 'ACCESS MODES', cell: (o) => accessModesShort((o as PersistentVolume).spec.accessModes) },
    { header: 'RECLAIM POLICY', cell: (o) => (o as PersistentVolume).spec.persistentVolumeReclaimPolicy ?? 'Retain' },
    { header: 'STATUS', cell: (o) => (o.metadata.deletionTimestamp ? 'Terminating' : (o as PersistentVolume).status?.phase ?? 'Pending') },
    { header: 'CLAIM', cell: (o) => { const r = (o as PersistentVolume).spec.claimRef; return r?.name ? `${r.namespace ?? ''}/${r.name}` : ''; } },
    { header: 'STORAGECLASS', cell: (o) => volumeClass(o as PersistentVolume) },
    { header: 'VOLUMEATTRIBUTESCLASS', cell: () => '<unset>' },
    { header: 'REASON', cell: (o) => (o as PersistentVolume).status?.reason ?? '' },
    age,
    { header: 'VOLUMEMODE', cell: (o) => (o as PersistentVolume).spec.volumeMode ?? 'Filesystem', wide: true },
  ],
  StorageClass: [
    { header: 'NAME', cell: (o) => (isDefaultClass(o as StorageClass) ? `${o.metadata.name} (default)` : o.metadata.name) },
    { header: 'PROVISIONER', cell: (o) => (o as StorageClass).provisioner },
    { header: 'RECLAIMPOLICY', cell: (o) => (o as StorageClass).reclaimPolicy ?? 'Delete' },
    { header: 'VOLUMEBINDINGMODE', cell: (o) => (o as StorageClass).volumeBindingMode ?? 'Immediate' },
    { header: 'ALLOWVOLUMEEXPANSION', cell: (o) => String((o as StorageClass).allowVolumeExpansion ?? false) },
    age,
  ],
  ServiceAccount: [name, { header: 'SECRETS', cell: (o) => String((o as ServiceAccount).secrets?.length ?? 0) }, age],
  Role: [name, createdAt],
  ClusterRole: [name, createdAt],
  RoleBinding: bindingColumns,
  ClusterRoleBinding: bindingColumns,
};

/** A PDB's minAvailable / maxUnavailable as kubectl prints it: N/A when unset. */
function intOrPercentCell(v: number | string | undefined): string {
  return v === undefined ? 'N/A' : String(v);
}

function jobStatus(job: Job): string {
  const conds = job.status?.conditions ?? [];
  if (conds.some((c) => c.type === 'Complete' && c.status === 'True')) return 'Complete';
  if (conds.some((c) => c.type === 'Failed' && c.status === 'True')) return 'Failed';
  if (job.spec.suspend) return 'Suspended';
  return 'Running';
}

function nodeStatus(node: Node): string {
  const ready = node.status?.conditions?.find((c) => c.type === 'Ready');
  const base = ready?.status === 'True' ? 'Ready' : ready ? 'NotReady' : 'Unknown';
  return node.spec.unschedulable ? `${base},SchedulingDisabled` : base;
}

function endpointsCell(ep: Endpoints): string {
  const all: string[] = [];
  for (const s of ep.subsets ?? []) {
    for (const a of s.addresses ?? []) for (const p of s.ports ?? []) all.push(`${a.ip}:${p.port}`);
  }
  if (all.length === 0) return '<none>';
  return all.length > 3 ? `${all.slice(0, 3).join(',')} + ${all.length - 3} more...` : all.join(',');
}

/** kubectl's "first three, then + N more..." list; `<unset>` when empty. */
function firstThree(items: readonly string[]): string {
  if (items.length === 0) return '<unset>';
  return items.length > 3 ? `${items.slice(0, 3).join(',')} + ${items.length - 3} more...` : items.join(',');
}

/** A label map as kubectl formats it: `k=v` pairs sorted by key, comma-separated; `<none>` when empty. */
function formatLabels(labels: Record<string, string> | undefined): string {
  const keys = Object.keys(labels ?? {}).sort();
  return keys.length ? keys.map((k) => `${k}=${labels![k]}`).join(',') : '<none>';
}

/**
 * A quota's REQUEST (or LIMIT, for `limits.*`) cell as kubectl prints it: `resource: used/hard`
 * for each resource of `status.hard`, sorted.
 */
function quotaCell(quota: ResourceQuota, limits: boolean): string {
  const hard = quota.status?.hard ?? {};
  const used = quota.status?.used ?? {};
  return Object.keys(hard).sort()
    .filter((r) => r.startsWith('limits.') === limits)
    .map((r) => `${r}: ${used[r] === undefined ? '0' : canonicalExact(used[r]!)}/${canonicalExact(hard[r]!)}`)
    .join(', ');
}

/** `status.loadBalancer.ingress` addresses, as kubectl prints them. */
function ingressAddresses(ing: Ingress): string {
  const lb = ing.status?.loadBalancer as { ingress?: { ip?: string; hostname?: string }[] } | undefined;
  return (lb?.ingress ?? []).map((i) => i.ip ?? i.hostname ?? '').filter(Boolean).join(',');
}

/** The columns of `kind` (NAME and AGE for kinds without their own), as `-o wide` and `-A` ask. */
export function columnsFor(kind: string, opts: { wide?: boolean; allNamespaces?: boolean } = {}): Column[] {
  let cols = (columns[kind] ?? [name, age]).filter((c) => opts.wide || !c.wide);
  if (opts.allNamespaces) cols = [{ header: 'NAMESPACE', cell: (o) => o.metadata.namespace ?? '' }, ...cols];
  return cols;
}
