/**
 * The Store conformance suite: behaviour every backend (SQLite, etcd) must show. A backend's
 * test file calls {@link describeStoreConformance} with a factory that opens a fresh, empty store.
 */
import assert from 'node:assert/strict';
import { isGantryError, type ErrorCode } from '../../src/errors.js';
import type { KubeObject } from '../../src/model/types.js';
import type { Store, WatchEvent } from '../../src/store/types.js';

/**
 * A fresh, empty store and how to dispose of it (close it and remove its files). Some tests
 * close the store themselves, so `cleanup` must tolerate an already closed store.
 */
export interface StoreFixture {
  store: Store;
  cleanup(): Promise<void>;
}

function deployment(name: string, opts: { namespace?: string; replicas?: number; labels?: Record<string, string> } = {}): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, ...(opts.namespace ? { namespace: opts.namespace } : {}), ...(opts.labels ? { labels: opts.labels } : {}) },
    spec: { replicas: opts.replicas ?? 1, selector: { matchLabels: { app: name } } },
  };
}

function configMap(name: string, data: Record<string, string> = {}, namespace?: string): KubeObject {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, ...(namespace ? { namespace } : {}) }, data };
}

/** Rejects with a GantryError of `code` whose message matches `message` when given. */
async function rejectsWith(p: Promise<unknown>, code: ErrorCode, message?: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(isGantryError(err), `expected a GantryError, got ${String(err)}`);
    assert.equal(err.code, code, `expected ${code}, got ${err.code}: ${err.message}`);
    if (message) assert.match(err.message, message);
    return true;
  });
}

/** The first `n` events of a watch; ends the watch after. */
async function take(events: AsyncIterable<WatchEvent>, n: number): Promise<WatchEvent[]> {
  const out: WatchEvent[] = [];
  if (n === 0) return out;
  for await (const e of events) {
    out.push(e);
    if (out.length >= n) break;
  }
  return out;
}

const summary = (events: WatchEvent[]): string[] =>
  events.map((e) => `${e.revision} ${e.type} ${e.object.kind}/${e.object.metadata.name}`);

/** Registers the conformance tests for a Store backend under `describe(name)`. */
export function describeStoreConformance(name: string, factory: () => Promise<StoreFixture>): void {
  describe(`Store conformance: ${name}`, () => {
    let fx: StoreFixture;
    let store: Store;
    beforeEach(async () => {
      fx = await factory();
      store = fx.store;
    });
    afterEach(async () => {
      await fx.cleanup();
    });

    describe('create and get', () => {
      it('create() sets uid, creationTimestamp, generation 1 and resourceVersion to the new revision', async () => {
        const before = await store.revision();
        const created = await store.create(deployment('web'));
        assert.match(created.metadata.uid ?? '', /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
        assert.match(created.metadata.creationTimestamp ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
        assert.equal(created.metadata.generation, 1);
        assert.equal(created.metadata.resourceVersion, String(before + 1));
        assert.equal(await store.revision(), before + 1);
        assert.deepEqual(await store.get({ kind: 'Deployment', namespace: 'default', name: 'web' }), created);
      });

      it('create() puts a namespaced object without a namespace in "default"', async () => {
        const created = await store.create(configMap('settings'));
        assert.equal(created.metadata.namespace, 'default');
        assert.ok(await store.get({ kind: 'ConfigMap', namespace: 'default', name: 'settings' }));
        assert.ok(await store.get({ kind: 'ConfigMap', name: 'settings' }), 'a ref without namespace means default');
      });

      it('create() keeps cluster-scoped objects out of namespaces', async () => {
        const created = await store.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'prod', namespace: 'x' } });
        assert.equal(created.metadata.namespace, undefined);
        assert.ok(await store.get({ kind: 'Namespace', name: 'prod' }));
      });

      it('create() treats an unknown kind as namespaced only when a namespace is given', async () => {
        await store.create({ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'a', namespace: 'team' } });
        await store.create({ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'b' } });
        assert.ok(await store.get({ kind: 'Widget', namespace: 'team', name: 'a' }));
        const b = await store.get({ kind: 'Widget', name: 'b' });
        assert.ok(b);
        assert.equal(b.metadata.namespace, undefined);
      });

      it('create() names an object from generateName', async () => {
        const created = await store.create({ apiVersion: 'v1', kind: 'Pod', metadata: { name: '', generateName: 'web-' } });
        assert.match(created.metadata.name, /^web-[a-z0-9]{5}$/);
        assert.ok(await store.get({ kind: 'Pod', name: created.metadata.name }));
      });

      it('create() fails with AlreadyExists when the key is taken, and changes nothing', async () => {
        await store.create(deployment('web'));
        const rev = await store.revision();
        await rejectsWith(store.create(deployment('web', { replicas: 5 })), 'AlreadyExists', /Deployment default\/web/);
        assert.equal(await store.revision(), rev);
        const got = await store.get({ kind: 'Deployment', namespace: 'default', name: 'web' });
        assert.deepEqual((got?.spec as { replicas: number }).replicas, 1);
      });

      it('create() replaces server-owned fields the caller set', async () => {
        const obj = deployment('web');
        obj.metadata.uid = 'mine';
        obj.metadata.resourceVersion = '999';
        obj.metadata.generation = 7;
        const created = await store.create(obj);
        assert.notEqual(created.metadata.uid, 'mine');
        assert.equal(created.metadata.generation, 1);
        assert.equal(created.metadata.resourceVersion, String(await store.revision()));
      });

      it('get() returns undefined for an absent object', async () => {
        assert.equal(await store.get({ kind: 'Deployment', namespace: 'default', name: 'nope' }), undefined);
      });

      it('objects read back are copies: changing them, or the object passed in, does not change the store', async () => {
        const input = deployment('web');
        const created = await store.create(input);
        (input.spec as { replicas: number }).replicas = 50;
        (created.spec as { replicas: number }).replicas = 60;
        const got = await store.get({ kind: 'Deployment', name: 'web' });
        assert.ok(got);
        (got.spec as { replicas: number }).replicas = 70;
        const again = await store.get({ kind: 'Deployment', name: 'web' });
        assert.equal((again?.spec as { replicas: number }).replicas, 1);
        assert.equal(input.metadata.uid, undefined, 'the caller\'s object is not modified');
      });
    });

    describe('update', () => {
      it('update() with the current resourceVersion stores the object at a new revision', async () => {
        const created = await store.create(deployment('web'));
        const updated = await store.update({ ...created, spec: { replicas: 3 } });
        assert.equal(updated.metadata.resourceVersion, String(Number(created.metadata.resourceVersion) + 1));
        assert.deepEqual(await store.get({ kind: 'Deployment', name: 'web' }), updated);
      });

      it('update() with a stale resourceVersion fails with Conflict naming both versions', async () => {
        const created = await store.create(deployment('web'));
        const v2 = await store.update({ ...created, spec: { replicas: 2 } });
        await rejectsWith(
          store.update({ ...created, spec: { replicas: 9 } }),
          'Conflict',
          new RegExp(
            `cannot update Deployment default/web: the object has been modified \\(resourceVersion ${created.metadata.resourceVersion}, stored ${v2.metadata.resourceVersion}\\); re-read and try again`,
          ),
        );
        assert.deepEqual(await store.get({ kind: 'Deployment', name: 'web' }), v2);
      });

      it('update() of an absent object fails with NotFound', async () => {
        const obj = deployment('ghost');
        obj.metadata.resourceVersion = '1';
        await rejectsWith(store.update(obj), 'NotFound', /Deployment default\/ghost/);
      });

      it('update() without a resourceVersion is refused', async () => {
        await store.create(deployment('web'));
        await rejectsWith(store.update(deployment('web', { replicas: 4 })), 'InvalidArgument', /resourceVersion/);
      });

      it('update() keeps uid and creationTimestamp from the stored object', async () => {
        const created = await store.create(deployment('web'));
        const changed = structuredClone(created);
        changed.metadata.uid = 'forged';
        changed.metadata.creationTimestamp = '2000-01-01T00:00:00Z';
        (changed.spec as { replicas: number }).replicas = 2;
        const updated = await store.update(changed);
        assert.equal(updated.metadata.uid, created.metadata.uid);
        assert.equal(updated.metadata.creationTimestamp, created.metadata.creationTimestamp);
      });

      const generationCases: { change: string; edit: (o: KubeObject) => void; bumps: boolean }[] = [
        { change: 'a spec field', edit: (o) => ((o.spec as { replicas: number }).replicas = 2), bumps: true },
        { change: 'a nested spec field', edit: (o) => ((o.spec as { selector: { matchLabels: Record<string, string> } }).selector.matchLabels.tier = 'x'), bumps: true },
        { change: 'a top-level field besides spec', edit: (o) => (o.data = { a: 'b' }), bumps: true },
        { change: 'a label', edit: (o) => (o.metadata.labels = { team: 'a' }), bumps: false },
        { change: 'an annotation', edit: (o) => (o.metadata.annotations = { note: 'x' }), bumps: false },
        { change: 'status', edit: (o) => (o.status = { replicas: 1 }), bumps: false },
      ];
      for (const c of generationCases) {
        it(`update() ${c.bumps ? 'bumps' : 'keeps'} generation when ${c.change} changes`, async () => {
          const created = await store.create(deployment('web'));
          const changed = structuredClone(created);
          c.edit(changed);
          const updated = await store.update(changed);
          assert.equal(updated.metadata.generation, c.bumps ? 2 : 1);
          assert.notEqual(updated.metadata.resourceVersion, created.metadata.resourceVersion, 'it is still a write');
        });
      }

      it('update() that changes nothing is free: same resourceVersion, no new revision, no event', async () => {
        const created = await store.create(deployment('web', { labels: { app: 'web', tier: 'fe' } }));
        const rev = await store.revision();
        const events = store.watch({ fromRevision: rev });
        // Same content in a different key order, with an explicit undefined: still nothing changed.
        const same: KubeObject = {
          spec: { selector: { matchLabels: { app: 'web' } }, replicas: 1 },
          metadata: { ...created.metadata, labels: { tier: 'fe', app: 'web' }, annotations: undefined },
          kind: 'Deployment',
          apiVersion: 'apps/v1',
        };
        const result = await store.update(same);
        assert.equal(result.metadata.resourceVersion, created.metadata.resourceVersion);
        assert.deepEqual(result, created);
        assert.equal(await store.revision(), rev);
        await store.create(configMap('marker'));
        const [first] = await take(events, 1);
        assert.equal(first?.object.metadata.name, 'marker', 'the first event is the next real write');
      });
    });

    describe('delete', () => {
      it('delete() returns the object as it was and removes it', async () => {
        const created = await store.create(deployment('web'));
        const gone = await store.delete({ kind: 'Deployment', namespace: 'default', name: 'web' });
        assert.deepEqual(gone, created);
        assert.equal(await store.get({ kind: 'Deployment', name: 'web' }), undefined);
        assert.equal(await store.revision(), Number(created.metadata.resourceVersion) + 1);
      });

      it('delete() of an absent object returns undefined and writes nothing', async () => {
        const rev = await store.revision();
        assert.equal(await store.delete({ kind: 'Deployment', name: 'ghost' }), undefined);
        assert.equal(await store.revision(), rev);
      });

      it('delete() with a stale resourceVersion fails with Conflict and keeps the object', async () => {
        const created = await store.create(deployment('web'));
        await store.update({ ...created, spec: { replicas: 2 } });
        await rejectsWith(
          store.delete({ kind: 'Deployment', name: 'web' }, { resourceVersion: created.metadata.resourceVersion }),
          'Conflict',
          /cannot delete Deployment default\/web/,
        );
        assert.ok(await store.get({ kind: 'Deployment', name: 'web' }));
      });

      it('delete() with the current resourceVersion deletes', async () => {
        const created = await store.create(deployment('web'));
        await store.delete({ kind: 'Deployment', name: 'web' }, { resourceVersion: created.metadata.resourceVersion });
        assert.equal(await store.get({ kind: 'Deployment', name: 'web' }), undefined);
      });

      it('a deleted key can be created again, with a new uid', async () => {
        const first = await store.create(deployment('web'));
        await store.delete({ kind: 'Deployment', name: 'web' });
        const second = await store.create(deployment('web'));
        assert.notEqual(second.metadata.uid, first.metadata.uid);
      });
    });

    describe('list', () => {
      it('list() returns one kind sorted by key, with the revision it is consistent at', async () => {
        await store.create(deployment('b'));
        await store.create(deployment('a', { namespace: 'zeta' }));
        await store.create(deployment('c', { namespace: 'alpha' }));
        await store.create(configMap('a'));
        await store.create({ apiVersion: 'example.com/v1', kind: 'DeploymentX', metadata: { name: 'z', namespace: 'default' } });
        const { items, revision } = await store.list('Deployment');
        assert.deepEqual(
          items.map((o) => `${o.metadata.namespace}/${o.metadata.name}`),
          ['alpha/c', 'default/b', 'zeta/a'],
        );
        assert.equal(revision, await store.revision());
      });

      it('list() of a kind with no objects is empty', async () => {
        await store.create(deployment('web'));
        assert.deepEqual((await store.list('Service')).items, []);
      });

      it('list() in a namespace returns only that namespace', async () => {
        await store.create(configMap('one', {}, 'a'));
        await store.create(configMap('two', {}, 'a'));
        await store.create(configMap('three', {}, 'ab'));
        await store.create(configMap('four', {}, 'b'));
        const { items } = await store.list('ConfigMap', { namespace: 'a' });
        assert.deepEqual(items.map((o) => o.metadata.name), ['one', 'two']);
      });

      const selectorCases: { selector: string | { matchLabels?: Record<string, string>; matchExpressions?: { key: string; operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'; values?: string[] }[] }; expect: string[] }[] = [
        { selector: 'app=web', expect: ['web-1', 'web-2'] },
        { selector: 'app=web,tier!=canary', expect: ['web-1'] },
        { selector: 'app in (web,db)', expect: ['db', 'web-1', 'web-2'] },
        { selector: '!app', expect: ['plain'] },
        { selector: { matchLabels: { app: 'db' } }, expect: ['db'] },
        { selector: { matchExpressions: [{ key: 'tier', operator: 'Exists' }] }, expect: ['web-2'] },
        { selector: '', expect: ['db', 'plain', 'web-1', 'web-2'] },
      ];
      for (const c of selectorCases) {
        it(`list() with label selector ${JSON.stringify(c.selector)} returns ${c.expect.join(', ')}`, async () => {
          await store.create(deployment('web-1', { labels: { app: 'web' } }));
          await store.create(deployment('web-2', { labels: { app: 'web', tier: 'canary' } }));
          await store.create(deployment('db', { labels: { app: 'db' } }));
          await store.create(deployment('plain'));
          const { items } = await store.list('Deployment', { labelSelector: c.selector });
          assert.deepEqual(items.map((o) => o.metadata.name), c.expect);
        });
      }

      it('list() ignores a namespace for cluster-scoped kinds', async () => {
        await store.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'prod' } });
        assert.equal((await store.list('Namespace', { namespace: 'default' })).items.length, 1);
      });
    });

    describe('txn', () => {
      it('txn() applies all ops with consecutive revisions and returns each stored object', async () => {
        const before = await store.revision();
        const created = await store.create(configMap('old'));
        const result = await store.txn([
          { op: 'create', object: deployment('web') },
          { op: 'update', object: { ...created, data: { k: 'v' } } },
          { op: 'delete', ref: { kind: 'ConfigMap', name: 'old' } },
          { op: 'create', object: configMap('new') },
        ]);
        assert.equal(result.revision, before + 5);
        assert.deepEqual(
          result.objects.map((o) => [o.kind, o.metadata.name]),
          [['Deployment', 'web'], ['ConfigMap', 'old'], ['ConfigMap', 'old'], ['ConfigMap', 'new']],
        );
        assert.deepEqual(result.objects.map((o) => o.metadata.resourceVersion), [
          String(before + 2),
          String(before + 3),
          String(before + 3),
          String(before + 5),
        ]);
        assert.equal(await store.get({ kind: 'ConfigMap', name: 'old' }), undefined);
      });

      it('txn() ops see the ops before them (create then update the same object)', async () => {
        const rev = await store.revision();
        const result = await store.txn([
          { op: 'create', object: deployment('web') },
          { op: 'update', object: { ...deployment('web', { replicas: 4 }), metadata: { name: 'web', resourceVersion: String(rev + 1) } } },
        ]);
        const got = await store.get({ kind: 'Deployment', name: 'web' });
        assert.equal((got?.spec as { replicas: number }).replicas, 4);
        assert.equal(got?.metadata.generation, 2);
        assert.equal(result.revision, rev + 2);
      });

      it('txn() that fails mid-way applies nothing and emits no events', async () => {
        const existing = await store.create(configMap('cfg'));
        await store.update({ ...existing, data: { v: '2' } });
        const rev = await store.revision();
        const events = store.watch({ fromRevision: rev });
        await rejectsWith(
          store.txn([
            { op: 'create', object: deployment('web') },
            { op: 'create', object: configMap('other') },
            { op: 'update', object: { ...existing, data: { v: 'stale' } } },
            { op: 'create', object: configMap('never') },
          ]),
          'Conflict',
        );
        assert.equal(await store.revision(), rev);
        assert.equal(await store.get({ kind: 'Deployment', name: 'web' }), undefined);
        assert.equal(await store.get({ kind: 'ConfigMap', name: 'other' }), undefined);
        assert.deepEqual((await store.get({ kind: 'ConfigMap', name: 'cfg' }))?.data, { v: '2' });
        await store.create(configMap('marker'));
        const [first] = await take(events, 1);
        assert.equal(first?.object.metadata.name, 'marker');
        assert.equal(first?.revision, rev + 1, 'the failed txn used no revisions');
      });

      it('txn() deleting an absent object fails with NotFound and applies nothing', async () => {
        await rejectsWith(
          store.txn([
            { op: 'create', object: configMap('a') },
            { op: 'delete', ref: { kind: 'ConfigMap', name: 'ghost' } },
          ]),
          'NotFound',
          /ConfigMap default\/ghost/,
        );
        assert.equal(await store.get({ kind: 'ConfigMap', name: 'a' }), undefined);
      });

      it('txn() records the origin with every change', async () => {
        const rev = await store.revision();
        const origin = { actor: 'sync', desiredRevision: 'abc123', reason: 'apply' };
        await store.txn([{ op: 'create', object: configMap('a') }, { op: 'create', object: configMap('b') }], { origin });
        await store.create(configMap('c'), { origin: { actor: 'cli' } });
        const events = await take(store.watch({ fromRevision: rev }), 3);
        assert.deepEqual(events.map((e) => e.origin), [origin, origin, { actor: 'cli' }]);
      });
    });

    describe('watch', () => {
      it('watch() replays changes after a revision, then delivers live ones, in order', async () => {
        const base = await store.revision();
        const web = await store.create(deployment('web'));
        await store.update({ ...web, spec: { replicas: 2 } });
        await store.create(configMap('cfg'));
        const events = store.watch({ fromRevision: base + 1 });
        const got = take(events, 4);
        await store.delete({ kind: 'ConfigMap', name: 'cfg' });
        await store.create(configMap('late'));
        assert.deepEqual(summary(await got), [
          `${base + 2} MODIFIED Deployment/web`,
          `${base + 3} ADDED ConfigMap/cfg`,
          `${base + 4} DELETED ConfigMap/cfg`,
          `${base + 5} ADDED ConfigMap/late`,
        ]);
      });

      it('watch() without fromRevision delivers only changes made after it was called', async () => {
        await store.create(configMap('before'));
        const events = store.watch();
        await store.create(configMap('after'));
        assert.deepEqual((await take(events, 1)).map((e) => e.object.metadata.name), ['after']);
      });

      it('watch() events carry the object and, for MODIFIED and DELETED, the previous object', async () => {
        const base = await store.revision();
        const created = await store.create(configMap('cfg', { a: '1' }));
        const updated = await store.update({ ...created, data: { a: '2' } });
        await store.delete({ kind: 'ConfigMap', name: 'cfg' });
        const [added, modified, deleted] = await take(store.watch({ fromRevision: base }), 3);
        assert.deepEqual(added?.object, created);
        assert.equal(added?.prevObject, undefined);
        assert.deepEqual(modified?.object, updated);
        assert.deepEqual(modified?.prevObject, created);
        assert.equal(deleted?.type, 'DELETED');
        assert.deepEqual(deleted?.prevObject, updated);
        assert.deepEqual(deleted?.object.data, { a: '2' });
        assert.equal(deleted?.object.metadata.resourceVersion, String(deleted?.revision));
      });

      it('watch() with kinds delivers only those kinds', async () => {
        const base = await store.revision();
        await store.create(configMap('a'));
        await store.create(deployment('web'));
        await store.create(configMap('b'));
        const events = store.watch({ fromRevision: base, kinds: ['Deployment', 'Service'] });
        const got = take(events, 2);
        await store.create(configMap('c'));
        await store.create({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web' } });
        assert.deepEqual(
          (await got).map((e) => `${e.object.kind}/${e.object.metadata.name}`),
          ['Deployment/web', 'Service/web'],
        );
      });

      it('watch() ends when its signal aborts, also while waiting for a change', async () => {
        const ac = new AbortController();
        const iter = store.watch({ signal: ac.signal })[Symbol.asyncIterator]();
        const pending = iter.next();
        ac.abort();
        assert.deepEqual(await pending, { value: undefined, done: true });
        await store.create(configMap('after-abort'));
        assert.equal((await iter.next()).done, true);
      });

      it('watch() with an already aborted signal yields nothing', async () => {
        await store.create(configMap('a'));
        const ac = new AbortController();
        ac.abort();
        assert.deepEqual(await take(store.watch({ fromRevision: 0, signal: ac.signal }), 10), []);
      });

      it('watch() delivers every change exactly once while writes race with the replay', async () => {
        const base = await store.revision();
        for (let i = 0; i < 20; i++) await store.create(configMap(`pre-${i}`));
        const events = store.watch({ fromRevision: base });
        const got = take(events, 60);
        const writes: Promise<unknown>[] = [];
        for (let i = 0; i < 40; i++) writes.push(store.create(configMap(`live-${i}`)));
        await Promise.all(writes);
        const revisions = (await got).map((e) => e.revision);
        assert.deepEqual(revisions, Array.from({ length: 60 }, (_, i) => base + 1 + i));
      });

      it('watch() lets a consumer that reads nothing for a while catch up on a burst without gaps', async () => {
        const base = await store.revision();
        const iter = store.watch({ fromRevision: base })[Symbol.asyncIterator]();
        const first = iter.next();
        await store.create(configMap('first'));
        assert.equal((await first).value?.object.metadata.name, 'first');
        const burst = 3000;
        const ops = Array.from({ length: burst }, (_, i) => ({ op: 'create' as const, object: configMap(`burst-${i}`) }));
        await store.txn(ops.slice(0, 1000));
        await store.txn(ops.slice(1000));
        const revisions: number[] = [];
        for (let i = 0; i < burst; i++) {
          const r = await iter.next();
          assert.equal(r.done, false);
          revisions.push(r.value!.revision);
        }
        await iter.return?.();
        assert.deepEqual(revisions, Array.from({ length: burst }, (_, i) => base + 2 + i));
      });

      it('watch() serves several watchers independently', async () => {
        const base = await store.revision();
        const a = take(store.watch({ fromRevision: base, kinds: ['ConfigMap'] }), 2);
        const b = take(store.watch({ fromRevision: base }), 3);
        await store.create(configMap('one'));
        await store.create(deployment('web'));
        await store.create(configMap('two'));
        assert.deepEqual((await a).map((e) => e.object.metadata.name), ['one', 'two']);
        assert.deepEqual((await b).map((e) => e.object.metadata.name), ['one', 'web', 'two']);
      });

      it('watch() events are copies each watcher may change', async () => {
        const base = await store.revision();
        await store.create(configMap('cfg', { a: '1' }));
        const [e1] = await take(store.watch({ fromRevision: base }), 1);
        (e1!.object.data as Record<string, string>).a = 'changed';
        const [e2] = await take(store.watch({ fromRevision: base }), 1);
        assert.deepEqual(e2!.object.data, { a: '1' });
        assert.deepEqual((await store.get({ kind: 'ConfigMap', name: 'cfg' }))?.data, { a: '1' });
      });

      it('close() ends pending watches', async () => {
        const iter = store.watch()[Symbol.asyncIterator]();
        const pending = iter.next();
        await store.close();
        assert.equal((await pending).done, true);
      });
    });
  });
}
