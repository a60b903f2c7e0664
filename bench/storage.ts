/**
 * Claims through the control plane on SQLite: the scheduler, the PV binder, the local-path
 * provisioner and in-use protection (no node agents: nothing is mounted). 10 Ready nodes and
 * 300 pending pods, each with a WaitForFirstConsumer claim of its own (as StatefulSet pods
 * have); time until every pod is bound to a node and every claim is Bound to a volume on that
 * node. Beside it, the same pods without claims, so the ratio is what volumes cost scheduling.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createControllerManager, ensureDefaultStorageClass } from '../src/controllers/index.js';
import { silentLogger } from '../src/log.js';
import { Metrics } from '../src/metrics/index.js';
import { applyDefaults } from '../src/model/defaults.js';
import type { KubeObject, Node, PersistentVolumeClaim, Pod } from '../src/model/types.js';
import { Scheduler } from '../src/scheduler/scheduler.js';
import { openSqliteStore } from '../src/store/sqlite.js';
import type { Store } from '../src/store/types.js';

const NODES = 10;
const PODS = 300;

function node(i: number): Node {
  const now = new Date().toISOString();
  return {
    apiVersion: 'v1', kind: 'Node',
    metadata: { name: `node-${i}`, labels: { 'kubernetes.io/hostname': `node-${i}` }, annotations: { 'gantry.dev/local-path-dir': `/var/lib/gantry/storage` } },
    spec: {},
    status: { allocatable: { cpu: '64', memory: '256Gi', pods: '110' }, conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: now, lastHeartbeatTime: now } as never] },
  };
}

function claim(i: number): PersistentVolumeClaim {
  return applyDefaults<PersistentVolumeClaim>({
    apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: `data-${i}`, namespace: 'bench' },
    spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
  });
}

function pod(i: number, withClaim: boolean): Pod {
  return {
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name: `pod-${i}`, namespace: 'bench' },
    spec: {
      containers: [{ name: 'c', image: 'busybox', resources: { requests: { cpu: '100m', memory: '64Mi' } } }],
      ...(withClaim ? { volumes: [{ name: 'data', persistentVolumeClaim: { claimName: `data-${i}` } }] } : {}),
    },
  };
}

async function measure(store: Store, withClaims: boolean): Promise<number> {
  await ensureDefaultStorageClass(store);
  await store.txn(Array.from({ length: NODES }, (_, i) => ({ op: 'create' as const, object: node(i) as KubeObject })));
  // Measured as `gantry up` measures them.
  const metrics = new Metrics();
  const manager = createControllerManager(store, { log: silentLogger(), metrics });
  await manager.start();
  if (withClaims) for (let i = 0; i < PODS; i += 100) await store.txn(Array.from({ length: 100 }, (_, k) => ({ op: 'create' as const, object: claim(i + k) as KubeObject })));
  const ac = new AbortController();
  const timeout = setTimeout(() => ac.abort(), 120_000);
  const t0 = performance.now();
  for (let i = 0; i < PODS; i += 100) await store.txn(Array.from({ length: 100 }, (_, k) => ({ op: 'create' as const, object: pod(i + k, withClaims) as KubeObject })));
  const scheduler = new Scheduler({ store, logger: silentLogger(), metrics });
  const running = scheduler.start(ac.signal);
  try {
    for (;;) {
      const pods = (await store.list<Pod>('Pod', { namespace: 'bench' })).items;
      const claims = withClaims ? (await store.list<PersistentVolumeClaim>('PersistentVolumeClaim', { namespace: 'bench' })).items : [];
      if (pods.every((p) => p.spec.nodeName) && claims.every((c) => c.status?.phase === 'Bound')) break;
      if (ac.signal.aborted) {
        const phases = claims.reduce<Record<string, number>>((m, c) => ((m[c.status?.phase ?? 'none'] = (m[c.status?.phase ?? 'none'] ?? 0) + 1), m), {});
        const stuck = claims.filter((c) => c.status?.phase !== 'Bound').map((c) => c.metadata.name).slice(0, 5);
        throw new Error(`not all pods and claims bound within 120 s: ${pods.filter((p) => p.spec.nodeName).length}/${PODS} pods bound, claims ${JSON.stringify(phases)} (${stuck.join(', ')})`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    return (performance.now() - t0) / 1000;
  } finally {
    clearTimeout(timeout);
    ac.abort();
    await running.catch(() => undefined);
    await manager.stop();
  }
}

/** The bench entry `storage` (see bench/run.ts). */
export async function benchStorage(): Promise<Record<string, number | string>> {
  const figures: Record<string, number | string> = { nodes: NODES, pods: PODS };
  for (const withClaims of [false, true]) {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'gantry-bench-storage-'));
    try {
      const store = openSqliteStore(path.join(dir, 'state.db'));
      try {
        const s = await measure(store, withClaims);
        const label = withClaims ? 'pods with a WaitForFirstConsumer claim each: pods and claims bound in' : 'pods without claims: bound in';
        figures[label] = `${s.toFixed(2)} s (${(PODS / s).toFixed(0)} pods/s)`;
      } finally {
        await store.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
  return figures;
}
