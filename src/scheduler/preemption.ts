/**
 * Preemption, as kube-scheduler's DefaultPreemption plugin does it (pure: reads a copy of the
 * cache, changes nothing the caller keeps). For a pod that fits nowhere:
 *
 * 1. A pod with `preemptionPolicy: Never` preempts nothing; a pod nominated to a node where a
 *    lower-priority pod is still terminating waits for it instead of preempting again.
 * 2. Per node: when the pod fails there for a reason removing pods cannot change (node name,
 *    taints, node affinity, cordon, volumes) preemption is not helpful; otherwise every pod of
 *    lower priority is taken off the node and the pod must fit then. Those pods are put back one
 *    by one, most important first (higher priority, then running longer), those whose eviction
 *    would break a PodDisruptionBudget before the others, and each one that still lets the pod
 *    fit stays: the rest are the node's victims.
 * 3. Of the nodes with victims, the one with the fewest budget violations wins, then the lowest
 *    highest-priority victim, the smallest sum of priorities, the fewest victims, the latest start
 *    among the highest-priority victims, and the first in name order.
 *
 * The caller nominates the node (`status.nominatedNodeName`), deletes the victims and takes back
 * the nomination of lower-priority pods nominated to that node.
 */
import type { Pod, PodDisruptionBudget } from '../model/types.js';
import { matchesSelector } from '../model/selectors.js';
import type { NodeInfo, SchedulerCache } from './cache.js';
import { DEFAULT_FILTERS } from './plugins/index.js';
import type { CycleState, FilterPlugin } from './plugins/types.js';
import { podInfo, type PodInfo } from './podinfo.js';

/** Filters whose verdict no preemption can change. */
const UNRESOLVABLE = new Set(['NodeUnschedulable', 'NodeName', 'TaintToleration', 'NodeAffinity', 'VolumeBinding']);

/** Kubernetes' words for a node where evicting pods cannot make room. */
export const NOT_HELPFUL = 'Preemption is not helpful for scheduling';
/** …and for a node with no lower-priority pod to evict. */
export const NO_VICTIMS = 'No preemption victims found for incoming pod';

/** A node the pod fits on once its victims are gone. */
export interface PreemptionCandidate {
  node: string;
  victims: Pod[];
  /** Victims whose eviction breaks a PodDisruptionBudget (when no other choice remained). */
  pdbViolations: number;
}

/** The outcome of {@link findPreemption}. */
export type Preemption =
  | { candidate: PreemptionCandidate }
  /** No node: `message` is the scheduler's postfix ("preemption: 0/3 nodes are available: …"). */
  | { candidate?: undefined; message: string; wait?: boolean };

/** Options of {@link findPreemption}. */
export interface PreemptionOptions {
  /** The namespace's budgets (any namespace; the function matches). */
  budgets: readonly PodDisruptionBudget[];
  filters?: readonly FilterPlugin[];
}

/** The pod's priority (0 when admission gave it none). */
export function priorityOf(pod: Pod): number {
  return pod.spec.priority ?? 0;
}

/** A filter's failure: the plugin and its reasons. */
type Failure = { plugin: string; reasons: readonly string[] };

/**
 * The filters as they apply to one pod on one cache, in order: each that its PreFilter keeps, up
 * to the first that rejects every node (its failure, last). PreFilter and rejectAll look at the
 * whole cluster, so they run once for all the nodes a pass looks at, not once per node.
 */
interface PreparedFilters {
  state: CycleState;
  steps: (FilterPlugin | Failure)[];
}

function prepareFilters(pod: Pod, cache: SchedulerCache, filters: readonly FilterPlugin[]): PreparedFilters {
  const state: CycleState = { pod: podInfo(pod), cache, data: new Map() };
  const steps: (FilterPlugin | Failure)[] = [];
  for (const f of filters) {
    if (f.preFilter && !f.preFilter(state)) continue;
    const all = f.rejectAll?.(state);
    if (all !== undefined) {
      steps.push({ plugin: f.name, reasons: [all] });
      break;
    }
    steps.push(f);
  }
  return { state, steps };
}

/** Where prepared filters fail on the node, as {@link failureOn}. */
function failureWith(p: PreparedFilters, node: NodeInfo): Failure | undefined {
  for (const step of p.steps) {
    if ('plugin' in step) return step;
    const r = step.filter(p.state, node);
    if (r !== null) return { plugin: step.name, reasons: r };
  }
  return undefined;
}

/** Where the pod fails on the node: undefined when it fits, else the failing filter and its reasons. */
export function failureOn(pod: Pod, cache: SchedulerCache, node: NodeInfo, filters: readonly FilterPlugin[] = DEFAULT_FILTERS): Failure | undefined {
  return failureWith(prepareFilters(pod, cache, filters), node);
}

/** Kubernetes' MoreImportantPod: higher priority first, then the one that started earlier. */
function moreImportant(a: PodInfo, b: PodInfo): number {
  const pa = priorityOf(a.pod);
  const pb = priorityOf(b.pod);
  if (pa !== pb) return pb - pa;
  return startTime(a.pod) - startTime(b.pod);
}

function startTime(p: Pod): number {
  const t = p.status?.startTime ?? p.metadata.creationTimestamp;
  return t ? Date.parse(t) : Number.MAX_SAFE_INTEGER;
}

/**
 * Splits victims (most important first) into those whose eviction would break a budget and the
 * others, as Kubernetes' filterPodsWithPDBViolation counts them: each matching budget's allowed
 * disruptions go down per pod (pods it already counts as disrupted excepted); one below zero is
 * a violation. A budget with an empty selector matches nothing here, as in Kubernetes.
 */
export function splitByBudget(victims: readonly PodInfo[], budgets: readonly PodDisruptionBudget[]): { violating: PodInfo[]; other: PodInfo[] } {
  const allowed = budgets.map((b) => b.status?.disruptionsAllowed ?? 0);
  const violating: PodInfo[] = [];
  const other: PodInfo[] = [];
  for (const v of victims) {
    let violated = false;
    if (Object.keys(v.labels).length > 0) {
      budgets.forEach((b, i) => {
        if ((b.metadata.namespace ?? 'default') !== v.namespace) return;
        const sel = b.spec.selector;
        if (!sel || (Object.keys(sel.matchLabels ?? {}).length === 0 && (sel.matchExpressions ?? []).length === 0)) return;
        if (!matchesSelector(sel, v.labels)) return;
        if (b.status?.disruptedPods?.[v.pod.metadata.name] !== undefined) return;
        allowed[i]!--;
        if (allowed[i]! < 0) violated = true;
      });
    }
    (violated ? violating : other).push(v);
  }
  return { violating, other };
}

/**
 * The victims on one node, or why there are none: the pod must fit once every lower-priority pod
 * is gone; then pods are reprieved (budget-protected ones first) while it still fits.
 * `sim` is a private copy of the cache; it is left as it was found.
 */
function victimsOn(pod: Pod, node: NodeInfo, sim: SchedulerCache, opts: PreemptionOptions): PreemptionCandidate | { reason: string } {
  const filters = opts.filters ?? DEFAULT_FILTERS;
  const first = failureOn(pod, sim, node, filters);
  if (first && UNRESOLVABLE.has(first.plugin)) return { reason: NOT_HELPFUL };
  const prio = priorityOf(pod);
  const lower = [...node.pods.values()].filter((p) => priorityOf(p.pod) < prio).sort(moreImportant);
  if (lower.length === 0) return { reason: NO_VICTIMS };
  for (const v of lower) sim.removePod(v.key);
  const restore = (): void => {
    for (const v of lower) if (sim.nodeOfPod(v.key) === undefined) sim.upsertPod(v.pod);
  };
  try {
    const without = failureOn(pod, sim, sim.get(node.name)!, filters);
    if (without) return { reason: without.reasons[0] ?? NOT_HELPFUL };
    const { violating, other } = splitByBudget(lower, opts.budgets);
    const victims: Pod[] = [];
    let pdbViolations = 0;
    const reprieve = (v: PodInfo): boolean => {
      sim.upsertPod(v.pod);
      if (failureOn(pod, sim, sim.get(node.name)!, filters) === undefined) return true;
      sim.removePod(v.key);
      victims.push(v.pod);
      return false;
    };
    for (const v of violating) if (!reprieve(v)) pdbViolations++;
    for (const v of other) reprieve(v);
    return { node: node.name, victims, pdbViolations };
  } finally {
    restore();
  }
}

/**
 * Where `pod` could run by preempting lower-priority pods (see the module comment). `cache` is
 * the scheduler's view (with nominated pods assumed, as scheduling sees them); it is not changed.
 */
export function findPreemption(pod: Pod, cache: SchedulerCache, opts: PreemptionOptions): Preemption {
  if (pod.spec.preemptionPolicy === 'Never') return { message: 'preemption: not eligible due to preemptionPolicy=Never.' };
  const nominated = pod.status?.nominatedNodeName;
  if (nominated) {
    const prio = priorityOf(pod);
    const terminating = [...(cache.get(nominated)?.pods.values() ?? [])].some((p) => p.terminating && priorityOf(p.pod) < prio);
    if (terminating) return { message: 'preemption: not eligible due to a terminating pod on the nominated node.', wait: true };
  }
  const nodes = cache.nodes();
  const reasons = new Map<string, number>();
  const count = (r: string): void => void reasons.set(r, (reasons.get(r) ?? 0) + 1);
  // A first look on the cache itself settles most nodes (no lower-priority pod, or a failure no
  // eviction changes) without copying it: a pod that fits nowhere comes back again and again.
  const prio = priorityOf(pod);
  const filters = opts.filters ?? DEFAULT_FILTERS;
  const worthTrying: NodeInfo[] = [];
  const prepared = prepareFilters(pod, cache, filters);
  for (const n of nodes) {
    const f = failureWith(prepared, n);
    if (f && UNRESOLVABLE.has(f.plugin)) count(NOT_HELPFUL);
    else if (![...n.pods.values()].some((p) => priorityOf(p.pod) < prio)) count(NO_VICTIMS);
    else worthTrying.push(n);
  }
  const candidates: PreemptionCandidate[] = [];
  if (worthTrying.length > 0) {
    const sim = cache.clone();
    for (const n of worthTrying) {
      const r = victimsOn(pod, sim.get(n.name)!, sim, opts);
      if ('reason' in r) count(r.reason);
      else if (r.victims.length > 0) candidates.push(r);
      else count(NO_VICTIMS);
    }
  }
  const best = pickCandidate(candidates);
  if (best) return { candidate: best };
  const items = [...reasons].map(([r, n]) => `${n} ${r}`).sort();
  return { message: `preemption: 0/${nodes.length} nodes are available: ${items.join(', ')}.` };
}

/** Kubernetes' pickOneNodeForPreemption over the candidates; undefined when there are none. */
export function pickCandidate(candidates: readonly PreemptionCandidate[]): PreemptionCandidate | undefined {
  if (candidates.length === 0) return undefined;
  const highest = (c: PreemptionCandidate): number => Math.max(...c.victims.map(priorityOf));
  // Priorities may be negative: offset each so a sum compares victims' importance, as Kubernetes does.
  const sum = (c: PreemptionCandidate): number => c.victims.reduce((s, v) => s + priorityOf(v) + 2 ** 31, 0);
  const latestStartOfHighest = (c: PreemptionCandidate): number => {
    const h = highest(c);
    return Math.min(...c.victims.filter((v) => priorityOf(v) === h).map(startTime));
  };
  const keys: ((c: PreemptionCandidate) => number)[] = [
    (c) => c.pdbViolations,
    highest,
    sum,
    (c) => c.victims.length,
    (c) => -latestStartOfHighest(c),
  ];
  let pool = [...candidates].sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
  for (const key of keys) {
    const best = Math.min(...pool.map(key));
    pool = pool.filter((c) => key(c) === best);
    if (pool.length === 1) break;
  }
  return pool[0];
}
