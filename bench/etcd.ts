/**
 * The etcd store beside the SQLite store, on the same workload: 1,000 single creates, a list of
 * the 1,000, one transaction of 1,000 creates, updates, and watch latency (a write until a watcher
 * of the same store sees it). etcd is a private member on loopback with its data on /dev/shm when
 * there is one (as the tests run it), so the figures are its protocol and Raft costs, not a disk's.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { KubeObject } from '../src/model/types.js';
import { openEtcdStore } from '../src/store/etcd.js';
import { openSqliteStore } from '../src/store/sqlite.js';
import type { Store } from '../src/store/types.js';
import { etcdBinary, startTestEtcd } from '../test/helpers/etcd.js';
import { percentile } from './stats.js';

const N = 1000;

function pod(name: string): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'bench', labels: { app: 'bench', index: name } },
    spec: { containers: [{ name: 'main', image: 'busybox:latest', command: ['sleep', '3600'] }] },
  };
}

async function measure(store: Store): Promise<Record<string, string>> {
  let t = performance.now();
  for (let i = 0; i < N; i++) await store.create(pod(`p-${i}`));
  const createMs = performance.now() - t;

  t = performance.now();
  const listed = await store.list('Pod', { namespace: 'bench' });
  const listMs = performance.now() - t;
  if (listed.items.length !== N) throw new Error(`listed ${listed.items.length} pods, expected ${N}`);

  t = performance.now();
  await store.txn(Array.from({ length: N }, (_, i) => ({ op: 'create' as const, object: pod(`t-${i}`) })));
  const txnMs = performance.now() - t;

  const updates: number[] = [];
  const latencies: number[] = [];
  const iter = store.watch({ kinds: ['ConfigMap'] })[Symbol.asyncIterator]();
  let cm = await store.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'tick', namespace: 'bench' }, data: { n: '0' } });
  await iter.next();
  for (let i = 1; i <= 200; i++) {
    const start = performance.now();
    cm = await store.update({ ...cm, data: { n: String(i) } });
    updates.push(performance.now() - start);
    await iter.next();
    latencies.push(performance.now() - start);
  }
  await iter.return?.();
  return {
    'create 1,000 (one by one)': `${createMs.toFixed(0)} ms (${(N / (createMs / 1000)).toFixed(0)}/s)`,
    'list 1,000': `${listMs.toFixed(1)} ms`,
    'txn of 1,000 creates': `${txnMs.toFixed(0)} ms`,
    'update p50 / p99': `${percentile(updates, 50).toFixed(2)} / ${percentile(updates, 99).toFixed(2)} ms`,
    'write → watch event p50 / p99': `${percentile(latencies, 50).toFixed(2)} / ${percentile(latencies, 99).toFixed(2)} ms`,
  };
}

/** The bench entry `etcd` (see bench/run.ts). */
export async function benchEtcd(): Promise<Record<string, number | string>> {
  const figures: Record<string, number | string> = {};
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gantry-bench-store-'));
  try {
    const sqlite = openSqliteStore(path.join(dir, 'state.db'));
    try {
      for (const [k, v] of Object.entries(await measure(sqlite))) figures[`sqlite: ${k}`] = v;
    } finally {
      await sqlite.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  if (!etcdBinary()) {
    figures['etcd'] = 'skipped: etcd is not installed (Debian package etcd-server)';
    return figures;
  }
  const etcd = await startTestEtcd();
  try {
    const store = await openEtcdStore({ endpoints: [etcd.endpoint], prefix: '/bench/' });
    try {
      for (const [k, v] of Object.entries(await measure(store))) figures[`etcd: ${k}`] = v;
    } finally {
      await store.close();
    }
  } finally {
    await etcd.destroy();
  }
  return figures;
}
