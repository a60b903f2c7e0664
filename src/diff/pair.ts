/**
 * Pairing desired objects with live ones by object key.
 */
import { objectKey } from '../model/keys.js';
import type { KubeObject } from '../model/types.js';
import type { DesiredObject } from '../model/desired.js';

/** One key with its desired and/or live object. At least one side is present. */
export interface ResourcePair {
  /** `Kind/namespace/name` (cluster-scoped: `Kind/name`). */
  key: string;
  desired?: DesiredObject;
  live?: KubeObject;
}

/**
 * Pairs desired with live objects by {@link objectKey}. Desired pairs come first in desired
 * order, then live objects nobody declared, in live order. Duplicates are the loader's job to
 * reject; here the last one of a key wins.
 */
export function pairResources(desired: readonly DesiredObject[], live: readonly KubeObject[]): ResourcePair[] {
  const liveByKey = new Map<string, KubeObject>();
  for (const obj of live) liveByKey.set(objectKey(obj), obj);
  const pairs = new Map<string, ResourcePair>();
  for (const d of desired) {
    const key = objectKey(d.object);
    pairs.set(key, { key, desired: d, live: liveByKey.get(key) });
  }
  const out = [...pairs.values()];
  for (const [key, obj] of liveByKey) if (!pairs.has(key)) out.push({ key, live: obj });
  return out;
}
