/**
 * What the scheduler needs to know about a pod, computed once per pod object: its effective
 * requests, host ports, tolerations, node selector and affinity terms with their selectors
 * already reduced to requirements. Filters run once per node, so nothing here is recomputed
 * inside them.
 */
import { bytes, cpuMillis } from '../model/quantity.js';
import { selectorRequirements, type Requirements } from '../model/selectors.js';
import type {
  Container, LabelSelector, NodeSelectorTerm, Pod, PodAffinityTerm, StringMap, Toleration,
} from '../model/types.js';

/** Kubernetes' label for a node's name, used as the per-node topology key. */
export const HOSTNAME_LABEL = 'kubernetes.io/hostname';
/** Kubernetes' zone label. */
export const ZONE_LABEL = 'topology.kubernetes.io/zone';

/** Requests Kubernetes' scoring assumes for a container that states none (100m CPU). */
export const DEFAULT_CPU_REQUEST_MILLIS = 100;
/** Requests Kubernetes' scoring assumes for a container that states none (200Mi memory). */
export const DEFAULT_MEMORY_REQUEST_BYTES = 200 * 1024 * 1024;

/** CPU (millicores) and memory (bytes). */
export interface Resources {
  cpu: number;
  memory: number;
}

/** A host port a pod wants; `ip` defaults to 0.0.0.0 and `protocol` to TCP. */
export interface HostPort {
  ip: string;
  protocol: string;
  port: number;
}

/** A pod affinity term with its selector compiled. */
export interface CompiledTerm {
  topologyKey: string;
  /** Namespaces the term looks at (the pod's own when the term names none). */
  namespaces: ReadonlySet<string>;
  /** Undefined when the term has no labelSelector: as in Kubernetes, it then matches nothing. */
  selector: Requirements | undefined;
  /** Identical terms (replicas of one workload) share this, so they can be checked once. */
  signature: string;
}

/** A weighted pod affinity term (preferred terms). */
export interface WeightedTerm {
  weight: number;
  term: CompiledTerm;
}

/** A topology spread constraint with its selector compiled. */
export interface CompiledSpread {
  maxSkew: number;
  topologyKey: string;
  whenUnsatisfiable: 'DoNotSchedule' | 'ScheduleAnyway';
  /** Label requirements, or `owner` for the default constraints (same controller owner). */
  selector: Requirements | undefined;
  ownerUid?: string;
}

/** The precomputed view of one pod. */
export interface PodInfo {
  pod: Pod;
  /** `namespace/name`. */
  key: string;
  namespace: string;
  labels: StringMap;
  priority: number;
  /** Effective requests as the fit filter uses them (absent requests count 0). */
  requests: Resources;
  /** Effective requests with Kubernetes' scoring defaults for absent ones. */
  nonZero: Resources;
  /**
   * Effective requests of every other resource (ephemeral-storage, hugepages-<size>, extended
   * resources such as nvidia.com/gpu), in bytes or units; undefined when there are none (most pods).
   */
  scalar: ReadonlyMap<string, number> | undefined;
  hostPorts: HostPort[];
  tolerations: Toleration[];
  nodeSelector: StringMap | undefined;
  requiredNodeTerms: NodeSelectorTerm[] | undefined;
  preferredNodeTerms: { weight: number; preference: NodeSelectorTerm }[];
  requiredAffinity: CompiledTerm[];
  requiredAntiAffinity: CompiledTerm[];
  preferredAffinity: WeightedTerm[];
  preferredAntiAffinity: WeightedTerm[];
  spread: CompiledSpread[];
  /** UID of the controlling owner (ReplicaSet, StatefulSet, Job, …), if any. */
  ownerUid: string | undefined;
  /** The PersistentVolumeClaims its volumes name, as `namespace/name`. */
  claims: string[];
  /** Succeeded or Failed: holds no resources. */
  terminal: boolean;
  terminating: boolean;
}

const cache = new WeakMap<Pod, PodInfo>();

/** The {@link PodInfo} of a pod object, computed once per object (objects are read-only). */
export function podInfo(pod: Pod): PodInfo {
  let info = cache.get(pod);
  if (!info) {
    info = computePodInfo(pod);
    cache.set(pod, info);
  }
  return info;
}

/**
 * The pod bound to a node: a copy with `spec.nodeName` set that shares the original's
 * precomputed info (binding changes nothing the scheduler computes from a pod).
 */
export function boundCopy(pod: Pod, nodeName: string): Pod {
  const bound: Pod = { ...pod, spec: { ...pod.spec, nodeName } };
  const info = cache.get(pod);
  if (info) cache.set(bound, { ...info, pod: bound });
  return bound;
}

/** `namespace/name` of a pod. */
export function podKey(pod: Pod): string {
  return `${pod.metadata.namespace || 'default'}/${pod.metadata.name}`;
}

function containerRequests(c: Container, nonZero: boolean): Resources {
  const req = c.resources?.requests;
  const cpu = req?.cpu;
  const memory = req?.memory;
  return {
    cpu: cpu === undefined ? (nonZero ? DEFAULT_CPU_REQUEST_MILLIS : 0) : cpuMillis(cpu),
    memory: memory === undefined ? (nonZero ? DEFAULT_MEMORY_REQUEST_BYTES : 0) : bytes(memory),
  };
}

/**
 * Kubernetes' effective request: the sum over app containers, or the largest init container
 * if that is bigger, per resource (init containers run one at a time, before the app).
 */
export function effectiveRequests(pod: Pod, nonZero = false): Resources {
  const sum: Resources = { cpu: 0, memory: 0 };
  for (const c of pod.spec.containers ?? []) {
    const r = containerRequests(c, nonZero);
    sum.cpu += r.cpu;
    sum.memory += r.memory;
  }
  for (const c of pod.spec.initContainers ?? []) {
    const r = containerRequests(c, nonZero);
    if (r.cpu > sum.cpu) sum.cpu = r.cpu;
    if (r.memory > sum.memory) sum.memory = r.memory;
  }
  return sum;
}

/**
 * The effective requests of resources other than cpu and memory, by the same rule as
 * {@link effectiveRequests}: the sum over app containers, or the largest init container's.
 */
export function scalarRequests(pod: Pod): Map<string, number> | undefined {
  let out: Map<string, number> | undefined;
  const count = (c: Container, combine: (had: number, v: number) => number): void => {
    const req = c.resources?.requests;
    if (!req) return;
    for (const name in req) {
      if (name === 'cpu' || name === 'memory') continue;
      const v = bytes(req[name]);
      if (v <= 0) continue;
      out ??= new Map();
      out.set(name, combine(out.get(name) ?? 0, v));
    }
  };
  for (const c of pod.spec.containers ?? []) count(c, (had, v) => had + v);
  for (const c of pod.spec.initContainers ?? []) count(c, Math.max);
  return out;
}

function hostPorts(pod: Pod): HostPort[] {
  const out: HostPort[] = [];
  for (const c of [...(pod.spec.initContainers ?? []), ...(pod.spec.containers ?? [])]) {
    for (const p of c.ports ?? []) {
      // With hostNetwork the container port is the host port (the API server defaults it so).
      const port = p.hostPort ?? (pod.spec.hostNetwork ? p.containerPort : undefined);
      if (port === undefined || port <= 0) continue;
      out.push({ ip: p.hostIP || '0.0.0.0', protocol: p.protocol ?? 'TCP', port });
    }
  }
  return out;
}

function compileTerm(t: PodAffinityTerm, ns: string): CompiledTerm {
  const namespaces = t.namespaces && t.namespaces.length > 0 ? [...t.namespaces].sort() : [ns];
  const selector = compileSelector(t.labelSelector);
  return {
    topologyKey: t.topologyKey,
    namespaces: new Set(namespaces),
    selector,
    signature: JSON.stringify([t.topologyKey, namespaces, selector ?? null]),
  };
}

function compileSelector(sel: LabelSelector | undefined): Requirements | undefined {
  return sel === undefined ? undefined : selectorRequirements(sel);
}

function computePodInfo(pod: Pod): PodInfo {
  const spec = pod.spec;
  const ns = pod.metadata.namespace || 'default';
  const aff = spec.affinity;
  const phase = pod.status?.phase;
  const owner = pod.metadata.ownerReferences?.find((o) => o.controller === true);
  return {
    pod,
    key: `${ns}/${pod.metadata.name}`,
    namespace: ns,
    labels: pod.metadata.labels ?? {},
    priority: spec.priority ?? 0,
    requests: effectiveRequests(pod, false),
    nonZero: effectiveRequests(pod, true),
    scalar: scalarRequests(pod),
    hostPorts: hostPorts(pod),
    tolerations: spec.tolerations ?? [],
    nodeSelector: spec.nodeSelector && Object.keys(spec.nodeSelector).length > 0 ? spec.nodeSelector : undefined,
    requiredNodeTerms: aff?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms,
    preferredNodeTerms: aff?.nodeAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? [],
    requiredAffinity: (aff?.podAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? []).map((t) => compileTerm(t, ns)),
    requiredAntiAffinity: (aff?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? []).map((t) => compileTerm(t, ns)),
    preferredAffinity: (aff?.podAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? [])
      .map((w) => ({ weight: w.weight, term: compileTerm(w.podAffinityTerm, ns) })),
    preferredAntiAffinity: (aff?.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? [])
      .map((w) => ({ weight: w.weight, term: compileTerm(w.podAffinityTerm, ns) })),
    spread: compileSpread(pod, owner?.uid),
    ownerUid: owner?.uid,
    claims: (spec.volumes ?? []).filter((v) => v.persistentVolumeClaim).map((v) => `${ns}/${v.persistentVolumeClaim!.claimName}`),
    terminal: phase === 'Succeeded' || phase === 'Failed',
    terminating: pod.metadata.deletionTimestamp !== undefined,
  };
}

/**
 * The pod's topology spread constraints. A pod with none that has a controlling owner gets
 * Kubernetes' system defaults (ScheduleAnyway, maxSkew 3 per node and 5 per zone). Kubernetes
 * selects the pods to count by the selectors of the Services and controllers that match the
 * pod; gantry approximates that set by "pods with the same controlling owner".
 */
function compileSpread(pod: Pod, ownerUid: string | undefined): CompiledSpread[] {
  const list = pod.spec.topologySpreadConstraints;
  if (list && list.length > 0) {
    return list.map((c) => ({
      maxSkew: c.maxSkew,
      topologyKey: c.topologyKey,
      whenUnsatisfiable: c.whenUnsatisfiable,
      selector: compileSelector(c.labelSelector),
    }));
  }
  if (ownerUid === undefined) return [];
  return [
    { maxSkew: 3, topologyKey: HOSTNAME_LABEL, whenUnsatisfiable: 'ScheduleAnyway', selector: undefined, ownerUid },
    { maxSkew: 5, topologyKey: ZONE_LABEL, whenUnsatisfiable: 'ScheduleAnyway', selector: undefined, ownerUid },
  ];
}
