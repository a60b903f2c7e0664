/**
 * The persistent volume binder, after Kubernetes' PV controller (pkg/controller/volume/
 * persistentvolume, syncClaim / syncVolume): it binds claims to volumes, gives claims without a
 * class the default StorageClass (Kubernetes' retroactive default assignment), hands claims with
 * no matching volume to their class's provisioner, keeps the phases (claims Pending / Bound /
 * Lost, volumes Available / Bound / Released / Failed) and reclaims released volumes.
 *
 * A binding is written in one store transaction (the volume's claimRef and phase, the claim's
 * volumeName, annotations and status), so neither half is ever seen without the other; a
 * volume two claims race for goes to the first, the second's transaction fails on the volume's
 * resourceVersion and is retried against the volume left.
 *
 * A WaitForFirstConsumer claim waits for the scheduler to mark the node its first pod goes to;
 * should a pod using it be bound to a node without that mark (a pod that names its node), the
 * binder marks that node itself.
 *
 * Reclaim: Retain leaves a Released volume (and its data) alone; Delete deletes volumes the
 * local-path provisioner made (their node agent removes the directory, see local-path.ts); any
 * other Delete volume becomes Failed, as Kubernetes fails volumes no plugin can delete.
 */
import { objectKey, parseKey, refKey } from '../../model/keys.js';
import {
  ANN_BETA_STORAGE_PROVISIONER, ANN_BIND_COMPLETED, ANN_BOUND_BY_CONTROLLER, ANN_PROVISIONED_BY, ANN_SELECTED_NODE,
  ANN_STORAGE_PROVISIONER, LOCAL_PATH_PROVISIONERS, capacityBytes, claimClass, defaultStorageClass, findMatchingVolume,
  hasAccessModes, isLocalPathVolume, isVolumeBoundToClaim, podClaimNames, podUsesClaims, requestedBytes, volumeClass, volumeModeOf,
  waitsForFirstConsumer,
} from '../../model/storage.js';
import type { PersistentVolume, PersistentVolumeClaim, PersistentVolumePhase, Pod, StorageClass } from '../../model/types.js';
import { deleteObject } from '../../store/finalizers.js';
import type { TxnOp } from '../../store/types.js';
import type { CacheEvent, CacheReader } from '../cache.js';
import { copy, sameJson, updateIfChanged } from '../objects.js';
import type { Controller, ReconcileContext, Watch } from '../runtime.js';
import { k8sTime } from '../../model/time.js';

const PVC = 'PersistentVolumeClaim';
const PV = 'PersistentVolume';

/** Keys of claims waiting for a volume (no volumeName), which a new volume or class may serve. */
function unboundClaimKeys(cache: CacheReader): string[] {
  return cache.list<PersistentVolumeClaim>(PVC).filter((c) => !c.spec.volumeName).map((c) => objectKey(c));
}

/** A claim event wakes the claim, the volume it names and volumes pre-bound to it. */
function claimEventKeys(ev: CacheEvent, cache: CacheReader): string[] {
  const keys = [objectKey(ev.object)];
  for (const obj of [ev.object, ev.prevObject]) {
    const name = (obj as PersistentVolumeClaim | undefined)?.spec?.volumeName;
    if (name) keys.push(refKey({ kind: PV, name }));
  }
  if (ev.type === 'DELETED') {
    for (const pv of cache.list<PersistentVolume>(PV)) if (isVolumeBoundToClaim(pv, ev.object as PersistentVolumeClaim)) keys.push(objectKey(pv));
  }
  return keys;
}

/** A volume event wakes the volume, its claim, and (when it may serve one now) every unbound claim. */
function volumeEventKeys(ev: CacheEvent, cache: CacheReader): string[] {
  const pv = ev.object as PersistentVolume;
  const keys = [objectKey(pv)];
  const ref = pv.spec?.claimRef;
  if (ref?.name) keys.push(refKey({ kind: PVC, namespace: ref.namespace || 'default', name: ref.name }));
  const prevPhase = (ev.prevObject as PersistentVolume | undefined)?.status?.phase;
  if (ev.type !== 'DELETED' && pv.status?.phase === 'Available' && prevPhase !== 'Available') keys.push(...unboundClaimKeys(cache));
  return keys;
}

/** A pod bound to a node wakes its claims (a WaitForFirstConsumer claim may take its node). */
function podClaimKeys(ev: CacheEvent): string[] {
  const pod = ev.object as Pod;
  if (ev.type === 'DELETED' || !pod.spec?.nodeName || (ev.prevObject as Pod | undefined)?.spec?.nodeName) return [];
  return podClaimNames(pod).map((name) => refKey({ kind: PVC, namespace: pod.metadata.namespace ?? 'default', name }));
}

/** Binds claims and volumes; see the module comment. */
export class PersistentVolumeBinder implements Controller {
  // Its events' source is persistentvolume-controller, as Kubernetes' PV controller's.
  readonly name = 'persistentvolume';
  readonly kinds = [PVC, PV] as const;
  readonly watches: readonly Watch[] = [
    { kind: PVC, keys: claimEventKeys },
    { kind: PV, keys: volumeEventKeys },
    { kind: 'StorageClass', keys: (_ev, cache) => unboundClaimKeys(cache) },
    { kind: 'Pod', keys: podClaimKeys },
  ];

  async reconcile(key: string, ctx: ReconcileContext): Promise<void> {
    const ref = parseKey(key);
    if (ref.kind === PVC) {
      const claim = ctx.cache.get<PersistentVolumeClaim>(ref);
      if (claim) await this.syncClaim(claim, ctx);
    } else if (ref.kind === PV) {
      const volume = ctx.cache.get<PersistentVolume>(ref);
      if (volume) await this.syncVolume(volume, ctx);
    }
  }

  // ---- claims ------------------------------------------------------------------------------

  private async syncClaim(claim: PersistentVolumeClaim, ctx: ReconcileContext): Promise<void> {
    const name = claim.spec.volumeName;
    if (!name) return this.syncUnboundClaim(claim, ctx);
    const volume = ctx.cache.get<PersistentVolume>({ kind: PV, name });
    const completed = claim.metadata.annotations?.[ANN_BIND_COMPLETED] !== undefined;
    if (!volume) {
      if (completed) {
        ctx.events.emit(claim, 'Warning', 'ClaimLost', 'Bound claim has lost reference to PersistentVolume. Data on the volume is lost!');
        return this.claimPhase(claim, 'Lost', ctx);
      }
      ctx.events.emit(claim, 'Normal', 'FailedBinding', `volume "${name}" not found`);
      return this.claimPhase(claim, 'Pending', ctx);
    }
    if (!volume.spec.claimRef) {
      // The claim names a free volume: bind it, if it can serve the claim.
      const mismatch = mismatchOf(volume, claim);
      if (mismatch) {
        ctx.events.emit(claim, 'Warning', 'VolumeMismatch', `Cannot bind to requested volume "${name}": ${mismatch}`);
        return this.claimPhase(claim, 'Pending', ctx);
      }
      return this.bind(volume, claim, ctx);
    }
    if (isVolumeBoundToClaim(volume, claim)) {
      if (completed && requestedBytes(claim) > capacityBytes(volume)) return this.expand(volume, claim, ctx);
      return this.bind(volume, claim, ctx);
    }
    if (!completed) {
      ctx.events.emit(claim, 'Warning', 'FailedBinding', `volume "${name}" already bound to a different claim.`);
      return this.claimPhase(claim, 'Pending', ctx);
    }
    ctx.events.emit(claim, 'Warning', 'ClaimMisbound', 'Two claims are bound to the same volume, this one is bound incorrectly');
    return this.claimPhase(claim, 'Lost', ctx);
  }

  private async syncUnboundClaim(claim: PersistentVolumeClaim, ctx: ReconcileContext): Promise<void> {
    if (claim.metadata.deletionTimestamp) return;
    const classes = ctx.cache.list<StorageClass>('StorageClass');
    let className = claimClass(claim);
    if (className === undefined) {
      const def = defaultStorageClass(classes);
      if (def) {
        // Kubernetes' admission (and its retroactive assignment) gives such a claim the default class.
        const next = copy(claim);
        next.spec.storageClassName = def.metadata.name;
        await ctx.store.update(next, { origin: { ...ctx.origin, reason: `default StorageClass ${def.metadata.name} for claim ${claim.metadata.name}` } });
        return;
      }
      className = '';
    }
    const cls = className ? classes.find((c) => c.metadata.name === className) : undefined;
    const delay = waitsForFirstConsumer(cls);
    const volume = findMatchingVolume(claim, ctx.cache.list<PersistentVolume>(PV), { delayBinding: delay });
    if (volume) return this.bind(volume, claim, ctx);
    if (delay && !claim.metadata.annotations?.[ANN_SELECTED_NODE]) {
      // A pod using the claim already runs on a node (it named its node itself, or its bind
      // landed while the claim's reservation did not): provision there, as the scheduler would have.
      const consumer = ctx.cache.list<Pod>('Pod', { namespace: claim.metadata.namespace }).find((p) => p.spec.nodeName && podUsesClaims(p) && podClaimNames(p).includes(claim.metadata.name));
      if (consumer && cls) {
        const next = copy(claim);
        next.metadata.annotations = { ...next.metadata.annotations, [ANN_SELECTED_NODE]: consumer.spec.nodeName!, [ANN_STORAGE_PROVISIONER]: cls.provisioner, [ANN_BETA_STORAGE_PROVISIONER]: cls.provisioner };
        await ctx.store.update(next, { origin: { ...ctx.origin, reason: `claim ${claim.metadata.name} is used by pod ${consumer.metadata.name} on node ${consumer.spec.nodeName}` } });
        return;
      }
      ctx.events.emit(claim, 'Normal', 'WaitForFirstConsumer', 'waiting for first consumer to be created before binding');
    } else if (!className) {
      ctx.events.emit(claim, 'Normal', 'FailedBinding', 'no persistent volumes available for this claim and no storage class is set');
    } else if (!cls) {
      ctx.events.emit(claim, 'Warning', 'ProvisioningFailed', `storageclass.storage.k8s.io "${className}" not found`);
    } else {
      await this.askProvisioner(claim, cls, ctx);
      return;
    }
    await this.claimPhase(claim, 'Pending', ctx);
  }

  /** Names the class's provisioner on the claim: the local-path provisioner acts on that. */
  private async askProvisioner(claim: PersistentVolumeClaim, cls: StorageClass, ctx: ReconcileContext): Promise<void> {
    const next = copy(claim);
    next.metadata.annotations = { ...next.metadata.annotations, [ANN_STORAGE_PROVISIONER]: cls.provisioner, [ANN_BETA_STORAGE_PROVISIONER]: cls.provisioner };
    next.status = { ...next.status, phase: 'Pending' };
    if (!LOCAL_PATH_PROVISIONERS.has(cls.provisioner)) {
      ctx.events.emit(claim, 'Normal', 'ExternalProvisioning', `Waiting for a volume to be created either by the external provisioner '${cls.provisioner}' or manually by the system administrator. If volume creation is delayed, please verify that the provisioner is running and correctly registered.`);
    }
    await updateIfChanged(ctx.store, claim, next, { origin: { ...ctx.origin, reason: `claim ${claim.metadata.name} waits for provisioner ${cls.provisioner}` } });
  }

  /**
   * A bound claim asks for more than its volume holds: a local-path volume of a class that allows
   * expansion grows at once (a directory has no size to change: only the recorded capacity
   * does); anything else is refused with an event, as Kubernetes refuses such a resize.
   */
  private async expand(volume: PersistentVolume, claim: PersistentVolumeClaim, ctx: ReconcileContext): Promise<void> {
    const cls = ctx.cache.get<StorageClass>({ kind: 'StorageClass', name: volumeClass(volume) });
    const wanted = claim.spec.resources!.requests!.storage!;
    if (!isLocalPathVolume(volume) || cls?.allowVolumeExpansion !== true) {
      ctx.events.emit(claim, 'Warning', 'VolumeResizeFailed', `cannot grow volume ${volume.metadata.name} to ${wanted}: only volumes of gantry's local-path provisioner whose StorageClass has allowVolumeExpansion: true can be resized`);
      return this.bind(volume, claim, ctx);
    }
    const grown = copy(volume);
    grown.spec.capacity = { ...grown.spec.capacity, storage: wanted };
    await ctx.store.update(grown, { origin: { ...ctx.origin, reason: `volume ${volume.metadata.name} resized to ${wanted} for claim ${claim.metadata.name}` } });
    ctx.events.emit(claim, 'Normal', 'FileSystemResizeSuccessful', `volume ${volume.metadata.name} now records ${wanted} (local-path directories have no size limit)`);
  }

  /** Writes both halves of a binding in one transaction (only the parts that change). */
  private async bind(volume: PersistentVolume, claim: PersistentVolumeClaim, ctx: ReconcileContext): Promise<void> {
    const pv = copy(volume);
    const prebound = isVolumeBoundToClaim(volume, claim);
    pv.spec.claimRef = {
      apiVersion: 'v1', kind: PVC, namespace: claim.metadata.namespace ?? 'default', name: claim.metadata.name,
      uid: claim.metadata.uid, resourceVersion: volume.spec.claimRef?.uid === claim.metadata.uid ? volume.spec.claimRef?.resourceVersion : claim.metadata.resourceVersion,
    };
    if (!prebound) pv.metadata.annotations = { ...pv.metadata.annotations, [ANN_BOUND_BY_CONTROLLER]: 'yes' };
    setVolumePhase(pv, 'Bound', undefined, ctx.now());

    const pvc = copy(claim);
    // bound-by-controller only when the binder names the volume (not when the claim did).
    const naming = claim.spec.volumeName !== volume.metadata.name;
    pvc.spec.volumeName = volume.metadata.name;
    pvc.metadata.annotations = { ...pvc.metadata.annotations, [ANN_BIND_COMPLETED]: 'yes', ...(naming ? { [ANN_BOUND_BY_CONTROLLER]: 'yes' } : {}) };
    pvc.status = { ...pvc.status, phase: 'Bound', accessModes: [...(volume.spec.accessModes ?? [])], capacity: { ...(volume.spec.capacity ?? {}) } };

    const ops: TxnOp[] = [];
    if (!sameJson(volume, pv)) ops.push({ op: 'update', object: pv });
    if (!sameJson(claim, pvc)) ops.push({ op: 'update', object: pvc });
    if (ops.length === 0) return;
    await ctx.store.txn(ops, { origin: { ...ctx.origin, reason: `bound claim ${claim.metadata.namespace}/${claim.metadata.name} to volume ${volume.metadata.name}` } });
  }

  private async claimPhase(claim: PersistentVolumeClaim, phase: 'Pending' | 'Lost', ctx: ReconcileContext): Promise<void> {
    if (claim.status?.phase === phase) return;
    const next = copy(claim);
    next.status = phase === 'Lost' ? { ...next.status, phase } : { phase };
    await ctx.store.update(next, { origin: { ...ctx.origin, reason: `claim ${claim.metadata.name} ${phase}` } });
  }

  // ---- volumes -----------------------------------------------------------------------------

  private async syncVolume(volume: PersistentVolume, ctx: ReconcileContext): Promise<void> {
    const ref = volume.spec.claimRef;
    if (!ref?.name) return this.volumePhase(volume, 'Available', undefined, ctx);
    let claim = ctx.cache.get<PersistentVolumeClaim>({ kind: PVC, namespace: ref.namespace || 'default', name: ref.name });
    // A claim of that name with another uid is a new claim: the one this volume served is gone.
    if (claim && ref.uid && claim.metadata.uid !== ref.uid) claim = undefined;
    if (!claim) {
      if (!ref.uid) return this.volumePhase(volume, 'Available', undefined, ctx);
      // The cache may not show a just-created claim yet: ask the store before releasing.
      const live = await ctx.store.get<PersistentVolumeClaim>({ kind: PVC, namespace: ref.namespace || 'default', name: ref.name });
      if (live && live.metadata.uid === ref.uid) return;
      return this.release(volume, ctx);
    }
    const bound = claim.spec.volumeName;
    if (!bound) {
      // A binding (or a provisioned volume) waiting for the claim's sync to finish it.
      ctx.enqueue(objectKey(claim));
      return;
    }
    if (bound === volume.metadata.name) return this.volumePhase(volume, 'Bound', undefined, ctx);
    // The claim went to another volume.
    if (volume.metadata.annotations?.[ANN_PROVISIONED_BY] && volume.spec.persistentVolumeReclaimPolicy === 'Delete') return this.release(volume, ctx);
    const next = copy(volume);
    if (volume.metadata.annotations?.[ANN_BOUND_BY_CONTROLLER]) {
      delete next.spec.claimRef;
      delete next.metadata.annotations![ANN_BOUND_BY_CONTROLLER];
    } else {
      // Pre-bound by its author: stays reserved for that claim name.
      next.spec.claimRef = { ...next.spec.claimRef };
      delete next.spec.claimRef.uid;
    }
    setVolumePhase(next, 'Available', undefined, ctx.now());
    await updateIfChanged(ctx.store, volume, next, { origin: { ...ctx.origin, reason: `unbound volume ${volume.metadata.name}` } });
  }

  /** The volume's claim is gone: Released, then reclaimed by its policy. */
  private async release(volume: PersistentVolume, ctx: ReconcileContext): Promise<void> {
    const phase = volume.status?.phase;
    if (phase !== 'Released' && phase !== 'Failed') {
      await this.volumePhase(volume, 'Released', undefined, ctx);
      return; // the write wakes this key again, with the volume as stored
    }
    if (phase === 'Failed' || volume.spec.persistentVolumeReclaimPolicy !== 'Delete' || volume.metadata.deletionTimestamp) return;
    if (isLocalPathVolume(volume)) {
      await deleteObject(ctx.store, volume, { origin: { ...ctx.origin, reason: `reclaim policy Delete: volume ${volume.metadata.name} of a deleted claim` }, now: ctx.now });
      return;
    }
    // Another provisioner's volume is its provisioner's to delete.
    if (volume.metadata.annotations?.[ANN_PROVISIONED_BY]) return;
    const message = 'gantry deletes only volumes its local-path provisioner made; remove the data and the volume by hand, or use persistentVolumeReclaimPolicy Retain';
    ctx.events.emit(volume, 'Warning', 'VolumeFailedDelete', message);
    await this.volumePhase(volume, 'Failed', message, ctx);
  }

  private async volumePhase(volume: PersistentVolume, phase: PersistentVolumePhase, message: string | undefined, ctx: ReconcileContext): Promise<void> {
    if (volume.status?.phase === phase && volume.status?.message === message) return;
    const next = copy(volume);
    setVolumePhase(next, phase, message, ctx.now());
    await ctx.store.update(next, { origin: { ...ctx.origin, reason: `volume ${volume.metadata.name} ${phase}` } });
  }
}

/** Why a volume a claim names cannot serve it (Kubernetes' checkVolumeSatisfyClaim), or undefined. */
function mismatchOf(volume: PersistentVolume, claim: PersistentVolumeClaim): string | undefined {
  if (capacityBytes(volume) < requestedBytes(claim)) return 'requested PV is too small';
  const cls = claimClass(claim);
  // A claim without a class that names its volume takes the volume's class, as Kubernetes allows.
  if (cls !== undefined && cls !== volumeClass(volume)) return 'storageClassName does not match';
  if (volumeModeOf(volume.spec) !== volumeModeOf(claim.spec)) return 'incompatible volumeMode';
  if (!hasAccessModes(volume, claim)) return 'incompatible accessMode';
  return undefined;
}

/** Sets a volume's phase (and message), stamping the transition time when the phase changes. */
function setVolumePhase(pv: PersistentVolume, phase: PersistentVolumePhase, message: string | undefined, now: number): void {
  const changed = pv.status?.phase !== phase;
  const status: NonNullable<PersistentVolume['status']> = { ...pv.status, phase };
  if (message) status.message = message;
  else delete status.message;
  if (changed) status.lastPhaseTransitionTime = k8sTime(now);
  pv.status = status;
}
