import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { Cache, type CacheEvent } from '../../src/controllers/cache.js';
import { deletePod } from '../../src/controllers/pods.js';
import { ControllerManager, type Controller, type ReconcileContext } from '../../src/controllers/runtime.js';
import { GantryError, isGantryError } from '../../src/errors.js';
import type { ConfigMap, KubeObject, Pod } from '../../src/model/types.js';
import type { Store, WatchEvent, WatchOptions } from '../../src/store/types.js';
import { MemoryStore } from '../fakes/memory-store.js';
import { eventually } from '../helpers/controllers.js';

const cm = (name: string, data: Record<string, string> = {}): ConfigMap => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'default' }, data });

/** A controller whose reconcile outcome the test scripts. */
class Scripted implements Controller {
  readonly name = 'scripted';
  readonly kinds = ['ConfigMap'];
  calls: string[] = [];
  active = 0;
  maxActive = 0;
  constructor(private readonly behave: (key: string, call: number, ctx: ReconcileContext) => Promise<void>) {}
  async reconcile(key: string, ctx: ReconcileContext): Promise<void> {
    this.active++;
    this.maxActive = Math.max(this.maxActive, this.active);
    try {
      this.calls.push(key);
      await this.behave(key, this.calls.length, ctx);
    } finally {
      this.active--;
    }
  }
}

describe('controllers/runtime', () => {
  let store: MemoryStore;
  let manager: ControllerManager | undefined;
  beforeEach(() => {
    store = new MemoryStore();
  });
  afterEach(async () => {
    await manager?.stop();
    manager = undefined;
    await store.close();
  });

  async function run(c: Controller, opts: ConstructorParameters<typeof ControllerManager>[1] = {}): Promise<void> {
    manager = new ControllerManager(store, { workers: 2, ...opts });
    manager.add(c);
    await manager.start();
  }

  it('reconciles every existing object once the cache has synced, and each later change', async () => {
    await store.create(cm('a'));
    const c = new Scripted(async () => {});
    await run(c);
    await eventually(() => c.calls.includes('ConfigMap/default/a'), 'a is reconciled');
    await store.create(cm('b'));
    await eventually(() => c.calls.includes('ConfigMap/default/b'), 'b is reconciled');
  });

  it('a stalled error is not retried until the object changes', async () => {
    await store.create(cm('bad'));
    const c = new Scripted(async (_k, call) => {
      if (call === 1) throw new GantryError('InvalidManifest', 'broken on purpose');
    });
    await run(c);
    await eventually(() => c.calls.length === 1 && manager!.isIdle(), 'the first reconcile failed');
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(c.calls.length, 1, 'no retry of a stalled key');
    const cur = (await store.get<ConfigMap>({ kind: 'ConfigMap', namespace: 'default', name: 'bad' }))!;
    await store.update({ ...cur, data: { fixed: 'yes' } });
    await eventually(() => c.calls.length === 2, 'a change brings the key back');
  });

  it('a transient error is retried with backoff until it succeeds', async () => {
    await store.create(cm('flaky'));
    const c = new Scripted(async (_k, call) => {
      if (call < 4) throw new Error('store hiccup');
    });
    await run(c);
    await eventually(() => c.calls.length === 4, 'three failures then a success');
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(c.calls.length, 4, 'no retry after the success');
  });

  it('a waiting error is retried after its retryAfterMs', async () => {
    await store.create(cm('later'));
    const c = new Scripted(async (_k, call) => {
      if (call === 1) throw new GantryError('Unschedulable', 'no node yet', { retryAfterMs: 20 });
    });
    await run(c);
    await eventually(() => c.calls.length === 2, 'the key came back after the wait');
  });

  it('never runs one key on two workers at once, even when it changes while being reconciled', async () => {
    const created = await store.create(cm('hot'));
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const c = new Scripted(async (_k, call) => {
      if (call === 1) await gate;
    });
    await run(c, { workers: 4 });
    await eventually(() => c.calls.length === 1, 'the first reconcile started');
    let cur = created;
    for (let i = 0; i < 5; i++) cur = await store.update({ ...cur, data: { n: String(i) } });
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(c.calls.length, 1, 'changes during a reconcile wait for it');
    release();
    await eventually(() => c.calls.length === 2 && manager!.isIdle(), 'one more reconcile for all the changes');
    assert.equal(c.maxActive, 1);
  });

  it('writes through ctx carry the origin actor controller/<name>', async () => {
    await store.create(cm('stamp'));
    const c = new Scripted(async (key, _call, ctx) => {
      const obj = ctx.cache.get<ConfigMap>({ kind: 'ConfigMap', namespace: 'default', name: key.split('/')[2]! })!;
      if (obj.data?.stamped) return;
      await ctx.store.update({ ...structuredClone(obj), data: { stamped: 'yes' } }, { origin: ctx.origin });
    });
    await run(c);
    await eventually(async () => (await store.get<ConfigMap>({ kind: 'ConfigMap', namespace: 'default', name: 'stamp' }))?.data?.stamped === 'yes', 'stamped');
    assert.deepEqual(store.origins().at(-1), { actor: 'controller/scripted' });
  });

  it('hands reconcilers frozen cache objects, so a change without a copy fails loudly', async () => {
    await store.create(cm('frozen', { a: '1' }));
    let error: unknown;
    const c = new Scripted(async (_k, _call, ctx) => {
      const obj = ctx.cache.get<ConfigMap>({ kind: 'ConfigMap', namespace: 'default', name: 'frozen' })!;
      try {
        obj.data!.a = '2';
      } catch (err) {
        error = err;
      }
    });
    await run(c);
    await eventually(() => c.calls.length >= 1, 'reconciled');
    assert.ok(error instanceof TypeError);
  });

  it('resyncs every key periodically even without changes', async () => {
    await store.create(cm('quiet'));
    const c = new Scripted(async () => {});
    await run(c, { resyncMs: 20, resyncJitter: 0 });
    await eventually(() => c.calls.length >= 3, 'resync re-added the key');
  });
});

/** A store whose first watch fails with Conflict ("too old") once the test lets it. */
class TooOldOnce implements Store {
  gate: Promise<void>;
  open!: () => void;
  private failed = false;
  constructor(readonly inner: MemoryStore) {
    this.gate = new Promise((r) => (this.open = r));
  }
  get: Store['get'] = (r) => this.inner.get(r);
  list: Store['list'] = (k, o) => this.inner.list(k, o);
  create: Store['create'] = (o, w) => this.inner.create(o, w);
  update: Store['update'] = (o, w) => this.inner.update(o, w);
  delete: Store['delete'] = (r, o) => this.inner.delete(r, o);
  txn: Store['txn'] = (ops, o) => this.inner.txn(ops, o);
  revision: Store['revision'] = () => this.inner.revision();
  close: Store['close'] = () => this.inner.close();
  watch(opts?: WatchOptions): AsyncIterable<WatchEvent> {
    if (this.failed) return this.inner.watch(opts);
    this.failed = true;
    const gate = this.gate;
    return {
      async *[Symbol.asyncIterator]() {
        await gate;
        throw new GantryError('Conflict', 'revision too old');
      },
    };
  }
}

describe('controllers/cache', () => {
  it('re-lists when its watch is too old, reporting what changed meanwhile as events', async () => {
    const inner = new MemoryStore();
    const store = new TooOldOnce(inner);
    await inner.create(cm('a'));
    await inner.create(cm('kept', { v: '1' }));
    const cache = new Cache(store, ['ConfigMap'], { relistDelayMs: 1 });
    const seen: string[] = [];
    cache.subscribe((e: CacheEvent) => seen.push(`${e.type} ${e.object.metadata.name}`));
    const ac = new AbortController();
    await cache.start(ac.signal);
    assert.deepEqual(seen.sort(), ['ADDED a', 'ADDED kept']);
    seen.length = 0;
    await inner.delete({ kind: 'ConfigMap', namespace: 'default', name: 'a' });
    await inner.create(cm('b'));
    const kept = (await inner.get<ConfigMap>({ kind: 'ConfigMap', namespace: 'default', name: 'kept' }))!;
    await inner.update({ ...kept, data: { v: '2' } });
    store.open();
    await eventually(() => cache.get({ kind: 'ConfigMap', namespace: 'default', name: 'b' }) !== undefined, 'the re-list shows b');
    assert.equal(cache.get({ kind: 'ConfigMap', namespace: 'default', name: 'a' }), undefined);
    assert.deepEqual(cache.get<ConfigMap>({ kind: 'ConfigMap', namespace: 'default', name: 'kept' })?.data, { v: '2' });
    assert.deepEqual(seen.sort(), ['ADDED b', 'DELETED a', 'MODIFIED kept']);
    // And the watch resumes after the re-list.
    await inner.create(cm('c'));
    await eventually(() => cache.get({ kind: 'ConfigMap', namespace: 'default', name: 'c' }) !== undefined, 'the new watch delivers c');
    ac.abort();
    await inner.close();
  });

  it('indexes objects by owner uid and forgets them when the reference goes', async () => {
    const store = new MemoryStore();
    const owner = await store.create(cm('owner'));
    const ref = { apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid: owner.metadata.uid! };
    const dep = await store.create<KubeObject>({ ...cm('dep'), metadata: { name: 'dep', namespace: 'default', ownerReferences: [ref] } });
    const cache = new Cache(store, ['ConfigMap']);
    const ac = new AbortController();
    await cache.start(ac.signal);
    assert.deepEqual(cache.dependents(owner.metadata.uid!).map((o) => o.metadata.name), ['dep']);
    const updated = await store.update({ ...dep, metadata: { ...dep.metadata, ownerReferences: [] } });
    await cache.waitForRevision(Number(updated.metadata.resourceVersion));
    assert.deepEqual(cache.dependents(owner.metadata.uid!), []);
    ac.abort();
    await store.close();
  });

  it('waitForRevision() leaves nothing hooked on a long-lived signal once the revision arrives', async () => {
    // The caller's signal may outlive thousands of waits (a server's lifetime): each must unhook.
    const store = new MemoryStore();
    const cache = new Cache(store, ['ConfigMap']);
    const ac = new AbortController();
    await cache.start(ac.signal);
    const life = new AbortController();
    for (const name of ['a', 'b', 'c']) {
      const created = await store.create(cm(name));
      await cache.waitForRevision(Number(created.metadata.resourceVersion), life.signal);
    }
    assert.equal(getEventListeners(life.signal, 'abort').length, 0);
    ac.abort();
    await store.close();
  });

  it('waitForRevision() fails, instead of hanging, once the cache has stopped (gantry stopping mid-pass)', async () => {
    const store = new MemoryStore();
    const cache = new Cache(store, ['ConfigMap']);
    const ac = new AbortController();
    await cache.start(ac.signal);
    // A revision the cache will never see: the sync loop waits like this at the start of a pass.
    const pending = cache.waitForRevision(cache.currentRevision() + 10);
    ac.abort();
    await assert.rejects(pending, (err: unknown) => isGantryError(err, 'StoreUnavailable') && /live cache stopped/.test((err as Error).message));
    await assert.rejects(cache.waitForRevision(cache.currentRevision() + 1), /live cache stopped/);
    await store.close();
  });
});

describe('controllers/pods deletePod()', () => {
  const pod = (name: string, nodeName?: string): Pod => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default' },
    spec: { containers: [{ name: 'c', image: 'busybox' }], ...(nodeName ? { nodeName } : {}) },
  });
  const origin = { actor: 'controller/test' };

  it('deletes a pod that is bound to no node at once', async () => {
    const store = new MemoryStore();
    const p = await store.create(pod('unbound'));
    assert.equal(await deletePod(store, p, { origin }), 'deleted');
    assert.equal(await store.get({ kind: 'Pod', namespace: 'default', name: 'unbound' }), undefined);
  });

  it('marks a bound pod with a deletionTimestamp and leaves its removal to the node agent', async () => {
    const store = new MemoryStore();
    const p = await store.create(pod('bound', 'node-1'));
    assert.equal(await deletePod(store, p, { origin, now: () => Date.parse('2030-01-01T00:00:00Z') }), 'terminating');
    const got = await store.get<Pod>({ kind: 'Pod', namespace: 'default', name: 'bound' });
    assert.equal(got?.metadata.deletionTimestamp, '2030-01-01T00:00:00.000Z');
    assert.equal(got?.spec.nodeName, 'node-1');
    // A second deletion changes nothing.
    const rev = await store.revision();
    assert.equal(await deletePod(store, got!, { origin }), 'terminating');
    assert.equal(await store.revision(), rev);
  });

  it('does not remove a pod that was bound after the caller read it', async () => {
    const store = new MemoryStore();
    const stale = await store.create(pod('racing'));
    await store.update({ ...stale, spec: { ...stale.spec, nodeName: 'node-2' } });
    assert.equal(await deletePod(store, stale, { origin }), 'terminating');
    const got = await store.get<Pod>({ kind: 'Pod', namespace: 'default', name: 'racing' });
    assert.ok(got?.metadata.deletionTimestamp, 'the node agent gets to stop its containers');
  });

  it('reports a pod that is already gone, or replaced by a namesake, as gone', async () => {
    const store = new MemoryStore();
    const p = await store.create(pod('ghost'));
    await store.delete({ kind: 'Pod', namespace: 'default', name: 'ghost' });
    assert.equal(await deletePod(store, p, { origin }), 'gone');
    await store.create(pod('ghost'));
    assert.equal(await deletePod(store, p, { origin }), 'gone');
    assert.ok(await store.get({ kind: 'Pod', namespace: 'default', name: 'ghost' }), 'the namesake is untouched');
  });
});
