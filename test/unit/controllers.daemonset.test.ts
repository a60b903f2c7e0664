import assert from 'node:assert/strict';
import { DaemonSetController, nodeShouldRunDaemonPod, targetNode } from '../../src/controllers/daemonset.js';
import type { ControllerManager } from '../../src/controllers/runtime.js';
import type { DaemonSet, Node, Pod, PodSpec } from '../../src/model/types.js';
import type { Store } from '../../src/store/types.js';
import { MemoryStore } from '../fakes/memory-store.js';
import { controllerManager, edit, eventually, fakeKubelet as runFakeKubelet, isReady, node, NS, untilIdle, type FakeKubeletOptions } from '../helpers/controllers.js';

/** Stands in for scheduler + node agent on node n1 (see the shared {@link runFakeKubelet}). */
const fakeKubelet = (store: Store, signal: AbortSignal, opts: FakeKubeletOptions = {}): void => runFakeKubelet(store, signal, { podIP: '10.0.0.9', ...opts });

function daemonSet(name: string, spec: Partial<PodSpec> = {}): DaemonSet {
  return {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name, namespace: NS },
    spec: {
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'main', image: 'busybox:1' }], ...spec } },
    },
  };
}

async function livePods(store: Store): Promise<Pod[]> {
  return (await store.list<Pod>('Pod', { namespace: NS })).items.filter((p) => !p.metadata.deletionTimestamp);
}
const nodesOf = async (store: Store): Promise<string[]> => (await livePods(store)).map((p) => targetNode(p) ?? '?').sort();

async function getDs(store: Store, name: string): Promise<DaemonSet> {
  return (await store.get<DaemonSet>({ kind: 'DaemonSet', namespace: NS, name }))!;
}

describe('controllers: DaemonSet', function () {
  this.timeout(15000);
  let store: MemoryStore;
  let manager: ControllerManager;
  let ac: AbortController;

  async function start(): Promise<void> {
    manager = controllerManager(store, { controllers: [new DaemonSetController()] });
    await manager.start();
  }

  async function settle(): Promise<void> {
    await untilIdle(manager);
  }

  beforeEach(() => {
    store = new MemoryStore();
    ac = new AbortController();
  });
  afterEach(async () => {
    ac.abort();
    await manager?.stop();
    await store.close();
  });

  it('a DaemonSet runs one pod per node and none on a tainted node', async () => {
    await store.create(node('n1'));
    await store.create(node('n2', { taints: [{ key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule' }] }));
    await store.create(node('n3', { taints: [{ key: 'dedicated', value: 'db', effect: 'NoSchedule' }] }));
    await start();
    const ds = await store.create(daemonSet('agent'));
    await eventually(async () => (await nodesOf(store)).join() === 'n1,n2', 'pods for n1 and n2');
    await settle();
    assert.deepEqual(await nodesOf(store), ['n1', 'n2'], 'one pod each, none on n3');
    for (const p of await livePods(store)) {
      const target = targetNode(p)!;
      assert.equal(p.spec.nodeName, undefined, 'the scheduler binds daemon pods');
      assert.deepEqual(p.spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution, {
        nodeSelectorTerms: [{ matchFields: [{ key: 'metadata.name', operator: 'In', values: [target] }] }],
      });
      const tolerated = (p.spec.tolerations ?? []).map((t) => `${t.key}:${t.effect}`).sort();
      assert.deepEqual(tolerated, [
        'node.kubernetes.io/disk-pressure:NoSchedule', 'node.kubernetes.io/memory-pressure:NoSchedule', 'node.kubernetes.io/not-ready:NoExecute',
        'node.kubernetes.io/pid-pressure:NoSchedule', 'node.kubernetes.io/unreachable:NoExecute', 'node.kubernetes.io/unschedulable:NoSchedule',
      ]);
      assert.match(p.metadata.labels?.['controller-revision-hash'] ?? '', /^[a-z0-9]+$/);
      assert.equal(p.metadata.ownerReferences?.[0]?.uid, ds.metadata.uid);
    }
    await eventually(async () => (await getDs(store, 'agent')).status?.currentNumberScheduled === 2, 'status');
    const s = (await getDs(store, 'agent')).status!;
    assert.deepEqual([s.desiredNumberScheduled, s.currentNumberScheduled, s.numberMisscheduled, s.numberReady, s.updatedNumberScheduled, s.numberAvailable, s.numberUnavailable], [2, 2, 0, 0, 2, 0, 2]);
  });

  it('follows nodes: a new node gets a pod, a deleted node loses it, an untolerated NoExecute taint evicts it', async () => {
    await store.create(node('n1'));
    await start();
    await store.create(daemonSet('agent'));
    await eventually(async () => (await nodesOf(store)).join() === 'n1', 'pod on n1');
    await store.create(node('n2'));
    await eventually(async () => (await nodesOf(store)).join() === 'n1,n2', 'pod on n2');
    await store.delete({ kind: 'Node', name: 'n1' });
    await eventually(async () => (await nodesOf(store)).join() === 'n2', 'the pod of n1 is gone');
    await edit(store, node('n2'), (n) => (n.spec.taints = [{ key: 'maintenance', effect: 'NoSchedule' }]));
    await settle();
    assert.deepEqual(await nodesOf(store), ['n2'], 'a NoSchedule taint keeps the running pod');
    await eventually(async () => (await getDs(store, 'agent')).status?.numberMisscheduled === 1, 'reported as misscheduled');
    await edit(store, node('n2'), (n) => (n.spec.taints = [{ key: 'maintenance', effect: 'NoExecute' }]));
    await eventually(async () => (await nodesOf(store)).length === 0, 'a NoExecute taint removes it');
  });

  it('nodeSelector limits the nodes', async () => {
    await store.create(node('n1', { labels: { disk: 'ssd' } }));
    await store.create(node('n2'));
    await start();
    await store.create(daemonSet('agent', { nodeSelector: { disk: 'ssd' } }));
    await eventually(async () => (await nodesOf(store)).join() === 'n1', 'pod on n1 only');
    await settle();
    assert.deepEqual(await nodesOf(store), ['n1']);
  });

  it('a rolling update replaces one node at a time (maxUnavailable 1)', async () => {
    for (const n of ['n1', 'n2', 'n3']) await store.create(node(n));
    fakeKubelet(store, ac.signal);
    await start();
    const ds = await store.create(daemonSet('agent'));
    await eventually(async () => (await livePods(store)).filter(isReady).length === 3, '3 ready');
    await settle();
    const live = new Map<string, Pod>((await livePods(store)).map((p) => [p.metadata.name, p]));
    const from = await store.revision();
    let minReady = 3;
    void (async () => {
      try {
        for await (const ev of store.watch({ kinds: ['Pod'], signal: ac.signal, fromRevision: from })) {
          const p = ev.object as Pod;
          if (ev.type === 'DELETED' || p.metadata.deletionTimestamp) live.delete(p.metadata.name);
          else live.set(p.metadata.name, p);
          if (live.size > 0) minReady = Math.min(minReady, [...live.values()].filter(isReady).length);
        }
      } catch {
        // closed
      }
    })();
    await edit(store, ds, (o) => (o.spec.template.spec.containers[0]!.image = 'busybox:2'));
    await eventually(async () => {
      const ps = await livePods(store);
      return ps.length === 3 && ps.every((p) => p.spec.containers[0]!.image === 'busybox:2' && isReady(p));
    }, 'every node runs the new image');
    await eventually(async () => (await getDs(store, 'agent')).status?.updatedNumberScheduled === 3, 'status shows 3 updated');
    assert.ok(minReady >= 2, `at most one node was without a ready pod (min ready ${minReady})`);
    assert.deepEqual(await nodesOf(store), ['n1', 'n2', 'n3']);
  });

  const fits: { name: string; spec: Partial<PodSpec>; node: Node; want: [boolean, boolean] }[] = [
    { name: 'a plain node', spec: {}, node: node('a'), want: [true, true] },
    { name: 'an unschedulable node (daemon toleration)', spec: {}, node: node('a', { taints: [{ key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule' }] }), want: [true, true] },
    { name: 'an unreachable node (daemon toleration)', spec: {}, node: node('a', { taints: [{ key: 'node.kubernetes.io/unreachable', effect: 'NoExecute' }] }), want: [true, true] },
    { name: 'an untolerated NoSchedule taint', spec: {}, node: node('a', { taints: [{ key: 'gpu', effect: 'NoSchedule' }] }), want: [false, true] },
    { name: 'a tolerated NoSchedule taint', spec: { tolerations: [{ key: 'gpu', operator: 'Exists' }] }, node: node('a', { taints: [{ key: 'gpu', effect: 'NoSchedule' }] }), want: [true, true] },
    { name: 'an untolerated NoExecute taint', spec: {}, node: node('a', { taints: [{ key: 'gpu', effect: 'NoExecute' }] }), want: [false, false] },
    {
      name: 'required node affinity that does not match',
      spec: { affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }] }] } } } },
      node: node('a', { labels: { zone: 'b' } }),
      want: [false, false],
    },
  ];
  for (const c of fits) {
    it(`nodeShouldRunDaemonPod: ${c.name}`, () => {
      const fit = nodeShouldRunDaemonPod({ containers: [], ...c.spec }, c.node);
      assert.deepEqual([fit.shouldRun, fit.shouldContinueRunning], c.want);
    });
  }
});


