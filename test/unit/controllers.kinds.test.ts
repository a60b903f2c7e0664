/**
 * The ReplicationController controller (on the shared replica logic), admission of the pods
 * controllers create (LimitRange defaults, priority, quota charged in the pod's transaction,
 * FailedCreate events), the quota controller, the built-in PriorityClasses, and the EndpointSlices
 * mirrored from Endpoints.
 */
import assert from 'node:assert/strict';
import { createControllerManager } from '../../src/controllers/index.js';
import type { ControllerManager } from '../../src/controllers/runtime.js';
import type { EventSink } from '../../src/events/recorder.js';
import { MANAGED_BY_LABEL, SERVICE_NAME_LABEL, SLICE_CONTROLLER, SLICE_MIRROR } from '../../src/model/endpointslices.js';
import { LIMIT_RANGER_ANNOTATION } from '../../src/model/limitrange.js';
import type { Endpoints, EndpointSlice, KubeObject, Pod, PriorityClass, ReplicaSet, ReplicationController, ResourceQuota, Service } from '../../src/model/types.js';
import { MemoryStore } from '../fakes/memory-store.js';
import { edit, eventually, NS } from '../helpers/controllers.js';

/** Events the controllers emit, kept for the test to read. */
function eventLog(): { sink: (controller: string) => EventSink; events: { controller: string; obj: KubeObject; reason: string; message: string }[] } {
  const events: { controller: string; obj: KubeObject; reason: string; message: string }[] = [];
  return { events, sink: (controller) => ({ emit: (obj, _type, reason, message) => void events.push({ controller, obj, reason, message }) }) };
}

const pods = async (store: MemoryStore, ns = NS): Promise<Pod[]> => (await store.list<Pod>('Pod', { namespace: ns })).items.filter((p) => !p.metadata.deletionTimestamp);

function rc(name: string, replicas: number, selector?: Record<string, string>): ReplicationController {
  return {
    apiVersion: 'v1',
    kind: 'ReplicationController',
    metadata: { name, namespace: NS },
    spec: { replicas, ...(selector ? { selector } : {}), template: { metadata: { labels: { app: name, tier: 'web' } }, spec: { containers: [{ name: 'c', image: 'busybox' }] } } },
  };
}

function rs(name: string, replicas: number, container: Record<string, unknown> = {}, spec: Record<string, unknown> = {}): ReplicaSet {
  return {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: { name, namespace: NS },
    spec: { replicas, selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'c', image: 'busybox', ...container }], ...spec } } },
  };
}

describe('controllers: ReplicationController, admission, quotas, priority classes, endpoint slices', function () {
  this.timeout(20_000);
  let store: MemoryStore;
  let manager: ControllerManager | undefined;
  let log: ReturnType<typeof eventLog>;

  beforeEach(async () => {
    store = new MemoryStore();
    log = eventLog();
  });
  afterEach(async () => {
    await manager?.stop();
    manager = undefined;
    await store.close();
  });

  async function start(): Promise<void> {
    manager = createControllerManager(store, { events: log.sink });
    await manager.start();
  }

  it('a ReplicationController keeps its replicas, selecting pods by its label map (defaulted from the template)', async () => {
    await store.create({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'stray', namespace: NS, labels: { app: 'web', tier: 'web' } }, spec: { containers: [{ name: 'c', image: 'busybox' }] } } as Pod);
    await store.create({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'other', namespace: NS, labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: 'busybox' }] } } as Pod);
    await start();
    const created = await store.create(rc('web', 3, { app: 'web', tier: 'web' }));
    const owned = async () => (await pods(store)).filter((p) => p.metadata.ownerReferences?.[0]?.uid === created.metadata.uid);
    await eventually(async () => (await owned()).length === 3, 'three owned pods');
    assert.ok((await owned()).some((p) => p.metadata.name === 'stray'), 'the matching orphan was adopted');
    assert.equal((await pods(store)).find((p) => p.metadata.name === 'other')?.metadata.ownerReferences, undefined, 'a pod missing a label of the map is left alone');
    assert.equal((await owned())[0]!.metadata.ownerReferences![0]!.kind, 'ReplicationController');
    await eventually(async () => (await store.get<ReplicationController>({ kind: 'ReplicationController', namespace: NS, name: 'web' }))?.status?.replicas === 3, 'status.replicas 3');
    assert.ok(log.events.some((e) => e.controller === 'replication' && e.reason === 'SuccessfulCreate'));
    await edit(store, created, (o) => (o.spec.replicas = 1));
    await eventually(async () => (await owned()).length === 1, 'scaled down to one');

    const defaulted = await store.create(rc('api', 2));
    await eventually(async () => (await pods(store)).filter((p) => p.metadata.ownerReferences?.[0]?.uid === defaulted.metadata.uid).length === 2, 'the template\'s labels select its pods');
  });

  it('fills LimitRange defaults and the priority into the pods a controller makes', async () => {
    await store.create({ apiVersion: 'v1', kind: 'LimitRange', metadata: { name: 'defaults', namespace: NS }, spec: { limits: [{ type: 'Container', default: { cpu: '200m' }, defaultRequest: { cpu: '100m' } }] } });
    await store.create({ apiVersion: 'scheduling.k8s.io/v1', kind: 'PriorityClass', metadata: { name: 'high' }, value: 1000, preemptionPolicy: 'Never' } as PriorityClass);
    await start();
    await store.create(rs('web', 1, {}, { priorityClassName: 'high' }));
    await eventually(async () => (await pods(store)).length === 1, 'a pod');
    const [p] = await pods(store);
    assert.deepEqual(p!.spec.containers[0]!.resources, { limits: { cpu: '200m' }, requests: { cpu: '100m' } });
    assert.equal(p!.metadata.annotations?.[LIMIT_RANGER_ANNOTATION], 'LimitRanger plugin set: cpu request for container c; cpu limit for container c');
    assert.equal(p!.spec.priority, 1000);
    assert.equal(p!.spec.preemptionPolicy, 'Never');
  });

  it('charges a quota with each pod in its transaction, refuses pods past it with FailedCreate, and creates them once there is room', async () => {
    await store.create({ apiVersion: 'v1', kind: 'ResourceQuota', metadata: { name: 'compute', namespace: NS }, spec: { hard: { pods: '2', 'requests.cpu': '1' } } } as ResourceQuota);
    await start();
    const quota = async () => (await store.get<ResourceQuota>({ kind: 'ResourceQuota', namespace: NS, name: 'compute' }))!;
    await eventually(async () => (await quota()).status?.used?.pods === '0', 'the quota controller counted the namespace');
    const web = await store.create(rs('web', 3, { resources: { requests: { cpu: '300m' } } }));
    await eventually(async () => log.events.some((e) => e.reason === 'FailedCreate'), 'a FailedCreate event');
    assert.equal((await pods(store)).length, 2);
    assert.deepEqual((await quota()).status?.used, { pods: '2', 'requests.cpu': '600m' });
    const failed = log.events.find((e) => e.reason === 'FailedCreate')!;
    assert.equal(failed.message, 'Error creating: pods "web-" is forbidden: exceeded quota: compute, requested: pods=1, used: pods=2, limited: pods=2');
    const status = (await store.get<ReplicaSet>({ kind: 'ReplicaSet', namespace: NS, name: 'web' }))!.status!;
    assert.equal(status.conditions?.find((c) => c.type === 'ReplicaFailure')?.reason, 'FailedCreate');
    // A pod finishes: the quota controller gives its room back (finished pods do not count), and
    // the ReplicaSet, woken by that, gets a replacement within the quota.
    const [done] = await pods(store);
    await edit(store, done!, (p) => (p.status = { phase: 'Succeeded' }));
    await eventually(async () => {
      const all = await pods(store);
      return all.length === 3 && all.filter((p) => p.status?.phase !== 'Succeeded').length === 2;
    }, 'a replacement within the quota');
    await eventually(async () => (await quota()).status?.used?.pods === '2', 'usage recounted');
    assert.ok(web.metadata.uid);
  });

  it('refuses a pod naming a PriorityClass that does not exist, and one breaking a LimitRange, naming it', async () => {
    await store.create({ apiVersion: 'v1', kind: 'LimitRange', metadata: { name: 'bounds', namespace: NS }, spec: { limits: [{ type: 'Container', max: { memory: '64Mi' } }] } });
    await start();
    await store.create(rs('ghost', 1, {}, { priorityClassName: 'gold' }));
    await store.create(rs('fat', 1, { resources: { limits: { memory: '1Gi' } } }));
    await eventually(() => log.events.filter((e) => e.reason === 'FailedCreate').length >= 2, 'two FailedCreate events');
    const msg = (name: string) => log.events.find((e) => e.reason === 'FailedCreate' && e.obj.metadata.name === name)!.message;
    assert.equal(msg('ghost'), 'Error creating: pods "ghost-" is forbidden: no PriorityClass with name gold was found');
    assert.equal(msg('fat'), 'Error creating: pods "fat-" is forbidden: maximum memory usage per Container is 64Mi, but limit is 1Gi (LimitRange bounds)');
    assert.equal((await pods(store)).length, 0);
  });

  it('charges a StatefulSet\'s claims to the quota, and refuses one past it with FailedCreate', async () => {
    await store.create({ apiVersion: 'v1', kind: 'ResourceQuota', metadata: { name: 'storage', namespace: NS }, spec: { hard: { persistentvolumeclaims: '1', 'requests.storage': '5Gi' } } } as ResourceQuota);
    await start();
    await eventually(async () => (await store.get<ResourceQuota>({ kind: 'ResourceQuota', namespace: NS, name: 'storage' }))?.status?.used?.persistentvolumeclaims === '0', 'the quota counted');
    await store.create({
      apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 'db', namespace: NS },
      spec: {
        replicas: 2, podManagementPolicy: 'Parallel', selector: { matchLabels: { app: 'db' } },
        template: { metadata: { labels: { app: 'db' } }, spec: { containers: [{ name: 'c', image: 'busybox' }] } },
        volumeClaimTemplates: [{ metadata: { name: 'data' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } }],
      },
    } as KubeObject);
    await eventually(() => log.events.some((e) => e.reason === 'FailedCreate' && e.obj.kind === 'StatefulSet'), 'a FailedCreate event');
    assert.equal(log.events.find((e) => e.reason === 'FailedCreate')!.message,
      'create Claim data-db-1 for Pod db-1 in StatefulSet db failed error: persistentvolumeclaims "data-db-1" is forbidden: exceeded quota: storage, requested: persistentvolumeclaims=1, used: persistentvolumeclaims=1, limited: persistentvolumeclaims=1');
    assert.deepEqual((await store.list('PersistentVolumeClaim', { namespace: NS })).items.map((c) => c.metadata.name), ['data-db-0']);
    assert.deepEqual((await store.get<ResourceQuota>({ kind: 'ResourceQuota', namespace: NS, name: 'storage' }))?.status?.used, { persistentvolumeclaims: '1', 'requests.storage': '1Gi' });
  });

  it('makes the built-in PriorityClasses', async () => {
    await start();
    await eventually(async () => (await store.list<PriorityClass>('PriorityClass')).items.length === 2, 'two classes');
    const values = Object.fromEntries((await store.list<PriorityClass>('PriorityClass')).items.map((c) => [c.metadata.name, c.value]));
    assert.deepEqual(values, { 'system-cluster-critical': 2_000_000_000, 'system-node-critical': 2_000_001_000 });
  });

  it('mirrors a selector Service\'s Endpoints and hand-made Endpoints into slices, and removes them with the Service', async () => {
    await start();
    const svc = (name: string, selector?: Record<string, string>): Service => ({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: NS }, spec: { ...(selector ? { selector } : {}), ports: [{ port: 80, targetPort: 8080 }] } });
    await store.create(svc('db'));
    await store.create({ apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'db', namespace: NS, labels: { team: 'data' } }, subsets: [{ addresses: [{ ip: '10.1.0.5' }], notReadyAddresses: [{ ip: '10.1.0.6' }], ports: [{ port: 5432, protocol: 'TCP' }] }] } as Endpoints);
    const slicesOf = async (name: string) => (await store.list<EndpointSlice>('EndpointSlice', { namespace: NS, labelSelector: `${SERVICE_NAME_LABEL}=${name}` })).items;
    await eventually(async () => (await slicesOf('db')).length === 1, 'a mirrored slice');
    const [mirrored] = await slicesOf('db');
    assert.equal(mirrored!.metadata.labels?.[MANAGED_BY_LABEL], SLICE_MIRROR);
    assert.equal(mirrored!.metadata.labels?.team, 'data');
    assert.match(mirrored!.metadata.name, /^db-\w{5}$/);
    assert.deepEqual(mirrored!.endpoints, [{ addresses: ['10.1.0.5'], conditions: { ready: true } }, { addresses: ['10.1.0.6'], conditions: { ready: false } }]);
    assert.deepEqual(mirrored!.ports, [{ name: '', port: 5432, protocol: 'TCP' }]);

    // A change of address updates the same slice.
    const ep = (await store.get<Endpoints>({ kind: 'Endpoints', namespace: NS, name: 'db' }))!;
    await edit(store, ep, (e) => (e.subsets = [{ addresses: [{ ip: '10.1.0.7' }], ports: [{ port: 5432, protocol: 'TCP' }] }]));
    await eventually(async () => (await slicesOf('db'))[0]?.endpoints?.[0]?.addresses[0] === '10.1.0.7', 'the slice follows');
    assert.equal((await slicesOf('db'))[0]!.metadata.name, mirrored!.metadata.name);

    // A selector Service: the endpoints controller writes Endpoints, mirrored as the EndpointSlice controller's.
    await store.create({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web-1', namespace: NS, labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: 'busybox' }], nodeName: 'n1' }, status: { phase: 'Running', podIP: '10.1.1.2', conditions: [{ type: 'Ready', status: 'True' }] } } as Pod);
    await store.create(svc('web', { app: 'web' }));
    await eventually(async () => (await slicesOf('web')).length === 1, 'the slice of web');
    const [web] = await slicesOf('web');
    assert.equal(web!.metadata.labels?.[MANAGED_BY_LABEL], SLICE_CONTROLLER);
    assert.equal(web!.metadata.ownerReferences?.[0]?.kind, 'Service');
    assert.deepEqual(web!.endpoints?.[0]?.conditions, { ready: true, serving: true, terminating: false });

    await store.delete({ kind: 'Service', namespace: NS, name: 'db' });
    await eventually(async () => (await slicesOf('db')).length === 0, 'the mirrored slice goes with the Service');
  });
});
