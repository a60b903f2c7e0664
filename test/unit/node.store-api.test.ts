/**
 * The store-backed NodeApi keeps an agent to what it may see: the pods bound to its node, news
 * of a ConfigMap, Secret or claim only when one of those pods refers to it, and the local-path
 * volumes of its node.
 */
import assert from 'node:assert/strict';
import type { ConfigMap, Node, PersistentVolume, PersistentVolumeClaim, Pod, Secret } from '../../src/model/types.js';
import type { NodeEvent } from '../../src/node/api.js';
import { StoreNodeApi } from '../../src/node/store-api.js';
import { MemoryStore } from '../fakes/memory-store.js';

function pod(name: string, nodeName: string | undefined, extra: Partial<Pod['spec']> = {}): Pod {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'default' }, spec: { nodeName, containers: [{ name: 'main', image: 'busybox' }], ...extra } };
}

function configMap(name: string, value: string): ConfigMap {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'default' }, data: { k: value } };
}

/** Collects the API's events until `n` arrived (or a short wait passed). */
async function collect(api: StoreNodeApi, fromRevision: number, n: number): Promise<NodeEvent[]> {
  const ac = new AbortController();
  const out: NodeEvent[] = [];
  const timer = setTimeout(() => ac.abort(), 500);
  try {
    for await (const ev of api.watch({ fromRevision, signal: ac.signal })) {
      out.push(ev);
      if (out.length >= n) break;
    }
  } catch {
    // aborted
  } finally {
    clearTimeout(timer);
    ac.abort();
  }
  return out;
}

describe('StoreNodeApi', () => {
  it('lists and watches only the pods bound to its node, and reports a pod leaving as DELETED', async () => {
    const store = new MemoryStore();
    const api = new StoreNodeApi({ store, nodeName: 'n1' });
    await store.create(pod('mine', 'n1'));
    await store.create(pod('theirs', 'n2'));
    await store.create(pod('pending', undefined));
    const listed = await api.listPods();
    assert.deepEqual(listed.pods.map((p) => p.metadata.name), ['mine']);

    const bound = await store.get<Pod>({ kind: 'Pod', namespace: 'default', name: 'pending' });
    await store.update<Pod>({ ...bound!, spec: { ...bound!.spec, nodeName: 'n1' } });
    await store.create(pod('other', 'n2'));
    await store.delete({ kind: 'Pod', namespace: 'default', name: 'mine' });
    const events = await collect(api, listed.revision, 2);
    assert.deepEqual(events.map((e) => (e.type === 'pod' ? `${e.change} ${e.pod.metadata.name}` : e.type)), ['MODIFIED pending', 'DELETED mine']);
  });

  it('tells of a ConfigMap or Secret change only when a pod of its node refers to it', async () => {
    const store = new MemoryStore();
    const api = new StoreNodeApi({ store, nodeName: 'n1' });
    await store.create(pod('web', 'n1', { volumes: [{ name: 'page', configMap: { name: 'page' } }] }));
    await store.create(pod('db', 'n2', { volumes: [{ name: 'creds', secret: { secretName: 'creds' } }] }));
    const listed = await api.listPods();
    await store.create(configMap('page', 'one'));
    await store.create(configMap('unused', 'x'));
    await store.create<Secret>({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'creds', namespace: 'default' }, data: { p: 'cw==' } });
    const events = await collect(api, listed.revision, 5);
    assert.deepEqual(events, [{ type: 'reference', kind: 'ConfigMap', namespace: 'default', name: 'page', revision: events[0]!.revision }]);
  });

  it('writes pod status against the stored pod, retrying on conflict, and never onto another pod of the same name', async () => {
    const store = new MemoryStore();
    const api = new StoreNodeApi({ store, nodeName: 'n1' });
    const created = await store.create(pod('web', 'n1'));
    // Someone else changes the pod first: the write must recompute from what is stored.
    await store.update<Pod>({ ...created, metadata: { ...created.metadata, labels: { a: 'b' } } });
    let calls = 0;
    const saved = await api.writePodStatus(created, (current) => {
      calls++;
      return { phase: 'Running', message: `labels ${Object.keys(current.metadata.labels ?? {}).length}` };
    });
    assert.equal(calls, 2);
    assert.equal(saved?.status?.message, 'labels 1');
    assert.equal((await store.get<Pod>({ kind: 'Pod', namespace: 'default', name: 'web' }))?.status?.phase, 'Running');

    await store.delete({ kind: 'Pod', namespace: 'default', name: 'web' });
    await store.create(pod('web', 'n1'));
    assert.equal(await api.writePodStatus(saved!, () => ({ phase: 'Failed' })), undefined);
    assert.equal((await store.get<Pod>({ kind: 'Pod', namespace: 'default', name: 'web' }))?.status?.phase, undefined);
    await api.finalizePod(saved!);
    assert.ok(await store.get({ kind: 'Pod', namespace: 'default', name: 'web' }), 'finalizing the old pod leaves the new one');
  });

  it('registers its Node once and updates it after', async () => {
    const store = new MemoryStore();
    const api = new StoreNodeApi({ store, nodeName: 'n1' });
    const build = (current: Node | undefined): Node => ({ apiVersion: 'v1', kind: 'Node', metadata: current?.metadata ?? { name: 'n1' }, spec: {}, status: { ...current?.status, nodeInfo: { containerRuntimeVersion: current ? 'again' : 'first' } } }) as Node;
    await api.writeNode(build, { reason: 'node registered' });
    await api.writeNode(build, { reason: 'heartbeat' });
    const stored = await store.get<Node>({ kind: 'Node', name: 'n1' });
    assert.equal(stored?.status?.nodeInfo?.containerRuntimeVersion, 'again');
  });

  describe('storage', () => {
    const localVolume = (name: string, node: string, claimName?: string): PersistentVolume => ({
      apiVersion: 'v1', kind: 'PersistentVolume',
      metadata: { name, annotations: { 'pv.kubernetes.io/provisioned-by': 'gantry.dev/local-path' }, finalizers: ['gantry.dev/local-path-cleanup'] },
      spec: {
        capacity: { storage: '1Gi' }, accessModes: ['ReadWriteOnce'], hostPath: { path: `/data/storage/${name}`, type: 'DirectoryOrCreate' },
        nodeAffinity: { required: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: [node] }] }] } },
        ...(claimName ? { claimRef: { namespace: 'default', name: claimName } } : {}),
      },
    });
    const claim = (name: string, volumeName?: string): PersistentVolumeClaim => ({
      apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name, namespace: 'default' },
      spec: { accessModes: ['ReadWriteOnce'], ...(volumeName ? { volumeName } : {}) },
    });

    it('reads a claim with its bound volume, and tells of a claim or its volume changing only to the node whose pod uses it', async () => {
      const store = new MemoryStore();
      const api = new StoreNodeApi({ store, nodeName: 'n1' });
      await store.create(pod('db', 'n1', { volumes: [{ name: 'data', persistentVolumeClaim: { claimName: 'data' } }] }));
      await store.create(claim('data'));
      await store.create(claim('other'));
      assert.deepEqual(await api.getClaim('default', 'data'), { claim: await store.get({ kind: 'PersistentVolumeClaim', namespace: 'default', name: 'data' }) });
      const listed = await api.listPods();
      await store.create(localVolume('pvc-1', 'n2', 'data'));
      const c = (await store.get<PersistentVolumeClaim>({ kind: 'PersistentVolumeClaim', namespace: 'default', name: 'data' }))!;
      await store.update({ ...c, spec: { ...c.spec, volumeName: 'pvc-1' } });
      const o = (await store.get<PersistentVolumeClaim>({ kind: 'PersistentVolumeClaim', namespace: 'default', name: 'other' }))!;
      await store.update({ ...o, metadata: { ...o.metadata, labels: { x: 'y' } } });
      const events = await collect(api, listed.revision, 2);
      assert.deepEqual(events.map((e) => (e.type === 'reference' ? `${e.kind} ${e.name}` : e.type)), ['PersistentVolumeClaim data', 'PersistentVolumeClaim data']);
      assert.equal((await api.getClaim('default', 'data'))?.volume?.metadata.name, 'pvc-1');
    });

    it('shows a node only its own local-path volumes, and lets it finish only their cleanup, once they are being deleted', async () => {
      const store = new MemoryStore();
      const n1 = new StoreNodeApi({ store, nodeName: 'n1' });
      const from = await store.revision();
      await store.create(localVolume('pvc-mine', 'n1'));
      await store.create(localVolume('pvc-theirs', 'n2'));
      assert.deepEqual((await n1.listLocalVolumes()).map((v) => v.metadata.name), ['pvc-mine']);
      const events = await collect(n1, from, 2);
      assert.deepEqual(events.map((e) => (e.type === 'volume' ? `${e.change} ${e.volume.metadata.name}` : e.type)), ['ADDED pvc-mine']);

      const mine = (await store.get<PersistentVolume>({ kind: 'PersistentVolume', name: 'pvc-mine' }))!;
      await n1.finishVolumeCleanup(mine);
      assert.deepEqual((await store.get<PersistentVolume>({ kind: 'PersistentVolume', name: 'pvc-mine' }))?.metadata.finalizers, ['gantry.dev/local-path-cleanup'], 'not before the volume is being deleted');
      await store.update({ ...mine, metadata: { ...mine.metadata, deletionTimestamp: '2026-01-01T00:00:00Z' } });
      const theirs = (await store.get<PersistentVolume>({ kind: 'PersistentVolume', name: 'pvc-theirs' }))!;
      await store.update({ ...theirs, metadata: { ...theirs.metadata, deletionTimestamp: '2026-01-01T00:00:00Z' } });
      await n1.finishVolumeCleanup(theirs);
      assert.ok(await store.get({ kind: 'PersistentVolume', name: 'pvc-theirs' }), 'another node\'s volume is not n1\'s to release');
      await n1.finishVolumeCleanup(mine);
      assert.equal(await store.get({ kind: 'PersistentVolume', name: 'pvc-mine' }), undefined, 'the last finalizer gone, the volume goes');
    });
  });
});
