/**
 * PodTopologySpread: DoNotSchedule constraints must keep the skew (pods in the node's domain
 * plus this one, minus the emptiest domain) within maxSkew (filter); ScheduleAnyway
 * constraints, and Kubernetes' defaults for controller-owned pods, prefer emptier domains
 * (score, weight 2).
 */
import { matchesRequirements } from '../../model/selectors.js';
import type { NodeInfo } from '../cache.js';
import { HOSTNAME_LABEL, type CompiledSpread, type PodInfo } from '../podinfo.js';
import { nodeMatchesPod } from './node-affinity.js';
import { MAX_NODE_SCORE, type CycleState, type FilterPlugin, type ScorePlugin } from './types.js';

/** Kubernetes' reasons. */
export const SpreadReasons = {
  skew: "node(s) didn't match pod topology spread constraints",
  missingLabel: "node(s) didn't match pod topology spread constraints (missing required label)",
} as const;
const SKEW = [SpreadReasons.skew] as const;
const MISSING = [SpreadReasons.missingLabel] as const;

/** True when an existing pod counts for the constraint of the incoming pod. */
function counts(c: CompiledSpread, incoming: PodInfo, existing: PodInfo): boolean {
  if (existing.terminating || existing.namespace !== incoming.namespace) return false;
  if (c.ownerUid !== undefined) return existing.ownerUid === c.ownerUid;
  return c.selector !== undefined && matchesRequirements(c.selector, existing.labels);
}

function countOnNode(c: CompiledSpread, incoming: PodInfo, node: NodeInfo): number {
  if (c.ownerUid !== undefined) return node.ownerCounts.get(c.ownerUid) ?? 0;
  let n = 0;
  for (const p of node.pods.values()) if (p.key !== incoming.key && counts(c, incoming, p)) n++;
  return n;
}

function selfMatch(c: CompiledSpread, p: PodInfo): number {
  if (c.ownerUid !== undefined) return 1;
  return c.selector !== undefined && matchesRequirements(c.selector, p.labels) ? 1 : 0;
}

function hasAllKeys(node: NodeInfo, cs: readonly CompiledSpread[]): boolean {
  for (const c of cs) if (node.labels[c.topologyKey] === undefined) return false;
  return true;
}

interface FilterState {
  constraints: CompiledSpread[];
  counts: Map<string, number>[];
  min: number[];
}

const NAME = 'PodTopologySpread';

/** The PodTopologySpread filter. */
export const podTopologySpreadFilter: FilterPlugin = {
  name: NAME,
  preFilter(state: CycleState): boolean {
    const p = state.pod;
    const constraints = p.spread.filter((c) => c.whenUnsatisfiable === 'DoNotSchedule');
    if (constraints.length === 0) return false;
    const countsPer = constraints.map(() => new Map<string, number>());
    // Only nodes the pod could go to by node affinity/selector form domains (Kubernetes'
    // default nodeAffinityPolicy: Honor); taints are ignored (nodeTaintsPolicy: Ignore).
    for (const ni of state.cache.nodes()) {
      if (!hasAllKeys(ni, constraints) || !nodeMatchesPod(p, ni)) continue;
      constraints.forEach((c, i) => {
        const v = ni.labels[c.topologyKey]!;
        countsPer[i]!.set(v, (countsPer[i]!.get(v) ?? 0) + countOnNode(c, p, ni));
      });
    }
    const min = countsPer.map((m) => {
      let lo = Infinity;
      for (const n of m.values()) if (n < lo) lo = n;
      return lo === Infinity ? 0 : lo;
    });
    state.data.set(NAME, { constraints, counts: countsPer, min } satisfies FilterState);
    return true;
  },
  filter(state, node) {
    const st = state.data.get(NAME) as FilterState;
    for (let i = 0; i < st.constraints.length; i++) {
      const c = st.constraints[i]!;
      const v = node.labels[c.topologyKey];
      if (v === undefined) return MISSING;
      const skew = (st.counts[i]!.get(v) ?? 0) + selfMatch(c, state.pod) - st.min[i]!;
      if (skew > c.maxSkew) return SKEW;
    }
    return null;
  },
};

/** The PodTopologySpread score (weight 2). */
export const podTopologySpreadScore: ScorePlugin = {
  name: NAME,
  weight: 2,
  preScore(state) {
    return state.pod.spread.some((c) => c.whenUnsatisfiable === 'ScheduleAnyway');
  },
  score(state, nodes) {
    const p = state.pod;
    const constraints = p.spread.filter((c) => c.whenUnsatisfiable === 'ScheduleAnyway');
    const out = new Array<number>(nodes.length);
    // Nodes missing a topology key are ignored (score -1 here, 0 after normalizing).
    let eligible = 0;
    for (let i = 0; i < nodes.length; i++) {
      const ok = hasAllKeys(nodes[i]!, constraints);
      out[i] = ok ? 0 : -1;
      if (ok) eligible++;
    }
    for (const c of constraints) {
      let domainCount: number;
      let domains: Map<string, number> | undefined;
      if (c.topologyKey === HOSTNAME_LABEL) {
        domainCount = eligible;
      } else {
        domains = new Map<string, number>();
        for (let i = 0; i < nodes.length; i++) if (out[i]! >= 0) domains.set(nodes[i]!.labels[c.topologyKey]!, 0);
        domainCount = domains.size;
        const tracked = c.ownerUid !== undefined
          && [...domains.keys()].every((v) => state.cache.ownerPodsInDomain(c.ownerUid!, c.topologyKey, v) !== undefined);
        if (tracked) {
          for (const v of domains.keys()) domains.set(v, state.cache.ownerPodsInDomain(c.ownerUid!, c.topologyKey, v)!);
        } else {
          for (const ni of state.cache.nodes()) {
            const v = ni.labels[c.topologyKey];
            if (v === undefined || ni.pods.size === 0 || !domains.has(v)) continue;
            domains.set(v, domains.get(v)! + countOnNode(c, p, ni));
          }
        }
      }
      // Kubernetes weighs each constraint by log(number of domains + 2) and adds maxSkew − 1.
      const weight = Math.log(domainCount + 2);
      const base = c.maxSkew - 1;
      for (let i = 0; i < nodes.length; i++) {
        if (out[i]! < 0) continue;
        const node = nodes[i]!;
        let cnt: number;
        if (domains !== undefined) cnt = domains.get(node.labels[c.topologyKey]!) ?? 0;
        else if (c.ownerUid !== undefined) cnt = node.ownerCounts.get(c.ownerUid) ?? 0;
        else cnt = countOnNode(c, p, node);
        out[i]! += cnt * weight + base;
      }
    }
    return out;
  },
  normalize(_state, scores) {
    // Fewer matching pods is better; ignored nodes (-1) get 0.
    let min = Infinity;
    let max = 0;
    for (const s of scores) {
      if (s < 0) continue;
      if (s < min) min = s;
      if (s > max) max = s;
    }
    for (let i = 0; i < scores.length; i++) {
      const s = scores[i]!;
      if (s < 0) scores[i] = 0;
      else if (max === 0) scores[i] = MAX_NODE_SCORE;
      else scores[i] = Math.floor((MAX_NODE_SCORE * (max + min - s)) / max);
    }
  },
};
