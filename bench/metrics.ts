/**
 * What measuring costs: the same control-plane work with metrics and without, alternating in one
 * process so that a shared machine's load falls on both alike.
 *
 * - controllers + scheduler on SQLite (as `gantry server` runs them, no node agents): 10 Ready
 *   nodes, 40 Deployments of 10 replicas created at once; time until all 400 pods are bound.
 *   Six rounds each way, in turns, a fresh store per round; medians and their ratio.
 * - the work queue alone (add, get, done of 200,000 keys), where the per-key cost of the
 *   instrumentation is not hidden behind store writes: an upper bound. Beside it, the same
 *   families made of prom-client's own Counter and Histogram: the reason for src/metrics/hot.ts.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { Counter, Histogram, Registry } from 'prom-client';
import os from 'node:os';
import path from 'node:path';
import { createControllerManager } from '../src/controllers/index.js';
import { WorkQueue } from '../src/controllers/queue.js';
import { silentLogger } from '../src/log.js';
import { Metrics, type QueueObserver, type WorkqueueMetrics } from '../src/metrics/index.js';
import type { Deployment, KubeObject, Node, Pod } from '../src/model/types.js';
import { Scheduler } from '../src/scheduler/scheduler.js';
import { openSqliteStore } from '../src/store/sqlite.js';
import { percentile } from './stats.js';

const NODES = 10;
const DEPLOYMENTS = 40;
const REPLICAS = 10;
const ROUNDS = 6;
const QUEUE_KEYS = 200_000;

function node(i: number): Node {
  const now = new Date().toISOString();
  return {
    apiVersion: 'v1', kind: 'Node',
    metadata: { name: `node-${i}`, labels: { 'kubernetes.io/hostname': `node-${i}` } },
    spec: {},
    status: { allocatable: { cpu: '64', memory: '256Gi', pods: '110' }, conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: now, lastHeartbeatTime: now } as never] },
  };
}

function deployment(i: number): Deployment {
  return {
    apiVersion: 'apps/v1', kind: 'Deployment',
    metadata: { name: `app-${i}`, namespace: 'bench' },
    spec: {
      replicas: REPLICAS,
      selector: { matchLabels: { app: `app-${i}` } },
      template: { metadata: { labels: { app: `app-${i}` } }, spec: { containers: [{ name: 'c', image: 'busybox', resources: { requests: { cpu: '10m', memory: '8Mi' } } }] } },
    },
  };
}

/** Seconds from creating the Deployments to every pod bound, and the CPU seconds this process spent meanwhile. */
async function controlPlaneRound(metrics: Metrics | undefined): Promise<{ seconds: number; cpu: number }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gantry-bench-metrics-'));
  const store = openSqliteStore(path.join(dir, 'state.db'));
  const ac = new AbortController();
  const manager = createControllerManager(store, { log: silentLogger(), ...(metrics ? { metrics } : {}) });
  let running: Promise<void> | undefined;
  try {
    await store.txn(Array.from({ length: NODES }, (_, i) => ({ op: 'create' as const, object: node(i) as KubeObject })));
    await manager.start();
    running = new Scheduler({ store, logger: silentLogger(), ...(metrics ? { metrics } : {}) }).start(ac.signal);
    const want = DEPLOYMENTS * REPLICAS;
    const from = await store.revision();
    let bound = 0;
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    const done = (async () => {
      for await (const ev of store.watch({ kinds: ['Pod'], fromRevision: from, signal: ac.signal })) {
        if (ev.type === 'MODIFIED' && (ev.object as Pod).spec.nodeName && !(ev.prevObject as Pod | undefined)?.spec.nodeName && ++bound === want) return;
      }
    })();
    await store.txn(Array.from({ length: DEPLOYMENTS }, (_, i) => ({ op: 'create' as const, object: deployment(i) as KubeObject })));
    const timeout = setTimeout(() => ac.abort(), 120_000);
    await done.catch(() => undefined);
    clearTimeout(timeout);
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    if (bound < want) throw new Error(`only ${bound} of ${want} pods bound within 120 s`);
    // On a shared machine wall time includes waiting for a CPU; CPU time does not.
    return { seconds, cpu: (cpu.user + cpu.system) / 1e6 };
  } finally {
    ac.abort();
    await running?.catch(() => undefined);
    await manager.stop();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/** The work-queue families made of prom-client's own Counter and Histogram, labels given on each call. */
function promClientWorkqueue(): WorkqueueMetrics {
  const registers = [new Registry()];
  const buckets = [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60];
  const adds = new Counter({ name: 'adds_total', help: 'h', labelNames: ['name'] as const, registers });
  const retries = new Counter({ name: 'retries_total', help: 'h', labelNames: ['name'] as const, registers });
  const waited = new Histogram({ name: 'queue_seconds', help: 'h', labelNames: ['name'] as const, buckets, registers });
  const worked = new Histogram({ name: 'work_seconds', help: 'h', labelNames: ['name'] as const, buckets, registers });
  const forQueue = (name: string): QueueObserver => {
    const l = { name };
    return { added: () => adds.inc(l), retried: () => retries.inc(l), waited: (s) => waited.observe(l, s), worked: (s) => worked.observe(l, s) };
  };
  return { forQueue } as unknown as WorkqueueMetrics;
}

/** Keys per second through add, get and done. */
async function queueRound(metrics: WorkqueueMetrics | undefined): Promise<number> {
  const q = new WorkQueue(metrics ? { name: 'bench', metrics } : {});
  const t0 = performance.now();
  for (let i = 0; i < QUEUE_KEYS; i++) {
    q.add(`k${i % 1000}`);
    if (q.len() >= 100) {
      while (q.len() > 0) q.done((await q.get())!);
    }
  }
  while (q.len() > 0) q.done((await q.get())!);
  return QUEUE_KEYS / ((performance.now() - t0) / 1000);
}

/** The bench entry `metrics` (see bench/run.ts). */
export async function benchMetrics(): Promise<Record<string, number | string>> {
  const plain: Array<{ seconds: number; cpu: number }> = [];
  const measured: Array<{ seconds: number; cpu: number }> = [];
  await controlPlaneRound(undefined); // warm-up: JIT, SQLite, the page cache
  // In turns, each side first every other round, so a load that rises or falls favours neither.
  for (let r = 0; r < ROUNDS; r++) {
    if (r % 2 === 0) plain.push(await controlPlaneRound(undefined));
    measured.push(await controlPlaneRound(new Metrics()));
    if (r % 2 === 1) plain.push(await controlPlaneRound(undefined));
  }
  const pods = DEPLOYMENTS * REPLICAS;
  const a = percentile(plain.map((x) => x.seconds), 50);
  const b = percentile(measured.map((x) => x.seconds), 50);
  const ca = percentile(plain.map((x) => x.cpu), 50);
  const cb = percentile(measured.map((x) => x.cpu), 50);
  const qPlain: number[] = [];
  const qMeasured: number[] = [];
  const qPromClient: number[] = [];
  for (let r = 0; r < 6; r++) {
    if (r % 2 === 0) qPlain.push(await queueRound(undefined));
    qMeasured.push(await queueRound(new Metrics().workqueue));
    qPromClient.push(await queueRound(promClientWorkqueue()));
    if (r % 2 === 1) qPlain.push(await queueRound(undefined));
  }
  const qa = percentile(qPlain, 50);
  const qb = percentile(qMeasured, 50);
  const qc = percentile(qPromClient, 50);
  return {
    'control plane (pods)': `${pods} (${DEPLOYMENTS} Deployments × ${REPLICAS}, ${NODES} nodes, SQLite)`,
    'without metrics: all bound in (median)': `${a.toFixed(2)} s (${(pods / a).toFixed(0)} pods/s); rounds ${plain.map((x) => x.seconds.toFixed(2)).join(', ')}`,
    'with metrics: all bound in (median)': `${b.toFixed(2)} s (${(pods / b).toFixed(0)} pods/s); rounds ${measured.map((x) => x.seconds.toFixed(2)).join(', ')}`,
    'throughput with / without metrics': (a / b).toFixed(3),
    'without metrics: CPU seconds (median)': `${ca.toFixed(2)} (${(pods / ca).toFixed(0)} pods per CPU-second)`,
    'with metrics: CPU seconds (median)': `${cb.toFixed(2)} (${(pods / cb).toFixed(0)} pods per CPU-second)`,
    'pods per CPU-second with / without metrics': (ca / cb).toFixed(3),
    'work queue without metrics (keys/s, median)': Math.round(qa),
    'work queue with metrics (keys/s, median)': Math.round(qb),
    'work queue throughput with / without': (qb / qa).toFixed(3),
    'work queue with prom-client\'s Counter and Histogram instead (keys/s, median)': `${Math.round(qc)} (${(qc / qa).toFixed(3)} of without)`,
  };
}
