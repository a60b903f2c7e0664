import assert from 'node:assert/strict';
import { createControllerManager } from '../../src/controllers/index.js';
import { CONFIG_HASH_ANNOTATION, podTemplateHash, safeEncode } from '../../src/controllers/deployment/hash.js';
import { fenceposts } from '../../src/controllers/deployment/replicas.js';
import { podsToDelete } from '../../src/controllers/replicaset.js';
import type { ControllerManager } from '../../src/controllers/runtime.js';
import type { ConfigMap, Deployment, Pod, ReplicaSet } from '../../src/model/types.js';
import type { Store, WatchEvent } from '../../src/store/types.js';
import { MemoryStore } from '../fakes/memory-store.js';
import { edit, eventually as waitUntil, fakeKubelet as runFakeKubelet, isReady, NS, type FakeKubeletOptions } from '../helpers/controllers.js';

/** Rollouts run several controllers: wait up to 10 s unless told otherwise. */
const eventually = (check: () => boolean | Promise<boolean>, what: string, timeoutMs = 10000): Promise<void> => waitUntil(check, what, { timeoutMs });

function deployment(name: string, opts: {
  replicas?: number; image?: string; strategy?: Deployment['spec']['strategy']; revisionHistoryLimit?: number;
  envFrom?: string; progressDeadlineSeconds?: number;
} = {}): Deployment {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: NS },
    spec: {
      replicas: opts.replicas ?? 1,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          containers: [{
            name: 'main',
            image: opts.image ?? 'busybox:1',
            ...(opts.envFrom ? { envFrom: [{ configMapRef: { name: opts.envFrom } }] } : {}),
          }],
        },
      },
      ...(opts.strategy ? { strategy: opts.strategy } : {}),
      ...(opts.revisionHistoryLimit !== undefined ? { revisionHistoryLimit: opts.revisionHistoryLimit } : {}),
      ...(opts.progressDeadlineSeconds !== undefined ? { progressDeadlineSeconds: opts.progressDeadlineSeconds } : {}),
    },
  };
}

async function pods(store: Store, opts: { all?: boolean } = {}): Promise<Pod[]> {
  const items = (await store.list<Pod>('Pod', { namespace: NS })).items;
  return opts.all ? items : items.filter((p) => !p.metadata.deletionTimestamp);
}

async function replicaSets(store: Store): Promise<ReplicaSet[]> {
  return (await store.list<ReplicaSet>('ReplicaSet', { namespace: NS })).items;
}

async function getDeployment(store: Store, name: string): Promise<Deployment> {
  return (await store.get<Deployment>({ kind: 'Deployment', namespace: NS, name }))!;
}

const ready = isReady;

/** Stands in for scheduler + node agent on node-1 (see the shared {@link runFakeKubelet}). */
const fakeKubelet = (store: Store, signal: AbortSignal, opts: FakeKubeletOptions = {}): void => runFakeKubelet(store, signal, { node: 'node-1', ...opts });

/** Tracks active pods and their readiness over every change, for rollout invariants. */
function podTracker(store: Store, signal: AbortSignal) {
  const live = new Map<string, Pod>();
  const stats = { maxTotal: 0, minReady: Number.POSITIVE_INFINITY, tracking: false, events: [] as WatchEvent[] };
  void (async () => {
    try {
      for await (const ev of store.watch({ kinds: ['Pod'], signal, fromRevision: 0 })) {
        stats.events.push(ev);
        const p = ev.object as Pod;
        if (ev.type === 'DELETED' || p.metadata.deletionTimestamp) live.delete(p.metadata.name);
        else live.set(p.metadata.name, p);
        if (!stats.tracking) continue;
        stats.maxTotal = Math.max(stats.maxTotal, live.size);
        stats.minReady = Math.min(stats.minReady, [...live.values()].filter(ready).length);
      }
    } catch {
      // store closed
    }
  })();
  return stats;
}

describe('controllers: Deployment → ReplicaSet → Pod', function () {
  this.timeout(20000);
  let store: MemoryStore;
  let manager: ControllerManager;
  let ac: AbortController;

  async function start(): Promise<void> {
    manager = createControllerManager(store, { workers: 2 });
    await manager.start();
  }

  beforeEach(() => {
    store = new MemoryStore();
    ac = new AbortController();
  });
  afterEach(async () => {
    ac.abort();
    await manager?.stop();
    await store.close();
  });

  it('a new Deployment gets one ReplicaSet named <deploy>-<hash> and its pods, labelled and owned', async () => {
    fakeKubelet(store, ac.signal);
    await start();
    const d = await store.create(deployment('web', { replicas: 3 }));
    await eventually(async () => (await pods(store)).length === 3, '3 pods exist');
    const [rs] = await replicaSets(store);
    const hash = podTemplateHash(d.spec.template);
    assert.equal(rs!.metadata.name, `web-${hash}`);
    assert.equal(rs!.metadata.annotations?.['deployment.kubernetes.io/revision'], '1');
    assert.deepEqual(rs!.spec.selector.matchLabels, { app: 'web', 'pod-template-hash': hash });
    assert.deepEqual(rs!.metadata.ownerReferences?.map((r) => [r.kind, r.name, r.uid, r.controller]), [['Deployment', 'web', d.metadata.uid, true]]);
    for (const p of await pods(store)) {
      assert.match(p.metadata.name, new RegExp(`^web-${hash}-[bcdfghjklmnpqrstvwxz2456789]{5}$`));
      assert.equal(p.metadata.labels?.['pod-template-hash'], hash);
      assert.equal(p.metadata.ownerReferences?.[0]?.uid, rs!.metadata.uid);
      assert.equal(p.metadata.ownerReferences?.[0]?.blockOwnerDeletion, true);
    }
    await eventually(async () => (await getDeployment(store, 'web')).status?.availableReplicas === 3, 'all available');
    const status = (await getDeployment(store, 'web')).status!;
    assert.deepEqual(
      { r: status.replicas, u: status.updatedReplicas, rd: status.readyReplicas, a: status.availableReplicas, un: status.unavailableReplicas, g: status.observedGeneration },
      { r: 3, u: 3, rd: 3, a: 3, un: 0, g: 1 },
    );
    await eventually(async () => (await getDeployment(store, 'web')).status?.conditions?.find((c) => c.type === 'Progressing')?.reason === 'NewReplicaSetAvailable', 'rollout complete');
    const conds = (await getDeployment(store, 'web')).status!.conditions!;
    const available = conds.find((c) => c.type === 'Available')!;
    assert.deepEqual([available.status, available.reason, available.observedGeneration], ['True', 'MinimumReplicasAvailable', 1]);
    assert.equal((await getDeployment(store, 'web')).metadata.annotations?.['deployment.kubernetes.io/revision'], '1');
    assert.ok(store.origins().some((o) => o?.actor === 'controller/deployment'));
    assert.ok(store.origins().some((o) => o?.actor === 'controller/replicaset'));
  });

  it('scaling 2 → 4 adds pods to the same ReplicaSet', async () => {
    fakeKubelet(store, ac.signal);
    await start();
    const d = await store.create(deployment('web', { replicas: 2 }));
    await eventually(async () => (await getDeployment(store, 'web')).status?.availableReplicas === 2, '2 available');
    const [before] = await replicaSets(store);
    await edit(store, d, (o) => (o.spec.replicas = 4));
    await eventually(async () => (await getDeployment(store, 'web')).status?.availableReplicas === 4, '4 available');
    const rss = await replicaSets(store);
    assert.equal(rss.length, 1);
    assert.equal(rss[0]!.metadata.uid, before!.metadata.uid);
    assert.equal(rss[0]!.spec.replicas, 4);
    assert.equal((await pods(store)).length, 4);
  });

  const rollouts = [
    { surge: 1, unavailable: 0, maxTotal: 5, minReady: 4 },
    { surge: 0, unavailable: 1, maxTotal: 4, minReady: 3 },
    { surge: '50%', unavailable: '25%', maxTotal: 6, minReady: 3 },
  ];
  for (const r of rollouts) {
    it(`an image change rolls out with maxSurge ${r.surge} / maxUnavailable ${r.unavailable}: never more than ${r.maxTotal} pods, never fewer than ${r.minReady} ready`, async () => {
      const stats = podTracker(store, ac.signal);
      fakeKubelet(store, ac.signal);
      await start();
      const d = await store.create(deployment('web', {
        replicas: 4,
        strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: r.surge, maxUnavailable: r.unavailable } },
      }));
      await eventually(async () => (await getDeployment(store, 'web')).status?.availableReplicas === 4, '4 available');
      await eventually(async () => (await pods(store)).length === 4, 'exactly 4 pods');
      stats.tracking = true;
      await edit(store, d, (o) => (o.spec.template.spec.containers[0]!.image = 'busybox:2'));
      await eventually(async () => {
        const ps = await pods(store, { all: true });
        return ps.length === 4 && ps.every((p) => p.spec.containers[0]!.image === 'busybox:2' && ready(p));
      }, 'all 4 pods run the new image');
      await eventually(async () => (await getDeployment(store, 'web')).status?.updatedReplicas === 4, 'status shows 4 updated');
      assert.ok(stats.maxTotal <= r.maxTotal, `saw ${stats.maxTotal} pods at once`);
      assert.ok(stats.minReady >= r.minReady, `saw only ${stats.minReady} ready pods`);
      const rss = (await replicaSets(store)).sort((a, b) => Number(a.metadata.annotations!['deployment.kubernetes.io/revision']) - Number(b.metadata.annotations!['deployment.kubernetes.io/revision']));
      assert.deepEqual(rss.map((x) => [x.metadata.annotations!['deployment.kubernetes.io/revision'], x.spec.replicas]), [['1', 0], ['2', 4]]);
      assert.equal((await getDeployment(store, 'web')).metadata.annotations?.['deployment.kubernetes.io/revision'], '2');
    });
  }

  it('Recreate removes every old pod (waiting for terminating ones to be gone) before creating new ones', async () => {
    const stats = podTracker(store, ac.signal);
    fakeKubelet(store, ac.signal, { bind: true });
    await start();
    const d = await store.create(deployment('job', { replicas: 2, strategy: { type: 'Recreate' } }));
    await eventually(async () => (await getDeployment(store, 'job')).status?.availableReplicas === 2, '2 available');
    await edit(store, d, (o) => (o.spec.template.spec.containers[0]!.image = 'busybox:2'));
    // Bound pods are only marked; the node agent has not removed them yet.
    await eventually(async () => (await pods(store, { all: true })).filter((p) => p.metadata.deletionTimestamp).length === 2, 'old pods terminating');
    await new Promise((r) => setTimeout(r, 50));
    assert.equal((await pods(store, { all: true })).filter((p) => p.spec.containers[0]!.image === 'busybox:2').length, 0, 'no new pod while old ones terminate');
    // Now the node agent finishes them.
    for (const p of await pods(store, { all: true })) await store.delete({ kind: 'Pod', namespace: NS, name: p.metadata.name });
    await eventually(async () => (await pods(store)).filter((p) => p.spec.containers[0]!.image === 'busybox:2' && ready(p)).length === 2, '2 new pods');
    const firstNew = stats.events.findIndex((e) => e.type === 'ADDED' && (e.object as Pod).spec.containers[0]!.image === 'busybox:2');
    const lastOldGone = stats.events.map((e, i) => [e, i] as const).filter(([e]) => e.type === 'DELETED' && (e.object as Pod).spec.containers[0]!.image === 'busybox:1').at(-1)![1];
    assert.ok(lastOldGone < firstNew, 'the last old pod was gone before the first new pod was created');
  });

  it('a rollback to an earlier template reuses its ReplicaSet and bumps its revision', async () => {
    fakeKubelet(store, ac.signal);
    await start();
    const d = await store.create(deployment('web', { replicas: 2 }));
    await eventually(async () => (await getDeployment(store, 'web')).status?.availableReplicas === 2, 'v1 up');
    const [v1] = await replicaSets(store);
    await edit(store, d, (o) => (o.spec.template.spec.containers[0]!.image = 'busybox:2'));
    await eventually(async () => (await getDeployment(store, 'web')).status?.updatedReplicas === 2 && (await replicaSets(store)).length === 2, 'v2 rolled out');
    await edit(store, d, (o) => (o.spec.template.spec.containers[0]!.image = 'busybox:1'));
    await eventually(async () => {
      const rs = (await replicaSets(store)).find((x) => x.metadata.uid === v1!.metadata.uid);
      return rs?.spec.replicas === 2 && rs.metadata.annotations?.['deployment.kubernetes.io/revision'] === '3';
    }, 'the v1 ReplicaSet is back at revision 3');
    assert.equal((await replicaSets(store)).length, 2, 'no third ReplicaSet');
    await eventually(async () => (await getDeployment(store, 'web')).metadata.annotations?.['deployment.kubernetes.io/revision'] === '3', 'deployment at revision 3');
  });

  it('revisionHistoryLimit deletes the oldest scaled-down ReplicaSets beyond the limit', async () => {
    fakeKubelet(store, ac.signal);
    await start();
    const d = await store.create(deployment('web', { replicas: 1, revisionHistoryLimit: 1 }));
    for (const image of ['busybox:2', 'busybox:3']) {
      await eventually(async () => (await getDeployment(store, 'web')).status?.conditions?.some((c) => c.reason === 'NewReplicaSetAvailable') ?? false, 'complete');
      await edit(store, d, (o) => (o.spec.template.spec.containers[0]!.image = image));
      await eventually(async () => (await pods(store)).some((p) => p.spec.containers[0]!.image === image && ready(p)), `${image} running`);
    }
    await eventually(async () => (await replicaSets(store)).length === 2, 'only the newest old ReplicaSet is kept');
    const images = (await replicaSets(store)).map((rs) => rs.spec.template.spec.containers[0]!.image).sort();
    assert.deepEqual(images, ['busybox:2', 'busybox:3']);
  });

  it('a new config hash on the Deployment\'s template rolls out new pods; a ConfigMap edit alone rolls nothing', async () => {
    fakeKubelet(store, ac.signal);
    await start();
    const config = await store.create<ConfigMap>({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'page', namespace: NS }, data: { 'index.html': 'v1' } });
    const withHash = (o: Deployment, hash: string): void => {
      o.spec.template.metadata = { ...o.spec.template.metadata, annotations: { [CONFIG_HASH_ANNOTATION]: hash } };
    };
    const d0 = deployment('web', { replicas: 2, envFrom: 'page' });
    withHash(d0, 'aaaa');
    const d = await store.create(d0);
    await eventually(async () => (await getDeployment(store, 'web')).status?.availableReplicas === 2, 'up');
    const [first] = await replicaSets(store);
    assert.equal(first!.spec.template.metadata?.annotations?.[CONFIG_HASH_ANNOTATION], 'aaaa', 'the ReplicaSet template is the Deployment\'s');
    // The sync stamps the hash in the same write as the config; the controller never reads config itself.
    await edit(store, config, (o) => (o.data = { 'index.html': 'v2' }));
    await new Promise((r) => setTimeout(r, 100));
    assert.equal((await replicaSets(store)).length, 1);
    await edit(store, d, (o) => withHash(o, 'bbbb'));
    await eventually(async () => {
      const ps = await pods(store, { all: true });
      return ps.length === 2 && ps.every((p) => p.metadata.annotations?.[CONFIG_HASH_ANNOTATION] === 'bbbb' && ready(p));
    }, 'new pods with the new config hash replace the old');
    const rss = await replicaSets(store);
    assert.equal(rss.length, 2);
    assert.equal(rss.find((r) => r.metadata.uid === first!.metadata.uid)?.spec.replicas, 0);
  });

  it('a paused Deployment scales but does not roll out a template change until resumed', async () => {
    fakeKubelet(store, ac.signal);
    await start();
    const d = await store.create(deployment('web', { replicas: 1 }));
    await eventually(async () => (await getDeployment(store, 'web')).status?.availableReplicas === 1, 'up');
    await edit(store, d, (o) => {
      o.spec.paused = true;
      o.spec.template.spec.containers[0]!.image = 'busybox:2';
      o.spec.replicas = 2;
    });
    await eventually(async () => (await getDeployment(store, 'web')).status?.availableReplicas === 2, 'scaled while paused');
    const progressing = (await getDeployment(store, 'web')).status?.conditions?.find((c) => c.type === 'Progressing');
    assert.deepEqual([progressing?.status, progressing?.reason], ['Unknown', 'DeploymentPaused']);
    assert.equal((await replicaSets(store)).length, 1, 'no new ReplicaSet while paused');
    await edit(store, d, (o) => (o.spec.paused = false));
    await eventually(async () => (await pods(store)).filter((p) => p.spec.containers[0]!.image === 'busybox:2' && ready(p)).length === 2, 'rolled out after resume');
  });

  it('scaling in the middle of a rollout spreads the new replicas proportionally, as Kubernetes does', async () => {
    // Pods of the new template never become ready, so the rollout stays half-way.
    fakeKubelet(store, ac.signal, { readyIf: (p) => p.spec.containers[0]!.image === 'busybox:1' });
    await start();
    const d = await store.create(deployment('web', { replicas: 4, strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } } }));
    await eventually(async () => (await getDeployment(store, 'web')).status?.availableReplicas === 4, '4 available');
    await edit(store, d, (o) => (o.spec.template.spec.containers[0]!.image = 'busybox:2'));
    const sizes = async (): Promise<string> => (await replicaSets(store))
      .map((rs) => `${rs.spec.template.spec.containers[0]!.image}=${rs.spec.replicas}`).sort().join(' ');
    await eventually(async () => (await sizes()) === 'busybox:1=4 busybox:2=1', 'the rollout is stuck at 4 old + 1 new');
    await edit(store, d, (o) => (o.spec.replicas = 8));
    // 9 allowed (8 + surge 1) over 5 annotated: old 4 × 9/5 = 7.2 → 7, new 1 × 9/5 = 1.8 → 2.
    await eventually(async () => (await sizes()) === 'busybox:1=7 busybox:2=2', 'old 7, new 2');
  });

  it('a Deployment whose selector does not match its template is reported, not rolled out', async () => {
    await start();
    const bad = deployment('bad');
    bad.spec.selector = { matchLabels: { app: 'other' } };
    await store.create(bad);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal((await replicaSets(store)).length, 0);
    assert.equal((await pods(store)).length, 0);
  });

  it('a rollout that makes no progress reports ProgressDeadlineExceeded', async () => {
    fakeKubelet(store, ac.signal, { ready: false });
    await start();
    await store.create(deployment('stuck', { replicas: 1, progressDeadlineSeconds: 1 }));
    await eventually(async () => {
      const c = (await getDeployment(store, 'stuck')).status?.conditions?.find((x) => x.type === 'Progressing');
      return c?.status === 'False' && c.reason === 'ProgressDeadlineExceeded';
    }, 'the deadline is reported', 8000);
    const c = (await getDeployment(store, 'stuck')).status!.conditions!;
    assert.equal(c.find((x) => x.type === 'Available')?.reason, 'MinimumReplicasUnavailable');
    assert.match(c.find((x) => x.type === 'Progressing')!.message!, /has timed out progressing/);
  });
});

describe('controllers: ReplicaSet', function () {
  this.timeout(20000);
  let store: MemoryStore;
  let manager: ControllerManager;

  beforeEach(() => {
    store = new MemoryStore();
  });
  afterEach(async () => {
    await manager?.stop();
    await store.close();
  });

  const rs = (name: string, replicas: number): ReplicaSet => ({
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: { name, namespace: NS },
    spec: { replicas, selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'c', image: 'busybox' }] } } },
  });
  const orphan = (name: string, labels: Record<string, string>): Pod => ({
    apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: NS, labels }, spec: { containers: [{ name: 'c', image: 'busybox' }] },
  });

  it('adopts a matching orphan pod and creates only the missing ones', async () => {
    await store.create(orphan('stray', { app: 'api' }));
    manager = createControllerManager(store);
    await manager.start();
    const created = await store.create(rs('api', 2));
    await eventually(async () => (await pods(store)).length === 2 && (await pods(store)).every((p) => p.metadata.ownerReferences?.[0]?.uid === created.metadata.uid), 'two owned pods');
    const stray = (await pods(store)).find((p) => p.metadata.name === 'stray')!;
    assert.equal(stray.metadata.ownerReferences?.[0]?.controller, true);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal((await pods(store)).length, 2);
  });

  it('releases a pod whose labels stop matching and replaces it', async () => {
    manager = createControllerManager(store);
    await manager.start();
    await store.create(rs('api', 2));
    await eventually(async () => (await pods(store)).length === 2, 'two pods');
    const [victim] = await pods(store);
    await edit(store, victim!, (p) => (p.metadata.labels = { app: 'debug' }));
    await eventually(async () => (await pods(store)).length === 3, 'a replacement pod');
    const released = (await store.get<Pod>({ kind: 'Pod', namespace: NS, name: victim!.metadata.name }))!;
    assert.equal(released.metadata.ownerReferences, undefined, 'the released pod has no owner');
    const owned = (await pods(store)).filter((p) => p.metadata.ownerReferences?.length);
    assert.equal(owned.length, 2);
  });

  it('scaling down deletes unscheduled and not-ready pods before running ready ones', () => {
    const mk = (name: string, o: { node?: string; phase?: 'Pending' | 'Running'; ready?: boolean; restarts?: number; created?: string }): Pod => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace: NS, creationTimestamp: o.created ?? '2030-01-01T00:00:00Z' },
      spec: { containers: [], ...(o.node ? { nodeName: o.node } : {}) },
      status: {
        phase: o.phase ?? 'Pending',
        conditions: [{ type: 'Ready', status: o.ready ? 'True' : 'False', lastTransitionTime: '2030-01-01T00:00:00Z' }],
        containerStatuses: [{ name: 'c', state: {}, lastState: {}, ready: !!o.ready, restartCount: o.restarts ?? 0, image: '', imageID: '' }],
      },
    });
    const all = [
      mk('running-ready-old', { node: 'a', phase: 'Running', ready: true, created: '2030-01-01T00:00:00Z' }),
      mk('running-ready-new', { node: 'b', phase: 'Running', ready: true, created: '2030-01-02T00:00:00Z' }),
      mk('running-notready-restarty', { node: 'c', phase: 'Running', restarts: 5 }),
      mk('running-notready', { node: 'd', phase: 'Running' }),
      mk('pending', { node: 'e' }),
      mk('unscheduled', {}),
    ];
    assert.deepEqual(podsToDelete(all, 6).map((p) => p.metadata.name), [
      'unscheduled', 'pending', 'running-notready-restarty', 'running-notready', 'running-ready-new', 'running-ready-old',
    ]);
  });

  it('does not create duplicate pods while the watch lags behind its own creations', async () => {
    const lagging = new LaggingStore(store);
    manager = createControllerManager(lagging, { resyncMs: 10, resyncJitter: 0 });
    await manager.start();
    lagging.holdPods = true;
    const created = await lagging.create(rs('api', 3));
    await eventually(async () => (await pods(store)).length >= 3, 'the first pods were created');
    // Many reconciles happen meanwhile (status writes, resync every 10 ms) without seeing the pods.
    for (let i = 0; i < 5; i++) {
      manager.enqueue('replicaset', `ReplicaSet/${NS}/api`);
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal((await pods(store)).length, 3, 'no pod created twice while the cache lagged');
    lagging.release();
    await store.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'nudge', namespace: NS } });
    await eventually(() => manager.cache.list('Pod').length === 3, 'the cache caught up');
    await eventually(async () => (await lagging.get<ReplicaSet>({ kind: 'ReplicaSet', namespace: NS, name: 'api' }))?.status?.replicas === 3, 'status shows 3');
    assert.equal((await pods(store)).length, 3);
    assert.ok(created.metadata.uid);
  });

  it('counts finished pods as not active and replaces them', async () => {
    manager = createControllerManager(store);
    await manager.start();
    await store.create(rs('batch', 1));
    await eventually(async () => (await pods(store)).length === 1, 'one pod');
    const [p] = await pods(store);
    await edit(store, p!, (o) => (o.status = { phase: 'Failed' }));
    await eventually(async () => (await pods(store)).filter((x) => x.status?.phase !== 'Failed').length === 1 && (await pods(store)).length === 2, 'a replacement');
  });
});

describe('controllers: garbage collection', function () {
  this.timeout(20000);
  let store: MemoryStore;
  let manager: ControllerManager;
  beforeEach(async () => {
    store = new MemoryStore();
    manager = createControllerManager(store);
    await manager.start();
  });
  afterEach(async () => {
    await manager.stop();
    await store.close();
  });

  it('deleting a ReplicaSet deletes its pods', async () => {
    await store.create<ReplicaSet>({
      apiVersion: 'apps/v1', kind: 'ReplicaSet', metadata: { name: 'gone', namespace: NS },
      spec: { replicas: 2, selector: { matchLabels: { app: 'gone' } }, template: { metadata: { labels: { app: 'gone' } }, spec: { containers: [{ name: 'c', image: 'busybox' }] } } },
    });
    await eventually(async () => (await pods(store)).length === 2, 'two pods');
    await store.delete({ kind: 'ReplicaSet', namespace: NS, name: 'gone' });
    await eventually(async () => (await pods(store, { all: true })).length === 0, 'pods collected');
    assert.ok(store.origins().some((o) => o?.actor === 'controller/garbage-collector'));
  });

  it('deleting a Deployment deletes its ReplicaSets and, through them, their pods', async () => {
    await store.create(deployment('web', { replicas: 2 }));
    await eventually(async () => (await pods(store)).length === 2, 'two pods');
    await store.delete({ kind: 'Deployment', namespace: NS, name: 'web' });
    await eventually(async () => (await replicaSets(store)).length === 0 && (await pods(store, { all: true })).length === 0, 'everything collected');
  });

  it('deletes an object whose owner uid does not exist, and keeps one whose owner does', async () => {
    const owner = await store.create<ConfigMap>({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'owner', namespace: NS } });
    const ref = (uid: string) => [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid }];
    await store.create<ConfigMap>({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'kept', namespace: NS, ownerReferences: ref(owner.metadata.uid!) } });
    await store.create<ConfigMap>({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'orphan', namespace: NS, ownerReferences: ref('no-such-uid') } });
    await eventually(async () => !(await store.get({ kind: 'ConfigMap', namespace: NS, name: 'orphan' })), 'the orphan is collected');
    await new Promise((r) => setTimeout(r, 30));
    assert.ok(await store.get({ kind: 'ConfigMap', namespace: NS, name: 'kept' }));
  });
});

describe('controllers: rollout arithmetic', () => {
  const cases: [number, number | string | undefined, number | string | undefined, number, number][] = [
    [10, undefined, undefined, 3, 2], // 25% each: surge rounds up, unavailable down
    [4, 1, 0, 1, 0],
    [1, '25%', '25%', 1, 0],
    [3, 0, 0, 0, 1], // both zero: maxUnavailable forced to 1
    [3, '10%', '0%', 1, 0],
  ];
  for (const [replicas, surge, unav, wantSurge, wantUnav] of cases) {
    it(`replicas ${replicas} with maxSurge ${surge ?? 'default'} / maxUnavailable ${unav ?? 'default'} resolves to ${wantSurge} / ${wantUnav}`, () => {
      const d = deployment('x', { replicas, strategy: { type: 'RollingUpdate', rollingUpdate: { ...(surge !== undefined ? { maxSurge: surge } : {}), ...(unav !== undefined ? { maxUnavailable: unav } : {}) } } });
      assert.deepEqual(fenceposts(d), { maxSurge: wantSurge, maxUnavailable: wantUnav });
    });
  }

  it('pod-template-hash is stable, changes with the template, and uses Kubernetes\' safe alphabet', () => {
    const a = deployment('x').spec.template;
    const b = deployment('x', { image: 'other' }).spec.template;
    assert.equal(podTemplateHash(a), podTemplateHash(structuredClone(a)));
    assert.notEqual(podTemplateHash(a), podTemplateHash(b));
    assert.notEqual(podTemplateHash(a), podTemplateHash(a, 1), 'a collision count changes the hash');
    assert.match(podTemplateHash(a), /^[bcdfghjklmnpqrstvwxz2456789]+$/);
    // Kubernetes maps each byte of the decimal string to alphabet[byte % 27]: '0' is 48 → '4'.
    assert.equal(safeEncode('0123456789'), '456789bcdf');
  });
});

/** A store whose watch withholds Pod events while `holdPods` is set: a cache that lags. */
class LaggingStore implements Store {
  holdPods = false;
  private held: WatchEvent[] = [];
  constructor(private readonly inner: MemoryStore) {}
  release(): void {
    this.holdPods = false;
  }
  get: Store['get'] = (r) => this.inner.get(r);
  list: Store['list'] = (k, o) => this.inner.list(k, o);
  create: Store['create'] = (o, w) => this.inner.create(o, w);
  update: Store['update'] = (o, w) => this.inner.update(o, w);
  delete: Store['delete'] = (r, o) => this.inner.delete(r, o);
  txn: Store['txn'] = (ops, o) => this.inner.txn(ops, o);
  revision: Store['revision'] = () => this.inner.revision();
  close: Store['close'] = () => this.inner.close();
  watch(opts?: Parameters<Store['watch']>[0]): AsyncIterable<WatchEvent> {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const self = this;
    const inner = this.inner.watch(opts);
    return {
      async *[Symbol.asyncIterator]() {
        for await (const ev of inner) {
          if (self.holdPods && ev.object.kind === 'Pod') {
            self.held.push(ev);
            continue;
          }
          if (!self.holdPods && self.held.length > 0) yield* self.held.splice(0);
          yield ev;
        }
      },
    };
  }
}
