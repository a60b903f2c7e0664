/**
 * The real scheduler against a store (as `gantry server` runs it): 100 Ready nodes and 2,000
 * pending pods already in the store; time from the scheduler's start until every pod is bound
 * (each bind is a store update with the pod's resourceVersion). The same on SQLite and on etcd,
 * so the ratio is the store's share of the scheduler's throughput.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { silentLogger } from '../src/log.js';
import { Metrics } from '../src/metrics/index.js';
import type { KubeObject, Node, Pod } from '../src/model/types.js';
import { Scheduler } from '../src/scheduler/scheduler.js';
import { openEtcdStore } from '../src/store/etcd.js';
import { openSqliteStore } from '../src/store/sqlite.js';
import type { Store } from '../src/store/types.js';
import { etcdBinary, startTestEtcd } from '../test/helpers/etcd.js';

const NODES = 100;
const PODS = 2000;

function node(i: number): Node {
  const now = new Date().toISOString();
  return {
    apiVersion: 'v1', kind: 'Node',
    metadata: { name: `node-${i}`, labels: { 'kubernetes.io/hostname': `node-${i}` } },
    spec: {},
    status: {
      allocatable: { cpu: '16', memory: '64Gi', pods: '110' },
      conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: now, lastHeartbeatTime: now } as never],
    },
  };
}

function pod(i: number): Pod {
  return {
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name: `pod-${i}`, namespace: 'bench', labels: { app: `app-${i % 50}` } },
    spec: { containers: [{ name: 'c', image: 'busybox', resources: { requests: { cpu: '100m', memory: '64Mi' } } }] },
  };
}

async function measure(store: Store): Promise<{ seconds: number; podsPerSecond: number }> {
  for (let i = 0; i < NODES; i += 50) await store.txn(Array.from({ length: Math.min(50, NODES - i) }, (_, k) => ({ op: 'create' as const, object: node(i + k) as KubeObject })));
  for (let i = 0; i < PODS; i += 100) await store.txn(Array.from({ length: 100 }, (_, k) => ({ op: 'create' as const, object: pod(i + k) as KubeObject })));
  const ac = new AbortController();
  const from = await store.revision();
  let bound = 0;
  const t0 = performance.now();
  const done = (async () => {
    for await (const ev of store.watch({ kinds: ['Pod'], fromRevision: from, signal: ac.signal })) {
      if (ev.type === 'MODIFIED' && (ev.object as Pod).spec.nodeName && !(ev.prevObject as Pod | undefined)?.spec.nodeName && ++bound === PODS) return;
    }
  })();
  // Measured as `gantry server` measures it.
  const scheduler = new Scheduler({ store, logger: silentLogger(), metrics: new Metrics() });
  const running = scheduler.start(ac.signal);
  const timeout = setTimeout(() => ac.abort(), 120_000);
  await done.catch(() => undefined);
  const seconds = (performance.now() - t0) / 1000;
  clearTimeout(timeout);
  ac.abort();
  await running.catch(() => undefined);
  if (bound < PODS) throw new Error(`only ${bound} of ${PODS} pods bound within 120 s`);
  return { seconds, podsPerSecond: PODS / seconds };
}

/** The bench entry `scheduler-store` (see bench/run.ts). */
export async function benchSchedulerStore(): Promise<Record<string, number | string>> {
  const figures: Record<string, number | string> = { nodes: NODES, pods: PODS };
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gantry-bench-sched-'));
  let sqlite: { seconds: number; podsPerSecond: number };
  try {
    const store = openSqliteStore(path.join(dir, 'state.db'));
    try {
      sqlite = await measure(store);
    } finally {
      await store.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  figures['sqlite: all bound in'] = `${sqlite.seconds.toFixed(2)} s (${sqlite.podsPerSecond.toFixed(0)} pods/s)`;
  if (!etcdBinary()) {
    figures['etcd'] = 'skipped: etcd is not installed (Debian package etcd-server)';
    return figures;
  }
  const etcd = await startTestEtcd();
  try {
    const store = await openEtcdStore({ endpoints: [etcd.endpoint], prefix: '/bench/' });
    try {
      const r = await measure(store);
      figures['etcd: all bound in'] = `${r.seconds.toFixed(2)} s (${r.podsPerSecond.toFixed(0)} pods/s)`;
      figures['etcd / sqlite throughput'] = (r.podsPerSecond / sqlite.podsPerSecond).toFixed(2);
    } finally {
      await store.close();
    }
  } finally {
    await etcd.destroy();
  }
  return figures;
}
