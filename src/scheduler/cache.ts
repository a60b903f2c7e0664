/**
 * The scheduler's view of the cluster: one {@link NodeInfo} per node with what is allocatable
 * and what the pods bound there already request, kept current incrementally as nodes and pods
 * come and go. Pure (no I/O); the {@link Scheduler} feeds it from store watches, and the
 * capacity check feeds it from a snapshot.
 */
import { bytes, cpuMillis } from '../model/quantity.js';
import type { Node, Pod, StringMap, Taint } from '../model/types.js';
import { HOSTNAME_LABEL, ZONE_LABEL, podInfo, podKey, type CompiledTerm, type PodInfo, type Resources } from './podinfo.js';
import type { VolumeView } from './volumes.js';

/** Kubernetes' default `--max-pods`, used when a node does not report `allocatable.pods`. */
export const DEFAULT_MAX_PODS = 110;

/** Topology keys whose per-owner pod counts the cache keeps, for default spreading. */
const TRACKED_KEYS = [ZONE_LABEL] as const;

/** Allocatable capacity of a node. */
export interface Allocatable extends Resources {
  pods: number;
  /** Every other resource the node offers (ephemeral-storage, hugepages, extended resources), when it offers any. */
  scalar?: ReadonlyMap<string, number>;
}

/** One node as the scheduler sees it. Read-only outside the cache. */
export interface NodeInfo {
  name: string;
  /** Undefined while pods are bound to a node the cache has not seen (or that was removed). */
  node: Node | undefined;
  /** The node's labels, with `kubernetes.io/hostname` defaulted to the node name. */
  labels: StringMap;
  taints: Taint[];
  unschedulable: boolean;
  allocatable: Allocatable;
  /** Sum of effective requests of the pods here (absent requests count 0). */
  requested: Resources;
  /** The same with Kubernetes' scoring defaults (100m, 200Mi) for absent requests. */
  nonZeroRequested: Resources;
  /** Sum of the pods' requests of other resources (see {@link PodInfo.scalar}). */
  scalarRequested: Map<string, number>;
  /** Pods here by `namespace/name`. */
  pods: Map<string, PodInfo>;
  /** Host ports in use: `proto/port` → count and `proto/port/ip` → count. */
  ports: Map<string, number>;
  /** Pods here per controlling owner UID. */
  ownerCounts: Map<string, number>;
  /** Pods here with required anti-affinity terms. */
  antiAffinityPods: number;
  /** Pods here whose affinity terms weigh in scoring others (see InterPodAffinity). */
  affinityPods: number;
}

/** Identical required anti-affinity terms of existing pods. */
export interface AntiAffinityGroup {
  term: CompiledTerm;
  /** Pods holding the term. */
  pods: number;
  /** Value of the term's topology key → pods holding the term in that domain. */
  counts: Map<string, number>;
}

function emptyNodeInfo(name: string): NodeInfo {
  return {
    name,
    node: undefined,
    labels: { [HOSTNAME_LABEL]: name },
    taints: [],
    unschedulable: false,
    allocatable: { cpu: 0, memory: 0, pods: 0 },
    requested: { cpu: 0, memory: 0 },
    nonZeroRequested: { cpu: 0, memory: 0 },
    scalarRequested: new Map(),
    pods: new Map(),
    ports: new Map(),
    ownerCounts: new Map(),
    antiAffinityPods: 0,
    affinityPods: 0,
  };
}

/** Allocatable of a node from `status.allocatable` (falling back to `status.capacity`). */
export function nodeAllocatable(node: Node): Allocatable {
  const alloc = node.status?.allocatable ?? node.status?.capacity ?? {};
  const pods = alloc.pods === undefined ? DEFAULT_MAX_PODS : Math.floor(Number(alloc.pods));
  let scalar: Map<string, number> | undefined;
  for (const name in alloc) {
    if (name === 'cpu' || name === 'memory' || name === 'pods') continue;
    (scalar ??= new Map()).set(name, bytes(alloc[name]));
  }
  return {
    cpu: cpuMillis(alloc.cpu),
    memory: bytes(alloc.memory),
    pods: Number.isFinite(pods) ? pods : DEFAULT_MAX_PODS,
    ...(scalar ? { scalar } : {}),
  };
}

/** Terms of an existing pod that weigh in scoring other pods (symmetric affinity). */
function hasScoringAffinity(p: PodInfo): boolean {
  return p.requiredAffinity.length + p.preferredAffinity.length + p.preferredAntiAffinity.length > 0;
}

/** The scheduler's cluster cache; see the module comment. */
export class SchedulerCache {
  private readonly infos = new Map<string, NodeInfo>();
  /** Pod key → node it is counted on. */
  private readonly podNode = new Map<string, string>();
  /** ownerUid → `key=value` → pods, for the {@link TRACKED_KEYS}. */
  private readonly ownerTopology = new Map<string, Map<string, number>>();
  private list: NodeInfo[] | undefined;
  /**
   * Required anti-affinity terms of existing pods, identical terms grouped, each with how many
   * pods hold it per value of its topology key. Every incoming pod is checked against these.
   */
  private readonly antiTerms = new Map<string, AntiAffinityGroup>();
  /** `key=value` → counted pods carrying that label, so affinity terms need not scan every pod. */
  private readonly byLabel = new Map<string, Set<PodInfo>>();
  private readonly affinityNodes = new Set<NodeInfo>();
  /** Claim `namespace/name` → pods counted here that use it → their node. */
  private readonly claimUsersByKey = new Map<string, Map<string, string>>();
  /**
   * Claims, volumes and classes (the scheduler keeps them; a capacity check's snapshot has none,
   * and then volume plugins have nothing to say).
   */
  volumes: VolumeView | undefined;

  /** Adds or replaces a node. */
  setNode(node: Node): void {
    const name = node.metadata.name;
    let info = this.infos.get(name);
    if (!info) {
      info = emptyNodeInfo(name);
      this.infos.set(name, info);
    } else {
      this.contributeTopology(info, -1);
    }
    if (!info.node) this.list = undefined;
    info.node = node;
    info.labels = { [HOSTNAME_LABEL]: name, ...(node.metadata.labels ?? {}) };
    info.taints = node.spec?.taints ?? [];
    info.unschedulable = node.spec?.unschedulable === true;
    info.allocatable = nodeAllocatable(node);
    this.contributeTopology(info, +1);
  }

  /** Removes a node. Pods still bound to it stay counted until they are removed. */
  removeNode(name: string): void {
    const info = this.infos.get(name);
    if (!info || !info.node) return;
    this.contributeTopology(info, -1);
    info.node = undefined;
    info.labels = { [HOSTNAME_LABEL]: name };
    info.taints = [];
    info.unschedulable = false;
    info.allocatable = { cpu: 0, memory: 0, pods: 0 };
    this.contributeTopology(info, +1);
    this.list = undefined;
    if (info.pods.size === 0) this.infos.delete(name);
  }

  /**
   * Adds, moves or removes a pod according to its current state: a pod bound to a node and
   * not terminal (Succeeded/Failed) is counted there; anything else is not counted. Idempotent,
   * so it serves both watch events and assuming a pod right after binding it.
   */
  upsertPod(pod: Pod): void {
    const info = podInfo(pod);
    const nodeName = pod.spec.nodeName;
    if (!nodeName || info.terminal) {
      this.removePod(info.key);
      return;
    }
    this.removePod(info.key);
    let ni = this.infos.get(nodeName);
    if (!ni) {
      ni = emptyNodeInfo(nodeName);
      this.infos.set(nodeName, ni);
    }
    this.podNode.set(info.key, nodeName);
    ni.pods.set(info.key, info);
    for (const k in info.labels) {
      const lk = `${k}=${info.labels[k]}`;
      let set = this.byLabel.get(lk);
      if (!set) {
        set = new Set();
        this.byLabel.set(lk, set);
      }
      set.add(info);
    }
    ni.requested.cpu += info.requests.cpu;
    ni.requested.memory += info.requests.memory;
    ni.nonZeroRequested.cpu += info.nonZero.cpu;
    ni.nonZeroRequested.memory += info.nonZero.memory;
    if (info.scalar) for (const [name, v] of info.scalar) bump(ni.scalarRequested, name, v);
    for (const hp of info.hostPorts) {
      bump(ni.ports, `${hp.protocol}/${hp.port}`, 1);
      bump(ni.ports, `${hp.protocol}/${hp.port}/${hp.ip}`, 1);
    }
    if (info.ownerUid !== undefined) {
      bump(ni.ownerCounts, info.ownerUid, 1);
      this.ownerTopologyBump(ni, info.ownerUid, 1);
    }
    if (info.requiredAntiAffinity.length > 0) {
      ni.antiAffinityPods++;
      this.antiTermsBump(ni, info, 1);
    }
    if (hasScoringAffinity(info)) {
      ni.affinityPods++;
      this.affinityNodes.add(ni);
    }
    for (const c of info.claims) {
      let users = this.claimUsersByKey.get(c);
      if (!users) this.claimUsersByKey.set(c, (users = new Map()));
      users.set(info.key, nodeName);
    }
  }

  /** Stops counting a pod (by `namespace/name` or object). */
  removePod(podOrKey: Pod | string): void {
    const key = typeof podOrKey === 'string' ? podOrKey : podKey(podOrKey);
    const nodeName = this.podNode.get(key);
    if (nodeName === undefined) return;
    this.podNode.delete(key);
    const ni = this.infos.get(nodeName);
    const info = ni?.pods.get(key);
    if (!ni || !info) return;
    ni.pods.delete(key);
    for (const k in info.labels) {
      const lk = `${k}=${info.labels[k]}`;
      const set = this.byLabel.get(lk);
      if (set && set.delete(info) && set.size === 0) this.byLabel.delete(lk);
    }
    ni.requested.cpu -= info.requests.cpu;
    ni.requested.memory -= info.requests.memory;
    ni.nonZeroRequested.cpu -= info.nonZero.cpu;
    ni.nonZeroRequested.memory -= info.nonZero.memory;
    if (info.scalar) for (const [name, v] of info.scalar) bump(ni.scalarRequested, name, -v);
    for (const hp of info.hostPorts) {
      bump(ni.ports, `${hp.protocol}/${hp.port}`, -1);
      bump(ni.ports, `${hp.protocol}/${hp.port}/${hp.ip}`, -1);
    }
    if (info.ownerUid !== undefined) {
      bump(ni.ownerCounts, info.ownerUid, -1);
      this.ownerTopologyBump(ni, info.ownerUid, -1);
    }
    if (info.requiredAntiAffinity.length > 0) {
      this.antiTermsBump(ni, info, -1);
      ni.antiAffinityPods--;
    }
    if (hasScoringAffinity(info) && --ni.affinityPods === 0) this.affinityNodes.delete(ni);
    for (const c of info.claims) {
      const users = this.claimUsersByKey.get(c);
      if (users?.delete(key) && users.size === 0) this.claimUsersByKey.delete(c);
    }
    if (!ni.node && ni.pods.size === 0) this.infos.delete(nodeName);
  }

  /** The node a pod is counted on, if any. */
  nodeOfPod(key: string): string | undefined {
    return this.podNode.get(key);
  }

  /** Known nodes (those with a Node object), in a stable order (by name). */
  nodes(): readonly NodeInfo[] {
    if (!this.list) {
      this.list = [...this.infos.values()].filter((n) => n.node !== undefined).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    }
    return this.list;
  }

  /** One node's info. */
  get(name: string): NodeInfo | undefined {
    return this.infos.get(name);
  }

  /** Counted pods that carry the label `key=value`. */
  podsWithLabel(key: string, value: string): ReadonlySet<PodInfo> {
    return this.byLabel.get(`${key}=${value}`) ?? EMPTY;
  }

  /** Required anti-affinity terms of existing pods, grouped (see {@link AntiAffinityGroup}). */
  requiredAntiAffinityTerms(): Iterable<AntiAffinityGroup> {
    return this.antiTerms.values();
  }

  /** Pods counted on nodes that use the claim `namespace/name`: pod key → node name. */
  claimUsers(claim: string): ReadonlyMap<string, string> {
    return this.claimUsersByKey.get(claim) ?? NO_USERS;
  }

  /** Every NodeInfo that holds pods whose affinity terms weigh in scoring others. */
  nodesWithAffinity(): ReadonlySet<NodeInfo> {
    return this.affinityNodes;
  }

  /** Pods with the given controlling owner in the domain `key=value` (tracked keys only). */
  ownerPodsInDomain(ownerUid: string, key: string, value: string): number | undefined {
    if (key === HOSTNAME_LABEL) return this.infos.get(value)?.ownerCounts.get(ownerUid) ?? 0;
    if (!(TRACKED_KEYS as readonly string[]).includes(key)) return undefined;
    return this.ownerTopology.get(ownerUid)?.get(`${key}=${value}`) ?? 0;
  }

  /** An independent copy (pod infos are shared; they are immutable). */
  clone(): SchedulerCache {
    const c = new SchedulerCache();
    for (const [name, ni] of this.infos) {
      const copy: NodeInfo = {
        ...ni,
        requested: { ...ni.requested },
        nonZeroRequested: { ...ni.nonZeroRequested },
        scalarRequested: new Map(ni.scalarRequested),
        pods: new Map(ni.pods),
        ports: new Map(ni.ports),
        ownerCounts: new Map(ni.ownerCounts),
      };
      c.infos.set(name, copy);
      if (copy.affinityPods > 0) c.affinityNodes.add(copy);
    }
    for (const [k, v] of this.podNode) c.podNode.set(k, v);
    for (const [k, v] of this.byLabel) c.byLabel.set(k, new Set(v));
    for (const [k, v] of this.antiTerms) c.antiTerms.set(k, { term: v.term, pods: v.pods, counts: new Map(v.counts) });
    for (const [k, v] of this.ownerTopology) c.ownerTopology.set(k, new Map(v));
    for (const [k, v] of this.claimUsersByKey) c.claimUsersByKey.set(k, new Map(v));
    c.volumes = this.volumes?.clone();
    return c;
  }

  private ownerTopologyBump(ni: NodeInfo, ownerUid: string, delta: number): void {
    for (const key of TRACKED_KEYS) {
      const value = ni.labels[key];
      if (value === undefined) continue;
      let m = this.ownerTopology.get(ownerUid);
      if (!m) {
        m = new Map();
        this.ownerTopology.set(ownerUid, m);
      }
      bump(m, `${key}=${value}`, delta);
      if (m.size === 0) this.ownerTopology.delete(ownerUid);
    }
  }

  private antiTermsBump(ni: NodeInfo, info: PodInfo, delta: number): void {
    for (const term of info.requiredAntiAffinity) {
      let g = this.antiTerms.get(term.signature);
      if (!g) {
        g = { term, pods: 0, counts: new Map() };
        this.antiTerms.set(term.signature, g);
      }
      g.pods += delta;
      const value = ni.labels[term.topologyKey];
      if (value !== undefined) bump(g.counts, value, delta);
      if (g.pods === 0) this.antiTerms.delete(term.signature);
    }
  }

  /** Adds or withdraws a node's pods from the label-keyed aggregates (around label changes). */
  private contributeTopology(ni: NodeInfo, sign: 1 | -1): void {
    for (const [owner, n] of ni.ownerCounts) this.ownerTopologyBump(ni, owner, sign * n);
    if (ni.antiAffinityPods > 0) {
      for (const info of ni.pods.values()) if (info.requiredAntiAffinity.length > 0) this.antiTermsBump(ni, info, sign);
    }
  }
}

const EMPTY: ReadonlySet<PodInfo> = new Set();
const NO_USERS: ReadonlyMap<string, string> = new Map();

function bump(m: Map<string, number>, key: string, delta: number): void {
  const v = (m.get(key) ?? 0) + delta;
  if (v === 0) m.delete(key);
  else m.set(key, v);
}

/** A cache filled from a snapshot of nodes and pods. */
export function cacheFrom(nodes: readonly Node[], pods: readonly Pod[]): SchedulerCache {
  const c = new SchedulerCache();
  for (const n of nodes) c.setNode(n);
  for (const p of pods) c.upsertPod(p);
  return c;
}
