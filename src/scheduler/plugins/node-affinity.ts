/**
 * NodeAffinity: nodeSelector and required node affinity terms must match the node (filter);
 * matching preferred terms add their weights (score, weight 2).
 */
import { nodeSelectorTermMatches } from '../../model/node-selector.js';
import type { NodeInfo } from '../cache.js';
import type { PodInfo } from '../podinfo.js';
import { defaultNormalize, type FilterPlugin, type ScorePlugin } from './types.js';

export { nodeSelectorTermMatches };

const REASON = ["node(s) didn't match Pod's node affinity/selector"] as const;

/** True when the node satisfies the pod's nodeSelector and required node affinity. */
export function nodeMatchesPod(pod: PodInfo, node: NodeInfo): boolean {
  const sel = pod.nodeSelector;
  if (sel) for (const k in sel) if (node.labels[k] !== sel[k]) return false;
  const terms = pod.requiredNodeTerms;
  if (terms) {
    // Terms are ORed; an empty list matches nothing.
    let any = false;
    for (const t of terms) {
      if (nodeSelectorTermMatches(t, node.labels, node.name)) {
        any = true;
        break;
      }
    }
    if (!any) return false;
  }
  return true;
}

/** The NodeAffinity filter. */
export const nodeAffinityFilter: FilterPlugin = {
  name: 'NodeAffinity',
  preFilter(state) {
    return state.pod.nodeSelector !== undefined || state.pod.requiredNodeTerms !== undefined;
  },
  filter(state, node) {
    return nodeMatchesPod(state.pod, node) ? null : REASON;
  },
};

/** The NodeAffinity score (weight 2): sum of weights of matching preferred terms, normalized. */
export const nodeAffinityScore: ScorePlugin = {
  name: 'NodeAffinity',
  weight: 2,
  preScore(state) {
    return state.pod.preferredNodeTerms.length > 0;
  },
  score(state, nodes) {
    return nodes.map((node) => {
      let sum = 0;
      for (const p of state.pod.preferredNodeTerms) {
        if (p.weight !== 0 && nodeSelectorTermMatches(p.preference, node.labels, node.name)) sum += p.weight;
      }
      return sum;
    });
  },
  normalize(_state, scores) {
    defaultNormalize(scores, false);
  },
};
