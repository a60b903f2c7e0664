/**
 * Finalizers, as the Kubernetes API server honours them: deleting an object that still carries
 * `metadata.finalizers` only marks it (`metadata.deletionTimestamp`); each component that put a
 * finalizer there removes it when its work is done, and the object goes when the last one does.
 * The store itself deletes at once, so everyone who deletes objects that may carry finalizers
 * (sync's prune, the garbage collector, the StatefulSet controller) goes through
 * {@link deleteObject}, and every finalizer is released through {@link removeFinalizer}.
 *
 * Generic over kinds: which finalizer protects what is the business of the component that sets it.
 */
import { GantryError, isGantryError } from '../errors.js';
import { objectRef } from '../model/keys.js';
import type { KubeObject } from '../model/types.js';
import { nowTimestamp } from './common.js';
import type { Store, WriteOrigin } from './types.js';

const ATTEMPTS = 5;

/** What {@link deleteObject} did. */
export type DeleteOutcome = 'deleted' | 'terminating' | 'gone';

/** A copy of `obj` marked for deletion at `now` (a mark already there is kept). */
export function markedForDeletion<T extends KubeObject>(obj: T, now: string): T {
  if (obj.metadata.deletionTimestamp) return obj;
  return { ...obj, metadata: { ...obj.metadata, deletionTimestamp: now } };
}

/**
 * Deletes `obj` (a cached copy will do: the store is re-read on conflict): at once without
 * finalizers, otherwise by marking it. Only this incarnation (its uid) is touched; `gone` when
 * it no longer exists.
 */
export async function deleteObject(store: Store, obj: KubeObject, opts: { origin: WriteOrigin; now?: () => number }): Promise<DeleteOutcome> {
  const ref = objectRef(obj);
  let current: KubeObject | undefined = obj;
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    if (attempt > 0) current = await store.get(ref);
    if (!current || current.metadata.uid !== obj.metadata.uid) return 'gone';
    try {
      if (!current.metadata.finalizers?.length) {
        const res = await store.delete(ref, { origin: opts.origin, resourceVersion: current.metadata.resourceVersion });
        return res ? 'deleted' : 'gone';
      }
      if (current.metadata.deletionTimestamp) return 'terminating';
      await store.update(markedForDeletion(current, nowTimestamp(new Date(opts.now?.() ?? Date.now()))), { origin: opts.origin });
      return 'terminating';
    } catch (err) {
      if (isGantryError(err, 'NotFound')) return 'gone';
      if (!isGantryError(err, 'Conflict')) throw err;
    }
  }
  return 'terminating';
}

/**
 * Removes `finalizer` from the object (this incarnation of `obj`, re-read from the store); when
 * the object is being deleted and no finalizer is left, deletes it. Nothing happens when it is
 * gone or no longer carries the finalizer.
 */
export async function removeFinalizer(store: Store, obj: KubeObject, finalizer: string, opts: { origin: WriteOrigin }): Promise<void> {
  const ref = objectRef(obj);
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const current = await store.get(ref);
    if (!current || current.metadata.uid !== obj.metadata.uid || !current.metadata.finalizers?.includes(finalizer)) return;
    const rest = current.metadata.finalizers.filter((f) => f !== finalizer);
    try {
      if (rest.length === 0 && current.metadata.deletionTimestamp) {
        await store.delete(ref, { origin: opts.origin, resourceVersion: current.metadata.resourceVersion });
      } else {
        const metadata: KubeObject['metadata'] = { ...current.metadata, finalizers: rest };
        if (rest.length === 0) delete metadata.finalizers;
        await store.update({ ...current, metadata }, { origin: opts.origin });
      }
      return;
    } catch (err) {
      if (isGantryError(err, 'NotFound')) return;
      if (!isGantryError(err, 'Conflict')) throw err;
    }
  }
  throw new GantryError('Conflict', `cannot remove finalizer ${finalizer} from ${ref.kind} ${ref.namespace ? `${ref.namespace}/` : ''}${ref.name}: it kept changing`, { disposition: 'transient' });
}
