/**
 * An in-memory {@link Store} for unit tests: the same contract as the SQLite and etcd backends
 * (one store revision, resourceVersion = revision of the last write, generation bumped on spec
 * changes, no-op updates free, watch from a revision with `Conflict` when it is older than the
 * kept history). Write rules come from `src/store/common.ts`, shared with the real backends.
 */
import { GantryError } from '../../src/errors.js';
import { kindInfo } from '../../src/model/kinds.js';
import { refKey, type ObjectRef } from '../../src/model/keys.js';
import {
  alreadyExistsError, checkUpdatePrecondition, normalizeRef, notFoundError, nowTimestamp, prepareCreate, prepareUpdate, refOf, staleError,
} from '../../src/store/common.js';
import { matchesRequirements, toRequirements } from '../../src/model/selectors.js';
import type { KubeObject } from '../../src/model/types.js';
import type {
  ListOptions, ListResult, Store, TxnOp, TxnResult, WatchEvent, WatchOptions, WriteOptions, WriteOrigin,
} from '../../src/store/types.js';

interface Waiter {
  wake: () => void;
}

/** Options for {@link MemoryStore}. */
export interface MemoryStoreOptions {
  /** How many events the store keeps for watches that resume from a revision (default 10000). */
  historyLimit?: number;
}

/** An in-memory Store. Not for production: nothing is persisted. */
export class MemoryStore implements Store {
  private objects = new Map<string, KubeObject>();
  private history: WatchEvent[] = [];
  private rev = 0;
  /** Events with revision <= compactedRev are gone; watching from below it is `Conflict`. */
  private compactedRev = 0;
  private waiters = new Set<Waiter>();
  private closed = false;
  private readonly historyLimit: number;

  constructor(opts: MemoryStoreOptions = {}) {
    this.historyLimit = opts.historyLimit ?? 10000;
  }

  async get<T extends KubeObject = KubeObject>(ref: ObjectRef): Promise<T | undefined> {
    const obj = this.objects.get(refKey(normalizeRef(ref)));
    return obj ? (structuredClone(obj) as T) : undefined;
  }

  async list<T extends KubeObject = KubeObject>(kind: string, opts: ListOptions = {}): Promise<ListResult<T>> {
    const reqs = toRequirements(opts.labelSelector);
    const items: T[] = [];
    const keys = [...this.objects.keys()].sort();
    for (const key of keys) {
      const obj = this.objects.get(key)!;
      if (obj.kind !== kind) continue;
      if (opts.namespace !== undefined && kindInfo(kind)?.namespaced !== false && obj.metadata.namespace !== opts.namespace) continue;
      if (!matchesRequirements(reqs, obj.metadata.labels)) continue;
      items.push(structuredClone(obj) as T);
    }
    return { items, revision: this.rev };
  }

  async create<T extends KubeObject>(obj: T, opts: WriteOptions = {}): Promise<T> {
    const res = await this.txn([{ op: 'create', object: obj }], opts);
    return res.objects[0] as T;
  }

  async update<T extends KubeObject>(obj: T, opts: WriteOptions = {}): Promise<T> {
    const res = await this.txn([{ op: 'update', object: obj }], opts);
    return res.objects[0] as T;
  }

  async delete(ref: ObjectRef, opts: WriteOptions & { resourceVersion?: string } = {}): Promise<KubeObject | undefined> {
    if (!this.objects.has(refKey(normalizeRef(ref)))) return undefined;
    const res = await this.txn([{ op: 'delete', ref, resourceVersion: opts.resourceVersion }], opts);
    return res.objects[0];
  }

  async txn(ops: TxnOp[], opts: WriteOptions = {}): Promise<TxnResult> {
    this.assertOpen();
    // Work on a copy so that a failing op leaves nothing behind; each op that changes
    // something takes the next revision, as the SQLite backend does.
    const staged = new Map(this.objects);
    const events: WatchEvent[] = [];
    const results: KubeObject[] = [];
    let revision = this.rev;
    const timestamp = nowTimestamp();
    for (const op of ops) {
      if (op.op === 'create') {
        const prepared = prepareCreate(structuredClone(op.object), revision + 1, timestamp);
        if (staged.has(prepared.key)) throw alreadyExistsError(prepared.ref);
        revision++;
        staged.set(prepared.key, prepared.object);
        events.push({ type: 'ADDED', object: prepared.object, revision, origin: opts.origin });
        results.push(prepared.object);
      } else if (op.op === 'update') {
        const { ref, key } = refOf(op.object, 'update');
        const stored = staged.get(key);
        if (!stored) throw notFoundError('update', ref);
        checkUpdatePrecondition(ref, op.object, stored);
        const prepared = prepareUpdate(ref, structuredClone(op.object), stored, revision + 1);
        if (!prepared.changed) {
          results.push(stored);
          continue;
        }
        revision++;
        staged.set(key, prepared.object);
        events.push({ type: 'MODIFIED', object: prepared.object, prevObject: stored, revision, origin: opts.origin });
        results.push(prepared.object);
      } else {
        const ref = normalizeRef(op.ref);
        const key = refKey(ref);
        const stored = staged.get(key);
        if (!stored) throw notFoundError('delete', ref);
        if (op.resourceVersion !== undefined && op.resourceVersion !== stored.metadata.resourceVersion) {
          throw staleError('delete', ref, op.resourceVersion, stored.metadata.resourceVersion);
        }
        revision++;
        staged.delete(key);
        // As the real backends report it: the object at the revision of its deletion.
        const gone = { ...stored, metadata: { ...stored.metadata, resourceVersion: String(revision) } };
        events.push({ type: 'DELETED', object: gone, prevObject: stored, revision, origin: opts.origin });
        results.push(stored);
      }
    }
    this.objects = staged;
    this.rev = revision;
    this.history.push(...events);
    if (this.history.length > this.historyLimit) this.compact(this.history[this.history.length - this.historyLimit - 1]!.revision);
    this.wakeAll();
    return { revision, objects: results.map((o) => structuredClone(o)) };
  }

  watch(opts: WatchOptions = {}): AsyncIterable<WatchEvent> {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const store = this;
    const start = opts.fromRevision ?? this.rev;
    return {
      async *[Symbol.asyncIterator]() {
        let from = start;
        if (from < store.compactedRev) {
          throw new GantryError('Conflict', `cannot watch from revision ${from}: the store keeps history from revision ${store.compactedRev + 1} (too old), re-list`);
        }
        const kinds = opts.kinds ? new Set(opts.kinds) : undefined;
        const signal = opts.signal;
        while (!store.closed && !signal?.aborted) {
          if (from < store.compactedRev) {
            throw new GantryError('Conflict', `watch fell behind: revision ${from} was compacted (too old), re-list`);
          }
          const pending = store.history.filter((e) => e.revision > from);
          for (const e of pending) {
            from = e.revision;
            if (kinds && !kinds.has(e.object.kind)) continue;
            yield structuredClone(e);
            if (store.closed || signal?.aborted) return;
          }
          if (pending.length > 0) continue;
          await new Promise<void>((resolve) => {
            const w: Waiter = { wake: () => { store.waiters.delete(w); signal?.removeEventListener('abort', w.wake); resolve(); } };
            store.waiters.add(w);
            signal?.addEventListener('abort', w.wake, { once: true });
          });
        }
      },
    };
  }

  async revision(): Promise<number> {
    return this.rev;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.wakeAll();
  }

  /** Test hook: drops history up to `revision`, so watches resuming below it get `Conflict`. */
  compact(revision: number): void {
    this.compactedRev = Math.max(this.compactedRev, revision);
    this.history = this.history.filter((e) => e.revision > this.compactedRev);
    this.wakeAll();
  }

  /** Test hook: who wrote, in order, for assertions about origins. */
  origins(): (WriteOrigin | undefined)[] {
    return this.history.map((e) => e.origin);
  }

  private wakeAll(): void {
    for (const w of [...this.waiters]) w.wake();
  }

  private assertOpen(): void {
    if (this.closed) throw new GantryError('StoreUnavailable', 'the memory store is closed');
  }
}

