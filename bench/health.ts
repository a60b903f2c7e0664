/**
 * Health assessment at scale: the app's sync and health from 1,000 Deployments (1,000
 * ReplicaSets, 10,000 pods), as `gantry status`, the API's health routes and the notification
 * watcher compute it — on objects in memory (`assessApp`) and read from a SQLite store
 * (`readAppHealth`, listing every declarable kind).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assessApp } from '../src/health/app.js';
import { readAppHealth } from '../src/health/read.js';
import type { Deployment, KubeObject, Pod, ReplicaSet } from '../src/model/types.js';
import { openSqliteStore } from '../src/store/sqlite.js';
import type { SyncObject } from '../src/sync/status.js';

function objects(deployments: number, podsEach: number): KubeObject[] {
  const out: KubeObject[] = [];
  for (let i = 0; i < deployments; i++) {
    const name = `app-${i}`;
    const d: Deployment = {
      apiVersion: 'apps/v1', kind: 'Deployment',
      metadata: { name, namespace: 'default', uid: `d-${i}`, generation: 1, annotations: { 'gantry.dev/managed-by': 'gantry' } },
      spec: { replicas: podsEach, selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'c', image: 'busybox' }] } } },
      status: { observedGeneration: 1, replicas: podsEach, updatedReplicas: podsEach, availableReplicas: i % 10 === 0 ? podsEach - 1 : podsEach },
    };
    const rs: ReplicaSet = {
      apiVersion: 'apps/v1', kind: 'ReplicaSet',
      metadata: { name: `${name}-abc`, namespace: 'default', uid: `rs-${i}`, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name, uid: `d-${i}`, controller: true }] },
      spec: { replicas: podsEach, selector: d.spec.selector, template: d.spec.template },
    };
    out.push(d, rs);
    for (let p = 0; p < podsEach; p++) {
      const pod: Pod = {
        apiVersion: 'v1', kind: 'Pod',
        metadata: { name: `${name}-abc-${p}`, namespace: 'default', uid: `p-${i}-${p}`, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: rs.metadata.name, uid: rs.metadata.uid!, controller: true }] },
        spec: { containers: [{ name: 'c', image: 'busybox' }] },
        status: { phase: 'Running', conditions: [{ type: 'Ready', status: i % 10 === 0 && p === 0 ? 'False' : 'True' }] },
      };
      out.push(pod);
    }
  }
  return out;
}

const sync: SyncObject = {
  apiVersion: 'gantry.dev/v1', kind: 'Sync', metadata: { name: 'default' }, spec: { repo: 'bench' },
  status: { lastAppliedRevision: 'abcdef0', conditions: [{ type: 'Ready', status: 'True', reason: 'Applied' }] },
};

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Figures: assessApp and readAppHealth times for 11,000 objects. */
export async function benchHealth(): Promise<Record<string, number | string>> {
  const objs = objects(1000, 10);
  const inMemory: number[] = [];
  for (let i = 0; i < 7; i++) {
    const t = performance.now();
    assessApp({ sync, objects: objs });
    inMemory.push(performance.now() - t);
  }
  const dir = await mkdtemp(join(tmpdir(), 'gantry-bench-health-'));
  const store = openSqliteStore(join(dir, 'state.db'));
  try {
    await store.create(sync);
    for (let i = 0; i < objs.length; i += 500) await store.txn(objs.slice(i, i + 500).map((o) => ({ op: 'create' as const, object: o })));
    const fromStore: number[] = [];
    let health = '';
    for (let i = 0; i < 5; i++) {
      const t = performance.now();
      const app = await readAppHealth(store);
      fromStore.push(performance.now() - t);
      health = app.health.status;
    }
    return {
      objects: objs.length,
      'app health': health,
      'assessApp median ms': Math.round(median(inMemory)),
      'readAppHealth (SQLite) median ms': Math.round(median(fromStore)),
    };
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}
