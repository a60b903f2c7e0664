/**
 * NodeResourcesFit: the pod's requests must fit in what the node has left (filter), and the
 * node with the most left after placing it scores highest (least-allocated strategy).
 */
import type { NodeInfo } from '../cache.js';
import { MAX_NODE_SCORE, type CycleState, type FilterPlugin, type FilterResult, type ScorePlugin } from './types.js';

/** Kubernetes' reasons, one per resource that does not fit. */
export const ResourceReasons = {
  pods: 'Too many pods',
  cpu: 'Insufficient cpu',
  memory: 'Insufficient memory',
} as const;

/** Every combination of reasons, indexed by bits pods=1, cpu=2, memory=4 (shared, not rebuilt per node). */
const RESULTS: readonly (readonly string[])[] = Array.from({ length: 8 }, (_, mask) => [
  ...(mask & 1 ? [ResourceReasons.pods] : []),
  ...(mask & 2 ? [ResourceReasons.cpu] : []),
  ...(mask & 4 ? [ResourceReasons.memory] : []),
]);

/**
 * The NodeResourcesFit filter: pods count, then cpu and memory, then every other resource the pod
 * requests (ephemeral-storage, hugepages, extended resources such as nvidia.com/gpu), which a
 * node that does not offer it has none of (`Insufficient nvidia.com/gpu`, as kube-scheduler says).
 * Requests of 0 always fit.
 */
export const nodeResourcesFitFilter: FilterPlugin = {
  name: 'NodeResourcesFit',
  filter(state: CycleState, node: NodeInfo): FilterResult {
    const req = state.pod.requests;
    const a = node.allocatable;
    let mask = 0;
    if (node.pods.size + 1 > a.pods) mask |= 1;
    if (req.cpu > 0 && req.cpu > a.cpu - node.requested.cpu) mask |= 2;
    if (req.memory > 0 && req.memory > a.memory - node.requested.memory) mask |= 4;
    const scalar = state.pod.scalar;
    if (!scalar) return mask === 0 ? null : RESULTS[mask]!;
    let more: string[] | undefined;
    for (const [name, v] of scalar) {
      if (v > (a.scalar?.get(name) ?? 0) - (node.scalarRequested.get(name) ?? 0)) (more ??= []).push(`Insufficient ${name}`);
    }
    if (!more) return mask === 0 ? null : RESULTS[mask]!;
    return [...RESULTS[mask]!, ...more];
  },
};

function leastAllocated(requested: number, capacity: number): number {
  if (capacity <= 0 || requested > capacity) return 0;
  return Math.floor(((capacity - requested) * MAX_NODE_SCORE) / capacity);
}

/**
 * The least-allocated score (weight 1): the mean over cpu and memory of the free share after
 * placing the pod, using the non-zero requests (100m / 200Mi for containers that state none)
 * so that request-less pods still spread.
 */
export const leastAllocatedScore: ScorePlugin = {
  name: 'NodeResourcesFit',
  weight: 1,
  score(state, nodes) {
    const p = state.pod.nonZero;
    const out = new Array<number>(nodes.length);
    for (let i = 0; i < nodes.length; i++) {
      const node = nodes[i]!;
      const cpu = leastAllocated(node.nonZeroRequested.cpu + p.cpu, node.allocatable.cpu);
      const mem = leastAllocated(node.nonZeroRequested.memory + p.memory, node.allocatable.memory);
      out[i] = Math.floor((cpu + mem) / 2);
    }
    return out;
  },
};

/**
 * NodeResourcesBalancedAllocation (weight 1): nodes whose cpu and memory would be used in
 * similar proportions score higher: (1 − standard deviation of the two fractions) × 100.
 */
export const balancedAllocationScore: ScorePlugin = {
  name: 'NodeResourcesBalancedAllocation',
  weight: 1,
  score(state, nodes) {
    const p = state.pod.requests;
    const out = new Array<number>(nodes.length);
    for (let i = 0; i < nodes.length; i++) {
      const node = nodes[i]!;
      const a = node.allocatable;
      // A resource the node has none of allocatable has no fraction to balance.
      if (a.cpu <= 0 || a.memory <= 0) {
        out[i] = MAX_NODE_SCORE;
        continue;
      }
      const cpu = Math.min(1, (node.requested.cpu + p.cpu) / a.cpu);
      const mem = Math.min(1, (node.requested.memory + p.memory) / a.memory);
      out[i] = Math.floor((1 - Math.abs(cpu - mem) / 2) * MAX_NODE_SCORE);
    }
    return out;
  },
};
