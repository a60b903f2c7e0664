import assert from 'node:assert/strict';
import { GantryError } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';
import type { ObjectRef } from '../../src/model/keys.js';
import type { KubeObject } from '../../src/model/types.js';
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

describe('SyncLoop', () => {
  it('reports a failed pass, rather than rejecting, when the store cannot take the Sync status either', async () => {
    const store = new UnreadableStore();
    const loop = new SyncLoop({ source: unreachableSource, store, logger: silentLogger(), intervalMs: 0, describe: { repo: 'https://git.example/deploy.git' } });
    const outcome = await loop.trigger('webhook');
    assert.equal(outcome.outcome, 'failed');
    assert.match(outcome.error ?? '', /connection refused/);
    await store.close();
  });
});
