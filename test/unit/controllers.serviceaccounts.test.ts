import assert from 'node:assert/strict';
import { ApiServiceController } from '../../src/controllers/apiservice.js';
import { BootstrapRbacController, ClusterRoleAggregationController } from '../../src/controllers/rbac.js';
import { ReplicaSetController } from '../../src/controllers/replicaset.js';
import { ControllerManager } from '../../src/controllers/runtime.js';
import { ServiceAccountController } from '../../src/controllers/serviceaccounts.js';
import { ServiceIpAllocator } from '../../src/controllers/serviceip.js';
import type { EventSink } from '../../src/events/recorder.js';
import { MANAGED_BY } from '../../src/model/annotations.js';
import type { ClusterRole, ConfigMap, Endpoints, KubeObject, Pod, ReplicaSet, Service, ServiceAccount } from '../../src/model/types.js';
import { MemoryStore } from '../fakes/memory-store.js';
import { edit, eventually, untilIdle } from '../helpers/controllers.js';

const CA = '-----BEGIN CERTIFICATE-----\ngantry test CA\n-----END CERTIFICATE-----\n';

describe('controllers: service accounts, the kubernetes Service and bootstrap RBAC', function () {
  this.timeout(15000);
  let store: MemoryStore;
  let manager: ControllerManager;
  let events: { name: string; reason: string; message: string }[];

  async function start(): Promise<void> {
    events = [];
    const sink: EventSink = { emit: (obj, _type, reason, message) => void events.push({ name: obj.metadata.name, reason, message }) };
    manager = new ControllerManager(store, { workers: 1, events: () => sink });
    manager.add(new ServiceAccountController({ rootCA: CA }));
    manager.add(new ApiServiceController({ serviceCidr: '10.96.0.0/16', apiEndpoint: { ip: '10.244.0.1', port: 7480 } }));
    manager.add(new ServiceIpAllocator({ serviceCidr: '10.96.0.0/16' }));
    manager.add(new BootstrapRbacController());
    manager.add(new ClusterRoleAggregationController());
    manager.add(new ReplicaSetController());
    await manager.start();
  }
  beforeEach(() => {
    store = new MemoryStore();
  });
  afterEach(async () => {
    await manager.stop();
    await store.close();
  });

  const get = <T extends KubeObject>(kind: string, name: string, namespace?: string) => store.get<T>({ kind, name, ...(namespace ? { namespace } : {}) });

  it('gives default, and every namespace pods live in, a default ServiceAccount and the API\'s CA; not a namespace with only a Service', async () => {
    await start();
    await store.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop' } });
    await store.create({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'implicit' }, spec: { containers: [{ name: 'c', image: 'busybox' }] } });
    await store.create({ apiVersion: 'v1', kind: 'Service', metadata: { name: 's', namespace: 'quiet' }, spec: { ports: [{ port: 80 }] } });
    for (const ns of ['default', 'shop', 'implicit']) {
      await eventually(async () => !!(await get('ServiceAccount', 'default', ns)) && !!(await get('ConfigMap', 'kube-root-ca.crt', ns)), `namespace ${ns} has both`);
      const cm = (await get<ConfigMap>('ConfigMap', 'kube-root-ca.crt', ns))!;
      assert.deepEqual(cm.data, { 'ca.crt': CA });
      assert.equal(cm.metadata.annotations?.[MANAGED_BY], undefined, 'not the repo\'s: a sync never prunes it');
    }
    await untilIdle(manager);
    assert.equal(await get('ServiceAccount', 'default', 'quiet'), undefined);
  });

  it('makes a deleted default ServiceAccount again, and puts back a changed CA', async () => {
    await start();
    await eventually(async () => !!(await get('ServiceAccount', 'default', 'default')) && !!(await get('ConfigMap', 'kube-root-ca.crt', 'default')), 'default namespace ready');
    const before = (await get<ServiceAccount>('ServiceAccount', 'default', 'default'))!;
    await store.delete({ kind: 'ServiceAccount', namespace: 'default', name: 'default' });
    await eventually(async () => ((await get<ServiceAccount>('ServiceAccount', 'default', 'default'))?.metadata.uid ?? before.metadata.uid) !== before.metadata.uid, 'a new default');
    await edit(store, (await get<ConfigMap>('ConfigMap', 'kube-root-ca.crt', 'default'))!, (cm) => { cm.data = { 'ca.crt': 'tampered' }; });
    await eventually(async () => (await get<ConfigMap>('ConfigMap', 'kube-root-ca.crt', 'default'))?.data?.['ca.crt'] === CA, 'the CA is put back');
  });

  it('keeps the kubernetes Service on the CIDR\'s first address, with Endpoints at the API', async () => {
    await start();
    await eventually(async () => !!(await get('Endpoints', 'kubernetes', 'default')), 'the Endpoints exist');
    await untilIdle(manager);
    const svc = (await get<Service>('Service', 'kubernetes', 'default'))!;
    assert.equal(svc.spec.clusterIP, '10.96.0.1', 'the allocator lets it have the reserved address');
    assert.deepEqual(svc.spec.ports, [{ name: 'https', port: 443, protocol: 'TCP', targetPort: 7480 }]);
    assert.equal(svc.spec.selector, undefined);
    const ep = (await get<Endpoints>('Endpoints', 'kubernetes', 'default'))!;
    assert.deepEqual(ep.subsets, [{ addresses: [{ ip: '10.244.0.1' }], ports: [{ name: 'https', port: 7480, protocol: 'TCP' }] }]);
  });

  it('creates the bootstrap roles, restores a changed one, and leaves one marked autoupdate "false"', async () => {
    await start();
    await eventually(async () => !!(await get('ClusterRole', 'cluster-admin')) && !!(await get('ClusterRoleBinding', 'system:discovery')), 'bootstrap objects exist');
    await edit(store, (await get<ClusterRole>('ClusterRole', 'cluster-admin'))!, (r) => { r.rules = []; });
    await eventually(async () => ((await get<ClusterRole>('ClusterRole', 'cluster-admin'))?.rules?.length ?? 0) === 2, 'cluster-admin restored');
    await edit(store, (await get<ClusterRole>('ClusterRole', 'system:basic-user'))!, (r) => { r.rules = []; r.metadata.annotations = { ...r.metadata.annotations, 'rbac.authorization.kubernetes.io/autoupdate': 'false' }; });
    await untilIdle(manager);
    assert.deepEqual((await get<ClusterRole>('ClusterRole', 'system:basic-user'))!.rules, []);
  });

  it('fills view, edit and admin by aggregation, and a labelled ClusterRole joins them', async () => {
    await start();
    const has = async (role: string, resource: string) => ((await get<ClusterRole>('ClusterRole', role))?.rules ?? []).some((r) => r.resources?.includes(resource));
    await eventually(async () => (await has('view', 'pods')) && (await has('edit', 'secrets')) && (await has('admin', 'rolebindings')) && (await has('admin', 'pods')), 'the built-in roles are filled');
    assert.equal(await has('view', 'secrets'), false);
    await store.create<ClusterRole>({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'crontabs', labels: { 'rbac.authorization.k8s.io/aggregate-to-view': 'true' } }, rules: [{ apiGroups: ['stable.example.com'], resources: ['crontabs'], verbs: ['get'] }] });
    await eventually(async () => (await has('view', 'crontabs')) && (await has('edit', 'crontabs')) && (await has('admin', 'crontabs')), 'the new rule reaches view, edit and admin');
    await store.delete({ kind: 'ClusterRole', name: 'crontabs' });
    await eventually(async () => !(await has('admin', 'crontabs')), 'and leaves with it');
  });

  it('holds a ReplicaSet\'s pods back while their ServiceAccount is missing, with Kubernetes\' FailedCreate, then admits them', async () => {
    await start();
    const rs: ReplicaSet = {
      apiVersion: 'apps/v1', kind: 'ReplicaSet', metadata: { name: 'web', namespace: 'default' },
      spec: { replicas: 1, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { serviceAccountName: 'reader', containers: [{ name: 'c', image: 'busybox' }] } } },
    };
    await store.create(rs);
    await eventually(() => events.some((e) => e.reason === 'FailedCreate'), 'a FailedCreate event');
    assert.equal(events.find((e) => e.reason === 'FailedCreate')!.message, 'Error creating: pods "web-" is forbidden: error looking up service account default/reader: serviceaccount "reader" not found');
    assert.equal((await store.list<Pod>('Pod')).items.length, 0);
    await store.create<ServiceAccount>({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'reader', namespace: 'default' }, automountServiceAccountToken: false });
    await eventually(async () => (await store.list<Pod>('Pod')).items.length === 1, 'the pod is created once the account exists', { timeoutMs: 3000 });
    const pod = (await store.list<Pod>('Pod')).items[0]!;
    assert.equal(pod.spec.serviceAccountName, 'reader');
    assert.equal(pod.spec.volumes, undefined, 'the account says no token');
  });
});
