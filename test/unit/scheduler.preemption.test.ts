/**
 * Priority in the scheduler: the queue hands out the highest priority first; preemption picks the
 * node and the fewest, least important victims, spares what PodDisruptionBudgets protect when it
 * can, honours preemptionPolicy Never; and the scheduler carries it out against a store
 * (nomination, DisruptionTarget, Preempted event, victims deleted, the room kept for the
 * preemptor).
 */
import assert from 'node:assert/strict';
import { silentLogger } from '../../src/log.js';
import type { EventSink } from '../../src/events/recorder.js';
import type { Node, Pod, PodDisruptionBudget, PodSpec } from '../../src/model/types.js';
import { cacheFrom } from '../../src/scheduler/cache.js';
import { findPreemption, pickCandidate, splitByBudget, type PreemptionCandidate } from '../../src/scheduler/preemption.js';
import { podInfo } from '../../src/scheduler/podinfo.js';
import { SchedulingQueue } from '../../src/scheduler/queue.js';
import { Scheduler } from '../../src/scheduler/scheduler.js';
import { MemoryStore } from '../fakes/memory-store.js';
import { eventually } from '../helpers/controllers.js';

function node(name: string, cpu = '2'): Node {
  return { apiVersion: 'v1', kind: 'Node', metadata: { name }, spec: {}, status: { allocatable: { cpu, memory: '8Gi', pods: '110' } } };
}

function pod(name: string, o: { cpu: string; priority?: number; node?: string; labels?: Record<string, string>; started?: string; spec?: Partial<PodSpec> }): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', uid: `uid-${name}`, labels: o.labels ?? { app: name }, creationTimestamp: '2030-01-01T00:00:00Z' },
    spec: { containers: [{ name: 'c', image: 'busybox', resources: { requests: { cpu: o.cpu } } }], priority: o.priority ?? 0, ...(o.node ? { nodeName: o.node } : {}), ...o.spec },
    status: { phase: o.node ? 'Running' : 'Pending', ...(o.started ? { startTime: o.started } : {}) },
  };
}

function budget(name: string, app: string, allowed: number): PodDisruptionBudget {
  return { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name, namespace: 'default' }, spec: { selector: { matchLabels: { app } } }, status: { disruptionsAllowed: allowed, currentHealthy: 1, desiredHealthy: 1, expectedPods: 1 } };
}

const victimsOf = (r: ReturnType<typeof findPreemption>): string[] => (r.candidate ? r.candidate.victims.map((v) => v.metadata.name).sort() : []);
const messageOf = (r: ReturnType<typeof findPreemption>): string | undefined => (r.candidate ? undefined : r.message);

describe('scheduler: priority and preemption', () => {
  it('the queue hands out the highest priority first, then the oldest', async () => {
    const q = new SchedulingQueue();
    q.add(pod('low', { cpu: '1', priority: 10 }));
    q.add(pod('high', { cpu: '1', priority: 1000 }));
    q.add(pod('mid', { cpu: '1', priority: 100 }));
    const ac = new AbortController();
    const order = [(await q.pop(ac.signal))!, (await q.pop(ac.signal))!, (await q.pop(ac.signal))!].map((p) => p.metadata.name);
    assert.deepEqual(order, ['high', 'mid', 'low']);
  });

  it('evicts only as many lower-priority pods as the preemptor needs, the least important first', () => {
    const cache = cacheFrom([node('n1', '3')], [
      pod('a', { cpu: '1', priority: 10, node: 'n1' }),
      pod('b', { cpu: '1', priority: 20, node: 'n1' }),
      pod('c', { cpu: '1', priority: 5000, node: 'n1' }),
    ]);
    const r = findPreemption(pod('p', { cpu: '1', priority: 1000 }), cache, { budgets: [] });
    assert.equal(r.candidate?.node, 'n1');
    assert.deepEqual(victimsOf(r), ['a'], 'b (more important) is reprieved; c has a higher priority than the preemptor');
    assert.equal(cache.get('n1')!.pods.size, 3, 'the cache is left as it was');
  });

  it('picks the node whose victims matter least, and spares a pod a PodDisruptionBudget protects when it can', () => {
    const cache = cacheFrom([node('n1'), node('n2')], [
      pod('n1-mid', { cpu: '2', priority: 500, node: 'n1' }),
      pod('n2-low', { cpu: '2', priority: 100, node: 'n2' }),
    ]);
    assert.equal(findPreemption(pod('p', { cpu: '1', priority: 1000 }), cache, { budgets: [] }).candidate?.node, 'n2', 'the lowest highest-priority victim');
    const protectedLow = findPreemption(pod('p', { cpu: '1', priority: 1000 }), cache, { budgets: [budget('keep', 'n2-low', 0)] });
    assert.equal(protectedLow.candidate?.node, 'n1', 'fewer budget violations first');
    assert.equal(protectedLow.candidate?.pdbViolations, 0);
    const cache1 = cacheFrom([node('n1')], [pod('only', { cpu: '2', priority: 100, node: 'n1' })]);
    const forced = findPreemption(pod('p', { cpu: '1', priority: 1000 }), cache1, { budgets: [budget('keep', 'only', 0)] });
    assert.deepEqual([forced.candidate?.node, forced.candidate?.pdbViolations], ['n1', 1], 'a budget is broken when nothing else makes room');
  });

  it('splits victims by budget as Kubernetes counts them (each pod uses up one allowed disruption)', () => {
    const infos = [pod('a1', { cpu: '1', labels: { app: 'a' } }), pod('a2', { cpu: '1', labels: { app: 'a' } }), pod('b1', { cpu: '1', labels: { app: 'b' } })].map((p) => podInfo(p));
    const { violating, other } = splitByBudget(infos, [budget('a', 'a', 1)]);
    assert.deepEqual(violating.map((v) => v.pod.metadata.name), ['a2']);
    assert.deepEqual(other.map((v) => v.pod.metadata.name), ['a1', 'b1']);
  });

  it('ranks candidates as kube-scheduler does: violations, highest victim, sum, count, latest start', () => {
    const c = (name: string, victims: Pod[], pdbViolations = 0): PreemptionCandidate => ({ node: name, victims, pdbViolations });
    const v = (name: string, priority: number, started = '2030-01-01T00:00:00Z') => pod(name, { cpu: '1', priority, started });
    assert.equal(pickCandidate([c('a', [v('x', 10)], 1), c('b', [v('y', 500)])])?.node, 'b');
    assert.equal(pickCandidate([c('a', [v('x', 10), v('z', 10)]), c('b', [v('y', 10), v('w', 20)])])?.node, 'a');
    assert.equal(pickCandidate([c('a', [v('x', 10), v('z', 10)]), c('b', [v('y', 20)])])?.node, 'a', 'the lower highest priority wins over fewer victims');
    assert.equal(pickCandidate([c('a', [v('x', 10, '2030-01-01T00:00:00Z')]), c('b', [v('y', 10, '2030-01-02T00:00:00Z')])])?.node, 'b', 'the victim that started last');
    assert.equal(pickCandidate([]), undefined);
  });

  it('says why preemption cannot help, in Kubernetes\' words, and does nothing for preemptionPolicy Never', () => {
    const cache = cacheFrom([node('n1'), { ...node('n2'), spec: { unschedulable: true } }], [pod('big', { cpu: '2', priority: 5000, node: 'n1' })]);
    const r = findPreemption(pod('p', { cpu: '1', priority: 1000 }), cache, { budgets: [] });
    assert.equal(r.candidate, undefined);
    assert.equal(messageOf(r), 'preemption: 0/2 nodes are available: 1 No preemption victims found for incoming pod, 1 Preemption is not helpful for scheduling.');
    const low = cacheFrom([node('n1')], [pod('l', { cpu: '2', priority: 1, node: 'n1' })]);
    assert.equal(messageOf(findPreemption(pod('p', { cpu: '1', priority: 1000, spec: { preemptionPolicy: 'Never' } }), low, { budgets: [] })), 'preemption: not eligible due to preemptionPolicy=Never.');
    assert.equal(messageOf(findPreemption(pod('p', { cpu: '3', priority: 1000 }), low, { budgets: [] })), 'preemption: 0/1 nodes are available: 1 Insufficient cpu.', 'too big even for an empty node');
  });

  describe('against a store', function () {
    this.timeout(20_000);
    let store: MemoryStore;
    let ac: AbortController;
    let running: Promise<void> | undefined;
    const events: { obj: Pod; reason: string; message: string }[] = [];
    const sink: EventSink = { emit: (obj, _t, reason, message) => void events.push({ obj: obj as Pod, reason, message }) };

    beforeEach(() => {
      store = new MemoryStore();
      ac = new AbortController();
      events.length = 0;
    });
    afterEach(async () => {
      ac.abort();
      await running;
      await store.close();
    });

    const get = (name: string) => store.get<Pod>({ kind: 'Pod', namespace: 'default', name });

    it('nominates the preemptor, marks and deletes the victim, tells it why, then binds the preemptor there', async () => {
      await store.create(node('n1'));
      await store.create({ ...pod('low', { cpu: '1500m', priority: 10 }), metadata: { name: 'low', namespace: 'default', labels: { app: 'low' } } });
      running = new Scheduler({ store, logger: silentLogger(), events: sink, initialBackoffMs: 50 }).start(ac.signal);
      await eventually(async () => (await get('low'))?.spec.nodeName === 'n1', 'low bound');
      const high = await store.create<Pod>({ ...pod('high', { cpu: '1500m', priority: 1000 }), metadata: { name: 'high', namespace: 'default', labels: { app: 'high' } } });
      await eventually(async () => (await get('low'))?.metadata.deletionTimestamp !== undefined, 'the victim deleted (terminating)');
      const victim = (await get('low'))!;
      const target = victim.status?.conditions?.find((c) => c.type === 'DisruptionTarget');
      assert.deepEqual([target?.status, target?.reason, target?.message], ['True', 'PreemptionByScheduler', 'default-scheduler: preempting to accommodate a higher priority pod']);
      await eventually(async () => (await get('high'))?.status?.nominatedNodeName === 'n1', 'the preemptor nominated');
      assert.match((await get('high'))!.status!.conditions!.find((c) => c.type === 'PodScheduled')!.message!, /^0\/1 nodes are available: 1 Insufficient cpu\.$/);
      await eventually(() => events.some((e) => e.reason === 'Preempted'), 'a Preempted event');
      assert.equal(events.find((e) => e.reason === 'Preempted')!.message, `Preempted by pod ${high.metadata.uid} on node n1`);
      // A pod of lower priority than the preemptor arriving now does not take the room.
      await store.create({ ...pod('sneak', { cpu: '1500m', priority: 5 }), metadata: { name: 'sneak', namespace: 'default', labels: { app: 'sneak' } } });
      // The node agent finishes the victim; the preemptor lands on its nominated node.
      await store.delete({ kind: 'Pod', namespace: 'default', name: 'low' });
      await eventually(async () => (await get('high'))?.spec.nodeName === 'n1', 'the preemptor bound');
      assert.equal((await get('high'))!.status?.nominatedNodeName, undefined, 'the nomination is cleared once bound');
      await eventually(async () => (await get('sneak'))?.status?.conditions?.some((c) => c.reason === 'Unschedulable') === true, 'the late low pod waits');
      assert.equal((await get('sneak'))!.spec.nodeName, undefined);
    });
  });
});
