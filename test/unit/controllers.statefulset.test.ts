import assert from 'node:assert/strict';
import type { ControllerManager } from '../../src/controllers/runtime.js';
import { claimName, ordinalOf, StatefulSetController } from '../../src/controllers/statefulset.js';
import type { Pod, StatefulSet } from '../../src/model/types.js';
import type { Store } from '../../src/store/types.js';
import { MemoryStore } from '../fakes/memory-store.js';
import { controllerManager, edit, eventually, fakeKubelet as runFakeKubelet, isReady, NS, untilIdle, type FakeKubeletOptions } from '../helpers/controllers.js';
import { isTokenVolume } from '../../src/model/serviceaccount.js';

/** Stands in for scheduler + node agent on node n1 (see the shared {@link runFakeKubelet}). */
const fakeKubelet = (store: Store, signal: AbortSignal, opts: FakeKubeletOptions = {}): void => runFakeKubelet(store, signal, { podIP: '10.0.0.9', ...opts });

function statefulSet(name: string, spec: Partial<StatefulSet['spec']> = {}): StatefulSet {
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name, namespace: NS },
    spec: {
      replicas: 3,
      serviceName: `${name}-headless`,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          containers: [{ name: 'main', image: 'busybox:1', volumeMounts: [{ name: 'data', mountPath: '/data' }] }],
        },
      },
      volumeClaimTemplates: [{ metadata: { name: 'data' }, spec: { accessModes: ['ReadWriteOnce'] } }],
      ...spec,
    },
  };
}

async function pods(store: Store): Promise<Pod[]> {
  return (await store.list<Pod>('Pod', { namespace: NS })).items.sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
}
const names = async (store: Store): Promise<string[]> => (await pods(store)).filter((p) => !p.metadata.deletionTimestamp).map((p) => p.metadata.name);

async function getSts(store: Store, name: string): Promise<StatefulSet> {
  return (await store.get<StatefulSet>({ kind: 'StatefulSet', namespace: NS, name }))!;
}

async function markReady(store: Store, name: string): Promise<void> {
  await edit(store, { kind: 'Pod', metadata: { name, namespace: NS } } as Pod, (p) => {
    p.status = { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] };
  });
}

describe('controllers: StatefulSet', function () {
  this.timeout(15000);
  let store: MemoryStore;
  let manager: ControllerManager;
  let ac: AbortController;

  async function start(): Promise<void> {
    manager = controllerManager(store, { controllers: [new StatefulSetController()] });
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

  it('a StatefulSet creates web-1 only after web-0 is Ready', async () => {
    await start();
    const sts = await store.create(statefulSet('web'));
    await eventually(async () => (await names(store)).join() === 'web-0', 'web-0 exists');
    await settle();
    assert.deepEqual(await names(store), ['web-0'], 'web-1 waits for web-0');
    await markReady(store, 'web-0');
    await eventually(async () => (await names(store)).join() === 'web-0,web-1', 'web-1 exists');
    await settle();
    assert.deepEqual(await names(store), ['web-0', 'web-1']);
    await markReady(store, 'web-1');
    await eventually(async () => (await names(store)).length === 3, 'web-2 exists');
    for (const [i, p] of (await pods(store)).entries()) {
      assert.equal(p.metadata.labels?.['statefulset.kubernetes.io/pod-name'], `web-${i}`);
      assert.equal(p.metadata.labels?.['apps.kubernetes.io/pod-index'], String(i));
      assert.match(p.metadata.labels?.['controller-revision-hash'] ?? '', /^web-[a-z0-9]+$/);
      assert.equal(p.spec.hostname, `web-${i}`);
      assert.equal(p.spec.subdomain, 'web-headless');
      // Beside the service-account token volume admission adds.
      assert.deepEqual(p.spec.volumes?.filter((v) => !isTokenVolume(v)), [{ name: 'data', persistentVolumeClaim: { claimName: `data-web-${i}` } }]);
      assert.deepEqual(p.metadata.ownerReferences?.map((r) => [r.kind, r.uid, r.controller]), [['StatefulSet', sts.metadata.uid, true]]);
    }
    await markReady(store, 'web-2');
    await eventually(async () => (await getSts(store, 'web')).status?.readyReplicas === 3, 'status shows 3 ready');
    const s = (await getSts(store, 'web')).status!;
    assert.deepEqual([s.replicas, s.currentReplicas, s.updatedReplicas, s.availableReplicas, s.observedGeneration], [3, 3, 3, 3, 1]);
    assert.equal(s.currentRevision, s.updateRevision);
  });

  it('Parallel creates every pod at once', async () => {
    await start();
    await store.create(statefulSet('db', { podManagementPolicy: 'Parallel' }));
    await eventually(async () => (await names(store)).join() === 'db-0,db-1,db-2', 'all pods exist');
  });

  it('a deleted StatefulSet pod comes back with the same name and claim', async () => {
    fakeKubelet(store, ac.signal);
    await start();
    await store.create(statefulSet('web', { replicas: 2 }));
    await eventually(async () => (await pods(store)).filter(isReady).length === 2, '2 ready pods');
    const before = (await pods(store)).find((p) => p.metadata.name === 'web-1')!;
    await store.delete({ kind: 'Pod', namespace: NS, name: 'web-1' });
    await eventually(async () => {
      const p = (await pods(store)).find((x) => x.metadata.name === 'web-1');
      return !!p && p.metadata.uid !== before.metadata.uid;
    }, 'web-1 is recreated');
    const after = (await pods(store)).find((p) => p.metadata.name === 'web-1')!;
    assert.deepEqual(after.spec.volumes?.filter((v) => !isTokenVolume(v)), before.spec.volumes?.filter((v) => !isTokenVolume(v)));
    assert.equal(after.spec.volumes?.[0]?.persistentVolumeClaim?.claimName, claimName('data', 'web', 1));
  });

  it('scaling down removes the highest ordinal first, one at a time', async () => {
    fakeKubelet(store, ac.signal);
    await start();
    const sts = await store.create(statefulSet('web', { replicas: 3 }));
    await eventually(async () => (await pods(store)).filter(isReady).length === 3, '3 ready pods');
    const deleted: string[] = [];
    void (async () => {
      try {
        for await (const ev of store.watch({ kinds: ['Pod'], signal: ac.signal, fromRevision: await store.revision() })) {
          if (ev.type === 'DELETED') deleted.push(ev.object.metadata.name);
        }
      } catch {
        // closed
      }
    })();
    await edit(store, sts, (o) => (o.spec.replicas = 1));
    await eventually(async () => (await names(store)).join() === 'web-0', 'only web-0 remains');
    assert.deepEqual(deleted, ['web-2', 'web-1']);
  });

  it('RollingUpdate replaces pods from the highest ordinal down to the partition', async () => {
    fakeKubelet(store, ac.signal);
    await start();
    const sts = await store.create(statefulSet('web', { updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 1 } } }));
    await eventually(async () => (await getSts(store, 'web')).status?.readyReplicas === 3, '3 ready');
    const oldRev = (await getSts(store, 'web')).status!.updateRevision!;
    await edit(store, sts, (o) => (o.spec.template.spec.containers[0]!.image = 'busybox:2'));
    await eventually(async () => {
      const ps = await pods(store);
      return ps.length === 3 && ps.filter((p) => p.spec.containers[0]!.image === 'busybox:2' && isReady(p)).length === 2;
    }, 'web-1 and web-2 are updated');
    await settle();
    const ps = await pods(store);
    assert.deepEqual(ps.map((p) => p.spec.containers[0]!.image), ['busybox:1', 'busybox:2', 'busybox:2'], 'web-0 is below the partition');
    const s = (await getSts(store, 'web')).status!;
    assert.equal(s.currentRevision, oldRev);
    assert.notEqual(s.updateRevision, oldRev);
    assert.deepEqual([s.currentReplicas, s.updatedReplicas], [1, 2]);
    assert.equal(ps[0]!.metadata.labels?.['controller-revision-hash'], oldRev);
  });

  it('OnDelete leaves running pods alone and recreates a deleted one at the new revision', async () => {
    fakeKubelet(store, ac.signal);
    await start();
    const sts = await store.create(statefulSet('web', { replicas: 2, updateStrategy: { type: 'OnDelete' } }));
    await eventually(async () => (await pods(store)).filter(isReady).length === 2, '2 ready');
    await edit(store, sts, (o) => (o.spec.template.spec.containers[0]!.image = 'busybox:2'));
    await settle();
    assert.deepEqual((await pods(store)).map((p) => p.spec.containers[0]!.image), ['busybox:1', 'busybox:1']);
    await store.delete({ kind: 'Pod', namespace: NS, name: 'web-0' });
    await eventually(async () => (await pods(store)).find((p) => p.metadata.name === 'web-0')?.spec.containers[0]!.image === 'busybox:2', 'web-0 is recreated at the new revision');
  });

  const ordinals: [string, string, number | undefined][] = [
    ['web', 'web-0', 0],
    ['web', 'web-12', 12],
    ['web', 'web-01', undefined],
    ['web', 'web-x', undefined],
    ['web', 'webby-1', undefined],
    ['my-app', 'my-app-3', 3],
  ];
  for (const [sts, pod, want] of ordinals) {
    it(`ordinalOf(${sts}, ${pod}) is ${want}`, () => assert.equal(ordinalOf(sts, pod), want));
  }
});
