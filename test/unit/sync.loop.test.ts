import assert from 'node:assert/strict';
import { GantryError } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';
import type { ObjectRef } from '../../src/model/keys.js';
import type { KubeObject } from '../../src/model/types.js';
import type { TxnOp, TxnResult, WriteOptions } from '../../src/store/types.js';
import { assessApp } from '../../src/health/app.js';
import { SYNC_NAME, type SyncObject } from '../../src/sync/status.js';
import { SyncLoop } from '../../src/sync/loop.js';
import type { Source } from '../../src/sync/types.js';
import { MemoryStore } from '../fakes/memory-store.js';

/** A store that cannot be read, as when its file or its etcd cluster has gone away. */
class UnreadableStore extends MemoryStore {
  override async get<T extends KubeObject = KubeObject>(_ref: ObjectRef): Promise<T | undefined> {
    throw new GantryError('StoreUnavailable', 'the store is unreachable');
  }
}

const unreachableSource: Source = {
  resolve: async () => {
    throw new GantryError('SourceUnavailable', 'cannot fetch https://git.example/deploy.git: connection refused');
  },
  files: async () => [],
  readPaths: async () => new Map(),
};

/** A store that refuses to write what the repo declares (a full disk, a quota), but takes the Sync status. */
class RefusingStore extends MemoryStore {
  override async txn(ops: TxnOp[], opts?: WriteOptions): Promise<TxnResult> {
    if (ops.some((op) => (op.op === 'delete' ? op.ref.kind : op.object.kind) !== 'Sync')) throw new GantryError('StoreUnavailable', 'database or disk is full');
    return super.txn(ops, opts);
  }
}

const oneCommit = (files: Record<string, string>): Source => ({
  resolve: async () => ({ commit: 'c0ffee0000000000000000000000000000000000', ref: 'main' }),
  files: async () => Object.entries(files).map(([path, text]) => ({ path, content: new TextEncoder().encode(text) })),
  readPaths: async () => new Map(),
});

describe('SyncLoop', () => {
  it('a pass that cannot apply records what it left out of sync, which health reports OutOfSync and Missing', async () => {
    const store = new RefusingStore();
    const source = oneCommit({ 'cm.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: page\ndata: {a: b}\n' });
    const loop = new SyncLoop({ source, store, logger: silentLogger(), intervalMs: 0, describe: { repo: 'r' } });
    const outcome = await loop.trigger('test');
    assert.equal(outcome.outcome, 'failed');
    const sync = await store.get<SyncObject>({ kind: 'Sync', name: SYNC_NAME });
    assert.deepEqual(sync?.status?.outOfSync, ['ConfigMap/default/page']);
    const app = assessApp({ sync, objects: [] });
    assert.equal(app.sync.status, 'OutOfSync');
    assert.match(app.sync.message ?? '', /disk is full/);
    assert.deepEqual(app.objects.map((o) => [o.key, o.sync.status, o.health?.status]), [['ConfigMap/default/page', 'OutOfSync', 'Missing']]);
    await store.close();
  });

  it('reports a failed pass, rather than rejecting, when the store cannot take the Sync status either', async () => {
    const store = new UnreadableStore();
    const loop = new SyncLoop({ source: unreachableSource, store, logger: silentLogger(), intervalMs: 0, describe: { repo: 'https://git.example/deploy.git' } });
    const outcome = await loop.trigger('webhook');
    assert.equal(outcome.outcome, 'failed');
    assert.match(outcome.error ?? '', /connection refused/);
    await store.close();
  });
});
