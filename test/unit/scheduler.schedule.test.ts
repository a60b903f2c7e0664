import assert from 'node:assert/strict';
import type { Deployment, DaemonSet, Job, Node, Pod, PodSpec, Taint } from '../../src/model/types.js';
import { cacheFrom, SchedulerCache } from '../../src/scheduler/cache.js';
import { checkCapacity, podsForWorkload } from '../../src/scheduler/capacity.js';
import { boundCopy } from '../../src/scheduler/podinfo.js';
import {
  formatUnschedulableMessage, isUnschedulable, numFeasibleNodesToFind, schedulePod, type ScheduleResult,
} from '../../src/scheduler/schedule.js';

function node(name: string, o: { cpu?: string; memory?: string; labels?: Record<string, string>; taints?: Taint[] } = {}): Node {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels: o.labels },
    spec: { taints: o.taints },
    status: { allocatable: { cpu: o.cpu ?? '4', memory: o.memory ?? '8Gi', pods: '110' } },
  };
}

function pod(name: string, o: { cpu?: string; memory?: string; labels?: Record<string, string>; nodeName?: string; owner?: string; spec?: Partial<PodSpec> } = {}): Pod {
  const requests: Record<string, string> = {};
  if (o.cpu) requests.cpu = o.cpu;
  if (o.memory) requests.memory = o.memory;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: 'default',
      labels: o.labels,
      ownerReferences: o.owner ? [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: o.owner, uid: o.owner, controller: true }] : undefined,
    },
    spec: { containers: [{ name: 'c', image: 'busybox', resources: { requests } }], nodeName: o.nodeName, ...o.spec },
  };
}

function nodeOf(r: ScheduleResult): string {
  assert.ok(!isUnschedulable(r), isUnschedulable(r) ? r.message : '');
  return r.node;
}

/** Schedules pods one after another, assuming each, and returns node → pod names. */
function scheduleAll(cache: SchedulerCache, pods: Pod[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const p of pods) {
    const n = nodeOf(schedulePod(p, cache));
    cache.upsertPod(boundCopy(p, n));
    out.set(n, [...(out.get(n) ?? []), p.metadata.name]);
  }
  return out;
}

describe('scheduler/schedule', () => {
  it('words the failure as Kubernetes does, reasons counted and sorted', () => {
    const gpu: Taint = { key: 'dedicated', value: 'gpu', effect: 'NoSchedule' };
    const cache = cacheFrom([node('a', { memory: '1Gi' }), node('b', { taints: [gpu] }), node('c', { taints: [gpu] })], []);
    const r = schedulePod(pod('p', { memory: '2Gi' }), cache);
    assert.ok(isUnschedulable(r));
    assert.equal(r.message, '0/3 nodes are available: 1 Insufficient memory, 2 node(s) had untolerated taint {dedicated: gpu}.');
    assert.deepEqual(r.reasons, { 'Insufficient memory': 1, 'node(s) had untolerated taint {dedicated: gpu}': 2 });
  });

  it('counts several resource reasons for one node', () => {
    const cache = cacheFrom([node('a', { cpu: '1', memory: '1Gi' }), node('b', { cpu: '1', memory: '1Gi' })], []);
    const r = schedulePod(pod('p', { cpu: '2', memory: '2Gi' }), cache);
    assert.ok(isUnschedulable(r));
    assert.equal(r.message, '0/2 nodes are available: 2 Insufficient cpu, 2 Insufficient memory.');
  });

  it('places pods wanting an extended resource only where it is offered, until it runs out, and frees it with the pod', () => {
    const gpuNode: Node = { ...node('gpu'), status: { allocatable: { ...node('gpu').status!.allocatable, 'nvidia.com/gpu': '2' } } };
    const cache = cacheFrom([node('plain'), gpuNode], []);
    const wants = (name: string): Pod => ({ ...pod(name), spec: { containers: [{ name: 'c', image: 'x', resources: { requests: { 'nvidia.com/gpu': '1' }, limits: { 'nvidia.com/gpu': '1' } } }] } });
    for (const name of ['t1', 't2']) {
      const p = wants(name);
      const placed = nodeOf(schedulePod(p, cache));
      assert.equal(placed, 'gpu');
      cache.upsertPod(boundCopy(p, placed));
    }
    const r = schedulePod(wants('t3'), cache);
    assert.ok(isUnschedulable(r));
    assert.equal(r.message, '0/2 nodes are available: 2 Insufficient nvidia.com/gpu.');
    cache.removePod('default/t1');
    assert.equal(nodeOf(schedulePod(wants('t3'), cache)), 'gpu');
  });

  it('says so when there are no nodes', () => {
    const r = schedulePod(pod('p'), new SchedulerCache());
    assert.ok(isUnschedulable(r));
    assert.match(r.message, /no nodes available/);
  });

  it('formats reasons sorted as strings', () => {
    assert.equal(formatUnschedulableMessage(5, { 'node(s) were unschedulable': 2, 'Insufficient cpu': 3 }), '0/5 nodes are available: 2 node(s) were unschedulable, 3 Insufficient cpu.');
  });

  it('prefers the least allocated node', () => {
    const cache = cacheFrom([node('busy'), node('idle')], [pod('e', { cpu: '3', memory: '6Gi', nodeName: 'busy' })]);
    for (let i = 0; i < 5; i++) assert.equal(nodeOf(schedulePod(pod(`p${i}`, { cpu: '100m', memory: '100Mi' }), cache)), 'idle');
  });

  it('fills nodes so that pods land where there is room', () => {
    const cache = cacheFrom([node('a', { cpu: '2' }), node('b', { cpu: '2' })], []);
    const placed = scheduleAll(cache, [pod('p1', { cpu: '1500m' }), pod('p2', { cpu: '1500m' })]);
    assert.equal(placed.size, 2, 'each 1.5-cpu pod needs its own 2-cpu node');
    assert.ok(isUnschedulable(schedulePod(pod('p3', { cpu: '1500m' }), cache)));
  });

  it('spreads replicas across zones under a DoNotSchedule constraint', () => {
    const nodes = ['a', 'b', 'c'].flatMap((z) => [node(`${z}1`, { labels: { zone: z } }), node(`${z}2`, { labels: { zone: z } })]);
    const cache = cacheFrom(nodes, []);
    const spread = { topologySpreadConstraints: [{ maxSkew: 1, topologyKey: 'zone', whenUnsatisfiable: 'DoNotSchedule' as const, labelSelector: { matchLabels: { app: 'web' } } }] };
    const placed = scheduleAll(cache, Array.from({ length: 6 }, (_, i) => pod(`web-${i}`, { labels: { app: 'web' }, spec: spread })));
    const perZone: Record<string, number> = {};
    for (const [n, ps] of placed) perZone[n[0]!] = (perZone[n[0]!] ?? 0) + ps.length;
    assert.deepEqual(perZone, { a: 2, b: 2, c: 2 });
  });

  it('spreads replicas of one owner across zones by default', () => {
    const nodes = ['a', 'b', 'c'].flatMap((z) => [1, 2, 3].map((i) => node(`${z}${i}`, { labels: { 'topology.kubernetes.io/zone': z } })));
    const cache = cacheFrom(nodes, []);
    const placed = scheduleAll(cache, Array.from({ length: 9 }, (_, i) => pod(`web-${i}`, { owner: 'rs-web' })));
    const perZone: Record<string, number> = {};
    for (const [n, ps] of placed) perZone[n[0]!] = (perZone[n[0]!] ?? 0) + ps.length;
    assert.deepEqual(perZone, { a: 3, b: 3, c: 3 });
    assert.equal(placed.size, 9, 'one replica per node');
  });

  it('keeps anti-affine replicas on different nodes and reports the rest unschedulable', () => {
    const cache = cacheFrom([node('n1'), node('n2'), node('n3')], []);
    const anti = { affinity: { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: { app: 'db' } }, topologyKey: 'kubernetes.io/hostname' }] } } };
    const placed = scheduleAll(cache, [0, 1, 2].map((i) => pod(`db-${i}`, { labels: { app: 'db' }, spec: anti })));
    assert.equal(placed.size, 3);
    const r = schedulePod(pod('db-3', { labels: { app: 'db' }, spec: anti }), cache);
    assert.ok(isUnschedulable(r));
    assert.equal(r.message, "0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules.");
  });

  it('honours nodeSelector and tolerations together', () => {
    const gpu: Taint = { key: 'dedicated', value: 'gpu', effect: 'NoSchedule' };
    const cache = cacheFrom([node('plain'), node('gpu', { labels: { accelerator: 'gpu' }, taints: [gpu] })], []);
    const p = pod('trainer', { spec: { nodeSelector: { accelerator: 'gpu' }, tolerations: [{ key: 'dedicated', operator: 'Exists' }] } });
    assert.equal(nodeOf(schedulePod(p, cache)), 'gpu');
    const r = schedulePod(pod('web'), cache);
    assert.equal(nodeOf(r), 'plain');
  });

  it('samples nodes adaptively as Kubernetes does', () => {
    const cases: [number, number][] = [[50, 50], [100, 100], [1000, 420], [5000, 500], [6000, 300], [10000, 500]];
    for (const [all, want] of cases) assert.equal(numFeasibleNodesToFind(all), want, `${all} nodes`);
    assert.equal(numFeasibleNodesToFind(5000, 100), 5000);
  });

  it('rotates where filtering starts, so a large cluster is used evenly', () => {
    const nodes = Array.from({ length: 400 }, (_, i) => node(`n${String(i).padStart(3, '0')}`));
    const cache = cacheFrom(nodes, []);
    // 400 nodes: 47% (188) are examined per pod, starting where the previous pod stopped; with
    // equal scores and a tie-breaker that keeps the first, each pod lands where its window starts.
    const got = [0, 1, 2].map((i) => nodeOf(schedulePod(pod(`p${i}`), cache, { random: () => 0.99 })));
    assert.deepEqual(got, ['n000', 'n188', 'n376']);
  });
});

describe('scheduler/capacity', () => {
  const web: Deployment = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: 'default' },
    spec: {
      replicas: 4,
      selector: { matchLabels: { app: 'web' } },
      template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: 'busybox', resources: { requests: { cpu: '1', memory: '1Gi' } } }] } },
    },
  };

  it('expands workloads into the pods they would run', () => {
    assert.equal(podsForWorkload(web).pods.length, 4);
    assert.deepEqual(podsForWorkload(web).pods.map((p) => p.metadata.name), ['web-0', 'web-1', 'web-2', 'web-3']);
    const job: Job = { apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'j' }, spec: { parallelism: 5, completions: 2, template: web.spec.template } };
    assert.equal(podsForWorkload(job).pods.length, 2);
    assert.equal(podsForWorkload({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' } }).pods.length, 0);
  });

  it('expands a DaemonSet to one pinned pod per eligible node', () => {
    const ds: DaemonSet = {
      apiVersion: 'apps/v1',
      kind: 'DaemonSet',
      metadata: { name: 'agent', namespace: 'default' },
      spec: { selector: { matchLabels: { app: 'agent' } }, template: { metadata: { labels: { app: 'agent' } }, spec: { containers: [{ name: 'c', image: 'x' }], nodeSelector: { os: 'linux' } } } },
    };
    const nodes = [node('a', { labels: { os: 'linux' } }), node('b', { labels: { os: 'linux' }, taints: [{ key: 'dedicated', value: 'gpu', effect: 'NoSchedule' }] }), node('c')];
    const w = podsForWorkload(ds, { nodes });
    assert.equal(w.perNode, true);
    assert.deepEqual(w.pods.map((p) => p.metadata.name), ['agent-a']);
    const r = checkCapacity(w.pods, nodes, []);
    assert.deepEqual(r.placements, { a: 1 });
  });

  it('reports that new replicas fit and where they would go', () => {
    const nodes = [node('a'), node('b')];
    const r = checkCapacity(podsForWorkload(web).pods, nodes, []);
    assert.equal(r.fits, true);
    assert.deepEqual(r.placements, { a: 2, b: 2 });
    assert.deepEqual(r.unschedulable, []);
  });

  it('reports the replicas that do not fit next to existing pods, with the reason', () => {
    const nodes = [node('a'), node('b')];
    const existing = [pod('old', { cpu: '3', nodeName: 'a' }), pod('old2', { cpu: '3', nodeName: 'b' })];
    const r = checkCapacity(podsForWorkload(web).pods, nodes, existing);
    assert.equal(r.fits, false);
    assert.deepEqual(r.placements, { a: 1, b: 1 });
    assert.deepEqual(r.unschedulable.map((u) => u.pod), ['default/web-2', 'default/web-3']);
    assert.equal(r.unschedulable[0]!.message, '0/2 nodes are available: 2 Insufficient cpu.');
  });

  it('does not change the cache it starts from', () => {
    const cache = cacheFrom([node('a')], []);
    checkCapacity(podsForWorkload(web).pods, [], [], { cache });
    assert.equal(cache.get('a')!.requested.cpu, 0);
  });
});
