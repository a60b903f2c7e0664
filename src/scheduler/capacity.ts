/**
 * The capacity check of `gantry plan`: would the pods a change adds fit on the nodes, next to
 * the pods already running? Simulates scheduling them one by one in a copy of the cache.
 */
import type {
  DaemonSet, Deployment, Job, KubeObject, Node, Pod, PodTemplateSpec, ReplicaSet, StatefulSet, Toleration,
} from '../model/types.js';
import { cacheFrom, type SchedulerCache } from './cache.js';
import { DAEMON_TOLERATIONS } from '../model/tolerations.js';
import { tolerated } from './plugins/taint-toleration.js';
import { nodeMatchesPod } from './plugins/node-affinity.js';
import { boundCopy, podInfo, podKey } from './podinfo.js';
import { isUnschedulable, schedulePod } from './schedule.js';

/** The outcome of {@link checkCapacity}. */
export interface CapacityResult {
  /** True when every new pod found a node. */
  fits: boolean;
  /** Node name → how many of the new pods went there. */
  placements: Record<string, number>;
  /** New pods that fit nowhere, with the scheduler's message. */
  unschedulable: { pod: string; message: string }[];
}

/** Options for {@link checkCapacity}. */
export interface CapacityOptions {
  /** Start from this cache (it is cloned, never changed) instead of `nodes` + `existingPods`. */
  cache?: SchedulerCache;
}

/** A deterministic tie-breaker so that the same plan gives the same placements. */
function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/**
 * Simulates scheduling `newPods` (in order of priority, then as given) onto `nodes` that
 * already run `existingPods`. Every node is considered (no sampling), so the answer does not
 * depend on where a sample starts.
 */
export function checkCapacity(newPods: Pod[], nodes: Node[], existingPods: Pod[], opts: CapacityOptions = {}): CapacityResult {
  const cache = opts.cache ? opts.cache.clone() : cacheFrom(nodes, existingPods);
  const random = seeded(1);
  const placements: Record<string, number> = {};
  const unschedulable: { pod: string; message: string }[] = [];
  const ordered = newPods.map((p, i) => ({ p, i })).sort((a, b) => (b.p.spec.priority ?? 0) - (a.p.spec.priority ?? 0) || a.i - b.i);
  for (const { p } of ordered) {
    const r = schedulePod(p, cache, { random, percentageOfNodesToScore: 100 });
    if (isUnschedulable(r)) {
      unschedulable.push({ pod: podKey(p), message: r.message });
      continue;
    }
    placements[r.node] = (placements[r.node] ?? 0) + 1;
    cache.upsertPod(boundCopy(p, r.node));
  }
  return { fits: unschedulable.length === 0, placements, unschedulable };
}

/** The pods a workload would run, for {@link checkCapacity}. */
export interface WorkloadPods {
  pods: Pod[];
  /**
   * True for a DaemonSet: one pod per eligible node, pinned there (report these apart from
   * replicas, since a DaemonSet grows with the cluster rather than by a count).
   */
  perNode: boolean;
}

function templatePod(owner: KubeObject, template: PodTemplateSpec, name: string): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: owner.metadata.namespace || 'default',
      labels: template.metadata?.labels,
      annotations: template.metadata?.annotations,
      // A stable fake owner so that default spreading counts these pods as one group.
      ownerReferences: [{
        apiVersion: owner.apiVersion, kind: owner.kind, name: owner.metadata.name,
        uid: owner.metadata.uid ?? `simulated/${owner.kind}/${owner.metadata.namespace ?? ''}/${owner.metadata.name}`,
        controller: true,
      }],
    },
    spec: template.spec,
  };
}

function replicas(owner: KubeObject, template: PodTemplateSpec, n: number): Pod[] {
  return Array.from({ length: Math.max(0, n) }, (_, i) => templatePod(owner, template, `${owner.metadata.name}-${i}`));
}

/**
 * The pods a workload object would run: Deployment / ReplicaSet / StatefulSet `replicas`
 * (default 1); Job `parallelism` (default 1, at most the remaining `completions`); a Pod
 * itself; a DaemonSet one pod per node of `nodes` whose selector, affinity and taints admit it
 * (as the DaemonSet controller decides, before resources), pinned by node affinity on
 * `metadata.name`. Other kinds (including CronJob, whose pods come later) run none.
 */
export function podsForWorkload(obj: KubeObject, opts: { nodes?: Node[] } = {}): WorkloadPods {
  switch (obj.kind) {
    case 'Pod':
      return { pods: [obj as Pod], perNode: false };
    case 'Deployment':
    case 'ReplicaSet':
    case 'StatefulSet': {
      const w = obj as Deployment | ReplicaSet | StatefulSet;
      return { pods: replicas(w, w.spec.template, w.spec.replicas ?? 1), perNode: false };
    }
    case 'Job': {
      const j = obj as Job;
      if (j.spec.suspend) return { pods: [], perNode: false };
      let n = j.spec.parallelism ?? 1;
      if (j.spec.completions !== undefined) n = Math.min(n, j.spec.completions);
      return { pods: replicas(j, j.spec.template, n), perNode: false };
    }
    case 'DaemonSet': {
      const d = obj as DaemonSet;
      const pods: Pod[] = [];
      for (const node of opts.nodes ?? []) {
        const name = node.metadata.name;
        const pod = templatePod(d, d.spec.template, `${d.metadata.name}-${name}`);
        pod.spec = {
          ...pod.spec,
          tolerations: [...(pod.spec.tolerations ?? []), ...DAEMON_TOLERATIONS],
          affinity: {
            ...pod.spec.affinity,
            nodeAffinity: {
              ...pod.spec.affinity?.nodeAffinity,
              requiredDuringSchedulingIgnoredDuringExecution: {
                nodeSelectorTerms: [{ matchFields: [{ key: 'metadata.name', operator: 'In', values: [name] }] }],
              },
            },
          },
        };
        if (daemonEligible(d, node)) pods.push(pod);
      }
      return { pods, perNode: true };
    }
    default:
      return { pods: [], perNode: false };
  }
}


/** Whether the DaemonSet controller would place a pod on the node (selector, affinity, taints). */
function daemonEligible(d: DaemonSet, node: Node): boolean {
  const probe = templatePod(d, d.spec.template, 'probe');
  const one = cacheFrom([node], []);
  const info = one.get(node.metadata.name)!;
  if (!nodeMatchesPod(podInfo(probe), info)) return false;
  for (const taint of node.spec?.taints ?? []) {
    if (taint.effect === 'PreferNoSchedule') continue;
    if (!tolerated([...(probe.spec.tolerations ?? []), ...DAEMON_TOLERATIONS], taint)) return false;
  }
  return true;
}
