import assert from 'node:assert/strict';
import { goDuration } from '../../src/model/time.js';
import { createApiServer } from '../../src/api/server.js';
import { silentLogger } from '../../src/log.js';
import { parseUsageReport } from '../../src/metrics-server/report.js';
import { UsageStore } from '../../src/metrics-server/usage-store.js';
import type { NodeUsageReport, UsagePoint } from '../../src/model/metrics.js';
import type { Node, Pod } from '../../src/model/types.js';
import { MemoryStore } from '../fakes/memory-store.js';

const T0 = Date.parse('2026-12-01T12:00:00Z');
const S = 1e9; // a second of CPU time, in nanoseconds
const MI = 1024 * 1024;

function pod(name: string, opts: { uid?: string; node?: string; labels?: Record<string, string> } = {}): Pod {
  return {
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name, namespace: 'default', uid: opts.uid ?? `uid-${name}`, ...(opts.labels ? { labels: opts.labels } : {}) },
    spec: { nodeName: opts.node ?? 'n1', containers: [{ name: 'main', image: 'busybox' }] },
  };
}

/** A report of node `n1` at `t`: each pod's containers with cumulative CPU seconds and memory MiB. */
function report(t: number, pods: Record<string, Record<string, { cpu: number; mem: number; started?: number }>>, node: Partial<UsagePoint> = {}): NodeUsageReport {
  return {
    periodMs: 15_000,
    node: { startTime: T0 - 86_400_000, timestamp: t, cpuNanos: 1000 * S + (t - T0) * 1e6, memoryBytes: 2048 * MI, ...node },
    pods: Object.entries(pods).map(([name, containers]) => ({
      uid: `uid-${name}`, namespace: 'default', name,
      containers: Object.entries(containers).map(([c, u]) => ({ name: c, startTime: u.started ?? T0 - 3_600_000, timestamp: t, cpuNanos: u.cpu * S, memoryBytes: u.mem * MI })),
    })),
  };
}

describe('metrics-server: usage kept in memory, rates as metrics-server computes them', () => {
  let now = T0;
  const store = (): UsageStore => new UsageStore({ now: () => now });
  beforeEach(() => { now = T0; });

  it('serves nothing for a pod until two readings a window apart are in', () => {
    const u = store();
    u.record('n1', report(T0, { web: { main: { cpu: 10, mem: 30 } } }));
    assert.equal(u.podMetrics(pod('web')), undefined);
    now = T0 + 15_000;
    u.record('n1', report(T0 + 15_000, { web: { main: { cpu: 13, mem: 40 } } }));
    assert.deepEqual(u.podMetrics(pod('web')), { timestamp: T0 + 15_000, windowMs: 15_000, containers: [{ name: 'main', usage: { cpuNanoCores: 200_000_000, memoryBytes: 40 * MI } }] });
  });

  it('serves a pod only when every container of it has a rate', () => {
    const u = store();
    u.record('n1', report(T0, { web: { main: { cpu: 1, mem: 1 } } }));
    u.record('n1', report(T0 + 15_000, { web: { main: { cpu: 2, mem: 1 }, sidecar: { cpu: 1, mem: 1 } } }));
    assert.equal(u.podMetrics(pod('web')), undefined);
    u.record('n1', report(T0 + 30_000, { web: { main: { cpu: 3, mem: 1 }, sidecar: { cpu: 2, mem: 1 } } }));
    assert.equal(u.podMetrics(pod('web'))?.containers.length, 2);
  });

  it('starts over when a container restarted between two readings', () => {
    const u = store();
    u.record('n1', report(T0, { web: { main: { cpu: 50, mem: 1 } } }));
    u.record('n1', report(T0 + 15_000, { web: { main: { cpu: 1, mem: 1, started: T0 + 8_000 } } }));
    assert.equal(u.podMetrics(pod('web')), undefined, 'no rate across a restart (CPU went back)');
    u.record('n1', report(T0 + 30_000, { web: { main: { cpu: 4, mem: 1, started: T0 + 8_000 } } }));
    assert.equal(u.podMetrics(pod('web'))?.containers[0]?.usage.cpuNanoCores, 200_000_000);
  });

  it('takes a container\'s start as its first reading when it is between 10 s and one period old (metrics-server\'s fresh container rule)', () => {
    const u = new UsageStore({ now: () => T0 });
    const r = report(T0, { web: { main: { cpu: 6, mem: 1, started: T0 - 12_000 } } });
    u.record('n1', r);
    assert.equal(u.podMetrics(pod('web'))?.containers[0]?.usage.cpuNanoCores, 500_000_000);
    assert.equal(u.podMetrics(pod('web'))?.windowMs, 12_000);
  });

  it('serves a pod only from the node it is bound to, for its own uid', () => {
    const u = store();
    u.record('n1', report(T0, { web: { main: { cpu: 1, mem: 1 } } }));
    u.record('n1', report(T0 + 15_000, { web: { main: { cpu: 2, mem: 1 } } }));
    assert.ok(u.podMetrics(pod('web')));
    assert.equal(u.podMetrics(pod('web', { node: 'n2' })), undefined, 'another node\'s agent cannot speak for it');
    assert.equal(u.podMetrics(pod('web', { uid: 'uid-new' })), undefined, 'a new pod of the same name has no readings');
  });

  it('forgets pods its node no longer reports, and stops serving a node silent for three periods', () => {
    const u = store();
    u.record('n1', report(T0, { web: { main: { cpu: 1, mem: 1 } } }));
    u.record('n1', report(T0 + 15_000, { web: { main: { cpu: 2, mem: 1 } } }));
    assert.ok(u.nodeMetrics('n1'));
    now = T0 + 15_000 + 46_000;
    assert.equal(u.podMetrics(pod('web')), undefined);
    assert.equal(u.nodeMetrics('n1'), undefined);
    assert.deepEqual(u.nodeNames(), []);
    now = T0 + 30_000;
    u.record('n1', report(T0 + 30_000, {}));
    assert.equal(u.podMetrics(pod('web')), undefined);
  });

  it('computes the node\'s CPU rate and keeps its memory', () => {
    const u = store();
    u.record('n1', report(T0, {}));
    u.record('n1', report(T0 + 10_000, {}, { cpuNanos: 1000 * S + 15 * S }));
    assert.deepEqual(u.nodeMetrics('n1'), { timestamp: T0 + 10_000, windowMs: 10_000, usage: { cpuNanoCores: 1_500_000_000, memoryBytes: 2048 * MI } });
  });

  const bad: [string, unknown, RegExp][] = [
    ['not an object', [], /^body: a usage report/],
    ['a zero period', { periodMs: 0, node: {}, pods: [] }, /^periodMs:/],
    ['a negative CPU time', { periodMs: 1000, node: { startTime: 0, timestamp: 1, cpuNanos: -1, memoryBytes: 0 }, pods: [] }, /^node\.cpuNanos: a non-negative number is required$/],
    ['a pod without containers', { periodMs: 1000, node: { startTime: 0, timestamp: 1, cpuNanos: 1, memoryBytes: 0 }, pods: [{ uid: 'u', namespace: 'd', name: 'p' }] }, /^pods\[0\]: uid, namespace, name and containers are required$/],
    ['a container without a name', { periodMs: 1000, node: { startTime: 0, timestamp: 1, cpuNanos: 1, memoryBytes: 0 }, pods: [{ uid: 'u', namespace: 'd', name: 'p', containers: [{ startTime: 0, timestamp: 1, cpuNanos: 1, memoryBytes: 0 }] }] }, /^pods\[0\]\.containers\[0\]\.name/],
  ];
  for (const [name, body, message] of bad) {
    it(`parseUsageReport() refuses ${name}, naming the field`, () => {
      const got = parseUsageReport(body);
      assert.equal(typeof got, 'string');
      assert.match(got as string, message);
    });
  }

  it('parseUsageReport() takes what an agent sends', () => {
    const r = report(T0, { web: { main: { cpu: 1, mem: 1 } } });
    assert.deepEqual(parseUsageReport(JSON.parse(JSON.stringify(r))), r);
  });

  it('goDuration() prints windows as Go does', () => {
    assert.deepEqual([15_000, 15_002, 500, 0, 60_000, 90_500, 3_723_000].map(goDuration), ['15s', '15.002s', '500ms', '0s', '1m0s', '1m30.5s', '1h2m3s']);
  });
});

describe('metrics.k8s.io/v1beta1 (kubectl top)', () => {
  const store = new MemoryStore();
  let now = T0;
  const usage = new UsageStore({ now: () => now });
  const app = createApiServer({ store, logger: silentLogger(), usage });
  before(async () => {
    await store.create<Pod>(pod('web-1', { labels: { app: 'web' } }));
    await store.create<Pod>(pod('web-2', { labels: { app: 'web' } }));
    await store.create<Pod>(pod('db', { labels: { app: 'db' } }));
    await store.create<Node>({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1', labels: { 'kubernetes.io/hostname': 'n1' } }, spec: {} });
    const uidOf = async (name: string) => (await store.get<Pod>({ kind: 'Pod', namespace: 'default', name }))!.metadata.uid!;
    const uids = { 'web-1': await uidOf('web-1'), 'web-2': await uidOf('web-2'), db: await uidOf('db') };
    for (const [t, cpu] of [[T0, 1], [T0 + 15_000, 1.5]] as const) {
      const r = report(t, { 'web-1': { main: { cpu, mem: 64 } }, 'web-2': { main: { cpu: cpu * 2, mem: 100 } } });
      for (const p of r.pods) p.uid = uids[p.name as 'web-1' | 'web-2'];
      now = t;
      usage.record('n1', r);
    }
  });
  after(async () => {
    await app.close();
    await store.close();
  });

  it('is listed in discovery with pods and nodes', async () => {
    const groups = (await app.inject({ url: '/apis' })).json<{ groups: { name: string; preferredVersion: { groupVersion: string } }[] }>();
    assert.equal(groups.groups.find((g) => g.name === 'metrics.k8s.io')?.preferredVersion.groupVersion, 'metrics.k8s.io/v1beta1');
    const list = (await app.inject({ url: '/apis/metrics.k8s.io/v1beta1' })).json<{ resources: { name: string; kind: string; namespaced: boolean }[] }>();
    assert.deepEqual(list.resources.map((r) => [r.name, r.kind, r.namespaced]), [['nodes', 'NodeMetrics', false], ['pods', 'PodMetrics', true]]);
  });

  it('lists PodMetrics of a namespace by label selector, with the pods\' labels, nanocores and binary memory', async () => {
    const res = await app.inject({ url: '/apis/metrics.k8s.io/v1beta1/namespaces/default/pods?labelSelector=app%3Dweb' });
    assert.equal(res.statusCode, 200);
    const body = res.json<{ kind: string; items: { metadata: { name: string; labels: Record<string, string> }; timestamp: string; window: string; containers: { name: string; usage: { cpu: string; memory: string } }[] }[] }>();
    assert.equal(body.kind, 'PodMetricsList');
    assert.deepEqual(body.items.map((i) => [i.metadata.name, i.metadata.labels.app, i.timestamp, i.window, i.containers[0]!.usage]), [
      ['web-1', 'web', '2026-12-01T12:00:15Z', '15s', { cpu: '33333333n', memory: '64Mi' }],
      ['web-2', 'web', '2026-12-01T12:00:15Z', '15s', { cpu: '66666666n', memory: '100Mi' }],
    ]);
  });

  it('answers one pod, and 404 in metrics-server\'s words for a pod without readings', async () => {
    const one = await app.inject({ url: '/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/web-1' });
    assert.equal(one.json<{ kind: string }>().kind, 'PodMetrics');
    const none = await app.inject({ url: '/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/db' });
    assert.equal(none.statusCode, 404);
    assert.equal(none.json<{ message: string }>().message, 'podmetrics.metrics.k8s.io "default/db" not found');
  });

  it('lists NodeMetrics with the node\'s usage', async () => {
    const res = (await app.inject({ url: '/apis/metrics.k8s.io/v1beta1/nodes' })).json<{ kind: string; items: { metadata: { name: string }; usage: { cpu: string; memory: string } }[] }>();
    assert.deepEqual(res.items.map((i) => [i.metadata.name, i.usage]), [['n1', { cpu: '1', memory: '2Gi' }]]);
    assert.equal((await app.inject({ url: '/apis/metrics.k8s.io/v1beta1/nodes/n9' })).statusCode, 404);
  });

  it('takes a remote agent\'s report for its node, and refuses a malformed one naming the field', async () => {
    const ok = await app.inject({ method: 'POST', url: '/apis/gantry.dev/v1/nodes/n2/agent/usage', payload: report(T0 + 15_000, {}) });
    assert.equal(ok.statusCode, 204);
    const badReport = await app.inject({ method: 'POST', url: '/apis/gantry.dev/v1/nodes/n2/agent/usage', payload: { periodMs: 15_000, node: {}, pods: [] } });
    assert.equal(badReport.statusCode, 400);
    assert.equal(badReport.json<{ message: string }>().message, 'usage report of node n2: node.startTime: a non-negative number is required');
  });
});
