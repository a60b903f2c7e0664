/**
 * The scheduler's view of storage: claims, volumes and StorageClasses as the store holds them
 * ({@link VolumeView}), plus the reservations the scheduler has decided but the store may not
 * show yet ({@link VolumeReservations}, as kube-scheduler's assume cache), so two pods never get
 * the same free volume. Pure (no I/O).
 */
import { claimClass, claimKey, defaultStorageClass } from '../model/storage.js';
import type { PersistentVolume, PersistentVolumeClaim, StorageClass } from '../model/types.js';

/** A claim, volume or class. */
export type VolumeObject = PersistentVolumeClaim | PersistentVolume | StorageClass;

/** The storage kinds the scheduler follows. */
export const VOLUME_KINDS: readonly string[] = ['PersistentVolumeClaim', 'PersistentVolume', 'StorageClass'];

function keyOf(o: { kind: string; metadata: { name: string; namespace?: string } }): string {
  return `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
}

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

/**
 * Claims and volumes a bind in flight has changed in the view before the store has them (a
 * volume reserved for a claim, a claim marked for a node). Watch events older than the bind do
 * not undo a reservation; the newest of them is kept, so that a failed bind gives the view back
 * what the store holds.
 */
export class VolumeReservations {
  /** Object key → revision of the bind that wrote it (MAX while it is being written). */
  private readonly assumed = new Map<string, number>();
  private readonly heldBack = new Map<string, VolumeObject>();

  constructor(private readonly view: () => VolumeView | undefined) {}

  /** A watch event of a claim, volume or class at `revision`: into the view, unless a reservation is newer. */
  observe(type: 'ADDED' | 'MODIFIED' | 'DELETED', obj: VolumeObject, revision: number): void {
    const view = this.view();
    if (!view) return;
    const key = keyOf(obj);
    if (type === 'DELETED') {
      view.remove(obj);
      return;
    }
    const at = this.assumed.get(key);
    if (at !== undefined && revision < at) {
      this.heldBack.set(key, obj);
      return;
    }
    this.assumed.delete(key);
    this.heldBack.delete(key);
    view.set(obj);
  }

  /** Puts a bind's changes into the view at once; returns what the view held before them. */
  reserve(objects: readonly VolumeObject[]): VolumeObject[] {
    const view = this.view();
    const previous: VolumeObject[] = [];
    for (const o of objects) {
      const before = o.kind === 'PersistentVolumeClaim' ? view?.claim(claimKey(o.metadata.namespace, o.metadata.name)) : view?.volume(o.metadata.name);
      if (before) previous.push(before);
      view?.set(o);
      this.assumed.set(keyOf(o), Number.MAX_SAFE_INTEGER);
    }
    return previous;
  }

  /** The bind landed at `revision`: events from before it are older than the reservation. */
  confirm(objects: readonly VolumeObject[], revision: number): void {
    for (const o of objects) {
      this.assumed.set(keyOf(o), revision);
      this.heldBack.delete(keyOf(o));
    }
  }

  /**
   * The bind failed: the view gets back what the store holds — the newest version the watch
   * brought meanwhile, else what it held before the reservation. Synchronous, so a pod scheduled
   * again at once never finds a reservation the store never took.
   */
  release(objects: readonly VolumeObject[], previous: readonly VolumeObject[]): void {
    const view = this.view();
    for (const o of objects) {
      const key = keyOf(o);
      // Not reserved any more: the view was listed anew meanwhile and is right as it is.
      if (!this.assumed.delete(key)) continue;
      const latest = this.heldBack.get(key) ?? previous.find((p) => keyOf(p) === key);
      this.heldBack.delete(key);
      if (latest) view?.set(latest);
      else view?.remove(o);
    }
  }

  /** Forgets every reservation (the view is listed anew). */
  clear(): void {
    this.assumed.clear();
    this.heldBack.clear();
  }
}
