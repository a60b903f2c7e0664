/**
 * End to end: `gantry up` (store, sync + webhook, controllers, scheduler, audit, the local node
 * agent with a private containerd) on a repo served over smart HTTP by `git http-backend`; commits
 * are pushed over HTTP and announced with a GitHub-signed webhook, and the outcome is checked
 * through the CLI (`gantry get`, `gantry history`, `gantry status`), the store and containerd.
 *
 * One gantry serves every test of this file, in order (each builds on the state the previous one
 * left), so that containerd, the network and the images are set up once. The CronJob of the
 * initial commit fires while the earlier tests run.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import type { HistoryEntry } from '../../src/audit/types.js';
import type { CronJob, Job, Pod } from '../../src/model/types.js';
import type { WatchEvent } from '../../src/store/types.js';
import { runCli } from '../helpers/cli.js';
import {
  createWorld,
  describePods,
  E2E_IMAGE_V2,
  e2ePrerequisites,
  httpGet,
  isReady,
  podCondition,
  podsWith,
  readIpForward,
  sendPushWebhook,
  startInProcess,
  takeDown,
  viewContainerd,
  waitAttempted,
  waitFor,
  type ContainerdView,
  type InProcessGantry,
  type World,
} from '../helpers/e2e.js';
import { job, sleeperDeployment, TICK_CRONJOB, WEB_CONFIGMAP, WEB_SERVICE, webDeployment } from '../helpers/e2e-manifests.js';

describe('gantry up end to end (real containerd, Git over smart HTTP, CNI)', function () {
  this.timeout(120_000);
  const why = e2ePrerequisites();
  let world: World | undefined;
  let g: InProcessGantry;
  let ctd: ContainerdView | undefined;
  let ipForward: string | undefined;
  let cronStart = 0;

  const cli = (args: string[]) => runCli([...args, '--data-dir', g.dataDir], { timeoutMs: 60_000 });
  const webPods = () => podsWith(g.store, { app: 'web' });
  const showWeb = async () => describePods(await webPods());

  /** Pushes `files`, announces the push with a signed webhook, and waits until the sync attempted it. */
  async function pushAndSync(files: Record<string, string | null>, message: string): Promise<string> {
    const commit = await world!.push(files, message);
    assert.equal(await sendPushWebhook(g, commit), 202);
    await waitAttempted(g.store, commit);
    return commit;
  }

  /** Waits for `n` Ready web pods, none terminating, all satisfying `pred`. */
  function waitWebReady(n: number, pred: (p: Pod) => boolean = () => true, timeoutMs = 60_000): Promise<Pod[]> {
    return waitFor(`${n} Ready web pods`, async () => {
      const pods = await webPods();
      return pods.length === n && pods.every((p) => isReady(p) && pred(p)) ? pods : undefined;
    }, { timeoutMs, describe: showWeb });
  }

  before(async function () {
    if (why) return this.skip();
    this.timeout(180_000);
    ipForward = await readIpForward();
    world = await createWorld({
      'web/deployment.yaml': webDeployment(),
      'web/configmap.yaml': WEB_CONFIGMAP,
      'web/service.yaml': WEB_SERVICE,
      'extra/deployment.yaml': sleeperDeployment('extra'),
      'jobs/hello.yaml': job('hello', 'echo hello from e2e'),
      'jobs/fail.yaml': job('fail', 'exit 1', { backoffLimit: 1 }),
      'jobs/tick.yaml': TICK_CRONJOB,
    });
    cronStart = Date.now();
    g = await startInProcess(world);
    ctd = await viewContainerd(g.containerdAddress);
  });

  after(async function () {
    this.timeout(120_000);
    ctd?.close();
    await g?.stop().catch(() => undefined);
    if (world) {
      await takeDown(world, g?.dataDir ?? path.join(world.root, 'data'), ipForward);
      await world.cleanup();
    }
  });

  it('runs a new Deployment\'s pods on the node the scheduler chose, and the audit history shows each step', async () => {
    await waitWebReady(2);
    const got = await cli(['get', 'pods', '-l', 'app=web', '-o', 'json']);
    assert.equal(got.code, 0, got.stderr);
    const pods = (JSON.parse(got.stdout) as { items: Pod[] }).items;
    assert.equal(pods.length, 2);
    const byPod = await ctd!.byPod();
    for (const pod of pods) {
      assert.equal(pod.spec.nodeName, world!.node.nodeName, `${pod.metadata.name} is bound to the test node`);
      assert.equal(podCondition(pod, 'PodScheduled')?.status, 'True');
      assert.equal(pod.status?.phase, 'Running');
      const containers = byPod.get(pod.metadata.uid!) ?? [];
      assert.equal(containers.filter((c) => c.running).length, 1, `one running container for ${pod.metadata.name}: ${JSON.stringify(containers)}`);
    }

    const rsName = pods[0]!.metadata.ownerReferences?.find((o) => o.kind === 'ReplicaSet')?.name;
    assert.ok(rsName, 'pods are owned by a ReplicaSet');
    const node = `node/${world!.node.nodeName}`;
    // The audit trail is written in the background: poll until every step is in.
    const entries = await waitFor('the audit history of every step', async () => {
      await g.gantry.recorder!.flush();
      const h = await cli(['history', '-o', 'json', '--limit', '2000']);
      assert.equal(h.code, 0, h.stderr);
      const list = JSON.parse(h.stdout) as HistoryEntry[];
      const actors = (key: string) => new Set(list.filter((e) => e.object === key).map((e) => e.actor));
      const ok =
        actors('Deployment/default/web').has('sync') &&
        actors(`ReplicaSet/default/${rsName}`).has('controller/deployment') &&
        pods.every((p) => {
          const a = actors(`Pod/default/${p.metadata.name}`);
          return a.has('controller/replicaset') && a.has('scheduler') && a.has(node);
        });
      return ok ? list : undefined;
    }, { timeoutMs: 30_000, intervalMs: 1000 });
    for (const pod of pods) {
      const mine = entries.filter((e) => e.object === `Pod/default/${pod.metadata.name}` && e.actor === node);
      assert.ok(mine.some((e) => /Running/.test(`${e.summary}\n${e.body ?? ''}`)), `node reported ${pod.metadata.name} Running: ${JSON.stringify(mine)}`);
    }
  });

  it('scales 2 → 4, then rolls out an image and env change replacing old pods only as new ones become Ready', async function () {
    this.timeout(180_000);
    const before = new Set((await webPods()).map((p) => p.metadata.uid));
    await pushAndSync({ 'web/deployment.yaml': webDeployment({ replicas: 4 }) }, 'web: 4 replicas');
    await waitWebReady(4);
    // The watch below resumes exactly where this list was read.
    const listed = await g.store.list<Pod>('Pod', { namespace: 'default', labelSelector: 'app=web' });
    const scaled = listed.items;
    assert.ok(scaled.length === 4 && scaled.every(isReady), describePods(scaled));
    for (const uid of before) assert.ok(scaled.some((p) => p.metadata.uid === uid), 'scaling up keeps the existing pods');
    const oldRs = scaled[0]!.metadata.ownerReferences![0]!.name;

    // Watch every pod change of the rollout, from the revision before the push.
    const pods = new Map<string, Pod>(scaled.map((p) => [p.metadata.uid!, p]));
    const violations: string[] = [];
    let maxPods = pods.size;
    let oldRemoved = 0;
    const ac = new AbortController();
    const fromRevision = listed.revision;
    const owner = (p: Pod) => p.metadata.ownerReferences?.find((o) => o.kind === 'ReplicaSet')?.name;
    const watching = (async () => {
      for await (const ev of g.store.watch({ fromRevision, kinds: ['Pod'], signal: ac.signal }) as AsyncIterable<WatchEvent>) {
        const pod = ev.object as Pod;
        if (pod.metadata.labels?.app !== 'web') continue;
        const prev = pods.get(pod.metadata.uid!);
        if (ev.type === 'DELETED') pods.delete(pod.metadata.uid!);
        else pods.set(pod.metadata.uid!, pod);
        const live = [...pods.values()].filter((p) => !p.metadata.deletionTimestamp);
        maxPods = Math.max(maxPods, live.length);
        const ready = live.filter(isReady).length;
        // maxUnavailable 0: never fewer than 4 ready, not counting pods being deleted.
        if (ready < 4) violations.push(`rev ${ev.revision}: ${ready} ready after ${ev.type} ${pod.metadata.name}\n${describePods([...pods.values()])}`);
        // An old pod leaves (deletion starts, or it is deleted outright) only once as many new pods are Ready.
        const removed = prev && !prev.metadata.deletionTimestamp && (ev.type === 'DELETED' || Boolean(pod.metadata.deletionTimestamp));
        if (removed && owner(pod) === oldRs) {
          oldRemoved++;
          const newReady = live.filter((p) => owner(p) !== oldRs && isReady(p)).length;
          if (newReady < oldRemoved) violations.push(`rev ${ev.revision}: old pod ${pod.metadata.name} removed (${oldRemoved} so far) with ${newReady} new pods Ready`);
        }
      }
    })().catch((err: unknown) => {
      if (!ac.signal.aborted) violations.push(`watch failed: ${String(err)}`);
    });

    const commit = await pushAndSync({ 'web/deployment.yaml': webDeployment({ replicas: 4, image: E2E_IMAGE_V2, version: 'v2' }) }, 'web: image v2');
    const rolled = await waitWebReady(4, (p) => owner(p) !== oldRs && p.spec.containers[0]!.image === E2E_IMAGE_V2, 120_000);
    ac.abort();
    await watching;
    assert.deepEqual(violations, [], 'ready pods never dropped below replicas - maxUnavailable');
    assert.equal(oldRemoved, 4, 'the watch saw each of the 4 old pods go');
    assert.ok(maxPods <= 5, `at most replicas + maxSurge pods at once (saw ${maxPods})`);
    for (const p of rolled) {
      assert.deepEqual(p.spec.containers[0]!.env, [{ name: 'VERSION', value: 'v2' }]);
      assert.ok(!before.has(p.metadata.uid), 'every pod was replaced');
    }
    const status = await cli(['status']);
    assert.match(status.stdout, new RegExp(`In force: +${commit.slice(0, 7)}`));
    // The old pods' containers are gone from containerd; each new pod runs exactly one.
    const byPod = await waitFor('old containers removed', async () => {
      const m = await ctd!.byPod();
      return [...before].every((uid) => !m.get(uid!)?.some((c) => c.running)) ? m : undefined;
    }, { timeoutMs: 30_000 });
    for (const p of rolled) assert.equal(byPod.get(p.metadata.uid!)?.filter((c) => c.running).length, 1);
  });

  it('prunes a deleted manifest, and rejects a bad commit while the old pods keep serving', async function () {
    this.timeout(120_000);
    const extra = await waitFor('the extra pod Running', async () => {
      const p = await podsWith(g.store, { app: 'extra' });
      return p.length === 1 && p[0]!.status?.phase === 'Running' ? p : undefined;
    });
    const extraUid = extra[0]!.metadata.uid!;
    assert.ok((await ctd!.byPod()).get(extraUid)?.some((c) => c.running), 'the extra pod has a running container');

    await pushAndSync({ 'extra/deployment.yaml': null }, 'remove extra');
    await waitFor('extra pruned', async () => !(await g.store.get({ kind: 'Deployment', namespace: 'default', name: 'extra' })) && (await podsWith(g.store, { app: 'extra' })).length === 0, { timeoutMs: 60_000 });
    await waitFor('the extra pod\'s containers removed', async () => !(await ctd!.byPod()).has(extraUid), { timeoutMs: 30_000 });

    const serving = await webPods();
    const urls = serving.map((p) => `http://${p.status!.podIP}:8080/`);
    for (const url of urls) assert.equal((await httpGet(url)).status, 200, `${url} serves before the bad commit`);

    const bad = webDeployment({ replicas: 4, image: E2E_IMAGE_V2, version: 'v2' }).replace('  replicas: 4\n', '  replicas: 4\n  replicaz: 5\n');
    const commit = await pushAndSync({ 'web/deployment.yaml': bad }, 'web: typo');
    const status = await cli(['status']);
    assert.equal(status.code, 2, 'status exits 2 (a person must act) while the head revision is rejected');
    assert.match(status.stdout, /Sync: +Rejected/);
    assert.match(status.stdout, new RegExp(`Problems in ${commit.slice(0, 7)}`));
    assert.match(status.stdout, /web\/deployment\.yaml/);
    assert.match(status.stdout, /replicaz/);

    for (const url of urls) assert.equal((await httpGet(url)).status, 200, `${url} still serves after the bad commit`);
    const after = await webPods();
    assert.deepEqual(after.map((p) => p.metadata.uid).sort(), serving.map((p) => p.metadata.uid).sort(), 'the rejected commit changed no pod');
  });

  it('restarts a container killed behind gantry\'s back, and replaces a pod deleted behind its back', async function () {
    this.timeout(120_000);
    const [victim, deleted] = await waitWebReady(4);
    const containers = (await ctd!.byPod()).get(victim!.metadata.uid!) ?? [];
    const running = containers.filter((c) => c.running);
    assert.equal(running.length, 1);
    await ctd!.client.killTask(running[0]!.id, 9);
    await waitFor(`${victim!.metadata.name} restarted`, async () => {
      const p = await g.store.get<Pod>({ kind: 'Pod', namespace: 'default', name: victim!.metadata.name });
      return p && p.status?.containerStatuses?.[0]?.restartCount === 1 && isReady(p) ? p : undefined;
    }, { timeoutMs: 60_000, describe: showWeb });
    const got = await cli(['get', 'pods', victim!.metadata.name, '-o', 'json']);
    const pod = JSON.parse(got.stdout) as Pod;
    assert.equal(pod.status?.containerStatuses?.[0]?.restartCount, 1);
    assert.equal(pod.metadata.uid, victim!.metadata.uid, 'the same pod, restarted in place');
    const after = ((await ctd!.byPod()).get(victim!.metadata.uid!) ?? []).filter((c) => c.running);
    assert.equal(after.length, 1, 'one running container after the restart');
    assert.notEqual(after[0]!.id, running[0]!.id);

    await g.store.delete({ kind: 'Pod', namespace: 'default', name: deleted!.metadata.name }, { origin: { actor: 'e2e-test' } });
    const healed = await waitWebReady(4, (p) => p.metadata.uid !== deleted!.metadata.uid);
    assert.ok(healed.every((p) => p.metadata.name !== deleted!.metadata.name), 'a new pod replaced the deleted one');
    await waitFor('the deleted pod\'s containers removed', async () => !(await ctd!.byPod()).get(deleted!.metadata.uid!)?.some((c) => c.running), { timeoutMs: 30_000 });
  });

  it('runs a Job to completion, stops a failing one at backoffLimit, and fires a CronJob on schedule', async function () {
    this.timeout(150_000);
    const job = (name: string) => g.store.get<Job>({ kind: 'Job', namespace: 'default', name });
    const cond = (j: Job | undefined, type: string) => j?.status?.conditions?.find((c) => c.type === type && c.status === 'True');
    const hello = await waitFor('Job hello Complete', async () => cond(await job('hello'), 'Complete') && job('hello'), { timeoutMs: 60_000 });
    assert.equal(hello!.status?.succeeded, 1);
    const got = await cli(['get', 'jobs', 'hello', '-o', 'json']);
    assert.equal((JSON.parse(got.stdout) as Job).status?.succeeded, 1);

    const failed = await waitFor('Job fail Failed', async () => {
      const j = await job('fail');
      return cond(j, 'Failed') ? j : undefined;
    }, { timeoutMs: 90_000 });
    assert.equal(cond(failed, 'Failed')?.reason, 'BackoffLimitExceeded');
    assert.equal(failed.status?.failed, 2, 'backoffLimit 1: two failed pods, then no more');
    assert.ok(!cond(failed, 'Complete'));
    const failPods = (await g.store.list<Pod>('Pod', { namespace: 'default' })).items.filter((p) => p.metadata.labels?.['job-name'] === 'fail' || p.metadata.ownerReferences?.some((o) => o.name === 'fail'));
    assert.ok(failPods.every((p) => p.status?.phase === 'Failed'), describePods(failPods));

    // "* * * * *" fires at the next minute boundary: within 60 s of the CronJob's creation.
    const left = Math.max(10_000, cronStart + 90_000 - Date.now());
    const fired = await waitFor('a Job of CronJob tick completed', async () => {
      const jobs = (await g.store.list<Job>('Job', { namespace: 'default' })).items.filter((j) => j.metadata.ownerReferences?.some((o) => o.kind === 'CronJob' && o.name === 'tick'));
      return jobs.find((j) => cond(j, 'Complete'));
    }, { timeoutMs: left, intervalMs: 500 });
    assert.ok(fired.metadata.name.startsWith('tick-'));
    const cj = await g.store.get<CronJob>({ kind: 'CronJob', namespace: 'default', name: 'tick' });
    assert.ok(cj?.status?.lastScheduleTime, 'the CronJob records when it last fired');
    assert.equal(new Date(cj.status.lastScheduleTime).getUTCSeconds(), 0, 'it fired for a minute boundary, as "* * * * *" says');
  });
});
