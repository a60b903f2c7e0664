import assert from 'node:assert/strict';
import type { Node, Pod, PodSpec, Taint, Toleration } from '../../src/model/types.js';
import { SchedulerCache } from '../../src/scheduler/cache.js';
import { podInfo } from '../../src/scheduler/podinfo.js';
import { SchedulingQueue } from '../../src/scheduler/queue.js';
import { interPodAffinityFilter } from '../../src/scheduler/plugins/inter-pod-affinity.js';
import { nodeAffinityFilter, nodeAffinityScore } from '../../src/scheduler/plugins/node-affinity.js';
import { nodeNameFilter } from '../../src/scheduler/plugins/node-name.js';
import { nodePortsFilter } from '../../src/scheduler/plugins/node-ports.js';
import { balancedAllocationScore, leastAllocatedScore, nodeResourcesFitFilter } from '../../src/scheduler/plugins/node-resources-fit.js';
import { nodeUnschedulableFilter } from '../../src/scheduler/plugins/node-unschedulable.js';
import { podTopologySpreadFilter } from '../../src/scheduler/plugins/pod-topology-spread.js';
import { taintTolerationFilter, taintTolerationScore, toleratesTaint } from '../../src/scheduler/plugins/taint-toleration.js';
import type { CycleState, FilterPlugin } from '../../src/scheduler/plugins/types.js';

interface NodeOpts {
  cpu?: string;
  memory?: string;
  pods?: number;
  labels?: Record<string, string>;
  taints?: Taint[];
  unschedulable?: boolean;
}

function node(name: string, o: NodeOpts = {}): Node {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels: o.labels },
    spec: { taints: o.taints, unschedulable: o.unschedulable },
    status: { allocatable: { cpu: o.cpu ?? '4', memory: o.memory ?? '8Gi', pods: String(o.pods ?? 110) } },
  };
}

function pod(name: string, o: { cpu?: string; memory?: string; labels?: Record<string, string>; nodeName?: string; spec?: Partial<PodSpec> } = {}): Pod {
  const requests: Record<string, string> = {};
  if (o.cpu) requests.cpu = o.cpu;
  if (o.memory) requests.memory = o.memory;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', labels: o.labels },
    spec: { containers: [{ name: 'c', image: 'busybox', resources: { requests } }], nodeName: o.nodeName, ...o.spec },
  };
}

/** Runs one filter plugin for a pod on a node of a cache holding `existing` pods. */
function runFilter(plugin: FilterPlugin, p: Pod, n: Node, opts: { nodes?: Node[]; existing?: Pod[] } = {}): string[] | null {
  const cache = new SchedulerCache();
  for (const x of [n, ...(opts.nodes ?? [])]) cache.setNode(x);
  for (const e of opts.existing ?? []) cache.upsertPod(e);
  const state: CycleState = { pod: podInfo(p), cache, data: new Map() };
  if (plugin.preFilter && !plugin.preFilter(state)) return null;
  const r = plugin.filter(state, cache.get(n.metadata.name)!);
  return r === null ? null : [...r];
}

describe('scheduler/cache', () => {
  it('sums the requests of pods bound to a node and forgets removed ones', () => {
    const cache = new SchedulerCache();
    cache.setNode(node('n1'));
    cache.upsertPod(pod('a', { cpu: '500m', memory: '1Gi', nodeName: 'n1' }));
    cache.upsertPod(pod('b', { cpu: '250m', nodeName: 'n1' }));
    const ni = cache.get('n1')!;
    assert.deepEqual(ni.requested, { cpu: 750, memory: 2 ** 30 });
    // b states no memory: scoring assumes 200Mi for it, fitting counts 0.
    assert.deepEqual(ni.nonZeroRequested, { cpu: 750, memory: 2 ** 30 + 200 * 2 ** 20 });
    cache.removePod('default/a');
    assert.deepEqual(ni.requested, { cpu: 250, memory: 0 });
    assert.equal(ni.pods.size, 1);
  });

  it('does not count Succeeded or Failed pods', () => {
    const cache = new SchedulerCache();
    cache.setNode(node('n1'));
    const p = pod('a', { cpu: '1', nodeName: 'n1' });
    cache.upsertPod(p);
    cache.upsertPod({ ...p, status: { phase: 'Succeeded' } });
    assert.equal(cache.get('n1')!.requested.cpu, 0);
    assert.equal(cache.get('n1')!.pods.size, 0);
  });

  it('moves a pod when it is seen bound to another node', () => {
    const cache = new SchedulerCache();
    cache.setNode(node('n1'));
    cache.setNode(node('n2'));
    cache.upsertPod(pod('a', { cpu: '1', nodeName: 'n1' }));
    cache.upsertPod(pod('a', { cpu: '1', nodeName: 'n2' }));
    assert.equal(cache.get('n1')!.requested.cpu, 0);
    assert.equal(cache.get('n2')!.requested.cpu, 1000);
  });

  it('applies the effective request rule: the largest init container wins when it is bigger', () => {
    const p = pod('a', { cpu: '100m' });
    p.spec.initContainers = [{ name: 'init', image: 'busybox', resources: { requests: { cpu: '2', memory: '64Mi' } } }];
    assert.deepEqual(podInfo(p).requests, { cpu: 2000, memory: 64 * 2 ** 20 });
  });

  it('keeps pods bound to a node it has not seen yet and counts them once the node arrives', () => {
    const cache = new SchedulerCache();
    cache.upsertPod(pod('a', { cpu: '1', nodeName: 'late' }));
    assert.equal(cache.nodes().length, 0);
    cache.setNode(node('late'));
    assert.equal(cache.nodes().length, 1);
    assert.equal(cache.get('late')!.requested.cpu, 1000);
  });

  it('clones independently', () => {
    const cache = new SchedulerCache();
    cache.setNode(node('n1'));
    const copy = cache.clone();
    copy.upsertPod(pod('a', { cpu: '1', nodeName: 'n1' }));
    assert.equal(cache.get('n1')!.requested.cpu, 0);
    assert.equal(copy.get('n1')!.requested.cpu, 1000);
  });
});

describe('scheduler/plugins filters', () => {
  const gpuTaint: Taint = { key: 'dedicated', value: 'gpu', effect: 'NoSchedule' };
  const cases: { name: string; plugin: FilterPlugin; pod: Pod; node: Node; existing?: Pod[]; nodes?: Node[]; want: string[] | null }[] = [
    { name: 'NodeUnschedulable rejects a cordoned node', plugin: nodeUnschedulableFilter, pod: pod('p'), node: node('n', { unschedulable: true }), want: ['node(s) were unschedulable'] },
    {
      name: 'NodeUnschedulable admits a pod tolerating the unschedulable taint',
      plugin: nodeUnschedulableFilter,
      pod: pod('p', { spec: { tolerations: [{ key: 'node.kubernetes.io/unschedulable', operator: 'Exists', effect: 'NoSchedule' }] } }),
      node: node('n', { unschedulable: true }),
      want: null,
    },
    { name: 'NodeName rejects other nodes', plugin: nodeNameFilter, pod: pod('p', { nodeName: 'other' }), node: node('n'), want: ["node(s) didn't match the requested node name"] },
    { name: 'NodeName admits the named node', plugin: nodeNameFilter, pod: pod('p', { nodeName: 'n' }), node: node('n'), want: null },
    { name: 'TaintToleration rejects an untolerated NoSchedule taint', plugin: taintTolerationFilter, pod: pod('p'), node: node('n', { taints: [gpuTaint] }), want: ['node(s) had untolerated taint {dedicated: gpu}'] },
    {
      name: 'TaintToleration admits a matching Equal toleration',
      plugin: taintTolerationFilter,
      pod: pod('p', { spec: { tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'gpu', effect: 'NoSchedule' }] } }),
      node: node('n', { taints: [gpuTaint] }),
      want: null,
    },
    {
      name: 'TaintToleration ignores PreferNoSchedule taints when filtering',
      plugin: taintTolerationFilter,
      pod: pod('p'),
      node: node('n', { taints: [{ key: 'soft', effect: 'PreferNoSchedule' }] }),
      want: null,
    },
    {
      name: 'TaintToleration rejects NoExecute taints too',
      plugin: taintTolerationFilter,
      pod: pod('p'),
      node: node('n', { taints: [{ key: 'node.kubernetes.io/not-ready', effect: 'NoExecute' }] }),
      want: ['node(s) had untolerated taint {node.kubernetes.io/not-ready: }'],
    },
    { name: 'NodeAffinity rejects a node without the nodeSelector label', plugin: nodeAffinityFilter, pod: pod('p', { spec: { nodeSelector: { disk: 'ssd' } } }), node: node('n', { labels: { disk: 'hdd' } }), want: ["node(s) didn't match Pod's node affinity/selector"] },
    { name: 'NodeAffinity admits a node with the nodeSelector label', plugin: nodeAffinityFilter, pod: pod('p', { spec: { nodeSelector: { disk: 'ssd' } } }), node: node('n', { labels: { disk: 'ssd' } }), want: null },
    {
      name: 'NodeAffinity ORs terms and ANDs expressions (Gt, NotIn)',
      plugin: nodeAffinityFilter,
      pod: pod('p', {
        spec: {
          affinity: {
            nodeAffinity: {
              requiredDuringSchedulingIgnoredDuringExecution: {
                nodeSelectorTerms: [
                  { matchExpressions: [{ key: 'cores', operator: 'Gt', values: ['8'] }] },
                  { matchExpressions: [{ key: 'zone', operator: 'NotIn', values: ['a'] }, { key: 'gpu', operator: 'DoesNotExist' }] },
                ],
              },
            },
          },
        },
      }),
      node: node('n', { labels: { cores: '4', zone: 'b' } }),
      want: null,
    },
    {
      name: 'NodeAffinity rejects when no term matches (Lt, Exists)',
      plugin: nodeAffinityFilter,
      pod: pod('p', {
        spec: {
          affinity: {
            nodeAffinity: {
              requiredDuringSchedulingIgnoredDuringExecution: {
                nodeSelectorTerms: [{ matchExpressions: [{ key: 'cores', operator: 'Lt', values: ['4'] }, { key: 'ssd', operator: 'Exists' }] }],
              },
            },
          },
        },
      }),
      node: node('n', { labels: { cores: '2' } }),
      want: ["node(s) didn't match Pod's node affinity/selector"],
    },
    {
      name: 'NodeAffinity matches metadata.name through matchFields',
      plugin: nodeAffinityFilter,
      pod: pod('p', { spec: { affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['n'] }] }] } } } } }),
      node: node('n'),
      want: null,
    },
    {
      name: 'NodePorts rejects a host port already taken',
      plugin: nodePortsFilter,
      pod: pod('p', { spec: { containers: [{ name: 'c', image: 'x', ports: [{ containerPort: 80, hostPort: 8080 }] }] } }),
      node: node('n'),
      existing: [pod('e', { nodeName: 'n', spec: { containers: [{ name: 'c', image: 'x', ports: [{ containerPort: 80, hostPort: 8080, hostIP: '10.0.0.1' }] }] } })],
      want: ["node(s) didn't have free ports for the requested pod ports"],
    },
    {
      name: 'NodePorts admits the same port on another protocol',
      plugin: nodePortsFilter,
      pod: pod('p', { spec: { containers: [{ name: 'c', image: 'x', ports: [{ containerPort: 53, hostPort: 53, protocol: 'UDP' }] }] } }),
      node: node('n'),
      existing: [pod('e', { nodeName: 'n', spec: { containers: [{ name: 'c', image: 'x', ports: [{ containerPort: 53, hostPort: 53 }] }] } })],
      want: null,
    },
    { name: 'NodeResourcesFit rejects too much cpu', plugin: nodeResourcesFitFilter, pod: pod('p', { cpu: '3' }), node: node('n', { cpu: '4' }), existing: [pod('e', { cpu: '2', nodeName: 'n' })], want: ['Insufficient cpu'] },
    {
      name: 'NodeResourcesFit refuses an extended resource the node does not offer, in kube-scheduler\'s words',
      plugin: nodeResourcesFitFilter,
      pod: pod('p', { spec: { containers: [{ name: 'c', image: 'x', resources: { requests: { 'nvidia.com/gpu': '1' }, limits: { 'nvidia.com/gpu': '1' } } }] } }),
      node: node('n'),
      want: ['Insufficient nvidia.com/gpu'],
    },
    {
      name: 'NodeResourcesFit counts an extended resource the node offers against the pods already there',
      plugin: nodeResourcesFitFilter,
      pod: pod('p', { spec: { containers: [{ name: 'c', image: 'x', resources: { requests: { 'example.com/dongle': '2' } } }] } }),
      node: { ...node('n'), status: { allocatable: { cpu: '4', memory: '8Gi', pods: '110', 'example.com/dongle': '3' } } },
      existing: [pod('e', { nodeName: 'n', spec: { containers: [{ name: 'c', image: 'x', resources: { requests: { 'example.com/dongle': '1' } } }] } })],
      want: null,
    },
    {
      name: 'NodeResourcesFit refuses ephemeral-storage beyond what is left, an init container\'s larger request counting',
      plugin: nodeResourcesFitFilter,
      pod: pod('p', { cpu: '8', spec: { initContainers: [{ name: 'i', image: 'x', resources: { requests: { 'ephemeral-storage': '6Gi' } } }], containers: [{ name: 'c', image: 'x', resources: { requests: { cpu: '8', 'ephemeral-storage': '1Gi' } } }] } }),
      node: { ...node('n'), status: { allocatable: { cpu: '4', memory: '8Gi', pods: '110', 'ephemeral-storage': '10Gi' } } },
      existing: [pod('e', { nodeName: 'n', spec: { containers: [{ name: 'c', image: 'x', resources: { requests: { 'ephemeral-storage': '5Gi' } } }] } })],
      want: ['Insufficient cpu', 'Insufficient ephemeral-storage'],
    },
    { name: 'NodeResourcesFit reports every resource short', plugin: nodeResourcesFitFilter, pod: pod('p', { cpu: '8', memory: '16Gi' }), node: node('n', { pods: 1 }), existing: [pod('e', { nodeName: 'n' })], want: ['Too many pods', 'Insufficient cpu', 'Insufficient memory'] },
    { name: 'NodeResourcesFit admits a request-less pod on a full node', plugin: nodeResourcesFitFilter, pod: pod('p'), node: node('n', { cpu: '1' }), existing: [pod('e', { cpu: '1', nodeName: 'n' })], want: null },
    {
      name: 'InterPodAffinity rejects a node whose host already runs a pod the anti-affinity selects',
      plugin: interPodAffinityFilter,
      pod: pod('p', { labels: { app: 'web' }, spec: { affinity: { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: { app: 'web' } }, topologyKey: 'kubernetes.io/hostname' }] } } } }),
      node: node('n'),
      existing: [pod('e', { labels: { app: 'web' }, nodeName: 'n' })],
      want: ["node(s) didn't match pod anti-affinity rules"],
    },
    {
      name: "InterPodAffinity honours existing pods' anti-affinity (symmetry)",
      plugin: interPodAffinityFilter,
      pod: pod('p', { labels: { app: 'web' } }),
      node: node('n'),
      existing: [pod('e', { nodeName: 'n', spec: { affinity: { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: { app: 'web' } }, topologyKey: 'kubernetes.io/hostname' }] } } } })],
      want: ["node(s) didn't satisfy existing pods anti-affinity rules"],
    },
    {
      name: 'InterPodAffinity requires a selected pod in the same zone',
      plugin: interPodAffinityFilter,
      pod: pod('p', { spec: { affinity: { podAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: { app: 'db' } }, topologyKey: 'zone' }] } } } }),
      node: node('n', { labels: { zone: 'a' } }),
      nodes: [node('m', { labels: { zone: 'b' } })],
      existing: [pod('db', { labels: { app: 'db' }, nodeName: 'm' })],
      want: ["node(s) didn't match pod affinity rules"],
    },
    {
      name: 'InterPodAffinity lets the first pod of a self-selecting group through',
      plugin: interPodAffinityFilter,
      pod: pod('p', { labels: { app: 'db' }, spec: { affinity: { podAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: { app: 'db' } }, topologyKey: 'zone' }] } } } }),
      node: node('n', { labels: { zone: 'a' } }),
      want: null,
    },
    {
      name: 'PodTopologySpread rejects a zone that would exceed maxSkew',
      plugin: podTopologySpreadFilter,
      pod: pod('p', { labels: { app: 'web' }, spec: { topologySpreadConstraints: [{ maxSkew: 1, topologyKey: 'zone', whenUnsatisfiable: 'DoNotSchedule', labelSelector: { matchLabels: { app: 'web' } } }] } }),
      node: node('n', { labels: { zone: 'a' } }),
      nodes: [node('m', { labels: { zone: 'b' } })],
      existing: [pod('w1', { labels: { app: 'web' }, nodeName: 'n' })],
      want: ["node(s) didn't match pod topology spread constraints"],
    },
    {
      name: 'PodTopologySpread rejects a node without the topology label',
      plugin: podTopologySpreadFilter,
      pod: pod('p', { labels: { app: 'web' }, spec: { topologySpreadConstraints: [{ maxSkew: 1, topologyKey: 'zone', whenUnsatisfiable: 'DoNotSchedule', labelSelector: { matchLabels: { app: 'web' } } }] } }),
      node: node('n'),
      want: ["node(s) didn't match pod topology spread constraints (missing required label)"],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      assert.deepEqual(runFilter(c.plugin, c.pod, c.node, { existing: c.existing, nodes: c.nodes }), c.want);
    });
  }
});

describe('scheduler/plugins inter-pod affinity as the cluster changes', () => {
  const zoneAnti = (app: string): Partial<PodSpec> => ({
    affinity: { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: { app } }, topologyKey: 'zone' }] } },
  });

  function check(cache: SchedulerCache, p: Pod, nodeName: string): string[] | null {
    const state: CycleState = { pod: podInfo(p), cache, data: new Map() };
    if (!interPodAffinityFilter.preFilter!(state)) return null;
    const r = interPodAffinityFilter.filter(state, cache.get(nodeName)!);
    return r === null ? null : [...r];
  }

  it("follows an existing pod's anti-affinity domain when its node changes zone", () => {
    const cache = new SchedulerCache();
    cache.setNode(node('n', { labels: { zone: 'a' } }));
    cache.setNode(node('m', { labels: { zone: 'a' } }));
    cache.upsertPod(pod('guard', { nodeName: 'n', spec: zoneAnti('web') }));
    const incoming = pod('web', { labels: { app: 'web' } });
    assert.deepEqual(check(cache, incoming, 'm'), ["node(s) didn't satisfy existing pods anti-affinity rules"]);
    cache.setNode(node('n', { labels: { zone: 'b' } }));
    assert.equal(check(cache, incoming, 'm'), null);
  });

  it('forgets anti-affinity of a removed pod', () => {
    const cache = new SchedulerCache();
    cache.setNode(node('n', { labels: { zone: 'a' } }));
    cache.upsertPod(pod('db-0', { labels: { app: 'db' }, nodeName: 'n' }));
    const incoming = pod('db-1', { labels: { app: 'db' }, spec: zoneAnti('db') });
    assert.deepEqual(check(cache, incoming, 'n'), ["node(s) didn't match pod anti-affinity rules"]);
    cache.removePod('default/db-0');
    assert.equal(check(cache, incoming, 'n'), null);
  });
});

describe('scheduler/plugins toleration matching', () => {
  const taint = { key: 'k', value: 'v', effect: 'NoSchedule' as const };
  const cases: [Toleration, boolean][] = [
    [{ key: 'k', operator: 'Equal', value: 'v', effect: 'NoSchedule' }, true],
    [{ key: 'k', value: 'v' }, true],
    [{ key: 'k', operator: 'Equal', value: 'w' }, false],
    [{ key: 'k', operator: 'Exists' }, true],
    [{ operator: 'Exists' }, true],
    [{ key: 'k', operator: 'Exists', effect: 'NoExecute' }, false],
    [{ key: 'other', operator: 'Exists' }, false],
  ];
  for (const [t, want] of cases) {
    it(`${JSON.stringify(t)} ${want ? 'tolerates' : 'does not tolerate'} k=v:NoSchedule`, () => {
      assert.equal(toleratesTaint(t, taint), want);
    });
  }
});

describe('scheduler/plugins scores', () => {
  function scores(plugin: typeof leastAllocatedScore, p: Pod, nodes: Node[], existing: Pod[] = []): number[] {
    const cache = new SchedulerCache();
    for (const n of nodes) cache.setNode(n);
    for (const e of existing) cache.upsertPod(e);
    const state: CycleState = { pod: podInfo(p), cache, data: new Map() };
    const infos = nodes.map((n) => cache.get(n.metadata.name)!);
    if (plugin.preScore && !plugin.preScore(state, infos)) return infos.map(() => 0);
    const s = plugin.score(state, infos);
    plugin.normalize?.(state, s, infos);
    return s;
  }

  it('least-allocated prefers the emptier node', () => {
    const s = scores(leastAllocatedScore, pod('p', { cpu: '1', memory: '1Gi' }), [node('a'), node('b')], [pod('e', { cpu: '2', memory: '4Gi', nodeName: 'a' })]);
    assert.ok(s[1]! > s[0]!, `scores ${s}`);
    // b: cpu (4000-1000)/4000 = 75, memory (8-1)/8 = 87 → 81
    assert.equal(s[1], 81);
  });

  it('balanced allocation prefers the node where cpu and memory stay in proportion', () => {
    const s = scores(balancedAllocationScore, pod('p', { cpu: '1', memory: '1Gi' }), [node('a'), node('b')], [pod('e', { cpu: '2', nodeName: 'a' })]);
    assert.ok(s[1]! > s[0]!, `scores ${s}`);
  });

  it('taint toleration prefers nodes without untolerated PreferNoSchedule taints', () => {
    const s = scores(taintTolerationScore, pod('p'), [node('a', { taints: [{ key: 'soft', effect: 'PreferNoSchedule' }] }), node('b')]);
    assert.deepEqual(s, [0, 100]);
  });

  it('node affinity scores preferred terms by weight', () => {
    const p = pod('p', {
      spec: {
        affinity: {
          nodeAffinity: {
            preferredDuringSchedulingIgnoredDuringExecution: [
              { weight: 80, preference: { matchExpressions: [{ key: 'disk', operator: 'In', values: ['ssd'] }] } },
              { weight: 20, preference: { matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }] } },
            ],
          },
        },
      },
    });
    const s = scores(nodeAffinityScore, p, [node('a', { labels: { disk: 'ssd' } }), node('b', { labels: { zone: 'a' } }), node('c')]);
    assert.deepEqual(s, [100, 25, 0]);
  });
});

describe('scheduler/queue', () => {
  function qpod(name: string, priority: number, created: string): Pod {
    const p = pod(name, { spec: { priority } });
    p.metadata.creationTimestamp = created;
    return p;
  }

  it('pops by priority, then oldest first', async () => {
    const q = new SchedulingQueue();
    q.add(qpod('late', 0, '2024-01-02T00:00:00Z'));
    q.add(qpod('early', 0, '2024-01-01T00:00:00Z'));
    q.add(qpod('urgent', 10, '2024-01-03T00:00:00Z'));
    const signal = new AbortController().signal;
    const order = [];
    for (let i = 0; i < 3; i++) order.push((await q.pop(signal))!.metadata.name);
    assert.deepEqual(order, ['urgent', 'early', 'late']);
  });

  it('holds a pod in backoff until a cluster event moves it back', async () => {
    let now = 1000;
    const q = new SchedulingQueue({ now: () => now });
    q.add(qpod('a', 0, 'x'));
    const ac = new AbortController();
    const p = await q.pop(ac.signal);
    q.backoff('default/a');
    now += 500; // backoff is 1 s: not due yet
    const waiting = q.pop(ac.signal);
    let got: Pod | undefined;
    void waiting.then((v) => { got = v; });
    await new Promise((r) => setImmediate(r));
    assert.equal(got, undefined);
    q.moveAllToActive();
    assert.equal((await waiting)!.metadata.name, p!.metadata.name);
  });

  it('retries at once when the cluster changed during the attempt', async () => {
    const q = new SchedulingQueue({ initialBackoffMs: 60_000 });
    q.add(qpod('a', 0, 'x'));
    const signal = new AbortController().signal;
    await q.pop(signal);
    q.moveAllToActive();
    q.backoff('default/a');
    assert.equal((await q.pop(signal))!.metadata.name, 'a');
  });
});
