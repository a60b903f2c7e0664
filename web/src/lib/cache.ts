/**
 * The dashboard's copy of the cluster: objects by kind and key, filled by lists and kept current
 * by one watch stream. Lists and the watch overlap (the watch starts from the oldest list's
 * revision), so every change is applied only when it is newer than what is held: an object's
 * `resourceVersion` is the store revision of its last write. Pure: no DOM, no I/O.
 */
import { objectKey, refKey } from '../../../src/model/keys.js';
import type { KubeObject } from '../../../src/model/types.js';

/** One change, as gantry's watch route sends it. */
export interface CacheEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  object: KubeObject;
  revision: number;
}

function versionOf(obj: KubeObject): number {
  const rv = Number(obj.metadata.resourceVersion);
  return Number.isFinite(rv) ? rv : 0;
}

/** Objects by kind, each kind a map from key (`Kind/namespace/name`) to object. */
export class ObjectCache {
  private readonly kinds = new Map<string, Map<string, KubeObject>>();
  /** Keys deleted, with the revision of the deletion: an older replayed write must not revive them. */
  private readonly tombstones = new Map<string, number>();

  /** Replaces a kind's objects with a fresh list, keeping any held object that is newer. */
  replace(kind: string, items: readonly KubeObject[], revision: number): void {
    const next = new Map<string, KubeObject>();
    const held = this.kinds.get(kind);
    for (const obj of items) {
      const key = objectKey(obj);
      const mine = held?.get(key);
      next.set(key, mine && versionOf(mine) > versionOf(obj) ? mine : obj);
    }
    // Objects written after the list was taken stay; older ones the list no longer has are gone.
    for (const [key, obj] of held ?? []) if (!next.has(key) && versionOf(obj) > revision) next.set(key, obj);
    this.kinds.set(kind, next);
  }

  /** Applies one watch event; returns whether anything changed. */
  apply(ev: CacheEvent): boolean {
    const key = objectKey(ev.object);
    let byKey = this.kinds.get(ev.object.kind);
    const mine = byKey?.get(key);
    if (ev.type === 'DELETED') {
      if (mine && versionOf(mine) > ev.revision) return false;
      this.tombstones.set(key, ev.revision);
      return byKey?.delete(key) ?? false;
    }
    if (mine && versionOf(mine) >= versionOf(ev.object)) return false;
    const gone = this.tombstones.get(key);
    if (gone !== undefined && gone >= versionOf(ev.object)) return false;
    if (!byKey) {
      byKey = new Map();
      this.kinds.set(ev.object.kind, byKey);
    }
    byKey.set(key, ev.object);
    return true;
  }

  /** Objects of a kind, optionally of one namespace, sorted by namespace and name. */
  list<T extends KubeObject = KubeObject>(kind: string, namespace?: string): T[] {
    const out: T[] = [];
    for (const obj of this.kinds.get(kind)?.values() ?? []) {
      if (namespace === undefined || (obj.metadata.namespace ?? '') === namespace) out.push(obj as T);
    }
    return out.sort((a, b) => (a.metadata.namespace ?? '').localeCompare(b.metadata.namespace ?? '') || a.metadata.name.localeCompare(b.metadata.name));
  }

  /** One object, or undefined. */
  get<T extends KubeObject = KubeObject>(kind: string, namespace: string | undefined, name: string): T | undefined {
    return this.kinds.get(kind)?.get(refKey({ kind, namespace, name })) as T | undefined;
  }

  /** Every namespace that holds an object, with the Namespace objects' own names. */
  namespaces(): string[] {
    const names = new Set<string>();
    for (const ns of this.kinds.get('Namespace')?.values() ?? []) names.add(ns.metadata.name);
    for (const [kind, byKey] of this.kinds) {
      if (kind === 'Event') continue;
      for (const obj of byKey.values()) if (obj.metadata.namespace) names.add(obj.metadata.namespace);
    }
    return [...names].sort();
  }
}
