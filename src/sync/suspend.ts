/**
 * `gantry suspend` / `gantry resume`: the suspension lives in the Sync object's spec (with who
 * and when), so it survives restarts and every server of a store sees it; the loop's gate
 * (gate.ts) applies nothing while it is set.
 */
import { GantryError, isGantryError } from '../errors.js';
import type { Store } from '../store/types.js';
import { newSyncObject, SYNC_NAME, type SyncObject } from './status.js';
import { k8sTime } from '../model/time.js';

/**
 * Suspends (`suspend` true) or resumes the sync, recording `by` (e.g. `api/alice`) and the time.
 * Creates the Sync object when no pass ever ran. Returns the object as written.
 */
export async function setSuspended(store: Store, suspend: boolean, by: string): Promise<SyncObject> {
  for (let attempt = 0; attempt < 10; attempt++) {
    const current = await store.get<SyncObject>({ kind: 'Sync', name: SYNC_NAME });
    const next: SyncObject = current ? structuredClone(current) : newSyncObject({ repo: '' });
    const spec = { ...next.spec };
    delete spec.suspend;
    delete spec.suspendedBy;
    delete spec.suspendedAt;
    next.spec = suspend ? { ...spec, suspend: true, suspendedBy: by, suspendedAt: k8sTime(Date.now()) } : spec;
    const origin = { actor: by, reason: suspend ? 'sync suspended' : 'sync resumed' };
    try {
      return current ? await store.update(next, { origin }) : await store.create(next, { origin });
    } catch (err) {
      if (isGantryError(err, 'Conflict') || isGantryError(err, 'AlreadyExists')) continue;
      throw err;
    }
  }
  throw new GantryError('Conflict', `cannot ${suspend ? 'suspend' : 'resume'} the sync: the Sync object kept changing`);
}
