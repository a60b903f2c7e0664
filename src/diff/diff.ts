/**
 * Comparing one desired object with its live counterpart.
 */
import jsonpatch from 'fast-json-patch';
import type { Operation } from 'fast-json-patch';
import type { KubeObject } from '../model/types.js';
import { normalize, quickEqual } from './normalize.js';

/**
 * The JSON Patch that turns the normalized `live` object into the normalized `desired` one;
 * empty when they mean the same thing. Neither input is modified.
 */
export function diffObject(desired: KubeObject, live: KubeObject): Operation[] {
  if (quickEqual(desired, live)) return [];
  return diffNormalized(normalize(desired), normalize(live, { desired }));
}

/** True when `desired` and `live` mean the same thing once normalized. */
export function objectsEqual(desired: KubeObject, live: KubeObject): boolean {
  return quickEqual(desired, live) || deepEqual(normalize(desired), normalize(live, { desired }));
}

/**
 * The patch between two already-normalized forms. A plain deep-equal runs first: most pairs of
 * a resync are equal, and fast-json-patch's `compare` is several times slower than the check.
 */
export function diffNormalized(desired: KubeObject, live: KubeObject): Operation[] {
  if (deepEqual(desired, live)) return [];
  return jsonpatch.compare(live, desired);
}

/**
 * Structural equality of JSON data: same keys (in any order), same list order, same
 * primitives. Keys whose value is undefined count as absent, as in JSON.
 */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  const aArr = Array.isArray(a);
  if (aArr !== Array.isArray(b)) return false;
  if (aArr) {
    const x = a as unknown[];
    const y = b as unknown[];
    if (x.length !== y.length) return false;
    for (let i = 0; i < x.length; i++) if (!deepEqual(x[i], y[i])) return false;
    return true;
  }
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  let countX = 0;
  for (const key in x) {
    if (x[key] === undefined) continue;
    countX++;
    if (!deepEqual(x[key], y[key])) return false;
  }
  let countY = 0;
  for (const key in y) if (y[key] !== undefined) countY++;
  return countX === countY;
}
