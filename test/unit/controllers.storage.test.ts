/**
 * The storage controllers on the in-memory store: the binder, the local-path provisioner,
 * in-use protection, and the StatefulSet's claims with the garbage collector. The scheduler
 * and node agents are stood in for (a selected-node annotation, a fake kubelet).
 */
import assert from 'node:assert/strict';
import { GarbageCollector } from '../../src/controllers/gc.js';
import type { ControllerManager } from '../../src/controllers/runtime.js';
import { StatefulSetController, statefulSetPod } from '../../src/controllers/statefulset.js';
import { podTemplateHash } from '../../src/controllers/deployment/hash.js';
import { PersistentVolumeBinder } from '../../src/controllers/storage/binder.js';
import { LocalPathProvisioner, ensureDefaultStorageClass } from '../../src/controllers/storage/local-path.js';
import { StorageProtectionController } from '../../src/controllers/storage/protection.js';
import { applyDefaults } from '../../src/model/defaults.js';
import type { Node, PersistentVolume, PersistentVolumeClaim, Pod, StatefulSet, StorageClass } from '../../src/model/types.js';
import { StoreNodeApi } from '../../src/node/store-api.js';
import { deleteObject } from '../../src/store/finalizers.js';
import { MemoryStore } from '../fakes/memory-store.js';
import { controllerManager, edit, eventually, fakeKubelet, isReady, node, NS, untilIdle } from '../helpers/controllers.js';

const origin = { actor: 'test' };

function storageClass(name: string, opts: { mode?: StorageClass['volumeBindingMode']; reclaim?: StorageClass['reclaimPolicy']; isDefault?: boolean } = {}): StorageClass {
  return applyDefaults<StorageClass>({
    apiVersion: 'storage.k8s.io/v1', kind: 'StorageClass',
    metadata: { name, ...(opts.isDefault ? { annotations: { 'storageclass.kubernetes.io/is-default-class': 'true' } } : {}) },
    provisioner: 'gantry.dev/local-path',
    volumeBindingMode: opts.mode ?? 'Immediate',
    reclaimPolicy: opts.reclaim ?? 'Delete',
  });
}

function claim(name: string, spec: Partial<PersistentVolumeClaim['spec']> = {}): PersistentVolumeClaim {
  return applyDefaults<PersistentVolumeClaim>({
    apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name, namespace: NS },
    spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } }, ...spec },
  });
}

function staticVolume(name: string, spec: Partial<PersistentVolume['spec']> = {}): PersistentVolume {
  return applyDefaults<PersistentVolume>({
    apiVersion: 'v1', kind: 'PersistentVolume', metadata: { name },
    spec: { capacity: { storage: '1Gi' }, accessModes: ['ReadWriteOnce'], storageClassName: '', hostPath: { path: `/srv/${name}` }, ...spec },
  });
}

function storageNode(name: string, ready = true): Node {
  const n = node(name, ready ? { ready: 'True' } : {});
  n.metadata.annotations = { 'gantry.dev/local-path-dir': `/data/${name}/storage` };
  return n;
}

function podUsing(name: string, claimName: string, nodeName?: string): Pod {
  return {
    apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: NS },
    spec: { ...(nodeName ? { nodeName } : {}), containers: [{ name: 'main', image: 'busybox' }], volumes: [{ name: 'data', persistentVolumeClaim: { claimName } }] },
    status: { phase: 'Running' },
  };
}

describe('controllers: storage', function () {
  this.timeout(20000);
  let store: MemoryStore;
  let manager: ControllerManager;
  let ac: AbortController;

  const getClaim = (name: string) => store.get<PersistentVolumeClaim>({ kind: 'PersistentVolumeClaim', namespace: NS, name });
  const getVolume = (name: string) => store.get<PersistentVolume>({ kind: 'PersistentVolume', name });
  const volumes = async () => (await store.list<PersistentVolume>('PersistentVolume')).items;

  async function start(): Promise<void> {
    manager = controllerManager(store, {
      controllers: [new PersistentVolumeBinder(), new LocalPathProvisioner(), new StorageProtectionController(), new StatefulSetController(), new GarbageCollector()],
    });
    await manager.start();
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

  it('gives gantry\'s local-path StorageClass at start (default, WaitForFirstConsumer, Delete) unless one of that name exists', async () => {
    assert.equal(await ensureDefaultStorageClass(store), true);
    const sc = (await store.get<StorageClass>({ kind: 'StorageClass', name: 'local-path' }))!;
    assert.equal(sc.provisioner, 'gantry.dev/local-path');
    assert.equal(sc.volumeBindingMode, 'WaitForFirstConsumer');
    assert.equal(sc.reclaimPolicy, 'Delete');
    assert.equal(sc.metadata.annotations?.['storageclass.kubernetes.io/is-default-class'], 'true');
    await edit(store, sc, (o) => (o.reclaimPolicy = 'Retain'));
    assert.equal(await ensureDefaultStorageClass(store), false);
    assert.equal((await store.get<StorageClass>({ kind: 'StorageClass', name: 'local-path' }))!.reclaimPolicy, 'Retain', 'an existing local-path class is left as it is');
  });

  it('gives a claim without a class the default one, and provisions an Immediate claim on the Ready node holding the fewest volumes', async () => {
    await store.create(storageClass('fast', { isDefault: true }));
    await store.create(storageNode('n1'));
    await store.create(storageNode('n2'));
    await store.create(storageNode('n3', false));
    await store.create(applyDefaults<PersistentVolume>({ ...staticVolume('pvc-older', { storageClassName: 'fast', claimRef: { namespace: NS, name: 'older', uid: 'older-uid' }, nodeAffinity: { required: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: ['n1'] }] }] } } }), metadata: { name: 'pvc-older', annotations: { 'pv.kubernetes.io/provisioned-by': 'gantry.dev/local-path' } } }));
    await start();
    const created = await store.create(claim('data'));
    await eventually(async () => (await getClaim('data'))?.status?.phase === 'Bound', 'the claim is Bound');
    const c = (await getClaim('data'))!;
    const pvName = `pvc-${created.metadata.uid}`;
    assert.equal(c.spec.storageClassName, 'fast');
    assert.equal(c.spec.volumeName, pvName);
    assert.deepEqual(c.status, { phase: 'Bound', accessModes: ['ReadWriteOnce'], capacity: { storage: '1Gi' } });
    const pv = (await getVolume(pvName))!;
    assert.deepEqual(pv.spec.hostPath, { path: `/data/n2/storage/${pvName}`, type: 'DirectoryOrCreate' });
    assert.deepEqual(pv.spec.nodeAffinity?.required?.nodeSelectorTerms[0]?.matchExpressions, [{ key: 'kubernetes.io/hostname', operator: 'In', values: ['n2'] }]);
    assert.deepEqual(pv.spec.capacity, { storage: '1Gi' });
    assert.equal(pv.spec.persistentVolumeReclaimPolicy, 'Delete');
    assert.equal(pv.spec.claimRef?.uid, created.metadata.uid);
    assert.equal(pv.status?.phase, 'Bound');
    assert.deepEqual([...(pv.metadata.finalizers ?? [])].sort(), ['gantry.dev/local-path-cleanup', 'kubernetes.io/pv-protection']);
  });

  it('leaves a WaitForFirstConsumer claim Pending until the scheduler picks a node, then provisions it there', async () => {
    await store.create(storageClass('local-path', { mode: 'WaitForFirstConsumer', isDefault: true }));
    await store.create(storageNode('n1'));
    await store.create(storageNode('n2'));
    await start();
    await store.create(claim('data', { storageClassName: 'local-path' }));
    await untilIdle(manager);
    assert.equal((await getClaim('data'))!.status?.phase, 'Pending');
    assert.equal((await volumes()).length, 0, 'nothing is provisioned before a pod is scheduled');
    await edit(store, (await getClaim('data'))!, (o) => {
      o.metadata.annotations = { ...o.metadata.annotations, 'volume.kubernetes.io/selected-node': 'n1' };
    });
    await eventually(async () => (await getClaim('data'))?.status?.phase === 'Bound', 'the claim is Bound');
    const pv = (await getVolume((await getClaim('data'))!.spec.volumeName!))!;
    assert.deepEqual(pv.spec.nodeAffinity?.required?.nodeSelectorTerms[0]?.matchExpressions?.[0]?.values, ['n1']);
  });

  it('provisions a WaitForFirstConsumer claim on the node of a pod that names its node itself', async () => {
    await store.create(storageClass('local-path', { mode: 'WaitForFirstConsumer', isDefault: true }));
    await store.create(storageNode('n1'));
    await store.create(storageNode('n2'));
    await start();
    await store.create(claim('data'));
    await store.create(podUsing('pinned', 'data', 'n2'));
    await eventually(async () => (await getClaim('data'))?.status?.phase === 'Bound', 'the claim is Bound');
    const c = (await getClaim('data'))!;
    assert.equal(c.metadata.annotations?.['volume.kubernetes.io/selected-node'], 'n2');
    assert.deepEqual((await getVolume(c.spec.volumeName!))!.spec.nodeAffinity?.required?.nodeSelectorTerms[0]?.matchExpressions?.[0]?.values, ['n2']);
  });

  it('binds declared volumes as Kubernetes does: the smallest match, a claim naming its volume, never a volume already taken', async () => {
    await store.create(staticVolume('small', { capacity: { storage: '2Gi' } }));
    await store.create(staticVolume('big', { capacity: { storage: '5Gi' } }));
    await start();
    await store.create(claim('logs', { storageClassName: '' }));
    await eventually(async () => (await getClaim('logs'))?.spec.volumeName === 'small', 'logs binds the smallest fitting volume');
    await store.create(claim('pinned', { storageClassName: '', volumeName: 'big' }));
    await eventually(async () => (await getClaim('pinned'))?.status?.phase === 'Bound', 'pinned binds the volume it names');
    await store.create(claim('late', { storageClassName: '', volumeName: 'big' }));
    await untilIdle(manager);
    assert.equal((await getClaim('late'))!.status?.phase, 'Pending', 'a volume bound to another claim is not taken');
    const small = (await getVolume('small'))!;
    assert.equal(small.status?.phase, 'Bound');
    assert.equal(small.metadata.annotations?.['pv.kubernetes.io/bound-by-controller'], 'yes');
    assert.equal(small.spec.claimRef?.name, 'logs');
    assert.equal((await getClaim('logs'))!.metadata.annotations?.['pv.kubernetes.io/bound-by-controller'], 'yes', 'the binder chose its volume');
    assert.equal((await getClaim('pinned'))!.metadata.annotations?.['pv.kubernetes.io/bound-by-controller'], undefined, 'it named its own');
  });

  it('holds a claim a pod uses until the pod is gone, then releases its volume and deletes it by its reclaim policy', async () => {
    await store.create(storageClass('delete', { reclaim: 'Delete' }));
    await store.create(storageClass('retain', { reclaim: 'Retain' }));
    await store.create(storageNode('n1'));
    await start();
    await store.create(claim('scratch', { storageClassName: 'delete' }));
    await store.create(claim('keep', { storageClassName: 'retain' }));
    await eventually(async () => (await getClaim('scratch'))?.status?.phase === 'Bound' && (await getClaim('keep'))?.status?.phase === 'Bound', 'both claims are Bound');
    const scratchVolume = (await getClaim('scratch'))!.spec.volumeName!;
    const keepVolume = (await getClaim('keep'))!.spec.volumeName!;
    const pod = await store.create(podUsing('user', 'scratch', 'n1'));

    assert.equal(await deleteObject(store, (await getClaim('scratch'))!, { origin }), 'terminating');
    await untilIdle(manager);
    assert.ok((await getClaim('scratch'))?.metadata.deletionTimestamp, 'the claim waits for its pod');
    assert.equal((await getVolume(scratchVolume))!.status?.phase, 'Bound');

    await store.delete({ kind: 'Pod', namespace: NS, name: pod.metadata.name });
    await eventually(async () => !(await getClaim('scratch')), 'the claim goes with its last pod');
    await eventually(async () => {
      const pv = await getVolume(scratchVolume);
      return !!pv?.metadata.deletionTimestamp && pv.metadata.finalizers?.join() === 'gantry.dev/local-path-cleanup';
    }, 'the Delete volume waits only for its node to remove the directory');
    await new StoreNodeApi({ store, nodeName: 'n2' }).finishVolumeCleanup((await getVolume(scratchVolume))!);
    assert.ok(await getVolume(scratchVolume), 'another node cannot finish the cleanup');
    await new StoreNodeApi({ store, nodeName: 'n1' }).finishVolumeCleanup((await getVolume(scratchVolume))!);
    assert.equal(await getVolume(scratchVolume), undefined, 'the volume is gone once its node removed the directory');

    await deleteObject(store, (await getClaim('keep'))!, { origin });
    await eventually(async () => (await getVolume(keepVolume))?.status?.phase === 'Released', 'the Retain volume is Released');
    await untilIdle(manager);
    assert.equal((await getVolume(keepVolume))!.metadata.deletionTimestamp, undefined, 'and kept, with its data');
  });

  it('grows a local-path volume\'s recorded capacity when its claim asks for more and the class allows expansion, and refuses otherwise', async () => {
    const growing = storageClass('growing');
    growing.allowVolumeExpansion = true;
    await store.create(growing);
    await store.create(storageClass('fixed'));
    await store.create(storageNode('n1'));
    await start();
    await store.create(claim('big', { storageClassName: 'growing' }));
    await store.create(claim('small', { storageClassName: 'fixed' }));
    await eventually(async () => (await getClaim('big'))?.status?.phase === 'Bound' && (await getClaim('small'))?.status?.phase === 'Bound', 'both Bound');
    for (const name of ['big', 'small']) await edit(store, (await getClaim(name))!, (o) => (o.spec.resources = { requests: { storage: '5Gi' } }));
    await eventually(async () => (await getClaim('big'))?.status?.capacity?.storage === '5Gi', 'the claim shows its new capacity');
    assert.deepEqual((await getVolume((await getClaim('big'))!.spec.volumeName!))!.spec.capacity, { storage: '5Gi' });
    await untilIdle(manager);
    assert.deepEqual((await getVolume((await getClaim('small'))!.spec.volumeName!))!.spec.capacity, { storage: '1Gi' }, 'a class without allowVolumeExpansion keeps the size');
    assert.equal((await getClaim('small'))!.status?.capacity?.storage, '1Gi');
  });

  it('fails a released declared volume whose reclaim policy is Delete, saying why', async () => {
    await store.create(staticVolume('manual', { persistentVolumeReclaimPolicy: 'Delete' }));
    await start();
    await store.create(claim('c', { storageClassName: '' }));
    await eventually(async () => (await getClaim('c'))?.status?.phase === 'Bound', 'bound');
    await deleteObject(store, (await getClaim('c'))!, { origin });
    await eventually(async () => (await getVolume('manual'))?.status?.phase === 'Failed', 'the volume Failed');
    assert.match((await getVolume('manual'))!.status!.message!, /gantry deletes only volumes its local-path provisioner made/);
  });

  describe('StatefulSet claims', () => {
    function statefulSet(policy?: StatefulSet['spec']['persistentVolumeClaimRetentionPolicy']): StatefulSet {
      return applyDefaults<StatefulSet>({
        apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 'web', namespace: NS },
        spec: {
          replicas: 2, serviceName: 'web', selector: { matchLabels: { app: 'web' } },
          template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'main', image: 'busybox', volumeMounts: [{ name: 'data', mountPath: '/data' }] }] } },
          volumeClaimTemplates: [{ apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'data', labels: { tier: 'db' } }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } }],
          ...(policy ? { persistentVolumeClaimRetentionPolicy: policy } : {}),
        },
      });
    }
    const readyPods = async () => (await store.list<Pod>('Pod', { namespace: NS })).items.filter((p) => isReady(p) && !p.metadata.deletionTimestamp).map((p) => p.metadata.name).sort();

    beforeEach(async () => {
      await store.create(storageClass('local-path', { isDefault: true }));
      await store.create(storageNode('n1'));
      fakeKubelet(store, ac.signal, { bind: true, finalize: true });
    });

    it('creates a real claim per pod before the pod, keeps it when the StatefulSet scales down and reuses it when it scales back up', async () => {
      await start();
      const sts = await store.create(statefulSet());
      await eventually(async () => (await readyPods()).join() === 'web-0,web-1', 'two pods ready');
      const c1 = (await getClaim('data-web-1'))!;
      assert.deepEqual(c1.metadata.labels, { tier: 'db', app: 'web' });
      assert.equal(c1.metadata.ownerReferences, undefined, 'Retain/Retain leaves claims unowned');
      await eventually(async () => (await getClaim('data-web-1'))?.status?.phase === 'Bound', 'bound');
      await edit(store, sts, (o) => (o.spec.replicas = 1));
      await eventually(async () => (await readyPods()).join() === 'web-0', 'scaled down to one');
      await untilIdle(manager);
      assert.equal((await getClaim('data-web-1'))?.metadata.uid, c1.metadata.uid, 'the claim of the removed pod stays');
      await edit(store, (await store.get<StatefulSet>({ kind: 'StatefulSet', namespace: NS, name: 'web' }))!, (o) => (o.spec.replicas = 2));
      await eventually(async () => (await readyPods()).join() === 'web-0,web-1', 'two pods again');
      const pod = (await store.get<Pod>({ kind: 'Pod', namespace: NS, name: 'web-1' }))!;
      assert.deepEqual(pod.spec.volumes?.find((v) => v.name === 'data')?.persistentVolumeClaim, { claimName: 'data-web-1' });
      assert.equal((await getClaim('data-web-1'))?.metadata.uid, c1.metadata.uid, 'the pod gets its old claim back');
    });

    it('gives a pod an earlier gantry ran without claim objects its claim, provisioned on the pod\'s node', async () => {
      const wffc = storageClass('local-path', { mode: 'WaitForFirstConsumer' });
      await edit(store, (await store.get<StorageClass>({ kind: 'StorageClass', name: 'local-path' }))!, (o) => (o.volumeBindingMode = wffc.volumeBindingMode));
      await store.create(storageNode('n2'));
      const sts = await store.create(statefulSet());
      // What the StatefulSet controller of an earlier gantry left: pods, already running on n2, and no claims.
      for (const ord of [0, 1]) {
        const p = statefulSetPod(sts, ord, `web-${podTemplateHash(sts.spec.template)}`, sts.spec.template.spec);
        await store.create<Pod>({ ...p, spec: { ...p.spec, nodeName: 'n2' }, status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] } });
      }
      await start();
      await eventually(async () => (await getClaim('data-web-0'))?.status?.phase === 'Bound' && (await getClaim('data-web-1'))?.status?.phase === 'Bound', 'both claims Bound');
      const pv = (await getVolume((await getClaim('data-web-1'))!.spec.volumeName!))!;
      assert.deepEqual(pv.spec.nodeAffinity?.required?.nodeSelectorTerms[0]?.matchExpressions?.[0]?.values, ['n2'], 'on the node the pod runs on, where its old directory is');
    });

    it('deletes the claims of scaled-down pods (whenScaled: Delete) and of a deleted StatefulSet (whenDeleted: Delete)', async () => {
      await start();
      const sts = await store.create(statefulSet({ whenScaled: 'Delete', whenDeleted: 'Delete' }));
      await eventually(async () => (await readyPods()).join() === 'web-0,web-1', 'two pods ready');
      assert.deepEqual((await getClaim('data-web-0'))!.metadata.ownerReferences?.map((r) => `${r.kind}/${r.name}`), ['StatefulSet/web']);
      await edit(store, sts, (o) => (o.spec.replicas = 1));
      await eventually(async () => !(await getClaim('data-web-1')), 'the claim of the scaled-down pod is deleted');
      assert.ok(await getClaim('data-web-0'), 'the other claim stays');
      await deleteObject(store, (await store.get<StatefulSet>({ kind: 'StatefulSet', namespace: NS, name: 'web' }))!, { origin });
      await eventually(async () => !(await getClaim('data-web-0')), 'the StatefulSet\'s claims go with it');
    });
  });
});
