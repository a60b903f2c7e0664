import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../src/log.js';
import type { Node, PersistentVolume, PersistentVolumeClaim, Pod } from '../../src/model/types.js';
import { Scheduler } from '../../src/scheduler/scheduler.js';
import { openSqliteStore, type SqliteStore } from '../../src/store/sqlite.js';
import type { Store, WatchEvent, WatchOptions } from '../../src/store/types.js';

/**
 * The real store, with watch events delivered late (as from a busy or remote store), so that
 * the scheduler cannot rely on the watch to learn about its own binds.
 */
function withLateWatch(store: Store, delayMs: number): Store {
  return new Proxy(store, {
    get(target, prop, receiver) {
      if (prop !== 'watch') {
        const v = Reflect.get(target, prop, receiver) as unknown;
        return typeof v === 'function' ? v.bind(target) : v;
      }
      return (opts?: WatchOptions) => ({
        async *[Symbol.asyncIterator]() {
          for await (const ev of target.watch(opts)) {
            await new Promise((r) => setTimeout(r, delayMs));
            yield ev;
          }
        },
      });
    },
  });
}

function node(name: string, cpu: string): Node {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name },
    spec: {},
    status: { allocatable: { cpu, memory: '4Gi', pods: '110' } },
  };
}

function pod(name: string, cpu: string, extra: Partial<Pod['spec']> = {}): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default' },
    spec: { containers: [{ name: 'c', image: 'busybox', resources: { requests: { cpu } } }], ...extra },
    status: { phase: 'Pending' },
  };
}

async function eventually<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The PodScheduled message of a pod. */
function podCondition(pod: Pod): string | undefined {
  return pod.status?.conditions?.find((c) => c.type === 'PodScheduled')?.message;
}

/** Every change of these kinds (Pods by default) so far, from the store's history. */
async function podHistory(store: SqliteStore, kinds = ['Pod']): Promise<WatchEvent[]> {
  const until = await store.revision();
  const ac = new AbortController();
  const out: WatchEvent[] = [];
  for await (const ev of store.watch({ fromRevision: 0, kinds, signal: ac.signal })) {
    out.push(ev);
    if (ev.revision >= until) break;
  }
  ac.abort();
  return out;
}

describe('scheduler against a SQLite store', function () {
  let dir: string;
  let store: SqliteStore;
  let ac: AbortController;
  let running: Promise<void>;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gantry-scheduler-'));
    store = openSqliteStore(join(dir, 'store.db'));
    ac = new AbortController();
  });

  afterEach(async () => {
    ac.abort();
    await running;
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  const get = (name: string): Promise<Pod | undefined> => store.get<Pod>({ kind: 'Pod', namespace: 'default', name });

  it('binds pending pods, marks the one that fits nowhere Unschedulable, then binds it when a node is added', async () => {
    await store.create(node('n1', '2'));
    for (const name of ['a', 'b', 'c']) await store.create(pod(name, '1'));
    // A long backoff: only the node-added event can bring c back in time.
    const scheduler = new Scheduler({ store, logger: silentLogger(), initialBackoffMs: 60_000 });
    running = scheduler.start(ac.signal);

    const unschedulable = await eventually('pod marked Unschedulable', async () => {
      const pods = await Promise.all(['a', 'b', 'c'].map(get));
      const bound = pods.filter((p) => p?.spec.nodeName === 'n1');
      const waiting = pods.find((p) => p?.status?.conditions?.some((c) => c.reason === 'Unschedulable'));
      return bound.length === 2 && waiting ? waiting : undefined;
    });
    const cond = unschedulable.status!.conditions!.find((c) => c.type === 'PodScheduled')!;
    assert.equal(cond.status, 'False');
    assert.equal(cond.message, '0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.');
    assert.equal(unschedulable.spec.nodeName, undefined);

    await store.create(node('n2', '2'));
    const late = await eventually('pod bound to n2', async () => {
      const p = await get(unschedulable.metadata.name);
      return p?.spec.nodeName === 'n2' ? p : undefined;
    });
    assert.equal(late.status!.conditions!.find((c) => c.type === 'PodScheduled')!.status, 'True');

    const binds = (await podHistory(store)).filter((ev) => ev.type === 'MODIFIED' && (ev.object as Pod).spec.nodeName && !(ev.prevObject as Pod).spec.nodeName);
    assert.equal(binds.length, 3);
    for (const ev of binds) assert.equal(ev.origin?.actor, 'scheduler');
  });

  it('writes the Unschedulable condition once, not on every retry', async () => {
    await store.create(node('n1', '1'));
    await store.create(pod('big', '4'));
    const scheduler = new Scheduler({ store, logger: silentLogger(), initialBackoffMs: 10, maxBackoffMs: 20 });
    running = scheduler.start(ac.signal);
    await eventually('pod marked Unschedulable', async () => ((await get('big'))?.status?.conditions?.length ? true : undefined));
    // Let it retry a number of times.
    await new Promise((r) => setTimeout(r, 400));
    const writes = (await podHistory(store)).filter((ev) => ev.type === 'MODIFIED' && ev.origin?.actor === 'scheduler');
    assert.equal(writes.length, 1);
  });

  it('leaves pods for other schedulers and pods already bound alone', async () => {
    await store.create(node('n1', '4'));
    await store.create(pod('mine', '1'));
    await store.create(pod('theirs', '1', { schedulerName: 'other-scheduler' }));
    await store.create(pod('pinned', '1', { nodeName: 'n1' }));
    const scheduler = new Scheduler({ store, logger: silentLogger() });
    running = scheduler.start(ac.signal);
    await eventually('mine bound', async () => ((await get('mine'))?.spec.nodeName ? true : undefined));
    assert.equal((await get('theirs'))!.spec.nodeName, undefined);
    assert.equal((await get('theirs'))!.status?.conditions, undefined);
    const writes = (await podHistory(store)).filter((ev) => ev.origin?.actor === 'scheduler');
    assert.deepEqual(writes.map((ev) => ev.object.metadata.name), ['mine']);
  });

  it('accounts for resources of pods it just bound before the store reports them', async () => {
    await store.create(node('n1', '1'));
    await store.create(node('n2', '1'));
    for (let i = 0; i < 4; i++) await store.create(pod(`p${i}`, '600m'));
    const scheduler = new Scheduler({ store: withLateWatch(store, 300), logger: silentLogger(), initialBackoffMs: 60_000 });
    running = scheduler.start(ac.signal);
    await eventually('two bound and two unschedulable', async () => {
      const pods = await Promise.all([0, 1, 2, 3].map((i) => get(`p${i}`)));
      const bound = pods.filter((p) => p?.spec.nodeName);
      const waiting = pods.filter((p) => p?.status?.conditions?.some((c) => c.reason === 'Unschedulable'));
      return bound.length === 2 && waiting.length === 2 ? true : undefined;
    });
    const nodes = await Promise.all([0, 1, 2, 3].map(async (i) => (await get(`p${i}`))?.spec.nodeName));
    assert.deepEqual(nodes.filter(Boolean).sort(), ['n1', 'n2']);
  });

  it('writes a pod\'s volume reservations with its bind, and never gives one free volume to two claims', async () => {
    await store.create(node('n1', '4'));
    await store.create(node('n2', '4'));
    await store.create({ apiVersion: 'storage.k8s.io/v1', kind: 'StorageClass', metadata: { name: 'manual' }, provisioner: 'kubernetes.io/no-provisioner', volumeBindingMode: 'WaitForFirstConsumer' });
    const onNode = (n: string) => ({ required: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In' as const, values: [n] }] }] } });
    await store.create<PersistentVolume>({ apiVersion: 'v1', kind: 'PersistentVolume', metadata: { name: 'disk-n2' }, spec: { capacity: { storage: '1Gi' }, accessModes: ['ReadWriteOnce'], storageClassName: 'manual', local: { path: '/mnt/disk' }, nodeAffinity: onNode('n2') }, status: { phase: 'Available' } });
    for (const c of ['first', 'second']) {
      await store.create<PersistentVolumeClaim>({ apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: c, namespace: 'default' }, spec: { accessModes: ['ReadWriteOnce'], storageClassName: 'manual', resources: { requests: { storage: '1Gi' } } } });
      await store.create(pod(c, '100m', { volumes: [{ name: 'data', persistentVolumeClaim: { claimName: c } }] }));
    }
    // Late watch events: only the scheduler's own reservation keeps the second pod off the volume.
    const scheduler = new Scheduler({ store: withLateWatch(store, 300), logger: silentLogger(), initialBackoffMs: 60_000 });
    running = scheduler.start(ac.signal);
    const [bound, waiting] = await eventually('one pod bound, one unschedulable', async () => {
      const pods = await Promise.all(['first', 'second'].map(get));
      const b = pods.find((p) => p?.spec.nodeName);
      const w = pods.find((p) => p?.status?.conditions?.some((c) => c.reason === 'Unschedulable'));
      return b && w ? [b, w] : undefined;
    });
    assert.equal(bound!.spec.nodeName, 'n2', 'the pod goes where its volume is');
    const pv = (await store.get<PersistentVolume>({ kind: 'PersistentVolume', name: 'disk-n2' }))!;
    assert.equal(pv.spec.claimRef?.name, bound!.metadata.name, 'the volume is reserved for the bound pod\'s claim');
    const writes = (await podHistory(store, ['Pod', 'PersistentVolume'])).filter((ev) => ev.origin?.actor === 'scheduler' && ev.origin.reason === `bound default/${bound!.metadata.name} to n2`);
    assert.deepEqual(writes.map((ev) => ev.object.kind), ['PersistentVolume', 'Pod'], 'reserved in the same transaction as the bind');
    assert.equal(podCondition(waiting!), "0/2 nodes are available: 2 node(s) didn't find available persistent volumes to bind. preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.");
  });

  it('keeps a pod with scheduling gates Pending (SchedulingGated) and binds it once its gates are removed', async () => {
    await store.create(node('n1', '4'));
    await store.create(pod('gated', '1', { schedulingGates: [{ name: 'example.com/quota' }, { name: 'example.com/review' }] }));
    const scheduler = new Scheduler({ store, logger: silentLogger(), initialBackoffMs: 60_000 });
    running = scheduler.start(ac.signal);
    const held = await eventually('marked SchedulingGated', async () => {
      const p = await get('gated');
      return p?.status?.conditions?.some((c) => c.reason === 'SchedulingGated') ? p : undefined;
    });
    assert.deepEqual(held.status!.conditions!.find((c) => c.type === 'PodScheduled'), {
      type: 'PodScheduled', status: 'False', reason: 'SchedulingGated', message: 'Scheduling is blocked due to non-empty scheduling gates',
      lastProbeTime: null, lastTransitionTime: held.status!.conditions![0]!.lastTransitionTime,
    });
    await store.update({ ...held, spec: { ...held.spec, schedulingGates: [{ name: 'example.com/review' }] } });
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await get('gated'))!.spec.nodeName, undefined, 'one gate left: still held');
    const cur = (await get('gated'))!;
    await store.update({ ...cur, spec: { ...cur.spec, schedulingGates: [] } });
    const bound = await eventually('bound once ungated', async () => {
      const p = await get('gated');
      return p?.spec.nodeName === 'n1' ? p : undefined;
    });
    assert.equal(bound.status!.conditions!.find((c) => c.type === 'PodScheduled')!.status, 'True');
  });
});
