/**
 * Plans for storage objects declared in Git: what the binder, the provisioner and admission add
 * to a claim or volume is not a change, survives an update, and a prune marks an object with
 * finalizers for deletion instead of removing it behind a pod's back.
 */
import assert from 'node:assert/strict';
import { makePlan, markDesired } from '../../src/diff/plan.js';
import type { KubeObject, PersistentVolume, PersistentVolumeClaim } from '../../src/model/types.js';
import { planOps } from '../../src/sync/apply.js';
import type { DesiredObject } from '../../src/sync/types.js';

const declared = (object: KubeObject): DesiredObject => ({ object, source: { file: 'storage.yaml', line: 1, document: 0 } });

const claim = (labels?: Record<string, string>): PersistentVolumeClaim => ({
  apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'uploads', namespace: 'shop', ...(labels ? { labels } : {}) },
  spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
});

const volume = (labels?: Record<string, string>): PersistentVolume => ({
  apiVersion: 'v1', kind: 'PersistentVolume', metadata: { name: 'disk-a', ...(labels ? { labels } : {}) },
  spec: { capacity: { storage: '5Gi' }, accessModes: ['ReadWriteOnce'], storageClassName: '', hostPath: { path: '/srv/disk-a' }, claimRef: { namespace: 'shop', name: 'uploads' } },
});

/** The claim as the store holds it once the binder bound it and the PV controller gave it the default class. */
function boundClaim(): PersistentVolumeClaim {
  const obj = markDesired(declared(claim())) as PersistentVolumeClaim;
  obj.metadata = {
    ...obj.metadata, uid: 'uid-claim', resourceVersion: '41', creationTimestamp: '2026-01-01T00:00:00Z',
    annotations: { ...obj.metadata.annotations, 'pv.kubernetes.io/bind-completed': 'yes', 'pv.kubernetes.io/bound-by-controller': 'yes', 'volume.kubernetes.io/selected-node': 'n1' },
  };
  obj.spec = { ...obj.spec, volumeName: 'pvc-uid-claim', storageClassName: 'local-path' };
  obj.status = { phase: 'Bound', accessModes: ['ReadWriteOnce'], capacity: { storage: '1Gi' } };
  return obj;
}

function boundVolume(): PersistentVolume {
  const obj = markDesired(declared(volume())) as PersistentVolume;
  obj.metadata = { ...obj.metadata, uid: 'uid-pv', resourceVersion: '42', creationTimestamp: '2026-01-01T00:00:00Z' };
  obj.spec = { ...obj.spec, claimRef: { apiVersion: 'v1', kind: 'PersistentVolumeClaim', namespace: 'shop', name: 'uploads', uid: 'uid-claim', resourceVersion: '40' } };
  obj.status = { phase: 'Bound' };
  return obj;
}

describe('diff: storage objects', () => {
  it('sees no change in a bound claim and its volume (binding, default class, controller annotations, protection finalizers)', () => {
    const live = [boundClaim(), boundVolume()];
    assert.deepEqual(live[0]!.metadata.finalizers, ['kubernetes.io/pvc-protection'], 'admission adds the protection finalizer');
    const plan = makePlan({ objects: [declared(claim()), declared(volume())] }, live);
    assert.deepEqual(plan.update.map((e) => [e.key, e.patch]), []);
    assert.equal(plan.unchanged.length, 2);
  });

  it('keeps the binding, class, annotations and finalizers when a claim or volume changes in Git', () => {
    const plan = makePlan({ objects: [declared(claim({ team: 'shop' })), declared(volume({ team: 'shop' }))] }, [boundClaim(), boundVolume()]);
    assert.equal(plan.update.length, 2);
    const pvc = plan.update.find((e) => e.kind === 'PersistentVolumeClaim')!.desired as PersistentVolumeClaim;
    assert.equal(pvc.spec.volumeName, 'pvc-uid-claim');
    assert.equal(pvc.spec.storageClassName, 'local-path');
    assert.equal(pvc.metadata.annotations?.['pv.kubernetes.io/bind-completed'], 'yes');
    assert.deepEqual(pvc.metadata.finalizers, ['kubernetes.io/pvc-protection']);
    assert.equal(pvc.status?.phase, 'Bound');
    const pv = plan.update.find((e) => e.kind === 'PersistentVolume')!.desired as PersistentVolume;
    assert.equal(pv.spec.claimRef?.uid, 'uid-claim', 'the binder\'s uid stays on a claimRef the repo declares');
  });

  it('prunes a claim with finalizers by marking it, and keeps a claim being deleted marked when Git brings it back', () => {
    const live = boundClaim();
    const pruned = makePlan({ objects: [] }, [live]);
    assert.equal(pruned.prune.length, 1);
    const [op] = planOps(pruned);
    assert.equal(op!.op, 'update');
    const marked = (op as { object: KubeObject }).object;
    assert.ok(marked.metadata.deletionTimestamp, 'the claim is marked for deletion');
    assert.deepEqual(marked.metadata.finalizers, ['kubernetes.io/pvc-protection']);

    const back = makePlan({ objects: [declared(claim({ team: 'shop' }))] }, [{ ...marked, metadata: { ...marked.metadata, resourceVersion: '50' } }]);
    const written = back.update[0]!.desired!;
    assert.equal(written.metadata.deletionTimestamp, marked.metadata.deletionTimestamp, 'a deletion is never undone by a write');
    assert.equal(makePlan({ objects: [] }, [{ ...marked }]).prune.length, 0, 'an object being deleted is not pruned again');
  });
});
