/**
 * Small helpers for reading and writing objects from a reconciler: deep copies
 * of frozen cache objects, and "write only when something changed" (convention 5).
 */
import type { KubeObject } from '../model/types.js';
import { deepEqual } from '../model/json.js';
import type { Store, WriteOrigin } from '../store/types.js';


/**
 * True when two values are deeply equal as JSON (key order ignored, undefined members absent).
 * Compares in place: reconcilers call this on whole objects every pass, so no strings are built.
 */
export function sameJson(a: unknown, b: unknown): boolean {
  return deepEqual(a, b);
}

/** A mutable deep copy of a (possibly frozen) cached object. */
export function copy<T>(obj: T): T {
  return structuredClone(obj);
}

/**
 * Writes `next` unless it equals `current` (the cached object it was copied from). Returns the
 * stored object, or `current` when nothing changed. `next` must carry current's resourceVersion,
 * so a stale cache surfaces as `Conflict` (a transient error: the key is retried).
 */
export async function updateIfChanged<T extends KubeObject>(
  store: Store,
  current: T,
  next: T,
  opts: { origin: WriteOrigin },
): Promise<T> {
  if (sameJson(current, next)) return current;
  return store.update(next, { origin: opts.origin });
}
