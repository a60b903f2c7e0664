import assert from 'node:assert/strict';
import { silentLogger } from '../../src/log.js';
import { Metrics } from '../../src/metrics/index.js';
import type { Node, Pod } from '../../src/model/types.js';
import { Scheduler } from '../../src/scheduler/scheduler.js';
import { SchedulingQueue } from '../../src/scheduler/queue.js';
import { MemoryStore } from '../fakes/memory-store.js';
import { eventually } from '../helpers/controllers.js';
import { scrape, seriesOf, valueOf } from '../helpers/prometheus.js';

function node(name: string, cpu: string): Node {
  return { apiVersion: 'v1', kind: 'Node', metadata: { name }, spec: {}, status: { allocatable: { cpu, memory: '4Gi', pods: '110' } } };
}

function pod(name: string, cpu: string): Pod {
  return {
    apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'default' },
    spec: { containers: [{ name: 'c', image: 'busybox', resources: { requests: { cpu } } }] },
    status: { phase: 'Pending' },
  };
}

describe('scheduler metrics', () => {
  let store: MemoryStore;
  let ac: AbortController;
  let running: Promise<void> | undefined;
  beforeEach(() => {
    store = new MemoryStore();
    ac = new AbortController();
  });
  afterEach(async () => {
    ac.abort();
    await running;
    running = undefined;
    await store.close();
  });

  const start = (metrics: Metrics): void => {
    running = new Scheduler({ store, logger: silentLogger(), metrics, initialBackoffMs: 60_000 }).start(ac.signal);
  };

  it('counts a bound pod as scheduled, with its attempt and its time from the queue to the bind', async () => {
    const metrics = new Metrics();
    await store.create(node('n1', '2'));
    await store.create(pod('web-1', '500m'));
    start(metrics);
    await eventually(async () => Boolean((await store.get<Pod>({ kind: 'Pod', namespace: 'default', name: 'web-1' }))?.spec.nodeName), 'the pod is bound');
    await eventually(async () => valueOf(await scrape(metrics), 'gantry_scheduler_schedule_attempts_total', { result: 'scheduled' }) === 1, 'the attempt is counted');
    const m = await scrape(metrics);
    assert.equal(valueOf(m, 'gantry_scheduler_schedule_attempts_total', { result: 'unschedulable' }), 0);
    assert.equal(valueOf(m, 'gantry_scheduler_scheduling_attempt_duration_seconds_count', { result: 'scheduled' }), 1);
    assert.equal(valueOf(m, 'gantry_scheduler_pod_scheduling_duration_seconds_count'), 1);
    assert.ok(valueOf(m, 'gantry_scheduler_pod_scheduling_duration_seconds_sum')! < 5, 'seconds, not milliseconds');
    assert.equal(valueOf(m, 'gantry_scheduler_pending_pods'), 0, 'nothing left pending');
  });

  it('counts a pod that fits no node as unschedulable and shows it pending in the unschedulable queue', async () => {
    const metrics = new Metrics();
    await store.create(node('n1', '1'));
    await store.create(pod('huge', '8'));
    start(metrics);
    await eventually(async () => valueOf(await scrape(metrics), 'gantry_scheduler_schedule_attempts_total', { result: 'unschedulable' }) === 1, 'the attempt is counted');
    const m = await scrape(metrics);
    assert.equal(valueOf(m, 'gantry_scheduler_pending_pods', { queue: 'unschedulable' }), 1);
    assert.equal(valueOf(m, 'gantry_scheduler_pending_pods', { queue: 'active' }), 0);
    assert.equal(valueOf(m, 'gantry_scheduler_schedule_attempts_total', { result: 'scheduled' }), 0);
    assert.equal(valueOf(m, 'gantry_scheduler_pod_scheduling_duration_seconds_count'), 0);
    assert.deepEqual(seriesOf(m, 'gantry_scheduler_pending_pods').map((l) => l.queue).sort(), ['active', 'backoff', 'unschedulable'], 'one series per queue, no pod names');
  });

  it('shows no pending pods once its scheduler has stopped', async () => {
    const metrics = new Metrics();
    await store.create(pod('orphan', '1'));
    start(metrics);
    await eventually(async () => valueOf(await scrape(metrics), 'gantry_scheduler_pending_pods') === 1, 'the pod is pending');
    ac.abort();
    await running;
    assert.equal(valueOf(await scrape(metrics), 'gantry_scheduler_pending_pods'), 0);
  });

  it('the queue tells pods backing off after an error from pods no node fits', async () => {
    let now = 0;
    const q = new SchedulingQueue({ now: () => now });
    for (const name of ['a', 'b', 'c']) q.add(pod(name, '1'));
    const signal = new AbortController().signal;
    const tried = [(await q.pop(signal))!, (await q.pop(signal))!].map((p) => `default/${p.metadata.name}`);
    assert.deepEqual(q.counts(), { active: 3, backoff: 0, unschedulable: 0 }, 'a pod being tried is still pending');
    q.backoff(tried[0]!, { unschedulable: true });
    q.backoff(tried[1]!);
    now = 1500;
    assert.deepEqual(q.counts(), { active: 1, backoff: 1, unschedulable: 1 });
    assert.equal(q.waitedMs('default/c'), 1500);
  });
});
