/**
 * A StatefulSet's claims, as Kubernetes' StatefulSet controller keeps them: each pod
 * `<sts>-<ordinal>` gets, per `spec.volumeClaimTemplates[i]`, a real PersistentVolumeClaim
 * `<template>-<sts>-<ordinal>` (the template's spec, its labels plus the selector's matchLabels),
 * created before the pod and never replaced while it exists — so a pod recreated under the same
 * name, after a restart or a scale down and up, mounts the same volume and finds its data.
 *
 * `persistentVolumeClaimRetentionPolicy` is carried by owner references, and the garbage
 * collector does the deleting (held back by pvc-protection while a pod still uses a claim):
 * whenDeleted Delete makes the StatefulSet the claims' owner, so deleting it deletes them;
 * whenScaled Delete makes a condemned pod (ordinal ≥ replicas) the owner of its claims before it
 * is deleted, so they go with it. Retain/Retain, the default, leaves claims unowned: they stay
 * until deleted by hand.
 *
 * A claim that is being deleted blocks the creation of its pod until it is gone (the pod then
 * gets a fresh claim), as in Kubernetes.
 */
import { GantryError, isGantryError } from '../errors.js';
import { applyDefaults } from '../model/defaults.js';
import { objectKey } from '../model/keys.js';
import { claimClass, defaultStorageClass } from '../model/storage.js';
import type { KubeObject, OwnerReference, PersistentVolumeClaim, Pod, StatefulSet, StorageClass } from '../model/types.js';
import type { CacheEvent, CacheReader } from './cache.js';
import { copy, sameJson } from './objects.js';
import { createAdmittedClaim } from './admission.js';
import type { ReconcileContext } from './runtime.js';
import { controllerReferenceTo } from './ownership.js';

/** Kubernetes' claim name for a template, StatefulSet and ordinal. */
export function claimName(template: string, sts: string, ordinal: number): string {
  return `${template}-${sts}-${ordinal}`;
}

/** The claim of `template` for pod ordinal `ord`, as the controller creates it (before ownership). */
export function statefulSetClaim(sts: StatefulSet, template: NonNullable<StatefulSet['spec']['volumeClaimTemplates']>[number], ord: number): PersistentVolumeClaim {
  const labels = { ...(template.metadata.labels ?? {}), ...(sts.spec.selector.matchLabels ?? {}) };
  return applyDefaults<PersistentVolumeClaim>({
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: {
      name: claimName(template.metadata.name, sts.metadata.name, ord),
      namespace: sts.metadata.namespace,
      ...(Object.keys(labels).length > 0 ? { labels } : {}),
      ...(template.metadata.annotations ? { annotations: { ...template.metadata.annotations } } : {}),
    },
    spec: copy(template.spec),
  });
}

/** A claim event wakes the StatefulSets of its namespace whose claim names it matches. */
export function claimToStatefulSets(ev: CacheEvent, cache: CacheReader): string[] {
  const claim = ev.object;
  const keys: string[] = [];
  for (const sts of cache.list<StatefulSet>('StatefulSet', { namespace: claim.metadata.namespace })) {
    const mine = (sts.spec.volumeClaimTemplates ?? []).some((t) => {
      const prefix = `${t.metadata.name}-${sts.metadata.name}-`;
      return claim.metadata.name.startsWith(prefix) && /^(0|[1-9]\d*)$/.test(claim.metadata.name.slice(prefix.length));
    });
    if (mine) keys.push(objectKey(sts));
  }
  return keys;
}

/**
 * The owner references a claim of `pod` should carry under the retention policy (Kubernetes'
 * updateClaimOwnerRefForSetAndPod): references to the set or to a pod of this ordinal are
 * recomputed, any others kept. A claim another controller owns gets none of ours.
 */
export function claimOwners(claim: PersistentVolumeClaim, sts: StatefulSet, pod: Pod, replicas: number, ordinal: number): OwnerReference[] {
  const policy = sts.spec.persistentVolumeClaimRetentionPolicy ?? {};
  const refs = (claim.metadata.ownerReferences ?? []).filter((r) => !(r.uid === sts.metadata.uid || (r.kind === 'Pod' && r.name === pod.metadata.name)));
  if (refs.some((r) => r.controller)) return refs;
  const scaledDown = ordinal >= replicas;
  if (policy.whenScaled === 'Delete' && scaledDown) refs.push(controllerReferenceTo(pod));
  else if (policy.whenDeleted === 'Delete') refs.push(controllerReferenceTo(sts));
  return refs;
}

/** Brings the owner references of the claims of existing pods in line with the retention policy. */
export async function updateClaimOwners(sts: StatefulSet, pods: readonly { pod: Pod; ordinal: number }[], ctx: ReconcileContext): Promise<void> {
  const replicas = sts.spec.replicas ?? 1;
  for (const { pod, ordinal } of pods) {
    if (!pod.metadata.uid) continue;
    for (const t of sts.spec.volumeClaimTemplates ?? []) {
      const claim = ctx.cache.get<PersistentVolumeClaim>({ kind: 'PersistentVolumeClaim', namespace: sts.metadata.namespace, name: claimName(t.metadata.name, sts.metadata.name, ordinal) });
      if (!claim || claim.metadata.deletionTimestamp) continue;
      const refs = claimOwners(claim, sts, pod, replicas, ordinal);
      if (sameJson(refs, claim.metadata.ownerReferences ?? [])) continue;
      const next = copy(claim);
      if (refs.length > 0) next.metadata.ownerReferences = refs;
      else delete next.metadata.ownerReferences;
      await ctx.store.update(next, { origin: { ...ctx.origin, reason: `owners of claim ${claim.metadata.name} follow the retention policy of StatefulSet ${sts.metadata.name}` } });
    }
  }
}

/**
 * Creates the missing claims of pod `ordinal`. Before the pod is created (no `existingPod`), throws
 * a waiting error while one of them is being deleted (the pod must not start on a claim about to
 * go). For a pod that exists already (one an earlier gantry made before claims were objects),
 * only creates what is missing: its claim is provisioned on its node, where the agent moves the
 * old directory into the new volume.
 */
export async function ensureClaims(sts: StatefulSet, ordinal: number, ctx: ReconcileContext, opts: { existingPod?: boolean } = {}): Promise<void> {
  for (const t of sts.spec.volumeClaimTemplates ?? []) {
    const name = claimName(t.metadata.name, sts.metadata.name, ordinal);
    const ref = { kind: 'PersistentVolumeClaim', namespace: sts.metadata.namespace, name };
    const existing = ctx.cache.get<PersistentVolumeClaim>(ref) ?? (await ctx.store.get<PersistentVolumeClaim>(ref));
    if (existing) {
      if (existing.metadata.deletionTimestamp && !opts.existingPod) {
        ctx.events.emit(sts, 'Warning', 'FailedCreate', `create Pod ${sts.metadata.name}-${ordinal} in StatefulSet ${sts.metadata.name} failed error: pvc ${name} is being deleted`);
        throw new GantryError('VolumeSetupFailed', `claim ${name} of StatefulSet ${sts.metadata.name} is being deleted; pod ${sts.metadata.name}-${ordinal} waits for it to go`, { disposition: 'waiting', retryAfterMs: 1000 });
      }
      continue;
    }
    const claim = statefulSetClaim(sts, t, ordinal);
    if (sts.spec.persistentVolumeClaimRetentionPolicy?.whenDeleted === 'Delete') claim.metadata.ownerReferences = [controllerReferenceTo(sts)];
    // As the API server's DefaultStorageClass admission would on create.
    if (claimClass(claim) === undefined) {
      const def = defaultStorageClass(ctx.cache.list<StorageClass>('StorageClass'));
      if (def) claim.spec.storageClassName = def.metadata.name;
    }
    try {
      await createAdmittedClaim(claim, ctx, { reason: `create claim ${name} for pod ${ordinal} of StatefulSet ${sts.metadata.name}` });
      ctx.events.emit(sts, 'Normal', 'SuccessfulCreate', `create Claim ${name} Pod ${sts.metadata.name}-${ordinal} in StatefulSet ${sts.metadata.name} success`);
    } catch (err) {
      if (isGantryError(err, 'AlreadyExists')) continue;
      if (isGantryError(err, 'Forbidden')) ctx.events.emit(sts, 'Warning', 'FailedCreate', `create Claim ${name} for Pod ${sts.metadata.name}-${ordinal} in StatefulSet ${sts.metadata.name} failed error: ${err.message}`);
      throw err;
    }
  }
}
