/**
 * The scheduler's view of storage: claims, volumes and StorageClasses as the store holds them,
 * plus the bindings the scheduler has decided but the store may not show yet (assumed, as
 * kube-scheduler's assume cache), so two pods never get the same free volume. Pure (no I/O).
 */
import { claimClass, claimKey, defaultStorageClass } from '../model/storage.js';
import type { PersistentVolume, PersistentVolumeClaim, StorageClass } from '../model/types.js';

/** Claims, volumes and classes, by key. */
export class VolumeView {
  private readonly claimsByKey = new Map<string, PersistentVolumeClaim>();
  private readonly volumesByName = new Map<string, PersistentVolume>();
  private readonly classesByName = new Map<string, StorageClass>();

  /** Adds or replaces a claim, volume or class (by kind). */
  set(obj: PersistentVolumeClaim | PersistentVolume | StorageClass): void {
    if (obj.kind === 'PersistentVolumeClaim') this.claimsByKey.set(claimKey(obj.metadata.namespace, obj.metadata.name), obj);
    else if (obj.kind === 'PersistentVolume') this.volumesByName.set(obj.metadata.name, obj);
    else this.classesByName.set(obj.metadata.name, obj);
  }

  /** Removes a claim, volume or class. */
  remove(obj: { kind: string; metadata: { name: string; namespace?: string } }): void {
    if (obj.kind === 'PersistentVolumeClaim') this.claimsByKey.delete(claimKey(obj.metadata.namespace, obj.metadata.name));
    else if (obj.kind === 'PersistentVolume') this.volumesByName.delete(obj.metadata.name);
    else if (obj.kind === 'StorageClass') this.classesByName.delete(obj.metadata.name);
  }

  /** The claim `namespace/name`. */
  claim(key: string): PersistentVolumeClaim | undefined {
    return this.claimsByKey.get(key);
  }

  volume(name: string): PersistentVolume | undefined {
    return this.volumesByName.get(name);
  }

  volumes(): IterableIterator<PersistentVolume> {
    return this.volumesByName.values();
  }

  /**
   * The class a claim asks for: its own, or the default class while the PV controller has not
   * yet written it into a claim that names none. Undefined for "no class" or an unknown class.
   */
  classOf(claim: PersistentVolumeClaim): StorageClass | undefined {
    const name = claimClass(claim);
    if (name === undefined) return defaultStorageClass([...this.classesByName.values()]);
    return name ? this.classesByName.get(name) : undefined;
  }

  /** An independent copy (objects are shared: they are read-only). */
  clone(): VolumeView {
    const v = new VolumeView();
    for (const [k, o] of this.claimsByKey) v.claimsByKey.set(k, o);
    for (const [k, o] of this.volumesByName) v.volumesByName.set(k, o);
    for (const [k, o] of this.classesByName) v.classesByName.set(k, o);
    return v;
  }
}
