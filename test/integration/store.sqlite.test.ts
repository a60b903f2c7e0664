import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isGantryError, type ErrorCode } from '../../src/errors.js';
import type { KubeObject } from '../../src/model/types.js';
import { openSqliteStore, type SqliteStore, type SqliteStoreOptions } from '../../src/store/sqlite.js';
import type { WatchEvent } from '../../src/store/types.js';
import { describeStoreConformance } from '../store/conformance.js';

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'gantry-store-'));
  dirs.push(dir);
  return dir;
}
after(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

describeStoreConformance('sqlite', async () => {
  const dir = await tempDir();
  const store = openSqliteStore(join(dir, 'store.db'));
  return {
    store,
    cleanup: async () => {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

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

describe('store/sqlite', () => {
  let dir: string;
  let file: string;
  const open: SqliteStore[] = [];
  const openStore = (opts?: SqliteStoreOptions): SqliteStore => {
    const s = openSqliteStore(file, opts);
    open.push(s);
    return s;
  };
  beforeEach(async () => {
    dir = await tempDir();
    file = join(dir, 'store.db');
  });
  afterEach(async () => {
    for (const s of open.splice(0)) await s.close();
  });

  it('a reopened file keeps its objects, revision and change log', async () => {
    const first = openStore();
    const cm = await first.create(configMap('cfg', { a: '1' }));
    await first.update({ ...cm, data: { a: '2' } });
    const rev = await first.revision();
    await first.close();

    const second = openStore();
    assert.equal(await second.revision(), rev);
    assert.deepEqual((await second.get({ kind: 'ConfigMap', name: 'cfg' }))?.data, { a: '2' });
    const replay = await take(second.watch({ fromRevision: 0 }), 2);
    assert.deepEqual(replay.map((e) => e.type), ['ADDED', 'MODIFIED']);
    const next = await second.create(configMap('more'));
    assert.equal(next.metadata.resourceVersion, String(rev + 1), 'revisions continue after reopening');
  });

  it('a second store on the same file sees the first one\'s writes, through get and watch', async () => {
    const writer = openStore();
    const reader = openStore({ pollIntervalMs: 20 });
    const base = await reader.revision();
    const events = take(reader.watch({ fromRevision: base }), 3);
    await writer.create(configMap('a'));
    await writer.txn([{ op: 'create', object: configMap('b') }, { op: 'create', object: configMap('c') }]);
    assert.deepEqual(
      (await events).map((e) => `${e.revision} ${e.object.metadata.name}`),
      [`${base + 1} a`, `${base + 2} b`, `${base + 3} c`],
    );
    assert.ok(await reader.get({ kind: 'ConfigMap', name: 'c' }));
    assert.equal((await reader.list('ConfigMap')).revision, base + 3);
  });

  it('two stores writing the same file share one gap-free revision sequence that both watches see', async () => {
    const a = openStore({ pollIntervalMs: 20 });
    const b = openStore({ pollIntervalMs: 20 });
    const base = await a.revision();
    const seenByA = take(a.watch({ fromRevision: base }), 6);
    const seenByB = take(b.watch({ fromRevision: base }), 6);
    for (let i = 0; i < 3; i++) {
      await a.create(configMap(`from-a-${i}`));
      await b.create(configMap(`from-b-${i}`));
    }
    const expected = [0, 1, 2].flatMap((i) => [`from-a-${i}`, `from-b-${i}`]);
    for (const seen of [await seenByA, await seenByB]) {
      assert.deepEqual(seen.map((e) => e.object.metadata.name), expected);
      assert.deepEqual(seen.map((e) => e.revision), [1, 2, 3, 4, 5, 6].map((n) => base + n));
    }
  });

  it('a watch that joins while another is live sees another process\'s changes exactly once', async () => {
    const writer = openStore();
    const reader = openStore({ pollIntervalMs: 20 });
    const base = await reader.revision();
    const first = reader.watch({ fromRevision: base })[Symbol.asyncIterator]();
    const firstPending = first.next();
    // These commit before the reader polls; the joining watch replays them from the file.
    for (let i = 0; i < 3; i++) await writer.create(configMap(`early-${i}`));
    const joined = take(reader.watch({ fromRevision: base }), 4);
    await new Promise((resolve) => setTimeout(resolve, 100));
    await writer.create(configMap('late'));
    assert.deepEqual(
      (await joined).map((e) => e.revision),
      [1, 2, 3, 4].map((n) => base + n),
    );
    const seenByFirst = [(await firstPending).value as WatchEvent];
    for (let i = 0; i < 3; i++) seenByFirst.push((await first.next()).value as WatchEvent);
    await first.return?.();
    assert.deepEqual(seenByFirst.map((e) => e.revision), [1, 2, 3, 4].map((n) => base + n));
  });

  it('a watch from a compacted revision fails with Conflict asking to re-list', async () => {
    const store = openStore({ compactKeep: 5 });
    for (let i = 0; i < 20; i++) await store.create(configMap(`cm-${i}`));
    const compacted = await store.compactedRevision();
    assert.ok(compacted > 0 && compacted <= 15, `compacted up to ${compacted}`);
    await rejectsWith(take(store.watch({ fromRevision: compacted - 1 }), 1), 'Conflict', /too old.*re-list/);
    const fromEdge = await take(store.watch({ fromRevision: compacted }), 20 - compacted);
    assert.deepEqual(
      fromEdge.map((e) => e.revision),
      Array.from({ length: 20 - compacted }, (_, i) => compacted + 1 + i),
    );
  });

  it('a live watch that misses changes compacted away by another process fails with Conflict', async () => {
    const writer = openStore({ compactKeep: 2 });
    const watcher = openStore({ pollIntervalMs: 20 });
    const iter = watcher.watch()[Symbol.asyncIterator]();
    const pending = iter.next();
    // All of these commit before the watcher's next poll, and compaction drops most of them.
    for (let i = 0; i < 10; i++) await writer.create(configMap(`cm-${i}`));
    await rejectsWith(pending, 'Conflict', /too old/);
  });

  it('a read-only store reads and watches the writer\'s data but refuses writes', async () => {
    const writer = openStore();
    await writer.create(configMap('a'));
    const reader = openStore({ readonly: true, pollIntervalMs: 20 });
    assert.ok(await reader.get({ kind: 'ConfigMap', name: 'a' }));
    const base = await reader.revision();
    const events = take(reader.watch({ fromRevision: base }), 1);
    await writer.create(configMap('b'));
    assert.deepEqual((await events).map((e) => e.object.metadata.name), ['b']);
    await rejectsWith(reader.create(configMap('c')), 'StoreUnavailable', /read-only/);
    assert.equal(await writer.get({ kind: 'ConfigMap', name: 'c' }), undefined);
  });

  it('a read-only open of a missing file fails with StoreUnavailable and creates nothing', () => {
    assert.throws(
      () => openSqliteStore(file, { readonly: true }),
      (err: unknown) => isGantryError(err, 'StoreUnavailable') && err.message.includes(file),
    );
    assert.equal(existsSync(file), false);
  });

  it('open() creates the directories the file lives in', async () => {
    const nested = join(dir, 'data', 'deeper', 'store.db');
    const store = openSqliteStore(nested);
    open.push(store);
    await store.create(configMap('a'));
    assert.ok(existsSync(nested));
  });

  it('open() of a path it cannot create fails with StoreUnavailable naming the path and why', async () => {
    await writeFile(join(dir, 'plain-file'), 'x');
    const bad = join(dir, 'plain-file', 'store.db');
    assert.throws(
      () => openSqliteStore(bad),
      (err: unknown) => isGantryError(err, 'StoreUnavailable') && err.message.includes(bad),
    );
  });

  it('open() of a file that is not a database fails with StoreUnavailable', async () => {
    await writeFile(file, 'this is not a database, just some text that is long enough to have a header'.repeat(20));
    assert.throws(
      () => openSqliteStore(file),
      (err: unknown) => isGantryError(err, 'StoreUnavailable') && /not a database/.test(err.message),
    );
  });

  it('a closed store fails with StoreUnavailable', async () => {
    const store = openStore();
    await store.close();
    await rejectsWith(store.get({ kind: 'ConfigMap', name: 'x' }), 'StoreUnavailable', /closed/);
    await rejectsWith(store.create(configMap('x')), 'StoreUnavailable', /closed/);
  });

  it('list() by kind does not pick up kinds whose name extends it', async () => {
    const store = openStore();
    await store.create({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' } });
    await store.create({ apiVersion: 'x/v1', kind: 'PodX', metadata: { name: 'q', namespace: 'default' } });
    await store.create({ apiVersion: 'x/v1', kind: 'Po', metadata: { name: 'r', namespace: 'default' } });
    assert.deepEqual((await store.list('Pod')).items.map((o) => o.metadata.name), ['p']);
    assert.deepEqual((await store.list('Po')).items.map((o) => o.metadata.name), ['r']);
  });
});
