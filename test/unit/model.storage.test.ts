import assert from 'node:assert/strict';
import {
  accessModesShort, defaultStorageClass, findMatchingVolume, isReadOnlyClaim, localPathNode, volumeFitsNode,
} from '../../src/model/storage.js';
import type { PersistentVolume, PersistentVolumeClaim, StorageClass } from '../../src/model/types.js';

function claim(spec: Partial<PersistentVolumeClaim['spec']> = {}, meta: Partial<PersistentVolumeClaim['metadata']> = {}): PersistentVolumeClaim {
  return {
    apiVersion: 'v1', kind: 'PersistentVolumeClaim',
    metadata: { name: 'data', namespace: 'shop', uid: 'claim-uid', ...meta },
    spec: { accessModes: ['ReadWriteOnce'], storageClassName: '', resources: { requests: { storage: '1Gi' } }, ...spec },
  };
}

function volume(name: string, spec: Partial<PersistentVolume['spec']> = {}, opts: { phase?: string; labels?: Record<string, string>; deleting?: boolean } = {}): PersistentVolume {
  return {
    apiVersion: 'v1', kind: 'PersistentVolume',
    metadata: { name, ...(opts.labels ? { labels: opts.labels } : {}), ...(opts.deleting ? { deletionTimestamp: '2024-01-01T00:00:00Z' } : {}) },
    spec: { capacity: { storage: '1Gi' }, accessModes: ['ReadWriteOnce'], hostPath: { path: `/srv/${name}` }, ...spec },
    status: { phase: (opts.phase ?? 'Available') as 'Available' },
  };
}

const onNode = (name: string) => ({ nodeAffinity: { required: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In' as const, values: [name] }] }] } } });

describe('storage: matching a claim to a volume (Kubernetes\' FindMatchingVolume)', () => {
  const cases: { name: string; claim?: PersistentVolumeClaim; volumes: PersistentVolume[]; opts?: Parameters<typeof findMatchingVolume>[2]; want: string | undefined }[] = [
    { name: 'picks the smallest volume that is big enough', volumes: [volume('big', { capacity: { storage: '10Gi' } }), volume('small', { capacity: { storage: '2Gi' } }), volume('tiny', { capacity: { storage: '500Mi' } })], want: 'small' },
    { name: 'skips volumes of another class', claim: claim({ storageClassName: 'fast' }), volumes: [volume('plain'), volume('fast', { storageClassName: 'fast' })], want: 'fast' },
    { name: 'binds a claim with class "" only to a volume without a class', volumes: [volume('classed', { storageClassName: 'local-path' })], want: undefined },
    { name: 'needs every access mode the claim asks for', claim: claim({ accessModes: ['ReadWriteOnce', 'ReadOnlyMany'] }), volumes: [volume('rwo'), volume('both', { accessModes: ['ReadOnlyMany', 'ReadWriteOnce'] })], want: 'both' },
    { name: 'needs the claim\'s selector to match the volume\'s labels', claim: claim({ selector: { matchLabels: { tier: 'db' } } }), volumes: [volume('web', {}, { labels: { tier: 'web' } }), volume('db', {}, { labels: { tier: 'db' } })], want: 'db' },
    { name: 'never takes a volume bound to another claim', volumes: [volume('taken', { claimRef: { namespace: 'shop', name: 'other', uid: 'x' } }, { phase: 'Bound' })], want: undefined },
    { name: 'takes the volume pre-bound to it, even when another fits better', volumes: [volume('smaller', { capacity: { storage: '1Gi' } }), volume('mine', { capacity: { storage: '5Gi' }, claimRef: { namespace: 'shop', name: 'data' } }, { phase: 'Available' })], want: 'mine' },
    { name: 'skips a volume pre-bound to an earlier claim of the same name', volumes: [volume('old', { claimRef: { namespace: 'shop', name: 'data', uid: 'gone-uid' } }, { phase: 'Released' })], want: undefined },
    { name: 'skips volumes being deleted', volumes: [volume('going', {}, { deleting: true })], want: undefined },
    { name: 'skips volumes that are not Available', volumes: [volume('released', {}, { phase: 'Released' })], want: undefined },
    { name: 'skips a Block volume for a Filesystem claim', volumes: [volume('block', { volumeMode: 'Block' })], want: undefined },
    { name: 'with a node, skips volumes whose node affinity rejects it', volumes: [volume('a', onNode('node-a')), volume('b', onNode('node-b'))], opts: { node: { name: 'node-b', labels: {} } }, want: 'b' },
    { name: 'with a node, skips volumes already chosen for another claim of the pod', volumes: [volume('a'), volume('b', { capacity: { storage: '2Gi' } })], opts: { node: { name: 'n', labels: {} }, excluded: new Set(['a']) }, want: 'b' },
    { name: 'waiting for the first consumer, binds only a pre-bound volume', volumes: [volume('free')], opts: { delayBinding: true }, want: undefined },
  ];
  for (const c of cases) {
    it(c.name, () => {
      assert.equal(findMatchingVolume(c.claim ?? claim(), c.volumes, c.opts)?.metadata.name, c.want);
    });
  }
});

describe('storage: classes, access modes and node affinity', () => {
  const sc = (name: string, opts: { isDefault?: boolean; managed?: boolean; created: string }): StorageClass => ({
    apiVersion: 'storage.k8s.io/v1', kind: 'StorageClass', provisioner: 'gantry.dev/local-path',
    metadata: {
      name, creationTimestamp: opts.created,
      annotations: { ...(opts.isDefault ? { 'storageclass.kubernetes.io/is-default-class': 'true' } : {}), ...(opts.managed ? { 'gantry.dev/managed-by': 'gantry' } : {}) },
    },
  });

  it('takes the newest default class, and prefers one the repo declares over gantry\'s built-in one', () => {
    assert.equal(defaultStorageClass([sc('a', { isDefault: true, created: '2024-01-01T00:00:00Z' }), sc('b', { isDefault: true, created: '2024-02-01T00:00:00Z' }), sc('c', { created: '2024-03-01T00:00:00Z' })])?.metadata.name, 'b');
    assert.equal(defaultStorageClass([sc('local-path', { isDefault: true, created: '2024-05-01T00:00:00Z' }), sc('repo', { isDefault: true, managed: true, created: '2024-01-01T00:00:00Z' })])?.metadata.name, 'repo');
    assert.equal(defaultStorageClass([sc('plain', { created: '2024-01-01T00:00:00Z' })]), undefined);
  });

  it('prints access modes as kubectl does, in Kubernetes\' order', () => {
    assert.equal(accessModesShort(['ReadWriteOncePod', 'ReadOnlyMany', 'ReadWriteOnce']), 'RWO,ROX,RWOP');
    assert.equal(accessModesShort(undefined), '');
  });

  it('mounts a claim read-only only when ReadOnlyMany is all it asks for', () => {
    assert.equal(isReadOnlyClaim(['ReadOnlyMany']), true);
    assert.equal(isReadOnlyClaim(['ReadOnlyMany', 'ReadWriteOnce']), false);
    assert.equal(isReadOnlyClaim([]), false);
  });

  it('reads the node of a local-path volume from its node affinity, and only of one', () => {
    const pv = volume('pvc-1', onNode('node-a'));
    assert.equal(localPathNode(pv), undefined, 'not provisioned by local-path');
    pv.metadata.annotations = { 'pv.kubernetes.io/provisioned-by': 'gantry.dev/local-path' };
    assert.equal(localPathNode(pv), 'node-a');
    assert.equal(volumeFitsNode(pv, { name: 'node-a', labels: {} }), true);
    assert.equal(volumeFitsNode(pv, { name: 'node-b', labels: { 'kubernetes.io/hostname': 'node-b' } }), false);
    assert.equal(volumeFitsNode(volume('anywhere'), { name: 'node-b', labels: {} }), true);
  });
});
