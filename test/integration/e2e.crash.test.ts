/**
 * End to end: gantry killed with SIGKILL in the middle of a rollout, then started again on the
 * same data dir, converges to the desired state with exactly one running container per pod.
 * gantry runs as a child process (test/helpers/e2e-child.ts: `gantry up`'s components with the
 * test's own network); its private containerd is detached, so pods survive the kill as they
 * would a crash.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import type { Pod, ReplicaSet } from '../../src/model/types.js';
import type { Store } from '../../src/store/types.js';
import {
  createWorld,
  describePods,
  e2ePrerequisites,
  isReady,
  openReadonlyStore,
  podsWith,
  readIpForward,
  sendPushWebhook,
  startChild,
  takeDown,
  viewContainerd,
  waitFor,
  type ChildGantry,
  type ContainerdView,
  type World,
} from '../helpers/e2e.js';
import { WEB_CONFIGMAP, webDeployment } from '../helpers/e2e-manifests.js';
import { CONTAINERD_NAMESPACE } from '../../src/node/host.js';

describe('gantry killed with SIGKILL mid-rollout', function () {
  this.timeout(180_000);
  const why = e2ePrerequisites();
  let world: World | undefined;
  let dataDir = '';
  let child: ChildGantry | undefined;
  let store: Store | undefined;
  let ctd: ContainerdView | undefined;
  let ipForward: string | undefined;

  const owner = (p: Pod) => p.metadata.ownerReferences?.find((o) => o.kind === 'ReplicaSet')?.name;
  const isV2 = (p: Pod) => p.spec.containers[0]?.env?.some((e) => e.name === 'VERSION' && e.value === 'v2') ?? false;

  before(async function () {
    if (why) return this.skip();
    ipForward = await readIpForward();
    world = await createWorld({ 'web/deployment.yaml': webDeployment({ replicas: 2 }), 'web/configmap.yaml': WEB_CONFIGMAP });
    dataDir = path.join(world.root, 'data');
    child = await startChild(world, dataDir);
    store = openReadonlyStore(dataDir);
    ctd = await viewContainerd(child.containerdAddress);
  });

  after(async function () {
    this.timeout(120_000);
    await child?.kill('SIGTERM');
    ctd?.close();
    await store?.close();
    if (world) {
      await takeDown(world, dataDir, ipForward);
      await world.cleanup();
    }
  });

  it('starts again and converges with one running container per pod and no duplicates', async () => {
    const s = store!;
    const show = async () => describePods(await podsWith(s, { app: 'web' }));
    const first = await waitFor('2 Ready web pods', async () => {
      const pods = await podsWith(s, { app: 'web' });
      return pods.length === 2 && pods.every(isReady) ? pods : undefined;
    }, { timeoutMs: 90_000, describe: show });
    const oldRs = owner(first[0]!);

    // Slow readiness makes the rollout take several seconds per pod, so the kill lands inside it.
    const commit = await world!.push({ 'web/deployment.yaml': webDeployment({ replicas: 4, version: 'v2', readinessDelay: 4 }) }, 'web: 4 replicas, v2');
    assert.equal(await sendPushWebhook(child!, commit), 202);
    const mid = await waitFor('a new pod running but not Ready yet, old pods still there', async () => {
      const pods = await podsWith(s, { app: 'web' });
      const fresh = pods.filter((p) => owner(p) !== oldRs);
      return fresh.some((p) => p.status?.phase === 'Running' && !isReady(p)) && pods.some((p) => owner(p) === oldRs) ? pods : undefined;
    }, { timeoutMs: 60_000, intervalMs: 100, describe: show });
    assert.equal(await child!.kill('SIGKILL'), 'SIGKILL');
    assert.ok(mid.some((p) => owner(p) === oldRs), 'killed before the rollout finished');

    child = await startChild(world!, dataDir);
    const done = await waitFor('4 Ready v2 web pods and no old ones', async () => {
      const pods = await podsWith(s, { app: 'web' });
      return pods.length === 4 && pods.every((p) => isReady(p) && isV2(p) && owner(p) !== oldRs) ? pods : undefined;
    }, { timeoutMs: 120_000, describe: show });
    const rss = (await s.list<ReplicaSet>('ReplicaSet', { namespace: 'default' })).items;
    assert.equal(rss.find((r) => r.metadata.name === oldRs)?.spec.replicas, 0, 'the old ReplicaSet is scaled to 0');
    assert.equal(rss.filter((r) => (r.spec.replicas ?? 0) > 0).length, 1, 'exactly one ReplicaSet has replicas');

    // containerd: exactly one running container per live pod, none for pods that are gone.
    const live = new Set(done.map((p) => p.metadata.uid!));
    const byPod = await waitFor('containerd to hold only the live pods', async () => {
      const m = await ctd!.byPod();
      const strays = [...m].filter(([uid, cs]) => !live.has(uid) && cs.some((c) => c.running));
      return strays.length === 0 ? m : undefined;
    }, { timeoutMs: 30_000, describe: async () => JSON.stringify([...(await ctd!.byPod())]) });
    for (const uid of live) {
      const running = (byPod.get(uid) ?? []).filter((c) => c.running);
      assert.equal(running.length, 1, `pod ${uid}: ${JSON.stringify(byPod.get(uid))}`);
    }
    const allRunning = [...byPod.values()].flat().filter((c) => c.running);
    assert.equal(allRunning.length, 4, `running containers in namespace ${CONTAINERD_NAMESPACE}: ${JSON.stringify([...byPod])}`);
  });
});
