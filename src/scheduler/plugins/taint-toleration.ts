/**
 * TaintToleration: a node's NoSchedule and NoExecute taints must be tolerated (filter); fewer
 * untolerated PreferNoSchedule taints score higher.
 */
import type { Taint, Toleration } from '../../model/types.js';
import type { NodeInfo } from '../cache.js';
import { defaultNormalize, type CycleState, type FilterPlugin, type FilterResult, type ScorePlugin } from './types.js';

/**
 * Kubernetes' ToleratesTaint: an effect and key, when given, must equal the taint's; `Exists`
 * matches any value, `Equal` (the default) the same value. An empty key with `Exists`
 * tolerates every taint.
 */
export function toleratesTaint(t: Toleration, taint: Pick<Taint, 'key' | 'value' | 'effect'>): boolean {
  if (t.effect && t.effect !== taint.effect) return false;
  if (t.key && t.key !== taint.key) return false;
  if (t.operator === 'Exists') return true;
  return (t.value ?? '') === (taint.value ?? '');
}

/** True when some toleration tolerates the taint. */
export function tolerated(tolerations: readonly Toleration[], taint: Pick<Taint, 'key' | 'value' | 'effect'>): boolean {
  for (const t of tolerations) if (toleratesTaint(t, taint)) return true;
  return false;
}

/** The first NoSchedule/NoExecute taint the tolerations do not tolerate. */
export function firstUntoleratedTaint(taints: readonly Taint[], tolerations: readonly Toleration[]): Taint | undefined {
  for (const taint of taints) {
    if (taint.effect === 'PreferNoSchedule') continue;
    if (!tolerated(tolerations, taint)) return taint;
  }
  return undefined;
}

/** The reason text Kubernetes gives for an untolerated taint. */
export function untoleratedTaintReason(taint: Taint): string {
  return `node(s) had untolerated taint {${taint.key}: ${taint.value ?? ''}}`;
}

const reasonCache = new Map<string, readonly string[]>();

/** The TaintToleration filter. */
export const taintTolerationFilter: FilterPlugin = {
  name: 'TaintToleration',
  filter(state: CycleState, node: NodeInfo): FilterResult {
    if (node.taints.length === 0) return null;
    const taint = firstUntoleratedTaint(node.taints, state.pod.tolerations);
    if (!taint) return null;
    const text = untoleratedTaintReason(taint);
    let r = reasonCache.get(text);
    if (!r) {
      // Bounded: distinct taints in a cluster are few, but never let this grow without limit.
      if (reasonCache.size > 1000) reasonCache.clear();
      r = [text];
      reasonCache.set(text, r);
    }
    return r;
  },
};

/** The TaintToleration score (weight 3). */
export const taintTolerationScore: ScorePlugin = {
  name: 'TaintToleration',
  weight: 3,
  preScore(_state, nodes) {
    for (const n of nodes) if (n.taints.length > 0) return true;
    return false;
  },
  score(state, nodes) {
    return nodes.map((node) => {
      let count = 0;
      for (const taint of node.taints) {
        if (taint.effect !== 'PreferNoSchedule') continue;
        // Only tolerations that speak of PreferNoSchedule (or of every effect) count here.
        const ok = state.pod.tolerations.some((t) => (!t.effect || t.effect === 'PreferNoSchedule') && toleratesTaint(t, taint));
        if (!ok) count++;
      }
      return count;
    });
  },
  normalize(_state, scores) {
    defaultNormalize(scores, true);
  },
};
