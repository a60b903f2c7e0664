/**
 * Comparing one desired object with its live counterpart.
 */
import jsonpatch from 'fast-json-patch';
import type { Operation } from 'fast-json-patch';
import { deepEqual } from '../model/json.js';
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

