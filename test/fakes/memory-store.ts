/**
 * An in-memory {@link Store} for unit tests: the same contract as the SQLite and etcd backends
 * (one store revision, resourceVersion = revision of the last write, generation bumped on spec
 * changes, watch from a revision with `Conflict` when it is older than the kept history).
 */
import { randomUUID } from 'node:crypto';
import { GantryError } from '../../src/errors.js';
import { kindInfo } from '../../src/model/kinds.js';
import { objectRef, refKey, type ObjectRef } from '../../src/model/keys.js';
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
    const obj = this.objects.get(refKey(normRef(ref)));
    return obj ? (structuredClone(obj) as T) : undefined;
  }

  async list<T extends KubeObject = KubeObject>(kind: string, opts: ListOptions = {}): Promise<ListResult<T>> {
    const reqs = toRequirements(opts.labelSelector);
    const items: T[] = [];
    const keys = [...this.objects.keys()].sort();
    for (const key of keys) {
      const obj = this.objects.get(key)!;
      if (obj.kind !== kind) continue;
      if (opts.namespace !== undefined && obj.metadata.namespace !== opts.namespace) continue;
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
    if (!this.objects.has(refKey(normRef(ref)))) return undefined;
    const res = await this.txn([{ op: 'delete', ref, resourceVersion: opts.resourceVersion }], opts);
    return res.objects[0];
  }

  async txn(ops: TxnOp[], opts: WriteOptions = {}): Promise<TxnResult> {
    this.assertOpen();
    // Work on a copy so that a failing op leaves nothing behind.
    const staged = new Map(this.objects);
    const events: Omit<WatchEvent, 'revision'>[] = [];
    const results: KubeObject[] = [];
    const revision = this.rev + 1;
    const rv = String(revision);
    for (const op of ops) {
      if (op.op === 'create') {
        const obj = structuredClone(op.object);
        const ref = objectRef(obj);
        const key = refKey(ref);
        if (staged.has(key)) throw new GantryError('AlreadyExists', `cannot create ${key}: it already exists`, { object: key });
        obj.metadata.namespace = ref.namespace;
        if (obj.metadata.namespace === undefined) delete obj.metadata.namespace;
        obj.metadata.uid = randomUUID();
        obj.metadata.resourceVersion = rv;
        obj.metadata.generation = 1;
        obj.metadata.creationTimestamp = new Date().toISOString();
        staged.set(key, obj);
        events.push({ type: 'ADDED', object: obj, origin: opts.origin });
        results.push(obj);
      } else if (op.op === 'update') {
        const obj = structuredClone(op.object);
        const ref = objectRef(obj);
        const key = refKey(ref);
        const prev = staged.get(key);
        if (!prev) throw new GantryError('NotFound', `cannot update ${key}: it does not exist`, { object: key });
        if (obj.metadata.resourceVersion !== prev.metadata.resourceVersion) {
          throw new GantryError('Conflict', `cannot update ${key}: resourceVersion ${obj.metadata.resourceVersion} is stale (stored ${prev.metadata.resourceVersion})`, { object: key });
        }
        obj.metadata.namespace = ref.namespace;
        if (obj.metadata.namespace === undefined) delete obj.metadata.namespace;
        obj.metadata.uid = prev.metadata.uid;
        obj.metadata.creationTimestamp = prev.metadata.creationTimestamp;
        obj.metadata.resourceVersion = rv;
        obj.metadata.generation = (prev.metadata.generation ?? 1) + (specChanged(prev, obj) ? 1 : 0);
        staged.set(key, obj);
        events.push({ type: 'MODIFIED', object: obj, prevObject: prev, origin: opts.origin });
        results.push(obj);
      } else {
        const key = refKey(normRef(op.ref));
        const prev = staged.get(key);
        if (!prev) throw new GantryError('NotFound', `cannot delete ${key}: it does not exist`, { object: key });
        if (op.resourceVersion !== undefined && op.resourceVersion !== prev.metadata.resourceVersion) {
          throw new GantryError('Conflict', `cannot delete ${key}: resourceVersion ${op.resourceVersion} is stale (stored ${prev.metadata.resourceVersion})`, { object: key });
        }
        staged.delete(key);
        events.push({ type: 'DELETED', object: prev, prevObject: prev, origin: opts.origin });
        results.push(prev);
      }
    }
    this.objects = staged;
    this.rev = revision;
    for (const e of events) this.history.push({ ...e, revision });
    if (this.history.length > this.historyLimit) this.compact(this.history[this.history.length - this.historyLimit - 1]!.revision);
    this.wakeAll();
    return { revision, objects: results.map((o) => structuredClone(o)) };
  }

  watch(opts: WatchOptions = {}): AsyncIterable<WatchEvent> {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const store = this;
    return {
      async *[Symbol.asyncIterator]() {
        let from = opts.fromRevision ?? store.rev;
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

function normRef(ref: ObjectRef): ObjectRef {
  const info = kindInfo(ref.kind);
  if (info && !info.namespaced) return { kind: ref.kind, name: ref.name };
  if (info && info.namespaced) return { ...ref, namespace: ref.namespace || 'default' };
  return ref;
}

function specChanged(prev: KubeObject, next: KubeObject): boolean {
  const strip = (o: KubeObject): string => {
    const { metadata: _m, status: _s, ...rest } = o;
    return stableJson(rest);
  };
  return strip(prev) !== strip(next);
}

function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  if (v && typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${stableJson(x)}`).join(',')}}`;
  }
  return JSON.stringify(v);
}
