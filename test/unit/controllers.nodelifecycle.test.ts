import assert from 'node:assert/strict';
import { createControllerManager } from '../../src/controllers/index.js';
import { evictionTime, NodeLifecycleController, type NodeCondition } from '../../src/controllers/nodelifecycle.js';
import type { ControllerManager } from '../../src/controllers/runtime.js';
import type { Node, Pod, Toleration } from '../../src/model/types.js';
import type { Store } from '../../src/store/types.js';
import { MemoryStore } from '../fakes/memory-store.js';
import { controllerManager, eventually, node as testNode, nodeReadyCondition, NS, TestClock, untilIdle } from '../helpers/controllers.js';

/** A node whose last heartbeat (Ready condition with `status`) is the clock's now. */
function node(name: string, clock: TestClock, status: 'True' | 'False' = 'True'): Node {
  return testNode(name, { ready: status, heartbeatAt: clock.now() });
}

function pod(name: string, nodeName: string, tolerations?: Toleration[]): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: NS },
    spec: { nodeName, containers: [{ name: 'main', image: 'busybox:1' }], ...(tolerations ? { tolerations } : {}) },
    status: { phase: 'Running', podIP: '10.0.0.1', conditions: [{ type: 'Ready', status: 'True' }] },
  };
}

async function getNode(store: Store, name: string): Promise<Node> {
  return (await store.get<Node>({ kind: 'Node', name }))!;
}

async function getPod(store: Store, name: string): Promise<Pod | undefined> {
  return store.get<Pod>({ kind: 'Pod', namespace: NS, name });
}

/** Stands in for a node agent posting a heartbeat. */
async function heartbeat(store: Store, name: string, clock: TestClock, status: 'True' | 'False' = 'True'): Promise<void> {
  const n = await getNode(store, name);
  n.status!.conditions = [nodeReadyCondition(status, clock.now())];
  await store.update(n, { origin: { actor: `node/${name}` } });
}

const ready = (n: Node) => n.status?.conditions?.find((c) => c.type === 'Ready') as NodeCondition | undefined;
const taints = (n: Node) => (n.spec.taints ?? []).map((t) => `${t.key}:${t.effect}`).sort();

describe('controllers: node lifecycle', function () {
  this.timeout(15000);
  let store: MemoryStore;
  let manager: ControllerManager;
  let clock: TestClock;

  async function start(opts: { grace?: number; eviction?: number; viaIndex?: boolean } = {}): Promise<void> {
    if (opts.viaIndex) {
      manager = createControllerManager(store, { clock, workers: 1, nodeMonitorGracePeriodMs: opts.grace, podEvictionTimeoutMs: opts.eviction });
    } else {
      manager = controllerManager(store, { clock, controllers: [new NodeLifecycleController({ nodeMonitorGracePeriodMs: opts.grace, podEvictionTimeoutMs: opts.eviction })] });
    }
    await manager.start();
  }

  async function settle(): Promise<void> {
    await untilIdle(manager);
  }

  beforeEach(() => {
    store = new MemoryStore();
    clock = new TestClock();
  });
  afterEach(async () => {
    await manager?.stop();
    await store.close();
  });

  it('a node without heartbeat for 50 s becomes Unknown and unreachable, and its pods are deleted after 300 s', async () => {
    await store.create(node('n1', clock));
    await store.create(pod('web', 'n1'));
    await store.create(pod('patient', 'n1', [{ key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 600 }]));
    await store.create(pod('daemon', 'n1', [{ key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute' }]));
    await start();
    await settle();
    clock.advance(45_000);
    await settle();
    assert.equal(ready(await getNode(store, 'n1'))?.status, 'True', 'still Ready within the grace period');
    clock.advance(6_000);
    await eventually(async () => ready(await getNode(store, 'n1'))?.status === 'Unknown', 'Ready is Unknown');
    const n = await getNode(store, 'n1');
    assert.deepEqual([ready(n)?.reason, ready(n)?.message], ['NodeStatusUnknown', 'Kubelet stopped posting node status.']);
    assert.ok(ready(n)?.lastHeartbeatTime, 'the last heartbeat is kept');
    assert.deepEqual(taints(n), ['node.kubernetes.io/unreachable:NoExecute', 'node.kubernetes.io/unreachable:NoSchedule']);
    await eventually(async () => (await getPod(store, 'web'))?.status?.conditions?.[0]?.status === 'False', 'pods are marked not ready');
    clock.advance(290_000);
    await settle();
    assert.ok(await getPod(store, 'web'), 'the pod stays until 300 s have passed');
    clock.advance(11_000);
    await eventually(async () => (await getPod(store, 'web')) === undefined, 'the pod is force-deleted');
    assert.ok(await getPod(store, 'patient'), 'tolerationSeconds 600 is honoured');
    clock.advance(300_000);
    await eventually(async () => (await getPod(store, 'patient')) === undefined, 'the tolerating pod goes after 600 s');
    assert.ok(await getPod(store, 'daemon'), 'a toleration without seconds keeps the pod');
  });

  it('a node that keeps posting heartbeats stays Ready and untainted', async () => {
    await store.create(node('n1', clock));
    await start();
    for (let i = 0; i < 10; i++) {
      clock.advance(10_000);
      await heartbeat(store, 'n1', clock);
      await settle();
    }
    const n = await getNode(store, 'n1');
    assert.equal(ready(n)?.status, 'True');
    assert.equal(n.spec.taints, undefined);
  });

  it('a node whose agent returns loses the unreachable taints', async () => {
    await store.create(node('n1', clock));
    await start();
    await settle();
    clock.advance(51_000);
    await eventually(async () => taints(await getNode(store, 'n1')).length === 2, 'tainted');
    await heartbeat(store, 'n1', clock);
    await eventually(async () => taints(await getNode(store, 'n1')).length === 0, 'taints removed');
  });

  it('a node reporting Ready=False gets not-ready taints and its pods are deleted gracefully after the timeout', async () => {
    await store.create(node('n1', clock, 'False'));
    await store.create(pod('web', 'n1'));
    await start();
    await eventually(async () => taints(await getNode(store, 'n1')).join() === 'node.kubernetes.io/not-ready:NoExecute,node.kubernetes.io/not-ready:NoSchedule', 'not-ready taints');
    for (let i = 0; i < 7; i++) {
      clock.advance(40_000);
      await heartbeat(store, 'n1', clock, 'False');
      await settle();
      assert.equal((await getPod(store, 'web'))?.metadata.deletionTimestamp, undefined, 'not before 300 s');
    }
    clock.advance(40_000);
    await heartbeat(store, 'n1', clock, 'False');
    await eventually(async () => (await getPod(store, 'web'))?.metadata.deletionTimestamp !== undefined, 'the pod is terminating');
    assert.equal(ready(await getNode(store, 'n1'))?.status, 'False', 'the agent still reports NotReady');
  });

  it('both durations come from createControllerManager options', async () => {
    await store.create(node('n1', clock));
    await store.create(pod('web', 'n1'));
    await start({ viaIndex: true, grace: 5_000, eviction: 10_000 });
    await settle();
    clock.advance(6_000);
    await eventually(async () => ready(await getNode(store, 'n1'))?.status === 'Unknown', 'Unknown after 5 s');
    clock.advance(11_000);
    await eventually(async () => (await getPod(store, 'web')) === undefined, 'evicted after 10 s more');
  });

  it('pods bound to a deleted node are force-deleted after a 40 s quarantine', async () => {
    await store.create(node('n1', clock));
    await store.create(pod('web', 'n1'));
    await start();
    await store.delete({ kind: 'Node', name: 'n1' });
    await settle();
    clock.advance(30_000);
    await settle();
    assert.ok(await getPod(store, 'web'));
    clock.advance(11_000);
    await eventually(async () => (await getPod(store, 'web')) === undefined, 'the pod is deleted');
  });

  const taint = { key: 'node.kubernetes.io/unreachable', effect: 'NoExecute' as const };
  const evictionCases: { name: string; tolerations?: Toleration[]; want: number | undefined }[] = [
    { name: 'no toleration: the default timeout', want: 300_000 },
    { name: 'tolerationSeconds: that long', tolerations: [{ key: taint.key, operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 30 }], want: 30_000 },
    { name: 'the smallest of several', tolerations: [{ operator: 'Exists', tolerationSeconds: 90 }, { key: taint.key, operator: 'Exists', tolerationSeconds: 60 }], want: 60_000 },
    { name: 'no tolerationSeconds: never', tolerations: [{ key: taint.key, operator: 'Exists', effect: 'NoExecute' }], want: undefined },
    { name: 'a toleration of another taint does not count', tolerations: [{ key: 'node.kubernetes.io/not-ready', operator: 'Exists', tolerationSeconds: 5 }], want: 300_000 },
  ];
  for (const c of evictionCases) {
    it(`evictionTime: ${c.name}`, () => {
      const p = pod('p', 'n1', c.tolerations);
      assert.equal(evictionTime(p, taint, 0, 300_000), c.want);
    });
  }
});
