/**
 * Storage object in-use protection, after Kubernetes' pvc-protection and pv-protection
 * controllers: a claim carries `kubernetes.io/pvc-protection` and a volume
 * `kubernetes.io/pv-protection` (defaulting adds them when they are created, as the API
 * server's admission does), so deleting one only marks it. This controller lets go — removes
 * the finalizer, and with it the object — once a claim is used by no pod (bound to a node and
 * not finished; a terminating pod still uses it), or a volume is no longer Bound.
 *
 * Before letting a claim go it lists the namespace's pods from the store, not the cache: a pod
 * created a moment ago must not lose its claim to a lagging cache.
 */
import { objectKey, parseKey, refKey } from '../../model/keys.js';
import {
  PV_PROTECTION_FINALIZER, PVC_PROTECTION_FINALIZER, hasFinalizer, podClaimNames, podUsesClaims,
} from '../../model/storage.js';
import type { KubeObject, PersistentVolume, PersistentVolumeClaim, Pod } from '../../model/types.js';
import { removeFinalizer } from '../../store/finalizers.js';
import type { CacheEvent } from '../cache.js';
import { copy } from '../objects.js';
import type { Controller, ReconcileContext, Watch } from '../runtime.js';

const PVC = 'PersistentVolumeClaim';

/** A pod event wakes the claims it refers to (now or before). */
function podClaimKeys(ev: CacheEvent): string[] {
  const keys = new Set<string>();
  for (const obj of [ev.object, ev.prevObject]) {
    const pod = obj as Pod | undefined;
    if (!pod?.spec) continue;
    for (const name of podClaimNames(pod)) keys.add(refKey({ kind: PVC, namespace: pod.metadata.namespace ?? 'default', name }));
  }
  return [...keys];
}

/** True when a pod (of the claim's namespace) uses the claim. */
function usedBy(claim: PersistentVolumeClaim, pods: readonly Pod[]): Pod | undefined {
  return pods.find((p) => podUsesClaims(p) && podClaimNames(p).includes(claim.metadata.name));
}

/** Keeps claims and volumes in use from going; see the module comment. */
export class StorageProtectionController implements Controller {
  readonly name = 'storage-protection';
  readonly kinds = [PVC, 'PersistentVolume'] as const;
  readonly watches: readonly Watch[] = [{ kind: 'Pod', keys: podClaimKeys }];

  async reconcile(key: string, ctx: ReconcileContext): Promise<void> {
    const ref = parseKey(key);
    const obj = ctx.cache.get(ref);
    if (!obj) return;
    if (ref.kind === PVC) await this.syncClaim(obj as PersistentVolumeClaim, ctx);
    else await this.syncVolume(obj as PersistentVolume, ctx);
  }

  private async syncClaim(claim: PersistentVolumeClaim, ctx: ReconcileContext): Promise<void> {
    if (!claim.metadata.deletionTimestamp) return this.ensureFinalizer(claim, PVC_PROTECTION_FINALIZER, ctx);
    if (!hasFinalizer(claim, PVC_PROTECTION_FINALIZER)) return;
    const ns = claim.metadata.namespace ?? 'default';
    if (usedBy(claim, ctx.cache.list<Pod>('Pod', { namespace: ns }))) return;
    const live = await ctx.store.list<Pod>('Pod', { namespace: ns });
    const user = usedBy(claim, live.items);
    if (user) {
      // The cache is behind: the pod's own events will wake this claim again.
      ctx.enqueue(objectKey(claim), 1000);
      return;
    }
    await removeFinalizer(ctx.store, claim, PVC_PROTECTION_FINALIZER, { origin: { ...ctx.origin, reason: `claim ${ns}/${claim.metadata.name} is used by no pod` } });
  }

  private async syncVolume(volume: PersistentVolume, ctx: ReconcileContext): Promise<void> {
    if (!volume.metadata.deletionTimestamp) return this.ensureFinalizer(volume, PV_PROTECTION_FINALIZER, ctx);
    if (!hasFinalizer(volume, PV_PROTECTION_FINALIZER) || volume.status?.phase === 'Bound') return;
    await removeFinalizer(ctx.store, volume, PV_PROTECTION_FINALIZER, { origin: { ...ctx.origin, reason: `volume ${volume.metadata.name} is not bound` } });
  }

  /** As Kubernetes' controllers do for objects created without it (before admission added it). */
  private async ensureFinalizer(obj: KubeObject, finalizer: string, ctx: ReconcileContext): Promise<void> {
    if (hasFinalizer(obj, finalizer)) return;
    const next = copy(obj);
    next.metadata.finalizers = [...(next.metadata.finalizers ?? []), finalizer];
    await ctx.store.update(next, { origin: { ...ctx.origin, reason: `protect ${obj.kind} ${obj.metadata.name} while in use` } });
  }
}
