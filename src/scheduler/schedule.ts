/**
 * One scheduling decision, as kube-scheduler makes it: filter nodes (a sample of them in big
 * clusters), score the feasible ones, pick the best. Pure: reads the cache, changes only the
 * cache's rotating start index.
 */
import type { Pod } from '../model/types.js';
import type { NodeInfo, SchedulerCache } from './cache.js';
import { DEFAULT_FILTERS, DEFAULT_SCORES } from './plugins/index.js';
import type { CycleState, FilterPlugin, ScorePlugin } from './plugins/types.js';
import { podInfo } from './podinfo.js';

/** Kubernetes' minFeasibleNodesToFind. */
const MIN_FEASIBLE_NODES = 100;
/** Kubernetes' minFeasibleNodesPercentageToFind. */
const MIN_FEASIBLE_PERCENTAGE = 5;

/** Options for {@link schedulePod}. */
export interface ScheduleOptions {
  /** Source of randomness for breaking ties between equally scored nodes (default Math.random). */
  random?: () => number;
  /**
   * Percentage of nodes to find feasible before scoring; 0 or absent means Kubernetes'
   * adaptive default (50% at 100 nodes, falling by 1 point per 125 nodes to at least 5%).
   * 100 considers every node.
   */
  percentageOfNodesToScore?: number;
  /** Plugin sets (defaults: Kubernetes' defaults). */
  filters?: readonly FilterPlugin[];
  scores?: readonly ScorePlugin[];
}

/** The pod fits: the chosen node and its weighted score. */
export interface Scheduled {
  node: string;
  score: number;
}

/** The pod fits nowhere; `reasons` counts nodes per reason, `message` words it as Kubernetes does. */
export interface Unschedulable {
  unschedulable: true;
  message: string;
  reasons: Record<string, number>;
}

/** The outcome of {@link schedulePod}. */
export type ScheduleResult = Scheduled | Unschedulable;

/** True when a result is a failure. */
export function isUnschedulable(r: ScheduleResult): r is Unschedulable {
  return 'unschedulable' in r;
}

/** Kubernetes' numFeasibleNodesToFind. */
export function numFeasibleNodesToFind(numAllNodes: number, percentage = 0): number {
  if (numAllNodes < MIN_FEASIBLE_NODES) return numAllNodes;
  let pct = percentage;
  if (pct <= 0) {
    pct = 50 - Math.floor(numAllNodes / 125);
    if (pct < MIN_FEASIBLE_PERCENTAGE) pct = MIN_FEASIBLE_PERCENTAGE;
  }
  if (pct >= 100) return numAllNodes;
  const n = Math.floor((numAllNodes * pct) / 100);
  return n < MIN_FEASIBLE_NODES ? MIN_FEASIBLE_NODES : n;
}

/**
 * Kubernetes' FitError message: "0/3 nodes are available: 1 Insufficient memory, 2 node(s) had
 * untolerated taint {dedicated: gpu}." — "count reason" items sorted as strings.
 */
export function formatUnschedulableMessage(numNodes: number, reasons: Record<string, number>): string {
  const items = Object.entries(reasons).map(([reason, n]) => `${n} ${reason}`).sort();
  return `0/${numNodes} nodes are available: ${items.join(', ')}.`;
}

const rotation = new WeakMap<SchedulerCache, number>();

/**
 * Chooses a node for the pod. Nodes are filtered starting where the previous call stopped
 * (Kubernetes' rotating start index), until enough feasible nodes are found
 * ({@link numFeasibleNodesToFind}); a node that fails stops at its first failing filter. The
 * feasible nodes are scored (weighted sum of normalized plugin scores) and the highest wins;
 * ties are broken uniformly at random (reservoir sampling, as kube-scheduler's selectHost).
 * Does not change the cache: the caller assumes the pod on the node.
 */
export function schedulePod(pod: Pod, cache: SchedulerCache, opts: ScheduleOptions = {}): ScheduleResult {
  const nodes = cache.nodes();
  const all = nodes.length;
  if (all === 0) {
    return { unschedulable: true, message: '0/0 nodes are available: no nodes available to schedule pods.', reasons: {} };
  }
  const state: CycleState = { pod: podInfo(pod), cache, data: new Map() };
  const filters: FilterPlugin[] = [];
  for (const f of opts.filters ?? DEFAULT_FILTERS) {
    if (f.preFilter && !f.preFilter(state)) continue;
    const rejected = f.rejectAll?.(state);
    if (rejected !== undefined) return { unschedulable: true, message: `0/${all} nodes are available: ${rejected}.`, reasons: { [rejected]: all } };
    filters.push(f);
  }

  const want = numFeasibleNodesToFind(all, opts.percentageOfNodesToScore);
  const feasible: NodeInfo[] = [];
  // Counted by result identity (plugins return shared arrays); expanded only on failure.
  const failures = new Map<readonly string[], number>();
  const start = (rotation.get(cache) ?? 0) % all;
  let processed = 0;
  for (; processed < all && feasible.length < want; processed++) {
    const node = nodes[(start + processed) % all]!;
    let ok = true;
    for (const f of filters) {
      const r = f.filter(state, node);
      if (r !== null) {
        failures.set(r, (failures.get(r) ?? 0) + 1);
        ok = false;
        break;
      }
    }
    if (ok) feasible.push(node);
  }
  rotation.set(cache, (start + processed) % all);

  if (feasible.length === 0) {
    const reasons: Record<string, number> = {};
    for (const [r, n] of failures) for (const reason of r) reasons[reason] = (reasons[reason] ?? 0) + n;
    return { unschedulable: true, message: formatUnschedulableMessage(all, reasons), reasons };
  }
  const totals = new Array<number>(feasible.length).fill(0);
  for (const plugin of opts.scores ?? DEFAULT_SCORES) {
    if (plugin.preScore && !plugin.preScore(state, feasible)) continue;
    const scores = plugin.score(state, feasible);
    plugin.normalize?.(state, scores, feasible);
    for (let i = 0; i < scores.length; i++) totals[i]! += plugin.weight * scores[i]!;
  }
  const random = opts.random ?? Math.random;
  let best = 0;
  let ties = 1;
  for (let i = 1; i < totals.length; i++) {
    if (totals[i]! > totals[best]!) {
      best = i;
      ties = 1;
    } else if (totals[i] === totals[best]) {
      ties++;
      if (random() * ties < 1) best = i;
    }
  }
  return { node: feasible[best]!.name, score: totals[best]! };
}
