/**
 * InterPodAffinity: required pod affinity and anti-affinity by topology domain (filter), both
 * the incoming pod's terms and existing pods' anti-affinity against it; preferred terms
 * (both directions) add or subtract weight per domain (score, weight 2).
 */
import { matchesRequirements } from '../../model/selectors.js';
import type { NodeInfo, SchedulerCache } from '../cache.js';
import type { CompiledTerm, PodInfo } from '../podinfo.js';
import { MAX_NODE_SCORE, type CycleState, type FilterPlugin, type ScorePlugin } from './types.js';

/** Kubernetes' reasons. */
export const AffinityReasons = {
  affinity: "node(s) didn't match pod affinity rules",
  antiAffinity: "node(s) didn't match pod anti-affinity rules",
  existingAntiAffinity: "node(s) didn't satisfy existing pods anti-affinity rules",
} as const;
const AFFINITY = [AffinityReasons.affinity] as const;
const ANTI = [AffinityReasons.antiAffinity] as const;
const EXISTING = [AffinityReasons.existingAntiAffinity] as const;

/** Kubernetes' hardPodAffinityWeight: how much an existing pod's required affinity counts in scoring. */
const HARD_POD_AFFINITY_WEIGHT = 1;

/** True when a term selects the pod (namespace and labels). */
export function termMatches(term: CompiledTerm, pod: PodInfo): boolean {
  return term.selector !== undefined && term.namespaces.has(pod.namespace) && matchesRequirements(term.selector, pod.labels);
}

/** topologyKey → value → count. */
type TopologyCounts = Map<string, Map<string, number>>;

function add(counts: TopologyCounts, key: string, value: string, delta: number): void {
  let m = counts.get(key);
  if (!m) {
    m = new Map();
    counts.set(key, m);
  }
  m.set(value, (m.get(value) ?? 0) + delta);
}

/**
 * Existing pods a term could select, with their nodes: when the selector requires a label
 * value (`matchLabels`, `In`), only pods carrying one of those values; otherwise every pod.
 */
function* candidates(cache: SchedulerCache, term: CompiledTerm): Iterable<[PodInfo, NodeInfo]> {
  const req = term.selector?.find((r) => r.operator === 'In');
  if (req) {
    for (const v of req.values ?? []) {
      for (const info of cache.podsWithLabel(req.key, v)) {
        const ni = cache.get(cache.nodeOfPod(info.key) ?? '');
        if (ni) yield [info, ni];
      }
    }
    return;
  }
  for (const ni of cache.nodes()) for (const info of ni.pods.values()) yield [info, ni];
}

interface FilterState {
  existingAnti: TopologyCounts;
  /** Per required affinity term: value → matching pods. */
  affinity: Map<string, number>[];
  anti: Map<string, number>[];
  /** No pod anywhere matches the affinity terms, but the pod matches them itself. */
  firstOfGroup: boolean;
}

const NAME = 'InterPodAffinity';

/** The InterPodAffinity filter. */
export const interPodAffinityFilter: FilterPlugin = {
  name: NAME,
  preFilter(state: CycleState): boolean {
    const p = state.pod;
    const st: FilterState = { existingAnti: new Map(), affinity: [], anti: [], firstOfGroup: false };
    for (const g of state.cache.requiredAntiAffinityTerms()) {
      if (!termMatches(g.term, p)) continue;
      for (const [value, n] of g.counts) if (n > 0) add(st.existingAnti, g.term.topologyKey, value, n);
    }
    const hasOwn = p.requiredAffinity.length > 0 || p.requiredAntiAffinity.length > 0;
    if (hasOwn) {
      st.affinity = p.requiredAffinity.map(() => new Map());
      st.anti = p.requiredAntiAffinity.map(() => new Map());
      let anyAffinityMatch = false;
      const count = (term: CompiledTerm, into: Map<string, number>): boolean => {
        let any = false;
        for (const [existing, ni] of candidates(state.cache, term)) {
          if (existing.key === p.key || !ni.node) continue;
          const value = ni.labels[term.topologyKey];
          if (value !== undefined && termMatches(term, existing)) {
            into.set(value, (into.get(value) ?? 0) + 1);
            any = true;
          }
        }
        return any;
      };
      p.requiredAffinity.forEach((term, i) => {
        if (count(term, st.affinity[i]!)) anyAffinityMatch = true;
      });
      p.requiredAntiAffinity.forEach((term, i) => count(term, st.anti[i]!));
      st.firstOfGroup = !anyAffinityMatch && p.requiredAffinity.every((t) => termMatches(t, p));
    }
    state.data.set(NAME, st);
    return hasOwn || st.existingAnti.size > 0;
  },
  filter(state, node) {
    const st = state.data.get(NAME) as FilterState;
    const p = state.pod;
    // Affinity: every term needs a matching pod in the node's domain (or this is the first pod
    // of a group that selects itself, which Kubernetes lets through so groups can start).
    for (let i = 0; i < p.requiredAffinity.length; i++) {
      const term = p.requiredAffinity[i]!;
      const value = node.labels[term.topologyKey];
      if (value === undefined) return AFFINITY;
      if (!st.firstOfGroup && !((st.affinity[i]!.get(value) ?? 0) > 0)) return AFFINITY;
    }
    for (let i = 0; i < p.requiredAntiAffinity.length; i++) {
      const value = node.labels[p.requiredAntiAffinity[i]!.topologyKey];
      if (value !== undefined && (st.anti[i]!.get(value) ?? 0) > 0) return ANTI;
    }
    for (const [key, values] of st.existingAnti) {
      const value = node.labels[key];
      if (value !== undefined && (values.get(value) ?? 0) > 0) return EXISTING;
    }
    return null;
  },
};

/** The InterPodAffinity score (weight 2), min-max normalized as Kubernetes does. */
export const interPodAffinityScore: ScorePlugin = {
  name: NAME,
  weight: 2,
  preScore(state) {
    const p = state.pod;
    const own = p.preferredAffinity.length + p.preferredAntiAffinity.length > 0;
    const nodes: Iterable<NodeInfo> = own ? state.cache.nodes() : state.cache.nodesWithAffinity();
    if (!own && state.cache.nodesWithAffinity().size === 0) return false;
    const counts: TopologyCounts = new Map();
    for (const ni of nodes) {
      if (!ni.node) continue;
      for (const existing of ni.pods.values()) {
        if (existing.key === p.key) continue;
        for (const w of p.preferredAffinity) {
          const v = ni.labels[w.term.topologyKey];
          if (v !== undefined && termMatches(w.term, existing)) add(counts, w.term.topologyKey, v, w.weight);
        }
        for (const w of p.preferredAntiAffinity) {
          const v = ni.labels[w.term.topologyKey];
          if (v !== undefined && termMatches(w.term, existing)) add(counts, w.term.topologyKey, v, -w.weight);
        }
        for (const w of existing.preferredAffinity) {
          const v = ni.labels[w.term.topologyKey];
          if (v !== undefined && termMatches(w.term, p)) add(counts, w.term.topologyKey, v, w.weight);
        }
        for (const w of existing.preferredAntiAffinity) {
          const v = ni.labels[w.term.topologyKey];
          if (v !== undefined && termMatches(w.term, p)) add(counts, w.term.topologyKey, v, -w.weight);
        }
        for (const term of existing.requiredAffinity) {
          const v = ni.labels[term.topologyKey];
          if (v !== undefined && termMatches(term, p)) add(counts, term.topologyKey, v, HARD_POD_AFFINITY_WEIGHT);
        }
      }
    }
    if (counts.size === 0) return false;
    state.data.set(`${NAME}/score`, counts);
    return true;
  },
  score(state, nodes) {
    const counts = state.data.get(`${NAME}/score`) as TopologyCounts;
    return nodes.map((node) => {
      let sum = 0;
      for (const [key, values] of counts) {
        const v = node.labels[key];
        if (v !== undefined) sum += values.get(v) ?? 0;
      }
      return sum;
    });
  },
  normalize(_state, scores) {
    let min = Infinity;
    let max = -Infinity;
    for (const s of scores) {
      if (s < min) min = s;
      if (s > max) max = s;
    }
    const diff = max - min;
    for (let i = 0; i < scores.length; i++) {
      scores[i] = diff > 0 ? Math.floor((MAX_NODE_SCORE * (scores[i]! - min)) / diff) : 0;
    }
  },
};
