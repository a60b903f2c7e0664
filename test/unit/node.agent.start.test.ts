import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { silentLogger } from '../../src/log.js';
import type { ListResult } from '../../src/store/types.js';
import type { KubeObject } from '../../src/model/types.js';
import { NodeAgent } from '../../src/node/agent/agent.js';
import { StoreNodeApi } from '../../src/node/store-api.js';
import type { ContainerdClient } from '../../src/node/containerd/client.js';
import type { ContainerdEvent } from '../../src/node/containerd/types.js';
import { MemoryStore } from '../fakes/memory-store.js';
import { FakeContainerLogs, FakeNetworkManager, FakeVolumeManager } from '../fakes/node-managers.js';

/** A store whose list fails, as an unreachable database would. */
class ListFailingStore extends MemoryStore {
  override async list<T extends KubeObject = KubeObject>(): Promise<ListResult<T>> {
    throw new Error('database is locked');
  }
}

describe('NodeAgent start', () => {
  it('start() that fails half-way ends the containerd event subscription it had opened', async () => {
    let open = 0;
    // Just the two calls start() makes before it lists pods.
    const client = {
      version: async () => ({ version: '1.7.0', revision: '' }),
      async *subscribe(opts: { signal?: AbortSignal } = {}): AsyncGenerator<ContainerdEvent> {
        open++;
        try {
          await new Promise((resolve) => opts.signal?.addEventListener('abort', resolve, { once: true }));
        } finally {
          open--;
        }
      },
    } as unknown as ContainerdClient;
    const dir = await mkdtemp(path.join(os.tmpdir(), 'gantry-agent-start-'));
    const agent = new NodeAgent({
      api: new StoreNodeApi({ store: new ListFailingStore(), nodeName: 'n1' }),
      client,
      network: new FakeNetworkManager(),
      volumes: new FakeVolumeManager(),
      logs: new FakeContainerLogs(dir),
      dataDir: dir,
      logger: silentLogger(),
      nodeIP: '127.0.0.1',
    });
    try {
      await assert.rejects(agent.start(), /database is locked/);
      await sleep(50);
      assert.equal(open, 0, 'no event subscription left running');
    } finally {
      await agent.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
