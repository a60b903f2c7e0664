import assert from 'node:assert/strict';
import { newHistory, normalizeReplicas, recordScale, type ScaleHistory } from '../../src/controllers/hpa/behavior.js';
import { rawResourceReplicas, resourceReplicas, type CalculatorSettings, type PodMetricsInfo } from '../../src/controllers/hpa/replicas.js';
import { HorizontalPodAutoscalerController } from '../../src/controllers/hpa/controller.js';
import { ControllerManager } from '../../src/controllers/runtime.js';
import type { ResourceMetricsReader } from '../../src/model/metrics.js';
import type { Deployment, HorizontalPodAutoscaler, Pod, StatefulSet } from '../../src/model/types.js';
import { MemoryStore } from '../fakes/memory-store.js';
import { eventually, NS, TestClock, untilIdle } from '../helpers/controllers.js';

const NOW = Date.parse('2026-12-01T12:00:00Z');
const iso = (ms: number): string => new Date(ms).toISOString();
const settings: CalculatorSettings = { tolerance: 0.1, cpuInitializationPeriodMs: 5 * 60_000, initialReadinessDelayMs: 30_000, now: NOW };

interface PodOpts {
  phase?: 'Pending' | 'Running' | 'Failed';
  ready?: 'True' | 'False';
  /** How long ago the pod started (default an hour). */
  startedAgo?: number;
  /** How long ago its Ready condition last changed (default when it started). */
  readyAgo?: number;
  cpu?: string;
  memory?: string;
  deleting?: boolean;
}

function pod(name: string, o: PodOpts = {}): Pod {
  const started = NOW - (o.startedAgo ?? 3_600_000);
  const requests: Record<string, string> = {};
  if (o.cpu !== undefined) requests.cpu = o.cpu;
  if (o.memory !== undefined) requests.memory = o.memory;
  return {
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name, namespace: 'default', ...(o.deleting ? { deletionTimestamp: iso(NOW) } : {}) },
    spec: { containers: [{ name: 'main', image: 'busybox', resources: { requests } }] },
    status: {
      phase: o.phase ?? 'Running',
      startTime: iso(started),
      conditions: [{ type: 'Ready', status: o.ready ?? 'True', lastTransitionTime: iso(o.readyAgo !== undefined ? NOW - o.readyAgo : started) }],
    },
  };
}

/** Readings (milli-units) by pod name, taken now over a 15 s window. */
function readings(values: Record<string, number>): PodMetricsInfo {
  return new Map(Object.entries(values).map(([name, value]) => [name, { value, timestamp: NOW, windowMs: 15_000 }]));
}

describe('controllers/hpa replica calculator (Kubernetes\' replica_calculator.go)', () => {
  const cpu = (n = 1, o: PodOpts = {}): Pod[] => Array.from({ length: n }, (_, i) => pod(`p${i}`, { cpu: '100m', ...o }));
  const cases: { name: string; current: number; pods: Pod[]; metrics: Record<string, number>; target: number; want: number; utilization?: number }[] = [
    { name: 'keeps the count when the ratio is within the 0.1 tolerance (105% of a 100% target)', current: 2, pods: cpu(2), metrics: { p0: 105, p1: 105 }, target: 100, want: 2, utilization: 105 },
    { name: 'scales up to ceil(ratio × ready pods): 200% of a 50% target on 2 pods → 8', current: 2, pods: cpu(2), metrics: { p0: 200, p1: 200 }, target: 50, want: 8, utilization: 200 },
    { name: 'scales down: 10% of a 50% target on 4 pods → 1', current: 4, pods: cpu(4), metrics: { p0: 10, p1: 10, p2: 10, p3: 10 }, target: 50, want: 1, utilization: 10 },
    { name: 'acts just past the tolerance (111% of 100% on 9 pods → 10)', current: 9, pods: cpu(9), metrics: Object.fromEntries(cpu(9).map((p) => [p.metadata.name, 111])), target: 100, want: 10 },
    { name: 'on a scale-down counts a pod without a reading as using all of its request', current: 4, pods: cpu(4), metrics: { p0: 10, p1: 10, p2: 10 }, target: 50, want: 3 },
    { name: 'on a scale-up counts a pod without a reading as using none', current: 2, pods: cpu(2), metrics: { p0: 200 }, target: 50, want: 4 },
    { name: 'on a scale-up counts a pending pod as using none', current: 2, pods: [pod('p0', { cpu: '100m' }), pod('p1', { cpu: '100m', phase: 'Pending' })], metrics: { p0: 200 }, target: 50, want: 4 },
    { name: 'on a scale-down leaves pending pods out', current: 2, pods: [pod('p0', { cpu: '100m' }), pod('p1', { cpu: '100m', phase: 'Pending' })], metrics: { p0: 10 }, target: 50, want: 1 },
    { name: 'keeps the count when counting unready pods as idle flips the direction', current: 3, pods: [pod('p0', { cpu: '100m' }), pod('p1', { cpu: '100m', phase: 'Pending' }), pod('p2', { cpu: '100m', phase: 'Pending' })], metrics: { p0: 120 }, target: 100, want: 3 },
    { name: 'leaves out pods being deleted and failed pods', current: 3, pods: [pod('p0', { cpu: '100m' }), pod('p1', { cpu: '100m', deleting: true }), pod('p2', { cpu: '100m', phase: 'Failed' })], metrics: { p0: 200, p1: 1000, p2: 1000 }, target: 100, want: 2 },
    { name: 'treats a CPU reading taken less than a window after the pod became ready as unready (initialization period)', current: 2, pods: [pod('p0', { cpu: '100m' }), pod('p1', { cpu: '100m', startedAgo: 60_000, readyAgo: 5_000 })], metrics: { p0: 200, p1: 900 }, target: 100, want: 2 },
    { name: 'counts a pod past its initialization period that is unready but was ready before', current: 2, pods: [pod('p0', { cpu: '100m' }), pod('p1', { cpu: '100m', ready: 'False', startedAgo: 600_000, readyAgo: 60_000 })], metrics: { p0: 300, p1: 300 }, target: 100, want: 6 },
    { name: 'sums the requests of sidecar init containers with the pod\'s', current: 1, pods: [{ ...pod('p0', { cpu: '100m' }), spec: { initContainers: [{ name: 'proxy', image: 'busybox', restartPolicy: 'Always', resources: { requests: { cpu: '100m' } } } as Pod['spec']['containers'][number]], containers: [{ name: 'main', image: 'busybox', resources: { requests: { cpu: '100m' } } }] } }], metrics: { p0: 200 }, target: 50, want: 2, utilization: 100 },
    { name: 'takes a container\'s limit as its request when it sets only a limit', current: 1, pods: [{ ...pod('p0'), spec: { containers: [{ name: 'main', image: 'busybox', resources: { limits: { cpu: '200m' } } }] } }], metrics: { p0: 100 }, target: 25, want: 2, utilization: 50 },
  ];
  for (const c of cases) {
    it(`resourceReplicas() ${c.name}`, () => {
      const out = resourceReplicas({ currentReplicas: c.current, resource: 'cpu', pods: c.pods, metrics: readings(c.metrics), settings, targetUtilization: c.target });
      assert.ok(out.ok, JSON.stringify(out));
      assert.equal(out.replicas, c.want);
      if (c.utilization !== undefined) assert.equal(out.utilization, c.utilization);
    });
  }

  it('resourceReplicas() reports the utilization truncated to whole percent, and the average raw value per pod', () => {
    const out = resourceReplicas({ currentReplicas: 3, resource: 'cpu', pods: cpu(3), metrics: readings({ p0: 41, p1: 42, p2: 42 }), settings, targetUtilization: 50 });
    assert.ok(out.ok);
    assert.deepEqual([out.utilization, out.rawUtilization], [41, 41]);
  });

  it('resourceReplicas() does not count readiness against memory readings', () => {
    const pods = [pod('p0', { memory: '100Mi' }), pod('p1', { memory: '100Mi', startedAgo: 60_000, readyAgo: 1_000 })];
    const mi = 1024 * 1024 * 1000;
    const out = resourceReplicas({ currentReplicas: 2, resource: 'memory', pods, metrics: readings({ p0: 90 * mi, p1: 90 * mi }), settings, targetUtilization: 45 });
    assert.ok(out.ok);
    assert.deepEqual([out.utilization, out.replicas], [90, 4]);
  });

  const failures: { name: string; pods: Pod[]; metrics: Record<string, number>; error: string }[] = [
    { name: 'no pods at all', pods: [], metrics: {}, error: 'no pods returned by selector while calculating replica count' },
    { name: 'a container without a request', pods: [pod('p0')], metrics: { p0: 10 }, error: 'missing request for cpu in container main of Pod p0' },
    { name: 'only unready pods', pods: [pod('p0', { cpu: '100m', ready: 'False', startedAgo: 10_000 })], metrics: { p0: 10 }, error: 'did not receive metrics for targeted pods (pods might be unready)' },
  ];
  for (const f of failures) {
    it(`resourceReplicas() fails, in Kubernetes' words, for ${f.name}`, () => {
      assert.deepEqual(resourceReplicas({ currentReplicas: 1, resource: 'cpu', pods: f.pods, metrics: readings(f.metrics), settings, targetUtilization: 50 }), { ok: false, error: f.error });
    });
  }

  it('rawResourceReplicas() scales to the average value target (300Mi each against 100Mi on 2 pods → 6)', () => {
    const mi = 1024 * 1024 * 1000;
    const out = rawResourceReplicas({ currentReplicas: 2, resource: 'memory', pods: [pod('p0'), pod('p1')], metrics: readings({ p0: 300 * mi, p1: 300 * mi }), settings, targetUsage: 100 * mi });
    assert.ok(out.ok);
    assert.deepEqual([out.replicas, out.usage], [6, 300 * mi]);
  });

  it('rawResourceReplicas() counts a missing pod at the target on a scale-down', () => {
    const out = rawResourceReplicas({ currentReplicas: 4, resource: 'cpu', pods: cpu(4), metrics: readings({ p0: 10, p1: 10, p2: 10 }), settings, targetUsage: 100 });
    assert.ok(out.ok);
    // (10 + 10 + 10 + 100) / 4 = 32 of 100 → ceil(0.32 × 4) = 2, not ceil(0.1 × 3) = 1.
    assert.equal(out.replicas, 2);
  });
});

function hpa(spec: Partial<HorizontalPodAutoscaler['spec']> = {}): HorizontalPodAutoscaler {
  return { apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', metadata: { name: 'web', namespace: 'default' }, spec: { scaleTargetRef: { kind: 'Deployment', name: 'web' }, minReplicas: 1, maxReplicas: 10, ...spec } };
}

/** A history holding these recommendations, `ago` ms before now. */
function history(recs: { replicas: number; ago: number }[], scales: { up?: { change: number; ago: number }[]; down?: { change: number; ago: number }[] } = {}): ScaleHistory {
  return {
    recommendations: recs.map((r) => ({ replicas: r.replicas, at: NOW - r.ago })),
    scaleUpEvents: (scales.up ?? []).map((e) => ({ change: e.change, at: NOW - e.ago, outdated: false })),
    scaleDownEvents: (scales.down ?? []).map((e) => ({ change: e.change, at: NOW - e.ago, outdated: false })),
  };
}

describe('controllers/hpa normalization (Kubernetes\' horizontal.go)', () => {
  const cases: {
    name: string; hpa: HorizontalPodAutoscaler; history: ScaleHistory; current: number; desired: number;
    want: number; able: string; limited: [boolean, string];
  }[] = [
    { name: 'without behavior holds a scale-down at the highest recommendation of the last 300 s', hpa: hpa(), history: history([{ replicas: 5, ago: 60_000 }]), current: 5, desired: 2, want: 5, able: 'ScaleDownStabilized', limited: [false, 'DesiredWithinRange'] },
    { name: 'without behavior scales down once the higher recommendations are older than 300 s', hpa: hpa(), history: history([{ replicas: 5, ago: 301_000 }]), current: 5, desired: 2, want: 2, able: 'ReadyForNewScale', limited: [false, 'DesiredWithinRange'] },
    { name: 'without behavior scales up at once, to at most twice the count (or 4)', hpa: hpa({ maxReplicas: 20 }), history: history([]), current: 3, desired: 10, want: 6, able: 'ReadyForNewScale', limited: [true, 'ScaleUpLimit'] },
    { name: 'without behavior never goes above maxReplicas', hpa: hpa({ maxReplicas: 3 }), history: history([]), current: 2, desired: 4, want: 3, able: 'ReadyForNewScale', limited: [true, 'TooManyReplicas'] },
    { name: 'without behavior never goes below minReplicas', hpa: hpa({ minReplicas: 2 }), history: history([]), current: 3, desired: 1, want: 2, able: 'ReadyForNewScale', limited: [true, 'TooFewReplicas'] },
    { name: 'honours a shorter scale-down window from behavior', hpa: hpa({ behavior: { scaleDown: { stabilizationWindowSeconds: 30 } } }), history: history([{ replicas: 5, ago: 60_000 }]), current: 5, desired: 2, want: 2, able: 'ReadyForNewScale', limited: [false, 'DesiredWithinRange'] },
    { name: 'with behavior but no scale-down window keeps the 300 s default', hpa: hpa({ behavior: { scaleUp: { stabilizationWindowSeconds: 0 } } }), history: history([{ replicas: 5, ago: 200_000 }]), current: 5, desired: 2, want: 5, able: 'ScaleDownStabilized', limited: [false, 'DesiredWithinRange'] },
    { name: 'holds a scale-up at the lowest recommendation of its window', hpa: hpa({ behavior: { scaleUp: { stabilizationWindowSeconds: 60 } } }), history: history([{ replicas: 3, ago: 30_000 }]), current: 2, desired: 6, want: 3, able: 'ScaleUpStabilized', limited: [false, 'DesiredWithinRange'] },
    { name: 'limits a scale-up by the default policies (4 pods or 100% per 15 s, the larger)', hpa: hpa({ maxReplicas: 50, behavior: {} }), history: history([]), current: 10, desired: 40, want: 20, able: 'ReadyForNewScale', limited: [true, 'ScaleUpLimit'] },
    { name: 'takes the smaller policy with selectPolicy Min', hpa: hpa({ maxReplicas: 50, behavior: { scaleUp: { selectPolicy: 'Min' } } }), history: history([]), current: 10, desired: 40, want: 14, able: 'ReadyForNewScale', limited: [true, 'ScaleUpLimit'] },
    { name: 'counts the scale-ups of the policy\'s period', hpa: hpa({ behavior: { scaleUp: { policies: [{ type: 'Pods', value: 2, periodSeconds: 60 }] } } }), history: history([], { up: [{ change: 2, ago: 30_000 }] }), current: 4, desired: 8, want: 4, able: 'ReadyForNewScale', limited: [true, 'ScaleUpLimit'] },
    { name: 'forgets scale-ups older than the period', hpa: hpa({ behavior: { scaleUp: { policies: [{ type: 'Pods', value: 2, periodSeconds: 60 }] } } }), history: history([], { up: [{ change: 2, ago: 61_000 }] }), current: 4, desired: 8, want: 6, able: 'ReadyForNewScale', limited: [true, 'ScaleUpLimit'] },
    { name: 'limits a scale-down by a percent policy (50% per minute, rounded down)', hpa: hpa({ behavior: { scaleDown: { stabilizationWindowSeconds: 0, policies: [{ type: 'Percent', value: 50, periodSeconds: 60 }] } } }), history: history([]), current: 9, desired: 1, want: 4, able: 'ReadyForNewScale', limited: [true, 'ScaleDownLimit'] },
    { name: 'does not scale down with selectPolicy Disabled', hpa: hpa({ behavior: { scaleDown: { stabilizationWindowSeconds: 0, selectPolicy: 'Disabled' } } }), history: history([]), current: 5, desired: 2, want: 5, able: 'ReadyForNewScale', limited: [true, 'ScaleDownLimit'] },
    { name: 'with behavior still stops at minReplicas', hpa: hpa({ minReplicas: 3, behavior: { scaleDown: { stabilizationWindowSeconds: 0 } } }), history: history([]), current: 5, desired: 1, want: 3, able: 'ReadyForNewScale', limited: [true, 'TooFewReplicas'] },
    { name: 'with behavior still stops at maxReplicas', hpa: hpa({ maxReplicas: 5, behavior: {} }), history: history([]), current: 4, desired: 9, want: 5, able: 'ReadyForNewScale', limited: [true, 'TooManyReplicas'] },
  ];
  for (const c of cases) {
    it(`normalizeReplicas() ${c.name}`, () => {
      const out = normalizeReplicas({ hpa: c.hpa, history: c.history, currentReplicas: c.current, desired: c.desired, minReplicas: c.hpa.spec.minReplicas ?? 1, now: NOW });
      assert.equal(out.replicas, c.want);
      assert.equal(out.ableToScale.reason, c.able);
      assert.deepEqual([out.scalingLimited.limited, out.scalingLimited.reason], c.limited);
    });
  }

  it('normalizeReplicas() remembers each recommendation, reusing a slot older than the window', () => {
    const h = history([{ replicas: 7, ago: 400_000 }, { replicas: 6, ago: 10_000 }]);
    normalizeReplicas({ hpa: hpa(), history: h, currentReplicas: 6, desired: 4, minReplicas: 1, now: NOW });
    assert.deepEqual(h.recommendations.map((r) => [r.replicas, NOW - r.at]), [[4, 0], [6, 10_000]]);
  });

  it('newHistory() starts from the current count, so a fresh autoscaler does not scale down at once', () => {
    const h = newHistory(4, NOW - 1000);
    assert.equal(normalizeReplicas({ hpa: hpa(), history: h, currentReplicas: 4, desired: 1, minReplicas: 1, now: NOW }).replicas, 4);
  });

  it('recordScale() keeps scale events only with behavior, per direction, reusing outdated slots', () => {
    const none = newHistory(1, NOW);
    recordScale(hpa(), none, { from: 1, to: 3, now: NOW });
    assert.deepEqual(none.scaleUpEvents, []);
    const h = history([], { up: [{ change: 1, ago: 120_000 }] });
    const withBehavior = hpa({ behavior: {} });
    recordScale(withBehavior, h, { from: 1, to: 3, now: NOW });
    recordScale(withBehavior, h, { from: 3, to: 2, now: NOW });
    assert.deepEqual(h.scaleUpEvents, [{ change: 2, at: NOW, outdated: false }]);
    assert.deepEqual(h.scaleDownEvents, [{ change: 1, at: NOW, outdated: false }]);
  });
});

describe('HorizontalPodAutoscalerController', () => {
  // A stand-in for the control plane's usage memory: CPU millicores per pod name, set by each test.
  let cpuByPod: Record<string, number> = {};
  const metrics: ResourceMetricsReader = {
    podMetrics: (p) => (cpuByPod[p.metadata.name] === undefined ? undefined : { timestamp: clock.now(), windowMs: 15_000, containers: [{ name: 'main', usage: { cpuNanoCores: cpuByPod[p.metadata.name]! * 1e6, memoryBytes: 10 * 1024 * 1024 } }] }),
    nodeMetrics: () => undefined,
  };
  let clock: TestClock;
  let store: MemoryStore;
  let manager: ControllerManager;
  let events: { reason: string; type: string; message: string }[];

  const deployment = (replicas: number): Deployment => ({
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: NS },
    spec: { replicas, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'main', image: 'busybox' }] } } },
  });
  const runningPod = (name: string): Pod => ({
    apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: NS, labels: { app: 'web' } },
    spec: { containers: [{ name: 'main', image: 'busybox', resources: { requests: { cpu: '100m' } } }] },
    status: { phase: 'Running', startTime: new Date(clock.now() - 600_000).toISOString(), conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: new Date(clock.now() - 600_000).toISOString() }] },
  });
  const autoscaler = (): HorizontalPodAutoscaler => ({
    apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', metadata: { name: 'web', namespace: NS },
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' }, minReplicas: 1, maxReplicas: 3,
      metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 50 } } }],
    },
  });
  const readHpa = async () => (await store.get<HorizontalPodAutoscaler>({ kind: 'HorizontalPodAutoscaler', namespace: NS, name: 'web' }))!;
  const replicasOf = async () => (await store.get<Deployment>({ kind: 'Deployment', namespace: NS, name: 'web' }))!.spec.replicas;
  const condition = (h: HorizontalPodAutoscaler, type: string) => h.status?.conditions?.find((c) => c.type === type);

  beforeEach(async () => {
    clock = new TestClock();
    store = new MemoryStore();
    events = [];
    cpuByPod = {};
    manager = new ControllerManager(store, {
      clock, workers: 1,
      events: () => ({ emit: (_o, type, reason, message) => void events.push({ type, reason, message }) }),
    });
    manager.add(new HorizontalPodAutoscalerController({ metrics }));
  });
  afterEach(async () => {
    await manager.stop();
    await store.close();
  });

  it('says, as Kubernetes does, that it has no metrics yet, and leaves the target alone', async () => {
    await store.create(deployment(1));
    await store.create(runningPod('web-a'));
    await store.create(autoscaler());
    await manager.start();
    await eventually(async () => (await readHpa()).status !== undefined, 'the autoscaler has a status');
    const h = await readHpa();
    assert.deepEqual(condition(h, 'AbleToScale'), { type: 'AbleToScale', status: 'True', reason: 'SucceededGetScale', message: 'the HPA controller was able to get the target\'s current scale', lastTransitionTime: condition(h, 'AbleToScale')!.lastTransitionTime });
    assert.equal(condition(h, 'ScalingActive')?.reason, 'FailedGetResourceMetric');
    assert.equal(condition(h, 'ScalingActive')?.message, 'the HPA was unable to compute the replica count: failed to get cpu utilization: unable to get metrics for resource cpu: no metrics returned from resource metrics API');
    assert.deepEqual(events.map((e) => [e.type, e.reason, e.message]), [
      ['Warning', 'FailedGetResourceMetric', 'failed to get cpu utilization: unable to get metrics for resource cpu: no metrics returned from resource metrics API'],
      ['Warning', 'FailedComputeMetricsReplicas', 'invalid metrics (1 invalid out of 1), first error is: failed to get cpu resource metric value: failed to get cpu utilization: unable to get metrics for resource cpu: no metrics returned from resource metrics API'],
    ]);
    assert.equal(h.status?.currentReplicas, 1);
    assert.equal(await replicasOf(), 1);
  });

  it('scales the Deployment up to maxReplicas, with the SuccessfulRescale event, status and conditions Kubernetes writes', async () => {
    await store.create(deployment(1));
    await store.create(runningPod('web-a'));
    cpuByPod = { 'web-a': 200 };
    await store.create(autoscaler());
    await manager.start();
    await eventually(async () => (await replicasOf()) === 3, 'the Deployment is scaled to 3');
    await eventually(async () => (await readHpa()).status?.desiredReplicas === 3, 'the status says so');
    const h = await readHpa();
    assert.deepEqual(events, [{ type: 'Normal', reason: 'SuccessfulRescale', message: 'New size: 3; reason: cpu resource utilization (percentage of request) above target' }]);
    assert.equal(h.status?.currentReplicas, 1);
    assert.deepEqual(h.status?.currentMetrics, [{ type: 'Resource', resource: { name: 'cpu', current: { averageUtilization: 200, averageValue: '200m' } } }]);
    assert.ok(h.status?.lastScaleTime);
    assert.deepEqual(h.status?.conditions?.map((c) => [c.type, c.status, c.reason]), [
      ['AbleToScale', 'True', 'SucceededRescale'],
      ['ScalingActive', 'True', 'ValidMetricFound'],
      ['ScalingLimited', 'True', 'TooManyReplicas'],
    ]);
    assert.equal(condition(h, 'ScalingActive')?.message, 'the HPA was able to successfully calculate a replica count from cpu resource utilization (percentage of request)');
  });

  it('acts once per sync period: a second look within 15 s changes nothing, the next period scales down only after the 300 s window', async () => {
    await store.create(deployment(2));
    await store.create(runningPod('web-a'));
    await store.create(runningPod('web-b'));
    cpuByPod = { 'web-a': 10, 'web-b': 10 };
    await store.create(autoscaler());
    await manager.start();
    await eventually(async () => (await readHpa()).status?.conditions?.some((c) => c.reason === 'ScaleDownStabilized') === true, 'the scale-down is held by the window');
    assert.equal(await replicasOf(), 2);
    manager.enqueue('horizontal-pod-autoscaler', `HorizontalPodAutoscaler/${NS}/web`);
    await untilIdle(manager);
    assert.equal(await replicasOf(), 2);
    const start = clock.now();
    for (let t = 0; t <= 330_000 && (await replicasOf()) === 2; t += 15_000) {
      clock.advance(15_000);
      await untilIdle(manager);
    }
    await eventually(async () => (await replicasOf()) === 1, 'scaled down to 1 once the window passed');
    assert.ok(clock.now() - start > 300_000, `scaled down after ${clock.now() - start} ms, within the 300 s window`);
    assert.deepEqual(events.at(-1), { type: 'Normal', reason: 'SuccessfulRescale', message: 'New size: 1; reason: All metrics below target' });
  });

  it('scales a StatefulSet on a memory AverageValue target, reporting the average as a quantity', async () => {
    await store.create<StatefulSet>({
      apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 'db', namespace: NS },
      spec: { replicas: 1, serviceName: 'db', selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'main', image: 'busybox' }] } } },
    });
    await store.create(runningPod('db-0'));
    // The stand-in reports 10Mi of memory per pod; a 4Mi target asks for ceil(2.5 × 1) = 3.
    cpuByPod = { 'db-0': 5 };
    const h = autoscaler();
    h.spec.scaleTargetRef = { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'db' };
    h.spec.metrics = [{ type: 'Resource', resource: { name: 'memory', target: { type: 'AverageValue', averageValue: '4Mi' } } }];
    await store.create(h);
    await manager.start();
    await eventually(async () => (await store.get<StatefulSet>({ kind: 'StatefulSet', namespace: NS, name: 'db' }))?.spec.replicas === 3, 'the StatefulSet is scaled to 3');
    await eventually(async () => (await readHpa()).status?.desiredReplicas === 3, 'the status says so');
    assert.deepEqual((await readHpa()).status?.currentMetrics, [{ type: 'Resource', resource: { name: 'memory', current: { averageValue: '10485760' } } }]);
    assert.equal(events[0]?.message, 'New size: 3; reason: memory resource above target');
  });

  it('raises a target below minReplicas, and reports a missing target as Kubernetes does', async () => {
    await store.create(deployment(1));
    const h = autoscaler();
    h.spec.minReplicas = 2;
    await store.create(h);
    await manager.start();
    await eventually(async () => (await replicasOf()) === 2, 'raised to minReplicas');
    assert.equal(events[0]?.message, 'New size: 2; reason: Current number of replicas below Spec.MinReplicas');

    const other: HorizontalPodAutoscaler = { ...autoscaler(), metadata: { name: 'ghost', namespace: NS }, spec: { ...autoscaler().spec, scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'ghost' } } };
    await store.create(other);
    await eventually(async () => (await store.get<HorizontalPodAutoscaler>({ kind: 'HorizontalPodAutoscaler', namespace: NS, name: 'ghost' }))?.status !== undefined, 'the ghost autoscaler has a status');
    const ghost = (await store.get<HorizontalPodAutoscaler>({ kind: 'HorizontalPodAutoscaler', namespace: NS, name: 'ghost' }))!;
    assert.deepEqual([condition(ghost, 'AbleToScale')?.status, condition(ghost, 'AbleToScale')?.reason, condition(ghost, 'AbleToScale')?.message], ['False', 'FailedGetScale', 'the HPA controller was unable to get the target\'s current scale: deployments.apps "ghost" not found']);
  });
});
