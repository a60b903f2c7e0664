/**
 * Scheduler throughput: 5,000 simulated nodes and 10,000 pods through the pure path
 * (schedulePod + assume in the cache), as kube-scheduler's scheduler_perf measures it.
 */
import { SchedulerCache } from '../src/scheduler/cache.js';
import { isUnschedulable, schedulePod } from '../src/scheduler/schedule.js';
import { boundCopy } from '../src/scheduler/podinfo.js';
import type { Node, Pod } from '../src/model/types.js';

/** A tiny deterministic PRNG so runs are comparable. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function makeNodes(n: number, rand: () => number): Node[] {
  const sizes = [
    { cpu: '4', memory: '16Gi' },
    { cpu: '8', memory: '32Gi' },
    { cpu: '16', memory: '64Gi' },
    { cpu: '32', memory: '128Gi' },
  ];
  return Array.from({ length: n }, (_, i) => {
    const size = sizes[i % sizes.length]!;
    const gpu = i % 50 === 0;
    return {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: {
        name: `node-${String(i).padStart(5, '0')}`,
        labels: {
          'topology.kubernetes.io/zone': `zone-${i % 3}`,
          'node.kubernetes.io/instance-type': `m.${size.cpu}`,
          ...(rand() < 0.3 ? { disk: 'ssd' } : {}),
          ...(gpu ? { accelerator: 'gpu' } : {}),
        },
      },
      spec: gpu ? { taints: [{ key: 'dedicated', value: 'gpu', effect: 'NoSchedule' }] } : {},
      status: { allocatable: { ...size, pods: '110' } },
    } satisfies Node;
  });
}

function makePods(n: number, rand: () => number): Pod[] {
  return Array.from({ length: n }, (_, i) => {
    const app = `app-${i % 200}`;
    const kind = rand();
    const pod: Pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: `pod-${i}`,
        namespace: 'default',
        labels: { app },
        ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: app, uid: `uid-${app}`, controller: true }],
      },
      spec: {
        containers: [{
          name: 'c',
          image: 'busybox',
          resources: { requests: { cpu: `${100 + Math.floor(rand() * 900)}m`, memory: `${128 + Math.floor(rand() * 1900)}Mi` } },
        }],
      },
    };
    if (kind < 0.2) pod.spec.nodeSelector = { disk: 'ssd' };
    else if (kind < 0.25) {
      pod.spec.nodeSelector = { accelerator: 'gpu' };
      pod.spec.tolerations = [{ key: 'dedicated', operator: 'Equal', value: 'gpu', effect: 'NoSchedule' }];
    } else if (kind < 0.27) {
      pod.metadata.labels = { app: `unique-${i % 20}` };
      pod.spec.affinity = {
        podAntiAffinity: {
          requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: { app: `unique-${i % 20}` } }, topologyKey: 'kubernetes.io/hostname' }],
        },
      };
    }
    return pod;
  });
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;
}

/** Runs the benchmark and returns its figures. Bounded: 10,000 pods, stops after 60 s. */
export async function benchScheduler(): Promise<Record<string, number | string>> {
  const rand = prng(42);
  const nodes = makeNodes(5000, rand);
  const pods = makePods(10000, rand);
  const cache = new SchedulerCache();
  for (const n of nodes) cache.setNode(n);
  const latencies: number[] = [];
  let unschedulable = 0;
  const deadline = performance.now() + 60_000;
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  for (const pod of pods) {
    const s = performance.now();
    const r = schedulePod(pod, cache, { random: rand });
    if (isUnschedulable(r)) unschedulable++;
    else cache.upsertPod(boundCopy(pod, r.node));
    latencies.push(performance.now() - s);
    if (s > deadline) break;
  }
  const elapsed = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  // On a shared machine wall time includes time spent waiting for a CPU; CPU time does not.
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  latencies.sort((a, b) => a - b);
  return {
    'scheduler nodes': nodes.length,
    'scheduler pods': latencies.length,
    'scheduler throughput (pods/s)': Math.round(latencies.length / elapsed),
    'scheduler throughput per CPU-second (pods/s)': Math.round(latencies.length / cpuSeconds),
    'scheduler latency p50 (ms)': Number(percentile(latencies, 50).toFixed(3)),
    'scheduler latency p99 (ms)': Number(percentile(latencies, 99).toFixed(3)),
    'scheduler unschedulable pods': unschedulable,
  };
}

const isMain = process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].replace(/^.*\//, ''));
if (isMain) {
  console.log(await benchScheduler());
}
