/**
 * The plugin contract, after Kubernetes' scheduling framework: filters say whether a pod may
 * run on a node (and why not), scores rank the nodes that passed, 0–100 each.
 */
import type { NodeInfo, SchedulerCache } from '../cache.js';
import type { PodInfo } from '../podinfo.js';

/** Kubernetes' highest node score per plugin. */
export const MAX_NODE_SCORE = 100;

/** State of one scheduling attempt, shared by the plugins (each under its own name). */
export interface CycleState {
  pod: PodInfo;
  cache: SchedulerCache;
  data: Map<string, unknown>;
}

/** Why a node was rejected (Kubernetes' wording), or null when it passes. */
export type FilterResult = readonly string[] | null;

/** A filter plugin. */
export interface FilterPlugin {
  readonly name: string;
  /**
   * Runs once per pod before any node is filtered; returns false when the plugin has nothing
   * to check for this pod, so its filter is skipped on every node.
   */
  preFilter?(state: CycleState): boolean;
  /**
   * Runs once per pod after preFilter: a message rejects the pod on every node at once
   * (Kubernetes' PreFilter status UnschedulableAndUnresolvable: "pod has unbound immediate
   * PersistentVolumeClaims"), and the scheduler's message is that, not a count per node.
   */
  rejectAll?(state: CycleState): string | undefined;
  filter(state: CycleState, node: NodeInfo): FilterResult;
}

/** A score plugin; the weight multiplies its normalized 0–100 score. */
export interface ScorePlugin {
  readonly name: string;
  readonly weight: number;
  /** Runs once per pod over the feasible nodes; false means "no opinion" (skip). */
  preScore?(state: CycleState, nodes: readonly NodeInfo[]): boolean;
  /** Raw scores of the nodes, aligned with `nodes` (one call per pod keeps the loop monomorphic). */
  score(state: CycleState, nodes: readonly NodeInfo[]): number[];
  /** Rescales raw scores (aligned with `nodes`) to 0–100 in place. */
  normalize?(state: CycleState, scores: number[], nodes: readonly NodeInfo[]): void;
}

/**
 * Kubernetes' DefaultNormalizeScore: scale so the highest raw score becomes 100 (or, with
 * `reverse`, the lowest does). All-zero scores become 0, or 100 when reversed.
 */
export function defaultNormalize(scores: number[], reverse: boolean): void {
  let max = 0;
  for (const s of scores) if (s > max) max = s;
  if (max === 0) {
    if (reverse) scores.fill(MAX_NODE_SCORE);
    return;
  }
  for (let i = 0; i < scores.length; i++) {
    const s = Math.floor((MAX_NODE_SCORE * scores[i]!) / max);
    scores[i] = reverse ? MAX_NODE_SCORE - s : s;
  }
}
