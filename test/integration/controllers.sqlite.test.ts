import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createControllerManager } from '../../src/controllers/index.js';
import type { ControllerManager } from '../../src/controllers/runtime.js';
import type { Deployment, Pod, ReplicaSet } from '../../src/model/types.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import type { Store } from '../../src/store/types.js';

const NS = 'default';

async function eventually(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 20000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.fail(`timed out waiting until ${what}`);
}

const ready = (p: Pod): boolean => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;

/**
 * Stands in for the scheduler and the node agent, following the pod deletion protocol: binds
 * and readies new pods, and removes pods marked with a deletionTimestamp.
 */
function fakeNode(store: Store, signal: AbortSignal): void {
  void (async () => {
    try {
      for await (const ev of store.watch({ kinds: ['Pod'], signal, fromRevision: 0 })) {
        if (ev.type === 'DELETED') continue;
        const p = ev.object as Pod;
        try {
          if (p.metadata.deletionTimestamp) {
            await store.delete({ kind: 'Pod', namespace: NS, name: p.metadata.name }, { resourceVersion: p.metadata.resourceVersion, origin: { actor: 'node/n1' } });
          } else if (!ready(p)) {
            await store.update({
              ...p,
              spec: { ...p.spec, nodeName: 'n1' },
              status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: new Date().toISOString() }] },
            }, { origin: { actor: 'node/n1' } });
          }
        } catch {
          // Superseded by a newer version; the watch brings it.
        }
      }
    } catch {
      // store closed
    }
  })();
}

function deployment(): Deployment {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: NS },
    spec: {
      replicas: 4,
      selector: { matchLabels: { app: 'web' } },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
      template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'main', image: 'busybox:1' }] } },
    },
  };
}

describe('controllers on the SQLite store', function () {
  this.timeout(60000);
  let dir: string;
  const running: { store: Store; manager: ControllerManager; ac: AbortController }[] = [];

  async function boot(): Promise<{ store: Store; manager: ControllerManager; ac: AbortController }> {
    const store = openSqliteStore(join(dir, 'store.db'), { pollIntervalMs: 20 });
    const ac = new AbortController();
    fakeNode(store, ac.signal);
    const manager = createControllerManager(store, { workers: 2 });
    await manager.start();
    const r = { store, manager, ac };
    running.push(r);
    return r;
  }

  async function shutdown(r: { store: Store; manager: ControllerManager; ac: AbortController }): Promise<void> {
    r.ac.abort();
    await r.manager.stop();
    await r.store.close();
    running.splice(running.indexOf(r), 1);
  }

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gantry-controllers-'));
  });
  afterEach(async () => {
    for (const r of [...running]) await shutdown(r);
    await rm(dir, { recursive: true, force: true });
  });

  const livePods = async (store: Store): Promise<Pod[]> => (await store.list<Pod>('Pod', { namespace: NS })).items;

  it('a rollout interrupted by a restart converges to exactly the desired pods, with no duplicates', async () => {
    let r = await boot();
    await r.store.create(deployment());
    await eventually(async () => (await r.store.get<Deployment>({ kind: 'Deployment', namespace: NS, name: 'web' }))?.status?.availableReplicas === 4, '4 pods available');
    const d = (await r.store.get<Deployment>({ kind: 'Deployment', namespace: NS, name: 'web' }))!;
    await r.store.update({ ...d, spec: { ...d.spec, template: { ...d.spec.template, spec: { containers: [{ name: 'main', image: 'busybox:2' }] } } } });
    await eventually(async () => (await livePods(r.store)).some((p) => p.spec.containers[0]!.image === 'busybox:2'), 'the rollout started');
    // Stop everything mid-rollout, as a crash would, and start again from the same file.
    await shutdown(r);
    r = await boot();
    const store = r.store;
    await eventually(async () => {
      const ps = await livePods(store);
      return ps.length === 4 && ps.every((p) => p.spec.containers[0]!.image === 'busybox:2' && ready(p) && !p.metadata.deletionTimestamp);
    }, 'exactly 4 new pods, all ready');
    const rss = (await store.list<ReplicaSet>('ReplicaSet', { namespace: NS })).items;
    assert.equal(rss.length, 2);
    const newRS = rss.find((rs) => rs.spec.template.spec.containers[0]!.image === 'busybox:2')!;
    assert.equal(newRS.spec.replicas, 4);
    for (const p of await livePods(store)) assert.equal(p.metadata.ownerReferences?.[0]?.uid, newRS.metadata.uid);
    await eventually(async () => {
      const cond = (await store.get<Deployment>({ kind: 'Deployment', namespace: NS, name: 'web' }))?.status?.conditions?.find((c) => c.type === 'Progressing');
      return cond?.reason === 'NewReplicaSetAvailable';
    }, 'the Deployment reports the rollout complete');
  });

  it('deleting a Deployment removes its ReplicaSets and gracefully deleted pods', async () => {
    const { store } = await boot();
    await store.create(deployment());
    await eventually(async () => (await livePods(store)).filter(ready).length === 4, '4 ready pods');
    await store.delete({ kind: 'Deployment', namespace: NS, name: 'web' });
    await eventually(async () => (await livePods(store)).length === 0 && (await store.list('ReplicaSet')).items.length === 0, 'all collected');
  });
});
