import assert from 'node:assert/strict';
import { ControllerManager } from '../../src/controllers/runtime.js';
import { ServiceIpAllocator } from '../../src/controllers/serviceip.js';
import { cidrContains, clusterDnsIp, parseCidr } from '../../src/model/cidr.js';
import type { Service } from '../../src/model/types.js';
import { MemoryStore } from '../fakes/memory-store.js';
import { controllerManager, eventually, NS, untilIdle } from '../helpers/controllers.js';

function service(name: string, spec: Partial<Service['spec']> = {}): Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: NS },
    spec: { selector: { app: name }, ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }], ...spec },
  };
}

describe('controllers: Service addresses', function () {
  this.timeout(15000);
  let store: MemoryStore;
  let manager: ControllerManager;
  const CIDR = '10.100.0.0/24';

  async function start(workers = 1): Promise<void> {
    store = new MemoryStore();
    manager = controllerManager(store, { controllers: [new ServiceIpAllocator({ serviceCidr: CIDR })], workers });
    await manager.start();
  }
  afterEach(async () => {
    await manager.stop();
    await store.close();
  });
  const get = (name: string) => store.get<Service>({ kind: 'Service', namespace: NS, name });

  it('gives every Service its own cluster IP in the service CIDR, never a reserved one, even with parallel workers', async () => {
    await start(4);
    for (let i = 0; i < 60; i++) await store.create(service(`s${i}`));
    await eventually(async () => (await store.list<Service>('Service')).items.every((s) => s.spec.clusterIP), 'every Service has an address');
    const ips = (await store.list<Service>('Service')).items.map((s) => s.spec.clusterIP!);
    assert.equal(new Set(ips).size, 60, 'no address is handed out twice');
    for (const ip of ips) {
      assert.ok(cidrContains(parseCidr(CIDR), ip), `${ip} is in ${CIDR}`);
      assert.ok(!['10.100.0.0', '10.100.0.1', '10.100.0.10', '10.100.0.255'].includes(ip), `${ip} is reserved`);
    }
    const one = (await get('s0'))!;
    assert.deepEqual(one.spec.clusterIPs, [one.spec.clusterIP]);
  });

  it('keeps an address once given, and gives a recreated Service the same one', async () => {
    await start();
    await store.create(service('web'));
    await eventually(async () => !!(await get('web'))?.spec.clusterIP, 'web has an address');
    const first = (await get('web'))!.spec.clusterIP;
    await untilIdle(manager);
    assert.equal((await get('web'))!.spec.clusterIP, first);
    await store.delete({ kind: 'Service', namespace: NS, name: 'web' });
    await store.create(service('web'));
    await eventually(async () => !!(await get('web'))?.spec.clusterIP, 'web has an address again');
    assert.equal((await get('web'))!.spec.clusterIP, first, 'the address follows the name');
  });

  it('honours an address the manifest asks for, and refuses one in use or out of range', async () => {
    await start();
    await store.create(service('fixed', { clusterIP: '10.100.0.77' }));
    await eventually(async () => (await get('fixed'))?.spec.clusterIPs?.[0] === '10.100.0.77', 'clusterIPs follows clusterIP');
    await store.create(service('clash', { clusterIP: '10.100.0.77' }));
    await store.create(service('outside', { clusterIP: '10.1.2.3' }));
    await untilIdle(manager);
    assert.equal((await get('clash'))!.spec.clusterIPs, undefined, 'a taken address is not given twice');
    assert.equal((await get('outside'))!.spec.clusterIPs, undefined);
  });

  it('leaves headless and ExternalName Services without a cluster IP', async () => {
    await start();
    await store.create(service('headless', { clusterIP: 'None' }));
    await store.create(service('ext', { type: 'ExternalName', externalName: 'db.example.com', ports: [] }));
    await eventually(async () => (await get('headless'))?.spec.clusterIPs?.[0] === 'None', 'headless has clusterIPs [None]');
    await untilIdle(manager);
    assert.equal((await get('headless'))!.spec.clusterIP, 'None');
    assert.equal((await get('ext'))!.spec.clusterIP, undefined);
  });

  it('gives NodePort Services distinct node ports in 30000-32767 and keeps asked ones', async () => {
    await start();
    await store.create(service('np1', { type: 'NodePort', ports: [{ name: 'a', port: 80, protocol: 'TCP' }, { name: 'b', port: 81, protocol: 'TCP', nodePort: 30080 }] }));
    await store.create(service('np2', { type: 'NodePort' }));
    await eventually(async () => !!(await get('np2'))?.spec.ports?.[0]?.nodePort && !!(await get('np1'))?.spec.ports?.[0]?.nodePort, 'node ports given');
    const ports = [...(await get('np1'))!.spec.ports!, ...(await get('np2'))!.spec.ports!].map((p) => p.nodePort!);
    assert.equal(ports[1], 30080);
    assert.equal(new Set(ports).size, 3);
    for (const p of ports) assert.ok(p >= 30000 && p <= 32767, `${p} in range`);
    await store.create(service('np3', { type: 'NodePort', ports: [{ name: 'x', port: 80, protocol: 'TCP', nodePort: 30080 }] }));
    await untilIdle(manager);
    assert.equal((await get('np3'))!.spec.clusterIP, undefined, 'a Service whose node port clashes gets nothing, as the API server refuses it whole');
  });

  it('clusterDnsIp() is the tenth address of the service CIDR', () => {
    assert.equal(clusterDnsIp('10.96.0.0/16'), '10.96.0.10');
  });

  it('says in an Event that a PreferDualStack Service is single-stack IPv4, once, when it gets its address', async () => {
    store = new MemoryStore();
    const said: string[] = [];
    manager = new ControllerManager(store, {
      workers: 1,
      events: () => ({ emit: (obj, type, reason, message) => void said.push(`${obj.metadata.name} ${type} ${reason}: ${message}`) }),
    });
    manager.add(new ServiceIpAllocator({ serviceCidr: CIDR }));
    await manager.start();
    await store.create(service('dual', { ipFamilyPolicy: 'PreferDualStack' }));
    await store.create(service('single'));
    await eventually(async () => !!(await get('dual'))?.spec.clusterIP && !!(await get('single'))?.spec.clusterIP, 'both have addresses');
    await untilIdle(manager);
    const ip = (await get('dual'))!.spec.clusterIP;
    assert.deepEqual(said, [`dual Normal SingleStack: ipFamilyPolicy PreferDualStack: gantry's service network is IPv4 only, so the Service is single-stack IPv4 (${ip})`]);
  });
});
