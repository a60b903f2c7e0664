/**
 * Node selector terms (node affinity, a PersistentVolume's node affinity, a DaemonSet's
 * placement) matched against a node's labels and name, as Kubernetes' component-helpers do.
 */
import type { NodeSelectorRequirement, NodeSelectorTerm, StringMap } from './types.js';

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

/** True when any of the terms matches (terms are ORed; an empty list matches nothing). */
export function nodeSelectorTermsMatch(terms: readonly NodeSelectorTerm[], labels: StringMap, nodeName: string): boolean {
  for (const t of terms) if (nodeSelectorTermMatches(t, labels, nodeName)) return true;
  return false;
}
