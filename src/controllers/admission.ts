/**
 * The ServiceAccount admission of the pods controllers create, as the API server's plugin admits
 * them (src/model/serviceaccount.ts): a pod naming an account that does not exist is refused,
 * and the controller reports it (`FailedCreate`: `pods "web-7d4b9-" is forbidden: error looking
 * up service account default/reader: serviceaccount "reader" not found`) and tries again when an
 * account appears in the namespace, or in five seconds.
 */
import { GantryError, isGantryError } from '../errors.js';
import { objectKey } from '../model/keys.js';
import { admitPod, podServiceAccount } from '../model/serviceaccount.js';
import type { Pod, ServiceAccount } from '../model/types.js';
import type { CacheReader } from './cache.js';
import type { Watch } from './runtime.js';

/**
 * The pod as admission leaves it, the account read from the cache.
 * @throws GantryError NotFound (waiting) worded as Kubernetes refuses the pod; `nameForMessage`
 *   is how the message names it (a ReplicaSet's pods by their generateName prefix).
 */
export function admitNewPod(pod: Pod, cache: CacheReader, nameForMessage = pod.metadata.name): Pod {
  const namespace = pod.metadata.namespace || 'default';
  const sa = cache.get<ServiceAccount>({ kind: 'ServiceAccount', namespace, name: podServiceAccount(pod) });
  try {
    return admitPod(pod, sa);
  } catch (err) {
    if (!isGantryError(err, 'NotFound')) throw err;
    throw new GantryError('NotFound', `pods "${nameForMessage}" is forbidden: ${err.message}`, { object: err.location.object, field: err.location.field, disposition: 'waiting', retryAfterMs: err.retryAfterMs });
  }
}

/** A watch that wakes every `ownerKind` object of a namespace when a ServiceAccount appears there. */
export function serviceAccountWatch(ownerKind: string): Watch {
  return {
    kind: 'ServiceAccount',
    keys: (ev, cache) => (ev.type === 'ADDED' ? cache.list(ownerKind, { namespace: ev.object.metadata.namespace }).map((o) => objectKey(o)) : []),
  };
}
