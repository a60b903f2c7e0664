/**
 * Claiming dependents by selector, as Kubernetes' ControllerRefManager does: an owner keeps the
 * objects that carry its controller reference and still match its selector, adopts matching
 * orphans (no controller reference), and releases objects that no longer match.
 */
import { GantryError, isGantryError } from '../errors.js';
import { objectKey } from '../model/keys.js';
import { matchesSelector, selectorRequirements } from '../model/selectors.js';
import type { KubeObject, LabelSelector, OwnerReference, PodTemplateSpec } from '../model/types.js';
import type { Store, WriteOrigin } from '../store/types.js';
import type { CacheEvent, CacheReader } from './cache.js';
import { controllerRef, type KeyMapper } from './runtime.js';

/** A workload that selects its pods by label and makes them from a template. */
export interface SelectingOwner extends KubeObject {
  spec: { selector: LabelSelector; template: PodTemplateSpec };
}

/** A controller ownerReference pointing at `owner`. */
export function controllerReferenceTo(owner: KubeObject): OwnerReference {
  if (!owner.metadata.uid) throw new GantryError('Internal', `${objectKey(owner)} has no uid; cannot own objects`);
  return {
    apiVersion: owner.apiVersion,
    kind: owner.kind,
    name: owner.metadata.name,
    uid: owner.metadata.uid,
    controller: true,
    blockOwnerDeletion: true,
  };
}

/** Options for {@link claim}. */
export interface ClaimOptions {
  selector: LabelSelector;
  store: Store;
  origin: WriteOrigin;
}

/**
 * The candidates `owner` controls after adopting and releasing. Candidates are cached objects
 * (frozen); adopted ones are returned as stored after the adoption. Adoption is skipped while the
 * owner or the orphan is being deleted, and confirmed against the store first (the owner must
 * still exist with the same uid) so a stale cache never adopts for a dead owner.
 */
export async function claim<T extends KubeObject>(owner: KubeObject, candidates: readonly T[], opts: ClaimOptions): Promise<T[]> {
  const uid = owner.metadata.uid;
  const claimed: T[] = [];
  let ownerConfirmed: boolean | undefined;
  const canAdopt = async (): Promise<boolean> => {
    if (ownerConfirmed === undefined) {
      const live = await opts.store.get({ kind: owner.kind, namespace: owner.metadata.namespace, name: owner.metadata.name });
      ownerConfirmed = !!live && live.metadata.uid === uid && !live.metadata.deletionTimestamp;
    }
    return ownerConfirmed;
  };
  for (const obj of candidates) {
    const ref = controllerRef(obj);
    const matches = matchesSelector(opts.selector, obj.metadata.labels);
    if (ref) {
      if (ref.uid !== uid) continue;
      if (matches || owner.metadata.deletionTimestamp) {
        claimed.push(obj);
        continue;
      }
      await tolerateGone(release(obj, uid, opts));
      continue;
    }
    if (!matches || owner.metadata.deletionTimestamp || obj.metadata.deletionTimestamp) continue;
    if (!(await canAdopt())) continue;
    const adopted = await tolerateGone(adopt(obj, owner, opts));
    if (adopted) claimed.push(adopted);
  }
  return claimed;
}

async function adopt<T extends KubeObject>(obj: T, owner: KubeObject, opts: ClaimOptions): Promise<T> {
  const next = structuredClone(obj) as T;
  next.metadata.ownerReferences = [...(next.metadata.ownerReferences ?? []), controllerReferenceTo(owner)];
  return opts.store.update(next, { origin: { ...opts.origin, reason: `adopted by ${objectKey(owner)}` } });
}

async function release<T extends KubeObject>(obj: T, ownerUid: string | undefined, opts: ClaimOptions): Promise<T> {
  const next = structuredClone(obj) as T;
  const refs = (next.metadata.ownerReferences ?? []).filter((r) => r.uid !== ownerUid);
  if (refs.length > 0) next.metadata.ownerReferences = refs;
  else delete next.metadata.ownerReferences;
  return opts.store.update(next, { origin: { ...opts.origin, reason: 'released: labels no longer match the selector' } });
}

/**
 * A {@link KeyMapper} for pod events: a pod maps to the `ownerKind` object that controls it, and
 * an orphan to every `ownerKind` object in its namespace whose selector matches its labels (so
 * that one can adopt it). Both the pod and its previous version count, so a relabelled pod
 * wakes the owner it left as well as the one it now matches. `selectorOf` reads an owner's selector
 * (default `spec.selector`; a ReplicationController's is a label map).
 */
export function podToOwners(ownerKind: string, opts: { selectorOf?: (owner: KubeObject) => LabelSelector } = {}): KeyMapper {
  const selectorOf = opts.selectorOf ?? ((o: KubeObject) => (o as SelectingOwner).spec.selector);
  return (ev: CacheEvent, cache: CacheReader): Iterable<string> => {
    const keys = new Set<string>();
    for (const pod of [ev.object, ev.prevObject]) {
      if (!pod) continue;
      const ns = pod.metadata.namespace;
      const ref = controllerRef(pod);
      if (ref) {
        if (ref.kind === ownerKind) keys.add(`${ownerKind}/${ns}/${ref.name}`);
        continue;
      }
      for (const owner of cache.list(ownerKind, { namespace: ns })) {
        if (matchesSelector(selectorOf(owner), pod.metadata.labels)) keys.add(objectKey(owner));
      }
    }
    return keys;
  };
}

/**
 * Throws InvalidManifest unless `owner`'s selector is non-empty and matches its template's
 * labels (else it would select nothing, or never see the pods it makes). `action` names what
 * cannot be done in the message: `cannot <action> DaemonSet ns/name: …`.
 */
export function validateSelector(owner: SelectingOwner, action: string): void {
  const where = `${owner.kind} ${owner.metadata.namespace}/${owner.metadata.name}`;
  if (selectorRequirements(owner.spec.selector).length === 0) {
    throw new GantryError('InvalidManifest', `cannot ${action} ${where}: spec.selector is empty`, { object: objectKey(owner), field: 'spec.selector' });
  }
  if (!matchesSelector(owner.spec.selector, owner.spec.template.metadata?.labels)) {
    throw new GantryError('InvalidManifest', `cannot ${action} ${where}: spec.selector does not match spec.template.metadata.labels`, { object: objectKey(owner), field: 'spec.selector' });
  }
}

/** NotFound means the object went away meanwhile: nothing to claim. */
async function tolerateGone<T>(p: Promise<T>): Promise<T | undefined> {
  try {
    return await p;
  } catch (err) {
    if (isGantryError(err, 'NotFound')) return undefined;
    throw err;
  }
}
