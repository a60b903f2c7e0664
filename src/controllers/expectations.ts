/**
 * Controller expectations (client-go's ControllerExpectations / UIDTrackingControllerExpectations):
 * after a controller creates N pods or deletes some, it must not act again on its (lagging)
 * cache until the watch has shown those changes, or it would create duplicates. A record that
 * is never satisfied expires after a TTL, so a lost event delays, never wedges, a controller.
 */
import { objectKey, refKey } from '../model/keys.js';
import type { CacheEvent } from './cache.js';
import { controllerRef } from './runtime.js';

interface Record_ {
  adds: number;
  dels: Set<string>;
  at: number;
}

/** Pending creations and deletions per controller key. */
export class Expectations {
  private records = new Map<string, Record_>();

  constructor(private readonly opts: { ttlMs?: number; now?: () => number } = {}) {}

  /** True when nothing is pending for `key` (or its record expired): safe to act. */
  satisfied(key: string): boolean {
    const r = this.records.get(key);
    if (!r) return true;
    if (r.adds <= 0 && r.dels.size === 0) return true;
    return this.now() - r.at > (this.opts.ttlMs ?? 5 * 60_000);
  }

  /** Records that `count` creations are about to happen (replaces any previous record). */
  expectCreations(key: string, count: number): void {
    this.records.set(key, { adds: count, dels: new Set(), at: this.now() });
  }

  /** Records that these objects (by key) are about to be deleted. */
  expectDeletions(key: string, objectKeys: readonly string[]): void {
    this.records.set(key, { adds: 0, dels: new Set(objectKeys), at: this.now() });
  }

  /** The watch showed one created object (or a creation failed and will not show). */
  creationObserved(key: string, count = 1): void {
    const r = this.records.get(key);
    if (r) r.adds = Math.max(0, r.adds - count);
  }

  /** The watch showed this object deleted or terminating (or it was already gone). */
  deletionObserved(key: string, objectKey: string): void {
    this.records.get(key)?.dels.delete(objectKey);
  }

  /**
   * Books a pod event against the expectations of its controlling `ownerKind` object: a new pod
   * is an observed creation; a pod that is gone, or newly terminating, an observed deletion
   * (a pod first seen already terminating counts as a deletion, not a creation).
   */
  observePod(ev: CacheEvent, ownerKind: string): void {
    if (ev.object.kind !== 'Pod') return;
    const ref = controllerRef(ev.object);
    if (!ref || ref.kind !== ownerKind) return;
    const ownerKey = refKey({ kind: ownerKind, namespace: ev.object.metadata.namespace, name: ref.name });
    const podKey = objectKey(ev.object);
    if (ev.type === 'ADDED') {
      if (ev.object.metadata.deletionTimestamp) this.deletionObserved(ownerKey, podKey);
      else this.creationObserved(ownerKey);
    } else if (ev.type === 'DELETED' || (ev.object.metadata.deletionTimestamp && !ev.prevObject?.metadata.deletionTimestamp)) {
      this.deletionObserved(ownerKey, podKey);
    }
  }

  /** Forgets `key` (its owner is gone). */
  delete(key: string): void {
    this.records.delete(key);
  }

  private now(): number {
    return (this.opts.now ?? Date.now)();
  }
}
