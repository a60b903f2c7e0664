/**
 * Label selectors: matching, parsing kubectl's string form, and converting between the two.
 */
import type { LabelSelector, LabelSelectorRequirement, StringMap } from './types.js';

/** A selector reduced to requirements; the empty list matches everything. */
export type Requirements = readonly LabelSelectorRequirement[];

/** Requirements of a selector object (matchLabels become `In [value]`). */
export function selectorRequirements(sel: LabelSelector | undefined): Requirements {
  if (!sel) return [];
  const reqs: LabelSelectorRequirement[] = [];
  for (const [key, value] of Object.entries(sel.matchLabels ?? {})) reqs.push({ key, operator: 'In', values: [value] });
  for (const r of sel.matchExpressions ?? []) reqs.push(r);
  return reqs;
}

/** True when `labels` satisfy every requirement. */
export function matchesRequirements(reqs: Requirements, labels: StringMap | undefined): boolean {
  for (const r of reqs) {
    const has = labels !== undefined && Object.prototype.hasOwnProperty.call(labels, r.key);
    const value = has ? labels![r.key] : undefined;
    switch (r.operator) {
      case 'In':
        if (!has || !(r.values ?? []).includes(value!)) return false;
        break;
      case 'NotIn':
        if (has && (r.values ?? []).includes(value!)) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
    }
  }
  return true;
}

/**
 * True when `labels` match the selector. As in Kubernetes' workload APIs, an empty selector
 * object matches everything and an undefined one matches nothing.
 */
export function matchesSelector(sel: LabelSelector | undefined, labels: StringMap | undefined): boolean {
  if (sel === undefined) return false;
  return matchesRequirements(selectorRequirements(sel), labels);
}

/** True when `labels` contain every pair of `subset` (Service selectors, nodeSelector). */
export function matchesLabels(subset: StringMap | undefined, labels: StringMap | undefined): boolean {
  if (!subset) return true;
  for (const [k, v] of Object.entries(subset)) if (labels?.[k] !== v) return false;
  return true;
}

/**
 * Parses kubectl's selector syntax: `a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x)`, `a`,
 * `!a`, joined by commas. Throws an Error naming the bad term.
 */
export function parseSelector(text: string): Requirements {
  const reqs: LabelSelectorRequirement[] = [];
  // Split on commas that are not inside parentheses.
  const terms: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of text) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      terms.push(cur);
      cur = '';
    } else cur += ch;
  }
  if (cur.trim() !== '' || terms.length > 0) terms.push(cur);
  for (const raw of terms) {
    const term = raw.trim();
    let m: RegExpExecArray | null;
    if (term === '') throw new Error(`empty term in selector "${text}"`);
    if ((m = /^([\w./-]+)\s*(==|=|!=)\s*([\w.-]*)$/.exec(term))) {
      reqs.push({ key: m[1]!, operator: m[2] === '!=' ? 'NotIn' : 'In', values: [m[3]!] });
    } else if ((m = /^([\w./-]+)\s+(in|notin)\s*\(([^)]*)\)$/.exec(term))) {
      const values = m[3]!.split(',').map((v) => v.trim()).filter((v) => v !== '');
      reqs.push({ key: m[1]!, operator: m[2] === 'in' ? 'In' : 'NotIn', values });
    } else if ((m = /^!\s*([\w./-]+)$/.exec(term))) {
      reqs.push({ key: m[1]!, operator: 'DoesNotExist' });
    } else if ((m = /^([\w./-]+)$/.exec(term))) {
      reqs.push({ key: m[1]!, operator: 'Exists' });
    } else {
      throw new Error(`cannot parse selector term "${term}"`);
    }
  }
  return reqs;
}

/** Requirements of either form a caller may pass. */
export function toRequirements(sel: LabelSelector | string | undefined): Requirements {
  if (sel === undefined) return [];
  return typeof sel === 'string' ? parseSelector(sel) : selectorRequirements(sel);
}
