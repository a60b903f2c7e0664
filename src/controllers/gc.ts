/**
 * The garbage collector: background deletion through ownerReferences, for any kind. When none
 * of an object's owners exists any more (no object with the referenced uid), the object is
 * deleted; when only some are gone, the dangling references are removed. Deleting a Deployment
 * therefore removes its ReplicaSets, whose deletion removes their pods.
 *
 * An owner is taken as gone only after a live read from the store confirms it (the cache may
 * not have shown a just-created owner yet). Owners of kinds gantry does not know are assumed
 * to exist: nothing is deleted on a guess.
 */
import { KINDS, kindInfo } from '../model/kinds.js';
import { objectKey, parseKey, type ObjectRef } from '../model/keys.js';
import { deleteObject } from '../store/finalizers.js';
import type { KubeObject, OwnerReference, Pod } from '../model/types.js';
import type { CacheEvent, CacheReader } from './cache.js';
import { copy, sameJson } from './objects.js';
import { deletePod } from './pods.js';
import type { Controller, ReconcileContext, Result, Watch } from './runtime.js';

/** Options for {@link GarbageCollector}. */
export interface GarbageCollectorOptions {
  /** Kinds to collect and to watch as owners (default: every kind gantry knows). */
  kinds?: readonly string[];
}

/** Deletes dependents whose owners are gone. */
export class GarbageCollector implements Controller {
  readonly name = 'garbage-collector';
  readonly kinds: readonly string[] = [];
  readonly watches: readonly Watch[];
  private readonly collected: readonly string[];

  constructor(opts: GarbageCollectorOptions = {}) {
    this.collected = opts.kinds ?? KINDS.map((k) => k.kind);
    this.watches = this.collected.map((kind) => ({ kind, keys: gcKeys }));
  }

  resyncKeys(cache: CacheReader): Iterable<string> {
    const keys: string[] = [];
    for (const kind of this.collected) {
      for (const obj of cache.list(kind)) if (obj.metadata.ownerReferences?.length) keys.push(objectKey(obj));
    }
    return keys;
  }

  async reconcile(key: string, ctx: ReconcileContext): Promise<Result | void> {
    const obj = ctx.cache.get(parseKey(key));
    const refs = obj?.metadata.ownerReferences ?? [];
    if (!obj || refs.length === 0 || obj.metadata.deletionTimestamp) return;
    const gone: OwnerReference[] = [];
    for (const ref of refs) if (!(await ownerExists(obj, ref, ctx))) gone.push(ref);
    if (gone.length === 0) return;
    if (gone.length === refs.length) {
      await deleteDependent(obj, ctx, `owner ${gone.map((r) => `${r.kind}/${r.name}`).join(', ')} is gone`);
      return;
    }
    const next = copy(obj);
    next.metadata.ownerReferences = refs.filter((r) => !gone.some((g) => g.uid === r.uid));
    if (sameJson(obj, next)) return;
    await ctx.store.update(next, { origin: { ...ctx.origin, reason: 'remove references to deleted owners' } });
  }
}

/** An object with owners wakes itself when added or its owners change; a deletion wakes its dependents. */
function gcKeys(ev: CacheEvent, cache: CacheReader): Iterable<string> {
  const keys: string[] = [];
  const refs = ev.object.metadata.ownerReferences;
  if (ev.type !== 'DELETED' && refs?.length && (ev.type === 'ADDED' || !sameJson(refs, ev.prevObject?.metadata.ownerReferences))) {
    keys.push(objectKey(ev.object));
  }
  if (ev.type === 'DELETED' && ev.object.metadata.uid) {
    for (const dep of cache.dependents(ev.object.metadata.uid)) keys.push(objectKey(dep));
  }
  return keys;
}

function ownerRef(dependent: KubeObject, ref: OwnerReference): ObjectRef | undefined {
  const info = kindInfo(ref.kind);
  if (!info) return undefined;
  return { kind: ref.kind, namespace: info.namespaced ? dependent.metadata.namespace : undefined, name: ref.name };
}

async function ownerExists(dependent: KubeObject, ref: OwnerReference, ctx: ReconcileContext): Promise<boolean> {
  const oref = ownerRef(dependent, ref);
  if (!oref) return true;
  if (ctx.cache.has(ref.kind) && ctx.cache.get(oref)?.metadata.uid === ref.uid) return true;
  const live = await ctx.store.get(oref);
  return live?.metadata.uid === ref.uid;
}

async function deleteDependent(obj: KubeObject, ctx: ReconcileContext, why: string): Promise<void> {
  const origin = { ...ctx.origin, reason: `garbage collection: ${why}` };
  if (obj.kind === 'Pod') {
    await deletePod(ctx.store, obj as Pod, { origin, now: ctx.now });
    return;
  }
  // Finalizers hold it back (a claim still in use by a pod waits for the pod).
  await deleteObject(ctx.store, obj, { origin, now: ctx.now });
}
