import assert from 'node:assert/strict';
import { NodeIpamController } from '../../src/controllers/nodeipam.js';
import { ControllerManager } from '../../src/controllers/runtime.js';
import type { EventSink } from '../../src/events/recorder.js';
import type { Node } from '../../src/model/types.js';
import { MemoryStore } from '../fakes/memory-store.js';
import { eventually, untilIdle } from '../helpers/controllers.js';

function node(name: string, podCIDR?: string): Node {
  return { apiVersion: 'v1', kind: 'Node', metadata: { name }, spec: podCIDR ? { podCIDR } : {} };
}

describe('controllers: node pod CIDRs', function () {
  this.timeout(15000);
  let store: MemoryStore;
  let manager: ControllerManager;
  let events: { name: string; type: string; reason: string; message: string }[];

  async function start(opts: { clusterCidr?: string; workers?: number } = {}): Promise<void> {
    store = new MemoryStore();
    events = [];
    const sink: EventSink = { emit: (obj, type, reason, message) => void events.push({ name: obj.metadata.name, type, reason, message }) };
    manager = new ControllerManager(store, { workers: opts.workers ?? 1, events: () => sink });
    manager.add(new NodeIpamController({ clusterCidr: opts.clusterCidr }));
    await manager.start();
  }
  afterEach(async () => {
    await manager.stop();
    await store.close();
  });
  const cidrOf = async (name: string) => (await store.get<Node>({ kind: 'Node', name }))?.spec.podCIDR;

  it('gives every node its own /24 of 10.244.0.0/16, the first node 10.244.0.0/24 (gantry up\'s default), even with parallel workers', async () => {
    await start({ workers: 4 });
    for (let i = 0; i < 20; i++) await store.create(node(`n${i}`));
    await eventually(async () => (await store.list<Node>('Node')).items.every((n) => n.spec.podCIDR), 'every node has a pod CIDR');
    const nodes = (await store.list<Node>('Node')).items;
    const cidrs = nodes.map((n) => n.spec.podCIDR!);
    assert.equal(new Set(cidrs).size, 20, 'no block is handed out twice');
    for (const c of cidrs) assert.match(c, /^10\.244\.(\d+)\.0\/24$/);
    assert.deepEqual([...cidrs].sort((a, b) => Number(a.split('.')[2]) - Number(b.split('.')[2]))[0], '10.244.0.0/24');
    for (const n of nodes) assert.deepEqual(n.spec.podCIDRs, [n.spec.podCIDR]);
    assert.ok(events.some((e) => e.reason === 'CIDRAssigned' && e.type === 'Normal'));
  });

  it('leaves a node its own pod CIDR and never gives that block to another node', async () => {
    await start();
    await store.create(node('fixed', '10.244.0.0/24'));
    await store.create(node('other'));
    await eventually(async () => !!(await cidrOf('other')), 'other has a pod CIDR');
    assert.equal(await cidrOf('fixed'), '10.244.0.0/24');
    assert.equal(await cidrOf('other'), '10.244.1.0/24');
  });

  it('frees a deleted node\'s block for the next node', async () => {
    await start();
    await store.create(node('a'));
    await eventually(async () => !!(await cidrOf('a')), 'a has a pod CIDR');
    await store.create(node('b'));
    await eventually(async () => !!(await cidrOf('b')), 'b has a pod CIDR');
    assert.equal(await cidrOf('a'), '10.244.0.0/24');
    await store.delete({ kind: 'Node', name: 'a' });
    await untilIdle(manager);
    await store.create(node('c'));
    await eventually(async () => !!(await cidrOf('c')), 'c has a pod CIDR');
    assert.equal(await cidrOf('c'), '10.244.0.0/24', 'a\'s block went to c');
  });

  it('says so in a Warning event when the cluster CIDR is full, and leaves the node without one', async () => {
    await start({ clusterCidr: '10.9.0.0/23' });
    await store.create(node('a'));
    await store.create(node('b'));
    await eventually(async () => !!(await cidrOf('a')) && !!(await cidrOf('b')), 'a and b have pod CIDRs');
    await store.create(node('c'));
    await eventually(() => events.some((e) => e.name === 'c' && e.reason === 'CIDRNotAvailable'), 'c gets a CIDRNotAvailable event');
    const ev = events.find((e) => e.name === 'c' && e.reason === 'CIDRNotAvailable')!;
    assert.equal(ev.type, 'Warning');
    assert.match(ev.message, /10\.9\.0\.0\/23/);
    assert.equal(await cidrOf('c'), undefined);
  });

  it('refuses a node mask that does not fit the cluster CIDR', () => {
    assert.throws(() => new NodeIpamController({ clusterCidr: '10.0.0.0/25' }), /does not fit the cluster CIDR 10\.0\.0\.0\/25/);
  });
});
