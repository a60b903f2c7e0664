/**
 * Validation of the storage kinds (PersistentVolumeClaim, PersistentVolume, StorageClass) and of
 * a StatefulSet's volumeClaimTemplates: table-driven, one problem per case, naming the field.
 */
import assert from 'node:assert/strict';
import { load } from 'js-yaml';
import { objectKey } from '../../src/model/keys.js';
import type { KubeObject } from '../../src/model/types.js';
import { validateObject } from '../../src/sync/validate.js';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const valid: Record<string, string> = {
  claim: `
apiVersion: v1
kind: PersistentVolumeClaim
metadata: { name: data, namespace: shop }
spec:
  accessModes: [ReadWriteOnce]
  resources: { requests: { storage: 1Gi } }
`,
  volume: `
apiVersion: v1
kind: PersistentVolume
metadata: { name: disk-a }
spec:
  capacity: { storage: 5Gi }
  accessModes: [ReadWriteOnce]
  storageClassName: manual
  hostPath: { path: /srv/disk-a, type: DirectoryOrCreate }
  claimRef: { namespace: shop, name: data }
`,
  class: `
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: { name: local-path }
provisioner: gantry.dev/local-path
volumeBindingMode: WaitForFirstConsumer
allowedTopologies:
  - matchLabelExpressions: [{ key: topology.kubernetes.io/zone, values: [a, b] }]
`,
  statefulSet: `
apiVersion: apps/v1
kind: StatefulSet
metadata: { name: db, namespace: shop }
spec:
  serviceName: db
  selector: { matchLabels: { app: db } }
  template:
    metadata: { labels: { app: db } }
    spec:
      containers: [{ name: pg, image: postgres:16, volumeMounts: [{ name: data, mountPath: /var/lib/postgresql/data }] }]
  volumeClaimTemplates:
    - apiVersion: v1
      kind: PersistentVolumeClaim
      metadata: { name: data }
      spec:
        accessModes: [ReadWriteOnce]
        storageClassName: local-path
        resources: { requests: { storage: 1Gi } }
`,
};

function manifest(which: keyof typeof valid): Obj {
  return load(valid[which]!) as Obj;
}

function validate(obj: Obj) {
  return validateObject(obj, { file: 'storage.yaml', line: 1 });
}

describe('validateObject(): storage kinds', () => {
  for (const which of Object.keys(valid)) {
    it(`accepts a valid ${which}`, () => assert.deepEqual(validate(manifest(which)), []));
  }

  it('accepts a PersistentVolume with a local source and node affinity, and every reclaim policy but Recycle', () => {
    const pv = manifest('volume');
    delete pv.spec.hostPath;
    pv.spec.local = { path: '/mnt/disks/ssd1' };
    pv.spec.nodeAffinity = { required: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: ['node-a'] }] }] } };
    for (const policy of ['Retain', 'Delete']) {
      pv.spec.persistentVolumeReclaimPolicy = policy;
      assert.deepEqual(validate(pv), [], policy);
    }
  });

  const cases: { name: string; which: keyof typeof valid; mutate: (o: Obj) => void; field: string; message: RegExp }[] = [
    // claims
    { name: 'a claim without access modes', which: 'claim', mutate: (o) => delete o.spec.accessModes, field: 'spec.accessModes', message: /at least 1 access mode is required/ },
    { name: 'a claim without a storage request', which: 'claim', mutate: (o) => delete o.spec.resources, field: 'spec.resources.requests[storage]', message: /is required/ },
    { name: 'a claim asking for zero bytes', which: 'claim', mutate: (o) => (o.spec.resources.requests.storage = '0'), field: 'spec.resources.requests[storage]', message: /must be greater than zero/ },
    { name: 'a claim asking for cpu', which: 'claim', mutate: (o) => (o.spec.resources.requests.cpu = '1'), field: 'spec.resources.requests[cpu]', message: /a claim asks only for storage/ },
    { name: 'ReadWriteOncePod beside another mode', which: 'claim', mutate: (o) => (o.spec.accessModes = ['ReadWriteOncePod', 'ReadOnlyMany']), field: 'spec.accessModes', message: /may not use ReadWriteOncePod with other access modes/ },
    { name: 'an unknown access mode', which: 'claim', mutate: (o) => (o.spec.accessModes = ['ReadWriteSometimes']), field: 'spec.accessModes[0]', message: /must be one of "ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany", "ReadWriteOncePod"/ },
    { name: 'a Block claim', which: 'claim', mutate: (o) => (o.spec.volumeMode = 'Block'), field: 'spec.volumeMode', message: /gantry's volumes are directories; "Block" is not supported/ },
    { name: 'a class name that is not a DNS subdomain', which: 'claim', mutate: (o) => (o.spec.storageClassName = 'Fast_SSD'), field: 'spec.storageClassName', message: /invalid value "Fast_SSD"/ },
    { name: 'a data source (not supported)', which: 'claim', mutate: (o) => (o.spec.dataSource = { kind: 'VolumeSnapshot', name: 'snap' }), field: 'spec.dataSource', message: /is not supported/ },
    { name: 'a bad selector', which: 'claim', mutate: (o) => (o.spec.selector = { matchExpressions: [{ key: 'tier', operator: 'In' }] }), field: 'spec.selector.matchExpressions[0].values', message: /must be specified when `operator` is 'In' or 'NotIn'/ },
    // volumes
    { name: 'a volume without capacity', which: 'volume', mutate: (o) => delete o.spec.capacity, field: 'spec.capacity', message: /a volume states its storage capacity/ },
    { name: 'a volume with a cpu capacity', which: 'volume', mutate: (o) => (o.spec.capacity.cpu = '2'), field: 'spec.capacity[cpu]', message: /a volume has only a storage capacity/ },
    { name: 'a volume without a source', which: 'volume', mutate: (o) => delete o.spec.hostPath, field: 'spec', message: /must specify a volume type \(gantry supports hostPath and local\)/ },
    { name: 'an unsupported volume source', which: 'volume', mutate: (o) => (o.spec.nfs = { server: 'nas', path: '/exports' }), field: 'spec.nfs', message: /spec\.nfs is not supported/ },
    { name: 'a relative host path', which: 'volume', mutate: (o) => (o.spec.hostPath.path = 'srv/disk'), field: 'spec.hostPath.path', message: /must be an absolute path/ },
    { name: 'a local volume without node affinity', which: 'volume', mutate: (o) => { delete o.spec.hostPath; o.spec.local = { path: '/mnt/ssd' }; }, field: 'spec.nodeAffinity', message: /a local volume requires node affinity/ },
    { name: 'the Recycle reclaim policy', which: 'volume', mutate: (o) => (o.spec.persistentVolumeReclaimPolicy = 'Recycle'), field: 'spec.persistentVolumeReclaimPolicy', message: /Recycle is deprecated in Kubernetes and not supported by gantry/ },
    { name: 'a claimRef without a namespace', which: 'volume', mutate: (o) => delete o.spec.claimRef.namespace, field: 'spec.claimRef.namespace', message: /is required/ },
    { name: 'a node affinity term with Gt and two values', which: 'volume', mutate: (o) => (o.spec.nodeAffinity = { required: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'disks', operator: 'Gt', values: ['1', '2'] }] }] } }), field: 'spec.nodeAffinity.required.nodeSelectorTerms[0].matchExpressions[0].values', message: /must be a single integer/ },
    // classes
    { name: 'a class without a provisioner', which: 'class', mutate: (o) => delete o.provisioner, field: 'provisioner', message: /provisioner is required/ },
    { name: 'local-path with parameters', which: 'class', mutate: (o) => (o.parameters = { nodePath: '/data' }), field: 'parameters', message: /gantry's local-path provisioner \(gantry\.dev\/local-path\) takes no parameters/ },
    { name: 'an unknown binding mode', which: 'class', mutate: (o) => (o.volumeBindingMode = 'Lazy'), field: 'volumeBindingMode', message: /must be one of "Immediate", "WaitForFirstConsumer"/ },
    { name: 'mount options (not supported)', which: 'class', mutate: (o) => (o.mountOptions = ['noatime']), field: 'mountOptions', message: /is not supported/ },
    // StatefulSet templates
    { name: 'a claim template without access modes', which: 'statefulSet', mutate: (o) => delete o.spec.volumeClaimTemplates[0].spec.accessModes, field: 'spec.volumeClaimTemplates[0].spec.accessModes', message: /at least 1 access mode is required/ },
    { name: 'a claim template of another kind', which: 'statefulSet', mutate: (o) => (o.spec.volumeClaimTemplates[0].kind = 'PersistentVolume'), field: 'spec.volumeClaimTemplates[0].kind', message: /must be "PersistentVolumeClaim"/ },
    { name: 'a claim template without a storage request', which: 'statefulSet', mutate: (o) => delete o.spec.volumeClaimTemplates[0].spec.resources, field: 'spec.volumeClaimTemplates[0].spec.resources.requests[storage]', message: /is required/ },
  ];
  for (const c of cases) {
    it(`names ${c.field} for ${c.name}`, () => {
      const obj = manifest(c.which);
      c.mutate(obj);
      const issues = validate(obj);
      assert.equal(issues.length, 1, JSON.stringify(issues, null, 2));
      assert.equal(issues[0]!.field, c.field);
      assert.match(issues[0]!.message, c.message);
      assert.equal(issues[0]!.file, 'storage.yaml');
      assert.equal(issues[0]!.object, objectKey(obj as KubeObject));
    });
  }
});
