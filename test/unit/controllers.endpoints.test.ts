import assert from 'node:assert/strict';
import { computeSubsets, EndpointsController } from '../../src/controllers/endpoints.js';
import type { ControllerManager } from '../../src/controllers/runtime.js';
import type { Endpoints, EndpointSubset, Pod, Service } from '../../src/model/types.js';
import type { Store } from '../../src/store/types.js';
import { MemoryStore } from '../fakes/memory-store.js';
import { controllerManager, eventually, NS } from '../helpers/controllers.js';

function service(name: string, spec: Partial<Service['spec']> = {}): Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: NS, labels: { app: name } },
    spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }], ...spec },
  };
}

function pod(name: string, opts: { ip?: string; ready?: boolean; port?: number; portName?: string; labels?: Record<string, string>; terminating?: boolean; phase?: 'Running' | 'Succeeded'; node?: string; restartPolicy?: 'Always' | 'Never' } = {}): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name, namespace: NS, uid: `uid-${name}`, labels: opts.labels ?? { app: 'web' },
      ...(opts.terminating ? { deletionTimestamp: '2026-01-01T00:00:00Z' } : {}),
    },
    spec: {
      nodeName: opts.node ?? 'n1',
      restartPolicy: opts.restartPolicy ?? 'Always',
      containers: [{ name: 'main', image: 'busybox:1', ports: [{ name: opts.portName ?? 'http', containerPort: opts.port ?? 8080, protocol: 'TCP' }] }],
    },
    status: {
      phase: opts.phase ?? 'Running',
      ...(opts.ip !== undefined ? { podIP: opts.ip } : {}),
      conditions: [{ type: 'Ready', status: opts.ready === false ? 'False' : 'True' }],
    },
  };
}

const addr = (ip: string, name: string, node = 'n1') => ({ ip, nodeName: node, targetRef: { kind: 'Pod', namespace: NS, name, uid: `uid-${name}` } });

describe('controllers: Endpoints', function () {
  this.timeout(15000);

  const cases: { name: string; svc: Service; pods: Pod[]; want: EndpointSubset[] }[] = [
    {
      name: 'Endpoints list only ready pods and resolve named target ports',
      svc: service('web'),
      pods: [pod('a', { ip: '10.0.0.2' }), pod('b', { ip: '10.0.0.1' }), pod('c', { ip: '10.0.0.3', ready: false })],
      want: [{ addresses: [addr('10.0.0.1', 'b'), addr('10.0.0.2', 'a')], notReadyAddresses: [addr('10.0.0.3', 'c')], ports: [{ name: 'http', port: 8080, protocol: 'TCP' }] }],
    },
    {
      name: 'pods whose named port differs form separate subsets; pods without the name are left out',
      svc: service('web'),
      pods: [pod('a', { ip: '10.0.0.1', port: 8080 }), pod('b', { ip: '10.0.0.2', port: 9090 }), pod('c', { ip: '10.0.0.3', portName: 'metrics' })],
      want: [
        { addresses: [addr('10.0.0.1', 'a')], ports: [{ name: 'http', port: 8080, protocol: 'TCP' }] },
        { addresses: [addr('10.0.0.2', 'b')], ports: [{ name: 'http', port: 9090, protocol: 'TCP' }] },
      ],
    },
    {
      name: 'a numeric targetPort is used as is',
      svc: service('web', { ports: [{ port: 80, targetPort: 8081, protocol: 'TCP' }] }),
      pods: [pod('a', { ip: '10.0.0.1' })],
      want: [{ addresses: [addr('10.0.0.1', 'a')], ports: [{ port: 8081, protocol: 'TCP' }] }],
    },
    {
      name: 'pods without an IP, terminating or finished pods are skipped',
      svc: service('web'),
      pods: [pod('a'), pod('b', { ip: '10.0.0.2', terminating: true }), pod('c', { ip: '10.0.0.3', phase: 'Succeeded', restartPolicy: 'Never' }), pod('d', { ip: '10.0.0.4' })],
      want: [{ addresses: [addr('10.0.0.4', 'd')], ports: [{ name: 'http', port: 8080, protocol: 'TCP' }] }],
    },
    {
      name: 'publishNotReadyAddresses lists not-ready and terminating pods as addresses',
      svc: service('web', { publishNotReadyAddresses: true }),
      pods: [pod('a', { ip: '10.0.0.1', ready: false }), pod('b', { ip: '10.0.0.2', terminating: true })],
      want: [{ addresses: [addr('10.0.0.1', 'a'), addr('10.0.0.2', 'b')], ports: [{ name: 'http', port: 8080, protocol: 'TCP' }] }],
    },
  ];
  for (const c of cases) {
    it(`computeSubsets: ${c.name}`, () => {
      assert.deepEqual(computeSubsets(c.svc, c.pods), c.want);
    });
  }

  describe('the controller', () => {
    let store: MemoryStore;
    let manager: ControllerManager;
    beforeEach(async () => {
      store = new MemoryStore();
      manager = controllerManager(store, { controllers: [new EndpointsController()] });
      await manager.start();
    });
    afterEach(async () => {
      await manager.stop();
      await store.close();
    });

    const endpoints = (s: Store, name: string) => s.get<Endpoints>({ kind: 'Endpoints', namespace: NS, name });
    const ips = (ep: Endpoints | undefined, field: 'addresses' | 'notReadyAddresses') => (ep?.subsets ?? []).flatMap((s) => s[field] ?? []).map((a) => a.ip);

    it('follows pods as they become ready, and removes the Endpoints with the Service', async () => {
      const p = pod('a', { ip: '10.0.0.1', ready: false });
      delete p.metadata.uid;
      const created = await store.create(p);
      await store.create(service('web'));
      await eventually(async () => ips(await endpoints(store, 'web'), 'notReadyAddresses').join() === '10.0.0.1', 'the pod is listed not ready');
      const ep = (await endpoints(store, 'web'))!;
      assert.equal(ep.apiVersion, 'v1');
      assert.equal(ep.metadata.ownerReferences, undefined, 'Endpoints have no owner');
      assert.deepEqual(ep.metadata.labels, { app: 'web' });
      created.status!.conditions = [{ type: 'Ready', status: 'True' }];
      await store.update(created);
      await eventually(async () => ips(await endpoints(store, 'web'), 'addresses').join() === '10.0.0.1', 'the pod is listed ready');
      await store.delete({ kind: 'Service', namespace: NS, name: 'web' });
      await eventually(async () => (await endpoints(store, 'web')) === undefined, 'the Endpoints are deleted');
    });

    it('leaves the Endpoints of a Service without selector alone', async () => {
      await store.create(service('external', { selector: undefined }));
      const manual: Endpoints = { apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'external', namespace: NS }, subsets: [{ addresses: [{ ip: '192.0.2.1' }], ports: [{ port: 5432 }] }] };
      await store.create(manual);
      await store.create(service('web'));
      await eventually(async () => (await endpoints(store, 'web')) !== undefined, 'the selector Service has Endpoints');
      assert.deepEqual((await endpoints(store, 'external'))?.subsets, manual.subsets);
    });
  });
});
