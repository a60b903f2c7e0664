import assert from 'node:assert/strict';
import { planDrain, runCordon, runDrain, runUncordon, type DrainApi, type EvictOutcome } from '../../src/cli/commands/drain.js';
import type { Node, Pod } from '../../src/model/types.js';

function pod(name: string, opts: { owner?: string; emptyDir?: boolean; mirror?: boolean; phase?: 'Running' | 'Succeeded' } = {}): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name, namespace: 'shop', uid: `uid-${name}`,
      ...(opts.owner ? { ownerReferences: [{ apiVersion: 'apps/v1', kind: opts.owner, name: `${name}-owner`, uid: 'o', controller: true }] } : {}),
      ...(opts.mirror ? { annotations: { 'kubernetes.io/config.mirror': 'x' } } : {}),
    },
    spec: { nodeName: 'n1', containers: [{ name: 'c', image: 'busybox' }], ...(opts.emptyDir ? { volumes: [{ name: 'scratch', emptyDir: {} }] } : {}) },
    status: { phase: opts.phase ?? 'Running' },
  };
}

/** A node and its pods; evictions answer from `blocked` (names refused until released). */
class FakeApi implements DrainApi {
  node: Node = { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1' }, spec: {} };
  pods = new Map<string, Pod>();
  blocked = new Set<string>();
  evictions: string[] = [];
  constructor(pods: Pod[]) {
    for (const p of pods) this.pods.set(p.metadata.name, p);
  }
  async getNode(name: string) { return name === 'n1' ? this.node : undefined; }
  async setUnschedulable(_n: string, u: boolean) {
    this.node = { ...this.node, spec: u ? { unschedulable: true } : {} };
    return this.node;
  }
  async podsOn() { return [...this.pods.values()]; }
  async getPod(_ns: string, name: string) { return this.pods.get(name); }
  async daemonSetExists() { return true; }
  async evict(p: Pod): Promise<EvictOutcome> {
    this.evictions.push(p.metadata.name);
    if (this.blocked.has(p.metadata.name)) return { result: 'blocked', message: 'The disruption budget web needs 2 healthy pods and has 2 currently' };
    // The node stops it a little later.
    setTimeout(() => this.pods.delete(p.metadata.name), 20);
    return { result: 'evicted' };
  }
}

const quick = { dataDir: '/nonexistent', retryIntervalMs: 30, pollIntervalMs: 10 };

describe('gantry cordon, uncordon and drain', () => {
  it('cordon and uncordon set spec.unschedulable and say so, as kubectl does', async () => {
    const api = new FakeApi([]);
    const lines: string[] = [];
    await runCordon('n1', { ...quick, api, write: (l) => lines.push(l) });
    await runCordon('n1', { ...quick, api, write: (l) => lines.push(l) });
    assert.equal(api.node.spec.unschedulable, true);
    await runUncordon('n1', { ...quick, api, write: (l) => lines.push(l) });
    assert.equal(api.node.spec.unschedulable, undefined);
    assert.deepEqual(lines, ['node/n1 cordoned', 'node/n1 already cordoned', 'node/n1 uncordoned']);
    await assert.rejects(runCordon('n9', { ...quick, api }), /node "n9" not found/);
  });

  it('planDrain() leaves mirror pods, refuses DaemonSet, emptyDir and unmanaged pods without their flags, naming them', async () => {
    const pods = [pod('web', { owner: 'ReplicaSet' }), pod('agent', { owner: 'DaemonSet' }), pod('cache', { owner: 'ReplicaSet', emptyDir: true }), pod('bare'), pod('static', { mirror: true }), pod('done', { phase: 'Succeeded' })];
    const api = new FakeApi(pods);
    const strict = await planDrain(pods, api, {});
    assert.deepEqual(strict.evict, []);
    assert.deepEqual(strict.errors, [
      'cannot delete DaemonSet-managed Pods (use --ignore-daemonsets to ignore): shop/agent',
      'cannot delete Pods with local storage (use --delete-emptydir-data to override): shop/cache',
      'cannot delete Pods that declare no controller (use --force to override): shop/bare',
    ]);
    const lax = await planDrain(pods, api, { ignoreDaemonsets: true, deleteEmptydirData: true, force: true });
    assert.deepEqual(lax.errors, []);
    assert.deepEqual(lax.evict.map((p) => p.metadata.name), ['web', 'cache', 'bare', 'done']);
    assert.equal(lax.warnings[0], 'Warning: ignoring DaemonSet-managed Pods: shop/agent');
  });

  it('drain cordons, evicts and waits for each pod to go, then reports the node drained', async () => {
    const api = new FakeApi([pod('a', { owner: 'ReplicaSet' }), pod('b', { owner: 'ReplicaSet' })]);
    const lines: string[] = [];
    await runDrain('n1', { ...quick, api, write: (l) => lines.push(l) });
    assert.equal(api.node.spec.unschedulable, true);
    assert.equal(api.pods.size, 0);
    assert.deepEqual(lines.filter((l) => /evicted|drained|cordoned/.test(l)).sort(), ['node/n1 cordoned', 'node/n1 drained', 'pod/a evicted', 'pod/b evicted']);
  });

  it('drain retries an eviction a budget refuses, printing the budget once, until it is let through', async () => {
    const api = new FakeApi([pod('a', { owner: 'ReplicaSet' })]);
    api.blocked.add('a');
    setTimeout(() => api.blocked.delete('a'), 120);
    const lines: string[] = [];
    await runDrain('n1', { ...quick, api, write: (l) => lines.push(l) });
    assert.ok(api.evictions.length >= 3, `retried (${api.evictions.length} attempts)`);
    assert.deepEqual(lines.filter((l) => l.startsWith('cannot evict')), ['cannot evict pod shop/a yet: The disruption budget web needs 2 healthy pods and has 2 currently (a PodDisruptionBudget; retrying every 30ms)']);
    assert.ok(lines.includes('pod/a evicted'));
  });

  it('drain gives up at --timeout, naming the pods left and what blocks them; the node stays cordoned', async () => {
    const api = new FakeApi([pod('a', { owner: 'ReplicaSet' }), pod('b', { owner: 'ReplicaSet' })]);
    api.blocked.add('b');
    const lines: string[] = [];
    await assert.rejects(runDrain('n1', { ...quick, api, timeout: 1, write: (l) => lines.push(l) }), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'Timeout');
      assert.match(err.message, /did not complete within 1s; the node stays cordoned; pods left: shop\/b \(blocked: The disruption budget web needs 2/);
      return true;
    });
    assert.ok(lines.includes('pod/a evicted'));
    assert.equal(api.node.spec.unschedulable, true);
  });

  it('drain refuses a node with DaemonSet pods without --ignore-daemonsets, after cordoning it', async () => {
    const api = new FakeApi([pod('agent', { owner: 'DaemonSet' })]);
    await assert.rejects(runDrain('n1', { ...quick, api, write: () => undefined }), /cannot drain node "n1" \(it stays cordoned\): cannot delete DaemonSet-managed Pods .*shop\/agent/);
    assert.equal(api.node.spec.unschedulable, true);
    assert.deepEqual(api.evictions, []);
    await runDrain('n1', { ...quick, api, ignoreDaemonsets: true, write: () => undefined });
    assert.deepEqual(api.evictions, [], 'DaemonSet pods stay');
  });
});
