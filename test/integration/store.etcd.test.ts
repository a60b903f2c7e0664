import assert from 'node:assert/strict';
import { isGantryError, type ErrorCode } from '../../src/errors.js';
import type { KubeObject } from '../../src/model/types.js';
import { openEtcdStore, type EtcdStore, type EtcdStoreOptions } from '../../src/store/etcd.js';
import { etcdClientOf, openStore, parseStoreSpec } from '../../src/store/open.js';
import type { WatchEvent } from '../../src/store/types.js';
import { etcdBinary, startTestEtcd, type TestEtcd } from '../helpers/etcd.js';
import { describeStoreConformance } from '../store/conformance.js';

const haveEtcd = etcdBinary() !== undefined;
let etcd: TestEtcd | undefined;
let prefixes = 0;
const nextPrefix = (): string => `/gantry-test-${process.pid}-${++prefixes}/`;

async function sharedEtcd(): Promise<TestEtcd> {
  etcd ??= await startTestEtcd();
  return etcd;
}

after(async () => {
  await etcd?.destroy();
});

if (!haveEtcd) {
  describe('store/etcd', () => {
    it('is skipped: etcd is not installed (Debian package etcd-server; scripts/setup.sh installs it)', function () {
      this.skip();
    });
  });
} else {
  describeStoreConformance('etcd', async () => {
    const e = await sharedEtcd();
    const prefix = nextPrefix();
    const store = await openEtcdStore({ endpoints: [e.endpoint], prefix });
    return {
      store,
      cleanup: async () => {
        await store.close();
        await e.deletePrefix(prefix);
      },
    };
  });
}

function configMap(name: string, data: Record<string, string> = {}): KubeObject {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data };
}

async function take(events: AsyncIterable<WatchEvent>, n: number): Promise<WatchEvent[]> {
  const out: WatchEvent[] = [];
  for await (const e of events) {
    out.push(e);
    if (out.length >= n) break;
  }
  return out;
}

async function rejectsWith(p: Promise<unknown>, code: ErrorCode, message?: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(isGantryError(err), `expected a GantryError, got ${String(err)}`);
    assert.equal(err.code, code, `expected ${code}, got ${err.code}: ${err.message}`);
    if (message) assert.match(err.message, message);
    return true;
  });
}

describe('store/open', () => {
  const bad: [string, RegExp][] = [
    ['mysql://db:3306', /--store: "mysql:\/\/db:3306" is not a store/],
    ['etcd://', /--store: "\(empty\)" in "etcd:\/\/" is not host:port/],
    ['etcd://host', /--store: "host" in "etcd:\/\/host" is not host:port/],
    ['etcd://a:2379,b:99999', /--store: "b:99999"/],
  ];
  for (const [spec, message] of bad) {
    it(`openStore() refuses ${JSON.stringify(spec)} naming --store`, async () => {
      await rejectsWith(openStore(spec, { sqlitePath: 'unused' }), 'InvalidArgument', message);
    });
  }

  it('parseStoreSpec() reads endpoints, TLS and a key prefix', () => {
    assert.deepEqual(parseStoreSpec(undefined), { backend: 'sqlite' });
    assert.deepEqual(parseStoreSpec('sqlite'), { backend: 'sqlite' });
    assert.deepEqual(parseStoreSpec('etcd://10.0.0.1:2379,10.0.0.2:2379'), { backend: 'etcd', endpoints: ['10.0.0.1:2379', '10.0.0.2:2379'], tls: false });
    assert.deepEqual(parseStoreSpec('etcds://etcd.example:2379/team-a'), { backend: 'etcd', endpoints: ['etcd.example:2379'], tls: true, prefix: '/team-a/' });
  });

  it('openStore() refuses etcd TLS files without etcds://', async () => {
    await rejectsWith(openStore('etcd://127.0.0.1:2379', { sqlitePath: 'unused', etcdTls: { ca: 'ca.pem' } }), 'InvalidArgument', /etcds:\/\//);
    await rejectsWith(openStore(undefined, { sqlitePath: 'unused', etcdTls: { ca: 'ca.pem' } }), 'InvalidArgument', /need an etcd --store/);
  });

  it('openStore() of an etcd that does not answer fails with StoreUnavailable naming the endpoint', async function () {
    this.timeout(20_000);
    await rejectsWith(openStore('etcd://127.0.0.1:1', { sqlitePath: 'unused' }), 'StoreUnavailable', /127\.0\.0\.1:1.*unreachable/);
  });
});

if (haveEtcd) {
  describe('store/etcd', function () {
    this.timeout(60_000);
    const open: EtcdStore[] = [];
    const openOn = async (e: TestEtcd, opts: EtcdStoreOptions = {}): Promise<EtcdStore> => {
      const s = await openEtcdStore({ endpoints: [e.endpoint], ...opts });
      open.push(s);
      return s;
    };
    afterEach(async () => {
      for (const s of open.splice(0)) await s.close();
    });

    it('openStore("etcd://…") opens the etcd store', async () => {
      const e = await sharedEtcd();
      const prefix = nextPrefix();
      const store = await openStore(`etcd://${e.endpoint}${prefix.replace(/\/$/, '')}`, { sqlitePath: 'unused' });
      try {
        await store.create(configMap('via-open'));
        const check = await openOn(e, { prefix });
        assert.ok(await check.get({ kind: 'ConfigMap', name: 'via-open' }));
        // The client a leader elector would share: it talks to the same etcd.
        const client = etcdClientOf(store);
        assert.ok(client);
        assert.equal((await client.range({ key: `${prefix}objects/ConfigMap/default/via-open` })).kvs.length, 1);
      } finally {
        await store.close();
      }
    });

    it('a watch from a revision the store trimmed from its log fails with Conflict asking to re-list', async () => {
      const store = await openOn(await sharedEtcd(), { prefix: nextPrefix(), compactKeep: 5 });
      for (let i = 0; i < 20; i++) await store.create(configMap(`cm-${i}`));
      const compacted = await store.compactedRevision();
      assert.ok(compacted > 0 && compacted <= 15, `compacted up to ${compacted}`);
      await rejectsWith(take(store.watch({ fromRevision: compacted - 1 }), 1), 'Conflict', /too old.*re-list/);
      const fromEdge = await take(store.watch({ fromRevision: compacted }), 20 - compacted);
      assert.deepEqual(fromEdge.map((ev) => ev.revision), Array.from({ length: 20 - compacted }, (_, i) => compacted + 1 + i));
    });

    it("compacting etcd's history loses no change for a live watch or a watch from an old revision", async () => {
      const store = await openOn(await sharedEtcd(), { prefix: nextPrefix() });
      const base = await store.revision();
      const live = store.watch({ fromRevision: base })[Symbol.asyncIterator]();
      await store.create(configMap('one'));
      assert.equal((await live.next()).value?.object.metadata.name, 'one');
      await store.create(configMap('two'));
      await store.compactHistory();
      await store.create(configMap('three'));
      assert.equal((await live.next()).value?.object.metadata.name, 'two');
      assert.equal((await live.next()).value?.object.metadata.name, 'three');
      await live.return?.();
      const replay = await take(store.watch({ fromRevision: base }), 3);
      assert.deepEqual(replay.map((ev) => ev.object.metadata.name), ['one', 'two', 'three']);
    });

    it("two stores on one etcd see each other's writes through get, list and watch", async () => {
      const e = await sharedEtcd();
      const prefix = nextPrefix();
      const a = await openOn(e, { prefix });
      const b = await openOn(e, { prefix });
      const base = await b.revision();
      const seenByB = take(b.watch({ fromRevision: base }), 3);
      await a.create(configMap('a1'));
      await a.txn([{ op: 'create', object: configMap('a2') }, { op: 'create', object: configMap('a3') }], { origin: { actor: 'sync' } });
      const events = await seenByB;
      assert.deepEqual(events.map((ev) => `${ev.revision} ${ev.object.metadata.name}`), [`${base + 1} a1`, `${base + 2} a2`, `${base + 3} a3`]);
      assert.deepEqual(events[2]?.origin, { actor: 'sync' });
      assert.ok(await b.get({ kind: 'ConfigMap', name: 'a3' }));
      assert.deepEqual((await b.list('ConfigMap')).items.map((o) => o.metadata.name), ['a1', 'a2', 'a3']);
      assert.equal((await b.list('ConfigMap')).revision, base + 3);
    });

    it('transactions from two stores racing on one counter are all-or-nothing and share one gap-free revision sequence', async () => {
      const e = await sharedEtcd();
      const prefix = nextPrefix();
      const writers = [await openOn(e, { prefix }), await openOn(e, { prefix })];
      await writers[0]!.create(configMap('counter', { n: '0' }));
      const base = await writers[0]!.revision();
      const rounds = 15;
      const conflicts = [0, 0];
      await Promise.all(
        writers.map(async (store, w) => {
          for (let i = 0; i < rounds; i++) {
            for (;;) {
              const counter = await store.get({ kind: 'ConfigMap', name: 'counter' });
              const n = Number((counter!.data as Record<string, string>).n);
              try {
                await store.txn(
                  [
                    { op: 'update', object: { ...counter!, data: { n: String(n + 1) } } },
                    { op: 'create', object: configMap(`w${w}-${i}`, { at: String(n + 1) }) },
                  ],
                  { origin: { actor: `writer-${w}` } },
                );
                break;
              } catch (err) {
                if (!isGantryError(err, 'Conflict')) throw err;
                conflicts[w]!++;
              }
            }
          }
        }),
      );
      const total = rounds * 2;
      const counter = await writers[1]!.get({ kind: 'ConfigMap', name: 'counter' });
      assert.equal((counter!.data as Record<string, string>).n, String(total), 'no increment was lost');
      const events = await take(writers[1]!.watch({ fromRevision: base }), total * 2);
      assert.deepEqual(events.map((ev) => ev.revision), Array.from({ length: total * 2 }, (_, i) => base + 1 + i));
      for (let i = 0; i < events.length; i += 2) {
        const [update, create] = [events[i]!, events[i + 1]!];
        assert.equal(update.object.metadata.name, 'counter');
        assert.equal(create.type, 'ADDED');
        assert.equal(update.origin?.actor, create.origin?.actor, 'the two ops of a txn are adjacent');
        assert.equal((create.object.data as Record<string, string>).at, (update.object.data as Record<string, string>).n);
      }
      assert.ok(conflicts[0]! + conflicts[1]! > 0, 'the writers did race');
    });

    it('concurrent writes of one store share etcd transactions, yet each keeps its own revision, origin and error', async () => {
      const e = await sharedEtcd();
      const prefix = nextPrefix();
      const store = await openOn(e, { prefix });
      const seed = await store.create(configMap('shared'));
      const base = await store.revision();
      const client = e.client();
      const etcdBefore = (await client.range({ key: `${prefix}meta` })).revision;
      const ac = new AbortController();
      const seen: Array<[number, string | undefined]> = [];
      const watching = (async () => {
        for await (const ev of store.watch({ fromRevision: base, signal: ac.signal })) {
          seen.push([ev.revision, ev.origin?.actor]);
          if (seen.length === 40) return;
        }
      })();
      // 40 creates, a stale update and a duplicate create, all at once.
      const results = await Promise.allSettled([
        ...Array.from({ length: 40 }, (_, i) => store.create(configMap(`burst-${i}`), { origin: { actor: `writer-${i}` } })),
        store.update({ ...seed, metadata: { ...seed.metadata, resourceVersion: String(Number(seed.metadata.resourceVersion) + 1000) }, data: { stale: 'yes' } }),
        store.create(configMap('burst-0')),
      ]);
      await watching;
      ac.abort();
      const etcdAfter = (await client.range({ key: `${prefix}meta` })).revision;
      client.close();
      assert.deepEqual(results.slice(0, 40).map((r) => r.status), Array(40).fill('fulfilled'));
      const revisions = results.slice(0, 40).map((r) => Number((r as PromiseFulfilledResult<KubeObject>).value.metadata.resourceVersion));
      assert.deepEqual([...revisions].sort((x, y) => x - y), Array.from({ length: 40 }, (_, i) => base + 1 + i));
      assert.ok(results[40]!.status === 'rejected' && isGantryError((results[40] as PromiseRejectedResult).reason, 'Conflict'));
      assert.ok(results[41]!.status === 'rejected' && isGantryError((results[41] as PromiseRejectedResult).reason, 'AlreadyExists'));
      // Every change once, in revision order, each with the origin of its own write.
      assert.deepEqual(seen.map(([r]) => r), Array.from({ length: 40 }, (_, i) => base + 1 + i));
      for (const [r, actor] of seen) assert.equal(actor, `writer-${revisions.indexOf(r)}`);
      // Fewer etcd commits than writes: they were grouped.
      assert.ok(etcdAfter - etcdBefore < 40, `${etcdAfter - etcdBefore} etcd revisions for 40 writes`);
      assert.equal((await store.get<KubeObject & { data?: Record<string, string> }>({ kind: 'ConfigMap', name: 'shared' }))?.data?.stale, undefined);
    });

    it('concurrent creates from two stores all land (a writer that loses the race re-reads and retries)', async () => {
      const e = await sharedEtcd();
      const prefix = nextPrefix();
      const [a, b] = [await openOn(e, { prefix }), await openOn(e, { prefix })];
      const base = await a.revision();
      await Promise.all([
        ...Array.from({ length: 25 }, (_, i) => a.create(configMap(`a-${i}`))),
        ...Array.from({ length: 25 }, (_, i) => b.create(configMap(`b-${i}`))),
      ]);
      const { items, revision } = await a.list('ConfigMap');
      assert.equal(items.length, 50);
      assert.equal(revision, base + 50);
      assert.deepEqual(
        items.map((o) => Number(o.metadata.resourceVersion)).sort((x, y) => x - y),
        Array.from({ length: 50 }, (_, i) => base + 1 + i),
      );
    });

    describe('over TLS', () => {
      let secure: TestEtcd;
      before(async () => {
        secure = await startTestEtcd({ tls: true });
      });
      after(async () => {
        await secure?.destroy();
      });

      it('openStore("etcds://…") with --etcd-ca, --etcd-cert and --etcd-key reads and writes', async () => {
        const store = await openStore(`etcds://${secure.endpoint}`, { sqlitePath: 'unused', etcdTls: secure.tls });
        try {
          const created = await store.create(configMap('secure'));
          assert.deepEqual(await store.get({ kind: 'ConfigMap', name: 'secure' }), created);
        } finally {
          await store.close();
        }
      });

      it('etcds:// without the client certificate etcd requires fails with StoreUnavailable', async function () {
        this.timeout(30_000);
        await rejectsWith(openStore(`etcds://${secure.endpoint}`, { sqlitePath: 'unused', etcdTls: { ca: secure.tls!.ca } }), 'StoreUnavailable', /etcd/);
      });

      it('plain etcd:// to a TLS etcd fails with StoreUnavailable', async function () {
        this.timeout(30_000);
        await rejectsWith(openStore(`etcd://${secure.endpoint}`, { sqlitePath: 'unused' }), 'StoreUnavailable', /etcd/);
      });
    });

    it("a transaction larger than a stock etcd's --max-txn-ops fails naming the flag, and applies nothing", async () => {
      const stock = await startTestEtcd({ defaultLimits: true });
      try {
        const store = await openOn(stock, { prefix: nextPrefix() });
        const rev = await store.revision();
        await rejectsWith(
          store.txn(Array.from({ length: 200 }, (_, i) => ({ op: 'create' as const, object: configMap(`big-${i}`) }))),
          'StoreUnavailable',
          /--max-txn-ops/,
        );
        assert.equal(await store.revision(), rev);
        assert.equal((await store.list('ConfigMap')).items.length, 0);
        await store.txn(Array.from({ length: 100 }, (_, i) => ({ op: 'create' as const, object: configMap(`fits-${i}`) })));
        assert.equal((await store.list('ConfigMap')).items.length, 100);
      } finally {
        await stock.destroy();
      }
    });

    describe('across an etcd restart', () => {
      let own: TestEtcd;
      before(async () => {
        own = await startTestEtcd();
      });
      after(async () => {
        await own?.destroy();
      });

      it('a live watch survives etcd restarting and delivers every change after it, once, in order', async () => {
        const store = await openOn(own, { prefix: nextPrefix() });
        const base = await store.revision();
        const iter = store.watch({ fromRevision: base })[Symbol.asyncIterator]();
        await store.create(configMap('before'));
        assert.equal((await iter.next()).value?.object.metadata.name, 'before');
        await own.stop();
        await own.start();
        // The first write after the restart may meet the reconnect; a write is not retried blindly.
        for (let i = 0; ; i++) {
          try {
            await store.create(configMap('after'));
            break;
          } catch (err) {
            if (!isGantryError(err, 'StoreUnavailable') || i > 50) throw err;
            await new Promise((r) => setTimeout(r, 100));
          }
        }
        await store.create(configMap('after-2'));
        const next = [(await iter.next()).value, (await iter.next()).value] as WatchEvent[];
        assert.deepEqual(next.map((ev) => `${ev.revision} ${ev.object.metadata.name}`), [`${base + 2} after`, `${base + 3} after-2`]);
        await iter.return?.();
      });

      it('a watch ends with StoreUnavailable naming etcd when etcd stays away longer than the watch retries', async () => {
        const store = await openOn(own, { prefix: nextPrefix(), watchRetryMs: 1500 });
        const iter = store.watch()[Symbol.asyncIterator]();
        const pending = iter.next();
        await new Promise((r) => setTimeout(r, 200));
        await own.stop();
        try {
          await rejectsWith(pending, 'StoreUnavailable', new RegExp(own.endpoint.replace(/\./g, '\\.')));
        } finally {
          await own.start();
        }
      });
    });
  });
}
