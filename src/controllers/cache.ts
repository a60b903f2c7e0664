/**
 * An informer-like cache of the store: list every kind it is asked for, then follow one watch
 * from the lowest list revision, so all kinds arrive in store-revision order. A watch that
 * falls behind the store's history (`Conflict`, "too old") re-lists and reports the difference
 * as events, so handlers never miss a level.
 *
 * Objects in the cache are frozen: reconcilers must copy before changing (convention 9).
 */
import { errorMessage, GantryError, isGantryError } from '../errors.js';
import { kindInfo } from '../model/kinds.js';
import { objectKey, refKey, type ObjectRef } from '../model/keys.js';
import { matchesSelector } from '../model/selectors.js';
import type { KubeObject, LabelSelector } from '../model/types.js';
import { normalizeRef } from '../store/common.js';
import type { Store, WatchEvent } from '../store/types.js';
import type { Logger } from '../log.js';
import { silentLogger } from '../log.js';
import { abortableSleep } from '../model/time.js';

/** A change as the cache reports it to handlers. */
export interface CacheEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  object: KubeObject;
  /** The cached object before the change (MODIFIED, DELETED). */
  prevObject?: KubeObject;
}

/** Called synchronously after the cache applied a change; must not throw or block. */
export type CacheHandler = (event: CacheEvent) => void;

/** Options for {@link Cache}. */
export interface CacheOptions {
  log?: Logger;
  /** Wait before re-listing after a failed watch (default 1000 ms). */
  relistDelayMs?: number;
}

/** Read access to cached objects, as reconcilers get it. */
export interface CacheReader {
  /** The cached object, or undefined. Frozen: copy before changing. */
  get<T extends KubeObject = KubeObject>(ref: ObjectRef): T | undefined;
  /** Cached objects of a kind, optionally in a namespace and matching a selector. */
  list<T extends KubeObject = KubeObject>(kind: string, opts?: { namespace?: string; selector?: LabelSelector }): T[];
  /** Cached objects (of any watched kind) with an ownerReference to this uid. */
  dependents(ownerUid: string): KubeObject[];
  /** True when the cache holds this kind. */
  has(kind: string): boolean;
}

/** A cache over a fixed set of kinds. */
export class Cache implements CacheReader {
  private byKind = new Map<string, Map<string, KubeObject>>();
  private byOwner = new Map<string, Map<string, KubeObject>>();
  /** kind → namespace → key → object: controllers list one namespace at a time. */
  private byNamespace = new Map<string, Map<string, Map<string, KubeObject>>>();
  private handlers: CacheHandler[] = [];
  private revision = 0;
  private revisionWaiters: { rev: number; resolve: () => void; reject: (err: Error) => void }[] = [];
  private readonly log: Logger;
  private readonly relistDelayMs: number;

  constructor(private readonly store: Store, readonly kinds: readonly string[], opts: CacheOptions = {}) {
    for (const k of kinds) this.byKind.set(k, new Map());
    this.log = opts.log ?? silentLogger();
    this.relistDelayMs = opts.relistDelayMs ?? 1000;
  }

  /** Registers a handler for every later change. */
  subscribe(handler: CacheHandler): void {
    this.handlers.push(handler);
  }

  /**
   * Lists every kind, then follows the watch in the background until the signal aborts.
   * Resolves once the initial list is in (the cache is "synced").
   */
  async start(signal: AbortSignal): Promise<void> {
    const from = await this.relist();
    void this.follow(from, signal).finally(() => this.stop());
  }

  /** The store revision the cache reflects. */
  currentRevision(): number {
    return this.revision;
  }

  /**
   * Resolves when the cache reflects at least `rev` (read-your-writes waits), or when `signal`
   * aborts. Rejects with StoreUnavailable once the cache has stopped following the store: a
   * stopped cache never catches up, and a waiter must not hang (or plan from stale state).
   */
  waitForRevision(rev: number, signal?: AbortSignal): Promise<void> {
    if (this.revision >= rev || signal?.aborted) return Promise.resolve();
    if (this.stopped) return Promise.reject(this.stoppedError(rev));
    return new Promise((resolve, reject) => {
      // Whichever comes first settles it and unhooks the other, so neither list keeps growing.
      const onAbort = (): void => {
        this.revisionWaiters = this.revisionWaiters.filter((x) => x !== w);
        resolve();
      };
      const w = {
        rev,
        resolve: (): void => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        reject: (err: Error): void => {
          signal?.removeEventListener('abort', onAbort);
          reject(err);
        },
      };
      this.revisionWaiters.push(w);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  private stopped = false;

  private stoppedError(rev: number): GantryError {
    return new GantryError('StoreUnavailable', `the live cache stopped at store revision ${this.revision} before reaching ${rev}`, { disposition: 'transient' });
  }

  /** The watch is over for good: fail every waiter instead of leaving it pending forever. */
  private stop(): void {
    this.stopped = true;
    for (const w of this.revisionWaiters.splice(0)) w.reject(this.stoppedError(w.rev));
  }

  get<T extends KubeObject = KubeObject>(ref: ObjectRef): T | undefined {
    return this.byKind.get(ref.kind)?.get(refKey(normalizeRef(ref))) as T | undefined;
  }

  list<T extends KubeObject = KubeObject>(kind: string, opts: { namespace?: string; selector?: LabelSelector } = {}): T[] {
    const out: T[] = [];
    const source = opts.namespace !== undefined && kindInfo(kind)?.namespaced !== false
      ? this.byNamespace.get(kind)?.get(opts.namespace)?.values()
      : this.byKind.get(kind)?.values();
    for (const obj of source ?? []) {
      if (opts.namespace !== undefined && obj.metadata.namespace !== opts.namespace) continue;
      if (opts.selector !== undefined && !matchesSelector(opts.selector, obj.metadata.labels)) continue;
      out.push(obj as T);
    }
    return out;
  }

  dependents(ownerUid: string): KubeObject[] {
    return [...(this.byOwner.get(ownerUid)?.values() ?? [])];
  }

  has(kind: string): boolean {
    return this.byKind.has(kind);
  }

  /** Lists all kinds and replaces the cache, emitting the differences; returns the watch start. */
  private async relist(): Promise<number> {
    const seen = new Set<string>();
    let from = Number.POSITIVE_INFINITY;
    const listRev = new Map<string, number>();
    for (const kind of this.kinds) {
      const res = await this.store.list(kind);
      listRev.set(kind, res.revision);
      from = Math.min(from, res.revision);
      for (const obj of res.items) {
        const key = objectKey(obj);
        seen.add(key);
        const prev = this.byKind.get(kind)!.get(key);
        if (prev && prev.metadata.resourceVersion === obj.metadata.resourceVersion) continue;
        this.put(obj, prev);
      }
      for (const [key, prev] of [...this.byKind.get(kind)!]) {
        if (!seen.has(key)) this.remove(prev);
      }
    }
    this.listRevisions = listRev;
    if (!Number.isFinite(from)) from = await this.store.revision();
    this.advance(from);
    return from;
  }

  /** Per kind, the revision its last list reflected: watch events at or below it are old news. */
  private listRevisions = new Map<string, number>();

  private async follow(from: number, signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        // Unfiltered on purpose: every event advances the cache's revision, so that
        // waitForRevision(store revision) resolves even when the newest change is of a kind the
        // cache does not hold; apply() ignores those.
        for await (const ev of this.store.watch({ fromRevision: from, signal })) {
          if (signal.aborted) return;
          from = ev.revision;
          this.apply(ev);
          this.advance(ev.revision);
        }
        if (signal.aborted) return;
      } catch (err) {
        if (signal.aborted) return;
        if (isGantryError(err, 'Conflict')) {
          this.log.info({ from }, 'cache watch too old, re-listing');
        } else {
          this.log.warn({ err: errorMessage(err) }, 'cache watch failed, re-listing');
          await abortableSleep(this.relistDelayMs, signal);
        }
      }
      // The watch ended or failed: re-list so that nothing between is lost.
      try {
        from = await this.relist();
      } catch (err) {
        this.log.warn({ err: errorMessage(err) }, 're-list failed');
        await abortableSleep(this.relistDelayMs, signal);
      }
    }
  }

  private apply(ev: WatchEvent): void {
    const kind = ev.object.kind;
    if (!this.byKind.has(kind)) return;
    if (ev.revision <= (this.listRevisions.get(kind) ?? 0)) return;
    const key = objectKey(ev.object);
    const prev = this.byKind.get(kind)!.get(key);
    if (ev.type === 'DELETED') {
      if (prev && prev.metadata.uid === ev.object.metadata.uid) this.remove(prev);
      return;
    }
    this.put(ev.object, prev);
  }

  private put(obj: KubeObject, prev: KubeObject | undefined): void {
    const frozen = deepFreeze(obj);
    const key = objectKey(frozen);
    this.byKind.get(frozen.kind)!.set(key, frozen);
    if (prev) this.unindex(prev);
    this.index(frozen);
    if (!prev) {
      this.emit({ type: 'ADDED', object: frozen });
    } else if (prev.metadata.uid === frozen.metadata.uid) {
      this.emit({ type: 'MODIFIED', object: frozen, prevObject: prev });
    } else {
      // Same name, new uid: the old object was deleted and a new one created in between.
      this.emit({ type: 'DELETED', object: prev, prevObject: prev });
      this.emit({ type: 'ADDED', object: frozen });
    }
  }

  private remove(obj: KubeObject): void {
    this.byKind.get(obj.kind)!.delete(objectKey(obj));
    this.unindex(obj);
    this.emit({ type: 'DELETED', object: obj, prevObject: obj });
  }

  private index(obj: KubeObject): void {
    let kindMap = this.byNamespace.get(obj.kind);
    if (!kindMap) this.byNamespace.set(obj.kind, (kindMap = new Map()));
    const ns = obj.metadata.namespace ?? '';
    let nsMap = kindMap.get(ns);
    if (!nsMap) kindMap.set(ns, (nsMap = new Map()));
    nsMap.set(objectKey(obj), obj);
    for (const ref of obj.metadata.ownerReferences ?? []) {
      let m = this.byOwner.get(ref.uid);
      if (!m) this.byOwner.set(ref.uid, (m = new Map()));
      m.set(objectKey(obj), obj);
    }
  }

  private unindex(obj: KubeObject): void {
    const nsMap = this.byNamespace.get(obj.kind)?.get(obj.metadata.namespace ?? '');
    nsMap?.delete(objectKey(obj));
    if (nsMap && nsMap.size === 0) this.byNamespace.get(obj.kind)!.delete(obj.metadata.namespace ?? '');
    for (const ref of obj.metadata.ownerReferences ?? []) {
      const m = this.byOwner.get(ref.uid);
      m?.delete(objectKey(obj));
      if (m && m.size === 0) this.byOwner.delete(ref.uid);
    }
  }

  private emit(ev: CacheEvent): void {
    for (const h of this.handlers) {
      try {
        h(ev);
      } catch (err) {
        this.log.error({ err: errorMessage(err) }, 'cache handler threw');
      }
    }
  }

  private advance(rev: number): void {
    if (rev > this.revision) this.revision = rev;
    const ready = this.revisionWaiters.filter((w) => w.rev <= this.revision);
    this.revisionWaiters = this.revisionWaiters.filter((w) => w.rev > this.revision);
    for (const w of ready) w.resolve();
  }
}

function deepFreeze<T>(v: T): T {
  if (v && typeof v === 'object' && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v as Record<string, unknown>)) deepFreeze(x);
  }
  return v;
}
