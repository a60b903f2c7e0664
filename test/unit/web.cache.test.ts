import assert from 'node:assert/strict';
import type { KubeObject, Node, Pod } from '../../src/model/types.js';
import { ObjectCache } from '../../web/src/lib/cache.js';
import { formatCpu, formatMemory, nodeLiveUsage, nodeUsage, percent } from '../../web/src/lib/resources.js';

function pod(name: string, rv: number, phase = 'Running'): KubeObject {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'default', resourceVersion: String(rv) }, spec: {}, status: { phase } };
}

describe('web dashboard object cache (lists and one watch, overlapping)', () => {
  it('applies a watch event newer than the listed object and ignores an older replayed one', () => {
    const c = new ObjectCache();
    c.replace('Pod', [pod('a', 5)], 5);
    assert.equal(c.apply({ type: 'MODIFIED', object: pod('a', 4, 'Pending'), revision: 4 }), false);
    assert.equal(c.apply({ type: 'MODIFIED', object: pod('a', 7, 'Failed'), revision: 7 }), true);
    assert.equal((c.get<Pod>('Pod', 'default', 'a')!.status as { phase: string }).phase, 'Failed');
  });

  it('keeps a deleted object deleted when an older write of it is replayed', () => {
    const c = new ObjectCache();
    c.replace('Pod', [pod('a', 5)], 5);
    assert.equal(c.apply({ type: 'DELETED', object: pod('a', 5), revision: 8 }), true);
    assert.equal(c.apply({ type: 'MODIFIED', object: pod('a', 6), revision: 6 }), false);
    assert.equal(c.get('Pod', 'default', 'a'), undefined);
  });

  it('keeps an object written after a later list was taken, and drops one the list no longer has', () => {
    const c = new ObjectCache();
    c.replace('Pod', [pod('old', 2)], 2);
    c.apply({ type: 'ADDED', object: pod('new', 9), revision: 9 });
    c.replace('Pod', [pod('other', 3)], 5);
    assert.deepEqual(c.list('Pod').map((p) => p.metadata.name), ['new', 'other']);
  });

  it('lists by namespace in name order and names every namespace that holds something', () => {
    const c = new ObjectCache();
    c.replace('Pod', [pod('b', 1), pod('a', 1), { ...pod('z', 1), metadata: { name: 'z', namespace: 'shop', resourceVersion: '1' } }], 1);
    assert.deepEqual(c.list('Pod', 'default').map((p) => p.metadata.name), ['a', 'b']);
    assert.deepEqual(c.namespaces(), ['default', 'shop']);
  });
});

describe('web dashboard node usage (requests against allocatable, as the scheduler counts)', () => {
  const node: Node = { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1' }, spec: {}, status: { allocatable: { cpu: '2', memory: '4Gi', pods: '110' } } };
  const withRequests = (name: string, nodeName: string, cpu: string, memory: string, phase = 'Running'): Pod => ({
    apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'default' },
    spec: { nodeName, containers: [{ name: 'c', image: 'i', resources: { requests: { cpu, memory } } }] },
    status: { phase: phase as 'Running' },
  });

  it('sums the requests of the pods bound to the node, leaving out finished pods and other nodes\' pods', () => {
    const use = nodeUsage(node, [
      withRequests('a', 'n1', '250m', '64Mi'),
      withRequests('b', 'n1', '500m', '128Mi'),
      withRequests('done', 'n1', '1', '1Gi', 'Succeeded'),
      withRequests('elsewhere', 'n2', '1', '1Gi'),
    ]);
    assert.deepEqual(use.cpu, { requested: 750, allocatable: 2000 });
    assert.deepEqual(use.memory, { requested: 192 * 2 ** 20, allocatable: 4 * 2 ** 30 });
    assert.deepEqual(use.pods, { requested: 2, allocatable: 110 });
    assert.equal(percent(use.cpu), 37);
  });

  it('reads each node\'s usage from a NodeMetricsList as metrics.k8s.io serves it (nanocores, Ki)', () => {
    const live = nodeLiveUsage({
      items: [
        { metadata: { name: 'n1' }, usage: { cpu: '123456789n', memory: '204800Ki' } },
        { metadata: { name: 'n2' }, usage: { cpu: '2', memory: '1Gi' } },
        { metadata: {}, usage: { cpu: '1' } },
      ],
    });
    assert.deepEqual([...live.keys()], ['n1', 'n2']);
    assert.deepEqual(live.get('n1'), { cpu: 124, memory: 200 * 2 ** 20 });
    assert.deepEqual(live.get('n2'), { cpu: 2000, memory: 2 ** 30 });
    assert.equal(nodeLiveUsage({}).size, 0);
  });

  it('formats CPU and memory as people write them', () => {
    assert.deepEqual([formatCpu(750), formatCpu(2000), formatCpu(1500)], ['750m', '2', '1.5']);
    assert.deepEqual([formatMemory(192 * 2 ** 20), formatMemory(1.5 * 2 ** 30)], ['192Mi', '1.5Gi']);
  });
});
