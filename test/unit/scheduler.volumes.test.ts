/**
 * Scheduling pods with PersistentVolumeClaims: the VolumeBinding and VolumeRestrictions filters
 * and the bindings a chosen node needs (volumeBindingPlan).
 */
import assert from 'node:assert/strict';
import type { Node, PersistentVolume, PersistentVolumeClaim, Pod, StorageClass } from '../../src/model/types.js';
import { cacheFrom, type SchedulerCache } from '../../src/scheduler/cache.js';
import { volumeBindingPlan } from '../../src/scheduler/plugins/volume-binding.js';
import { podInfo } from '../../src/scheduler/podinfo.js';
import { isUnschedulable, schedulePod, type ScheduleResult } from '../../src/scheduler/schedule.js';
import { VolumeReservations, VolumeView } from '../../src/scheduler/volumes.js';

function node(name: string, labels: Record<string, string> = {}): Node {
  return { apiVersion: 'v1', kind: 'Node', metadata: { name, labels }, spec: {}, status: { allocatable: { cpu: '4', memory: '8Gi', pods: '110' } } };
}

function pod(name: string, claims: string[] = [], nodeName?: string): Pod {
  return {
    apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'default' },
    spec: { containers: [{ name: 'c', image: 'busybox' }], ...(nodeName ? { nodeName } : {}), volumes: claims.map((c, i) => ({ name: `v${i}`, persistentVolumeClaim: { claimName: c } })) },
  };
}

function claim(name: string, o: { cls?: string; volumeName?: string; modes?: PersistentVolumeClaim['spec']['accessModes']; deleting?: boolean; selectedNode?: string } = {}): PersistentVolumeClaim {
  return {
    apiVersion: 'v1', kind: 'PersistentVolumeClaim',
    metadata: { name, namespace: 'default', uid: `uid-${name}`, resourceVersion: '7', ...(o.deleting ? { deletionTimestamp: '2024-01-01T00:00:00Z' } : {}), ...(o.selectedNode ? { annotations: { 'volume.kubernetes.io/selected-node': o.selectedNode } } : {}) },
    spec: { accessModes: o.modes ?? ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } }, ...(o.cls !== undefined ? { storageClassName: o.cls } : {}), ...(o.volumeName ? { volumeName: o.volumeName } : {}) },
  };
}

function volume(name: string, o: { node?: string; cls?: string; phase?: string } = {}): PersistentVolume {
  return {
    apiVersion: 'v1', kind: 'PersistentVolume', metadata: { name },
    spec: {
      capacity: { storage: '1Gi' }, accessModes: ['ReadWriteOnce'], storageClassName: o.cls ?? '', hostPath: { path: `/srv/${name}` },
      ...(o.node ? { nodeAffinity: { required: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: [o.node] }] }] } } } : {}),
    },
    status: { phase: (o.phase ?? 'Available') as 'Available' },
  };
}

function storageClass(name: string, mode: StorageClass['volumeBindingMode'], extra: Partial<StorageClass> = {}): StorageClass {
  return { apiVersion: 'storage.k8s.io/v1', kind: 'StorageClass', metadata: { name }, provisioner: 'gantry.dev/local-path', volumeBindingMode: mode, ...extra };
}

function cacheWith(nodes: Node[], objects: (PersistentVolumeClaim | PersistentVolume | StorageClass)[], pods: Pod[] = []): SchedulerCache {
  const cache = cacheFrom(nodes, pods);
  cache.volumes = new VolumeView();
  for (const o of objects) cache.volumes.set(o);
  return cache;
}

const all = { percentageOfNodesToScore: 100 };
const nodeOf = (r: ScheduleResult): string => {
  assert.ok(!isUnschedulable(r), isUnschedulable(r) ? r.message : '');
  return r.node;
};
const messageOf = (r: ScheduleResult): string => {
  assert.ok(isUnschedulable(r), 'expected the pod not to fit');
  return r.message;
};

describe('scheduler: volumes', () => {
  const nodes = [node('a'), node('b'), node('c')];

  it('keeps a pod whose Immediate claim is unbound Pending with Kubernetes\' reason', () => {
    const cache = cacheWith(nodes, [storageClass('fast', 'Immediate'), claim('data', { cls: 'fast' })]);
    assert.equal(messageOf(schedulePod(pod('p', ['data']), cache, all)), '0/3 nodes are available: pod has unbound immediate PersistentVolumeClaims.');
  });

  it('names a claim that is missing or being deleted', () => {
    assert.equal(messageOf(schedulePod(pod('p', ['gone']), cacheWith(nodes, []), all)), '0/3 nodes are available: persistentvolumeclaim "gone" not found.');
    const cache = cacheWith(nodes, [claim('old', { volumeName: 'pv', deleting: true }), volume('pv')]);
    assert.equal(messageOf(schedulePod(pod('p', ['old']), cache, all)), '0/3 nodes are available: persistentvolumeclaim "old" is being deleted.');
  });

  it('schedules a pod to the node its bound claim\'s volume lives on', () => {
    const cache = cacheWith(nodes, [claim('data', { volumeName: 'pvc-1' }), volume('pvc-1', { node: 'b', phase: 'Bound' })]);
    for (let i = 0; i < 5; i++) assert.equal(nodeOf(schedulePod(pod(`p${i}`, ['data']), cache, all)), 'b');
    const alone = cacheWith([node('a')], [claim('data', { volumeName: 'pvc-1' }), volume('pvc-1', { node: 'b', phase: 'Bound' })]);
    assert.equal(messageOf(schedulePod(pod('p', ['data']), alone, all)), '0/1 nodes are available: 1 node(s) had volume node affinity conflict.');
  });

  it('with WaitForFirstConsumer, fits a node where a declared volume matches, and reserves that volume with the bind', () => {
    const cls = storageClass('manual', 'WaitForFirstConsumer', { provisioner: 'kubernetes.io/no-provisioner' });
    const cache = cacheWith(nodes, [cls, claim('data', { cls: 'manual' }), volume('disk-c', { node: 'c', cls: 'manual' })]);
    const p = pod('p', ['data']);
    assert.equal(nodeOf(schedulePod(p, cache, all)), 'c');
    const plan = volumeBindingPlan(podInfo(p), cache.get('c')!, cache);
    assert.equal(plan.claims.length, 0);
    assert.deepEqual(plan.volumes.map((v) => [v.metadata.name, v.spec.claimRef?.name, v.spec.claimRef?.uid]), [['disk-c', 'data', 'uid-data']]);
    const none = cacheWith([node('a')], [cls, claim('data', { cls: 'manual' }), volume('disk-c', { node: 'c', cls: 'manual' })]);
    assert.equal(messageOf(schedulePod(p, none, all)), "0/1 nodes are available: 1 node(s) didn't find available persistent volumes to bind.");
  });

  it('with WaitForFirstConsumer and a provisioner, fits any node its class allows, and marks the claim for provisioning there', () => {
    const cls = storageClass('local-path', 'WaitForFirstConsumer', { allowedTopologies: [{ matchLabelExpressions: [{ key: 'disk', values: ['ssd'] }] }] });
    const cache = cacheWith([node('a'), node('b', { disk: 'ssd' })], [cls, claim('data', { cls: 'local-path' })]);
    const p = pod('p', ['data']);
    assert.equal(nodeOf(schedulePod(p, cache, all)), 'b');
    const plan = volumeBindingPlan(podInfo(p), cache.get('b')!, cache);
    assert.deepEqual(plan.claims.map((c) => c.metadata.annotations), [{
      'volume.kubernetes.io/selected-node': 'b',
      'volume.kubernetes.io/storage-provisioner': 'gantry.dev/local-path',
      'volume.beta.kubernetes.io/storage-provisioner': 'gantry.dev/local-path',
    }]);
    const chosen = cacheWith([node('a'), node('b'), node('c')], [storageClass('local-path', 'WaitForFirstConsumer'), claim('data', { cls: 'local-path', selectedNode: 'c' })]);
    assert.equal(nodeOf(schedulePod(pod('q', ['data']), chosen, all)), 'c', 'a claim being provisioned on a node keeps its pods there');
  });

  it('takes the default class for a claim that names none yet', () => {
    const def = storageClass('local-path', 'WaitForFirstConsumer', { metadata: { name: 'local-path', annotations: { 'storageclass.kubernetes.io/is-default-class': 'true' } } });
    assert.equal(nodeOf(schedulePod(pod('p', ['data']), cacheWith([node('a')], [def, claim('data')]), all)), 'a');
  });

  it('keeps a ReadWriteOnce claim in use on one node, and a ReadWriteOncePod claim to one pod', () => {
    const used = pod('first', ['shared', 'solo'], 'b');
    const objects = [claim('shared', { volumeName: 'pv-shared' }), volume('pv-shared', { phase: 'Bound' }), claim('solo', { volumeName: 'pv-solo', modes: ['ReadWriteOncePod'] }), volume('pv-solo', { phase: 'Bound' }), claim('many', { volumeName: 'pv-many', modes: ['ReadWriteMany'] }), volume('pv-many', { phase: 'Bound' })];
    const cache = cacheWith(nodes, objects, [used, pod('many-user', ['many'], 'a')]);
    // Node c is the emptiest, and where pods without the claim go.
    assert.equal(nodeOf(schedulePod(pod('free'), cache, all)), 'c');
    for (let i = 0; i < 5; i++) assert.equal(nodeOf(schedulePod(pod(`p${i}`, ['shared']), cache, all)), 'b');
    assert.equal(nodeOf(schedulePod(pod('m', ['many']), cache, all)), 'c', 'a ReadWriteMany claim used on a is not tied to a');
    assert.equal(messageOf(schedulePod(pod('rival', ['solo']), cache, all)), '0/3 nodes are available: node has pod using PersistentVolumeClaim with the same name and ReadWriteOncePod access mode.');
  });

  describe('reservations of a bind in flight', () => {
    const marked = (rv: string, node?: string): PersistentVolumeClaim => {
      const c = claim('data', { cls: 'local-path', ...(node ? { selectedNode: node } : {}) });
      c.metadata.resourceVersion = rv;
      return c;
    };
    const selectedOf = (view: VolumeView) => view.claim('default/data')?.metadata.annotations?.['volume.kubernetes.io/selected-node'];

    it('hold against older watch events, and give way to the bind\'s own and newer ones', () => {
      const view = new VolumeView();
      const r = new VolumeReservations(() => view);
      r.observe('ADDED', marked('5'), 5);
      r.reserve([marked('5', 'n1')]);
      r.observe('MODIFIED', marked('6'), 6);
      assert.equal(selectedOf(view), 'n1', 'an event from before the bind landed does not undo the reservation');
      r.confirm([marked('5', 'n1')], 8);
      r.observe('MODIFIED', marked('7'), 7);
      assert.equal(selectedOf(view), 'n1');
      r.observe('MODIFIED', marked('8', 'n1'), 8);
      r.observe('MODIFIED', marked('9'), 9);
      assert.equal(selectedOf(view), undefined, 'after the bind, the store\'s word is the view\'s');
    });

    it('when the bind fails, give the view back the newest version the store holds', () => {
      const view = new VolumeView();
      const r = new VolumeReservations(() => view);
      r.observe('ADDED', marked('5'), 5);
      const previous = r.reserve([marked('5', 'n1')]);
      r.release([marked('5', 'n1')], previous);
      assert.equal(view.claim('default/data')?.metadata.resourceVersion, '5');
      assert.equal(selectedOf(view), undefined);
      const again = r.reserve([marked('5', 'n2')]);
      r.observe('MODIFIED', marked('6'), 6);
      r.release([marked('5', 'n2')], again);
      assert.equal(view.claim('default/data')?.metadata.resourceVersion, '6', 'the version the watch brought while the bind was in flight');
    });
  });
});
