import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { TokenFile } from '../../src/api/auth/tokens.js';
import { createApiServer } from '../../src/api/server.js';
import { DisruptionController } from '../../src/controllers/disruption.js';
import type { ControllerManager } from '../../src/controllers/runtime.js';
import { silentLogger } from '../../src/log.js';
import type { Node, Pod, PodDisruptionBudget, ReplicaSet } from '../../src/model/types.js';
import { MemoryStore } from '../fakes/memory-store.js';
import { controllerManager, eventually, node, NS } from '../helpers/controllers.js';

function pod(name: string, opts: { ready?: boolean; owner?: ReplicaSet } = {}): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name, namespace: NS, labels: { app: 'web' },
      ...(opts.owner ? { ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: opts.owner.metadata.name, uid: opts.owner.metadata.uid!, controller: true }] } : {}),
    },
    spec: { nodeName: 'n1', containers: [{ name: 'main', image: 'busybox:1' }] },
    status: { phase: 'Running', conditions: [{ type: 'Ready', status: opts.ready === false ? 'False' : 'True' }] },
  };
}

function budget(spec: Partial<PodDisruptionBudget['spec']>): PodDisruptionBudget {
  return { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name: 'web', namespace: NS }, spec: { selector: { matchLabels: { app: 'web' } }, ...spec } };
}

type Status = { kind?: string; status?: string; code?: number; reason?: string; message?: string; details?: { causes?: { reason?: string; message?: string }[] } };

describe('the Eviction API and the disruption controller', () => {
  let store: MemoryStore;
  let manager: ControllerManager | undefined;
  let app: ReturnType<typeof createApiServer>;

  const evict = async (name: string, body: unknown = { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name, namespace: NS } }, headers: Record<string, string> = {}) => {
    const res = await app.inject({ method: 'POST', url: `/api/v1/namespaces/${NS}/pods/${name}/eviction`, payload: body as object, headers });
    return { status: res.statusCode, body: res.json() as Status };
  };
  const getPdb = async () => (await store.get<PodDisruptionBudget>({ kind: 'PodDisruptionBudget', namespace: NS, name: 'web' }))!;
  const allowedIs = (n: number) => eventually(async () => (await getPdb())?.status?.disruptionsAllowed === n && (await getPdb()).status?.observedGeneration === 1, `disruptionsAllowed ${n}`);

  beforeEach(async () => {
    store = new MemoryStore();
    app = createApiServer({ store, logger: silentLogger() });
    manager = controllerManager(store, { controllers: [new DisruptionController()] });
    await manager.start();
  });
  afterEach(async () => {
    await manager?.stop();
    await app.close();
  });

  it('the controller writes a minAvailable budget\'s status from its Ready pods', async () => {
    for (const n of ['a', 'b', 'c']) await store.create(pod(n));
    await store.create(pod('d', { ready: false }));
    await store.create(budget({ minAvailable: 2 }));
    await allowedIs(1);
    const st = (await getPdb()).status!;
    assert.deepEqual([st.expectedPods, st.currentHealthy, st.desiredHealthy], [4, 3, 2]);
    assert.deepEqual([st.conditions?.[0]?.type, st.conditions?.[0]?.status, st.conditions?.[0]?.reason], ['DisruptionAllowed', 'True', 'SufficientPods']);
  });

  it('the controller counts a ReplicaSet\'s replicas for a percent budget, rounding up', async () => {
    const rs = await store.create<ReplicaSet>({
      apiVersion: 'apps/v1', kind: 'ReplicaSet', metadata: { name: 'web-1', namespace: NS },
      spec: { replicas: 3, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'main', image: 'busybox:1' }] } } },
    });
    for (const n of ['a', 'b']) await store.create(pod(n, { owner: rs }));
    await store.create(budget({ minAvailable: '50%' }));
    // 50% of 3 replicas is 2 (rounded up); 2 Ready: nothing to spare.
    await eventually(async () => (await getPdb()).status?.expectedPods === 3, 'expectedPods 3');
    const st = (await getPdb()).status!;
    assert.deepEqual([st.desiredHealthy, st.currentHealthy, st.disruptionsAllowed], [2, 2, 0]);
    assert.equal(st.conditions?.[0]?.reason, 'InsufficientPods');
  });

  it('evicts while the budget allows, taking the disruption at once, then answers 429 naming the budget', async () => {
    for (const n of ['a', 'b', 'c']) await store.create(pod(n));
    await store.create(budget({ minAvailable: 2 }));
    await allowedIs(1);
    const first = await evict('a', { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name: 'a', namespace: NS }, deleteOptions: { gracePeriodSeconds: 3 } });
    assert.equal(first.status, 201);
    assert.equal(first.body.status, 'Success');
    const a = (await store.get<Pod>({ kind: 'Pod', namespace: NS, name: 'a' }))!;
    assert.ok(a.metadata.deletionTimestamp, 'the evicted pod is terminating');
    assert.equal(a.metadata.deletionGracePeriodSeconds, 3);
    // Taken at once (recorded in disruptedPods until the controller sees the pod terminating).
    const st = (await getPdb()).status!;
    assert.equal(st.disruptionsAllowed, 0);
    assert.equal(st.currentHealthy, st.disruptedPods?.a ? 3 : 2);
    const second = await evict('b');
    assert.equal(second.status, 429);
    assert.equal(second.body.reason, 'TooManyRequests');
    assert.equal(second.body.message, "Cannot evict pod as it would violate the pod's disruption budget.");
    assert.deepEqual(second.body.details?.causes, [{ reason: 'DisruptionBudget', message: 'The disruption budget web needs 2 healthy pods and has 2 currently' }]);
    assert.equal((await store.get<Pod>({ kind: 'Pod', namespace: NS, name: 'b' }))!.metadata.deletionTimestamp, undefined);
  });

  it('lets only one of two simultaneous evictions take the last disruption', async () => {
    for (const n of ['a', 'b', 'c']) await store.create(pod(n));
    await store.create(budget({ minAvailable: 2, selector: {} }));
    await allowedIs(1);
    const [x, y] = await Promise.all([evict('a'), evict('b')]);
    assert.deepEqual([x.status, y.status].sort(), [201, 429]);
    const terminating = (await store.list<Pod>('Pod')).items.filter((p) => p.metadata.deletionTimestamp);
    assert.equal(terminating.length, 1);
  });

  it('evicts pods no budget selects, and a not-Ready pod the budget can spare; 404 for a missing pod, 400 for another pod\'s Eviction', async () => {
    await store.create({ ...pod('lone'), metadata: { name: 'lone', namespace: NS, labels: { app: 'other' } } });
    assert.equal((await evict('lone')).status, 201);
    for (const n of ['a', 'b']) await store.create(pod(n));
    await store.create(pod('sick', { ready: false }));
    await store.create(budget({ minAvailable: 2 }));
    await allowedIs(0);
    assert.equal((await evict('sick')).status, 201);
    assert.equal((await evict('a')).status, 429);
    assert.equal((await evict('nope')).status, 404);
    const wrong = await evict('a', { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name: 'b' } });
    assert.equal(wrong.status, 400);
    assert.match(wrong.body.message ?? '', /does not match the pod "a"/);
  });

  it('a dry run decides without writing', async () => {
    await store.create(pod('a'));
    const res = await app.inject({ method: 'POST', url: `/api/v1/namespaces/${NS}/pods/a/eviction?dryRun=All`, payload: { kind: 'Eviction', metadata: { name: 'a' } } });
    assert.equal(res.statusCode, 201);
    assert.equal((await store.get<Pod>({ kind: 'Pod', namespace: NS, name: 'a' }))!.metadata.deletionTimestamp, undefined);
  });
});

describe('cordon through the Kubernetes API', () => {
  let store: MemoryStore;
  let app: ReturnType<typeof createApiServer>;
  const patch = (body: unknown, type = 'application/strategic-merge-patch+json', name = 'n1') =>
    app.inject({ method: 'PATCH', url: `/api/v1/nodes/${name}`, payload: JSON.stringify(body), headers: { 'content-type': type } });
  const getNode = async () => (await store.get<Node>({ kind: 'Node', name: 'n1' }))!;

  beforeEach(async () => {
    store = new MemoryStore();
    await store.create(node('n1', { ready: 'True', labels: { 'kubernetes.io/hostname': 'n1' } }));
    app = createApiServer({ store, logger: silentLogger() });
  });
  afterEach(() => app.close());

  it('sets and clears spec.unschedulable as kubectl cordon and uncordon send it, and get nodes shows SchedulingDisabled', async () => {
    const res = await patch({ spec: { unschedulable: true } });
    assert.equal(res.statusCode, 200);
    assert.equal(res.json<Node>().spec.unschedulable, true);
    assert.equal((await getNode()).spec.unschedulable, true);
    const table = await app.inject({ method: 'GET', url: '/api/v1/nodes', headers: { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' } });
    assert.equal(table.json<{ rows: { cells: string[] }[] }>().rows[0]!.cells[1], 'Ready,SchedulingDisabled');
    assert.equal((await patch({ spec: { unschedulable: null } })).statusCode, 200);
    assert.equal((await getNode()).spec.unschedulable, undefined);
    assert.equal((await patch({ spec: { unschedulable: true } }, 'application/merge-patch+json')).statusCode, 200);
    assert.equal((await patch([{ op: 'remove', path: '/spec/unschedulable' }], 'application/json-patch+json')).statusCode, 200);
    assert.equal((await getNode()).spec.unschedulable, undefined);
  });

  it('refuses any other change to a Node with 422 naming the field, and 404 for a node that is not there', async () => {
    const res = await patch({ metadata: { labels: { team: 'x' } }, spec: { unschedulable: true } });
    assert.equal(res.statusCode, 422);
    assert.match(res.json<Status>().message ?? '', /metadata\.labels: Forbidden: .*only spec\.unschedulable/);
    assert.equal((await getNode()).spec.unschedulable, undefined, 'nothing was written');
    assert.equal((await patch({ spec: { taints: [] } })).statusCode, 422);
    assert.equal((await patch({ spec: { unschedulable: true } }, undefined, 'n9')).statusCode, 404);
  });

  it('lists pods/eviction (policy/v1) in discovery, which kubectl drain looks for', async () => {
    const res = await app.inject({ method: 'GET', url: '/api/v1' });
    const entry = res.json<{ resources: { name: string; group?: string; version?: string; kind: string }[] }>().resources.find((r) => r.name === 'pods/eviction');
    assert.deepEqual(entry && { group: entry.group, version: entry.version, kind: entry.kind }, { group: 'policy', version: 'v1', kind: 'Eviction' });
  });

  it('a read-only token may neither evict nor cordon (403); an admin token may', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'gantry-evict-auth-'));
    try {
      const tokens = new TokenFile(path.join(dir, 'tokens.json'));
      const admin = await tokens.create('admin', 'admin');
      const ro = await tokens.create('ci', 'read-only');
      await store.create(pod('a'));
      const guarded = createApiServer({ store, logger: silentLogger(), tokens });
      try {
        const call = (token: string, method: 'POST' | 'PATCH', url: string, payload: unknown, type = 'application/json') =>
          guarded.inject({ method, url, payload: JSON.stringify(payload), headers: { authorization: `Bearer ${token}`, 'content-type': type } });
        const roEvict = await call(ro, 'POST', `/api/v1/namespaces/${NS}/pods/a/eviction`, { kind: 'Eviction', metadata: { name: 'a' } });
        assert.equal(roEvict.statusCode, 403);
        assert.equal((await call(ro, 'PATCH', '/api/v1/nodes/n1', { spec: { unschedulable: true } }, 'application/strategic-merge-patch+json')).statusCode, 403);
        assert.equal((await call(admin, 'PATCH', '/api/v1/nodes/n1', { spec: { unschedulable: true } }, 'application/strategic-merge-patch+json')).statusCode, 200);
        assert.equal((await call(admin, 'POST', `/api/v1/namespaces/${NS}/pods/a/eviction`, { kind: 'Eviction', metadata: { name: 'a' } })).statusCode, 201);
      } finally {
        await guarded.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
