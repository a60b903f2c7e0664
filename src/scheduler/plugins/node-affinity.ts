/**
 * NodeAffinity: nodeSelector and required node affinity terms must match the node (filter);
 * matching preferred terms add their weights (score, weight 2).
 */
import type { NodeSelectorRequirement, NodeSelectorTerm, StringMap } from '../../model/types.js';
import type { NodeInfo } from '../cache.js';
import type { PodInfo } from '../podinfo.js';
import { defaultNormalize, type FilterPlugin, type ScorePlugin } from './types.js';

const REASON = ["node(s) didn't match Pod's node affinity/selector"] as const;

function parseIntStrict(s: string | undefined): number | undefined {
  if (s === undefined || !/^[+-]?\d+$/.test(s.trim())) return undefined;
  return Number(s);
}

/** True when the value (present or not) satisfies one node selector requirement. */
function requirementMatches(r: NodeSelectorRequirement, has: boolean, value: string | undefined): boolean {
  const values = r.values ?? [];
  switch (r.operator) {
    case 'In':
      return has && values.includes(value!);
    case 'NotIn':
      return !has || !values.includes(value!);
    case 'Exists':
      return has;
    case 'DoesNotExist':
      return !has;
    case 'Gt':
    case 'Lt': {
      const v = parseIntStrict(value);
      const bound = parseIntStrict(values[0]);
      if (!has || v === undefined || bound === undefined || values.length !== 1) return false;
      return r.operator === 'Gt' ? v > bound : v < bound;
    }
    default:
      return false;
  }
}

/**
 * True when a node selector term matches: all its expressions (on labels) and fields (only
 * `metadata.name` exists) hold. A term with neither matches nothing, as in Kubernetes.
 */
export function nodeSelectorTermMatches(term: NodeSelectorTerm, labels: StringMap, nodeName: string): boolean {
  const exprs = term.matchExpressions ?? [];
  const fields = term.matchFields ?? [];
  if (exprs.length === 0 && fields.length === 0) return false;
  for (const r of exprs) {
    const has = Object.prototype.hasOwnProperty.call(labels, r.key);
    if (!requirementMatches(r, has, has ? labels[r.key] : undefined)) return false;
  }
  for (const r of fields) {
    if (r.key !== 'metadata.name') return false;
    if (!requirementMatches(r, true, nodeName)) return false;
  }
  return true;
}

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
