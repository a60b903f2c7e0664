/**
 * The default plugin sets, in Kubernetes' order (filters stop at the first that rejects a
 * node, so the order decides which reason a node reports).
 */
import { interPodAffinityFilter, interPodAffinityScore } from './inter-pod-affinity.js';
import { nodeAffinityFilter, nodeAffinityScore } from './node-affinity.js';
import { nodeNameFilter } from './node-name.js';
import { nodePortsFilter } from './node-ports.js';
import { balancedAllocationScore, leastAllocatedScore, nodeResourcesFitFilter } from './node-resources-fit.js';
import { nodeUnschedulableFilter } from './node-unschedulable.js';
import { podTopologySpreadFilter, podTopologySpreadScore } from './pod-topology-spread.js';
import { taintTolerationFilter, taintTolerationScore } from './taint-toleration.js';
import { volumeBindingFilter, volumeRestrictionsFilter } from './volume-binding.js';
import type { FilterPlugin, ScorePlugin } from './types.js';

/** Default filters. */
export const DEFAULT_FILTERS: readonly FilterPlugin[] = [
  nodeUnschedulableFilter,
  nodeNameFilter,
  taintTolerationFilter,
  nodeAffinityFilter,
  nodePortsFilter,
  nodeResourcesFitFilter,
  volumeRestrictionsFilter,
  volumeBindingFilter,
  podTopologySpreadFilter,
  interPodAffinityFilter,
];

/** Default scores with Kubernetes' weights. */
export const DEFAULT_SCORES: readonly ScorePlugin[] = [
  taintTolerationScore,
  nodeAffinityScore,
  podTopologySpreadScore,
  interPodAffinityScore,
  leastAllocatedScore,
  balancedAllocationScore,
];

export type { CycleState, FilterPlugin, FilterResult, ScorePlugin } from './types.js';
