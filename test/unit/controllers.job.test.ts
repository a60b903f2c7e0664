import assert from 'node:assert/strict';
import { GarbageCollector } from '../../src/controllers/gc.js';
import { failureBackoffRemaining, formatIndexes, JobController } from '../../src/controllers/job.js';
import type { ControllerManager } from '../../src/controllers/runtime.js';
import type { Job, Pod } from '../../src/model/types.js';
import type { Store } from '../../src/store/types.js';
import { MemoryStore } from '../fakes/memory-store.js';
import { controllerManager, edit, eventually, NS, TestClock, untilIdle } from '../helpers/controllers.js';

function job(name: string, spec: Partial<Job['spec']> = {}, restartPolicy: 'Never' | 'OnFailure' = 'Never'): Job {
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name, namespace: NS },
    spec: {
      template: { metadata: { labels: { app: name } }, spec: { restartPolicy, containers: [{ name: 'main', image: 'busybox:1' }] } },
      ...spec,
    },
  };
}

async function getJob(store: Store, name: string): Promise<Job | undefined> {
  return store.get<Job>({ kind: 'Job', namespace: NS, name });
}

async function allPods(store: Store): Promise<Pod[]> {
  return (await store.list<Pod>('Pod', { namespace: NS })).items;
}

const isActive = (p: Pod): boolean => !p.metadata.deletionTimestamp && p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed';

async function activePods(store: Store): Promise<Pod[]> {
  return (await allPods(store)).filter(isActive);
}

/** Stands in for the node agent: finishes a pod with this phase at the clock's time. */
async function finish(store: Store, pod: Pod, phase: 'Succeeded' | 'Failed', clock: TestClock): Promise<void> {
  const cur = (await store.get<Pod>({ kind: 'Pod', namespace: NS, name: pod.metadata.name }))!;
  const at = new Date(clock.now()).toISOString();
  cur.status = {
    phase,
    containerStatuses: [{
      name: 'main', ready: false, restartCount: 0, image: 'busybox:1', imageID: '',
      state: { terminated: { exitCode: phase === 'Succeeded' ? 0 : 1, finishedAt: at } }, lastState: {},
    }],
  };
  await store.update(cur, { origin: { actor: 'node/n1' } });
}

/** Fails a pod as the node agent reports it: its container exited with `exitCode`, maybe with pod conditions. */
async function failWith(store: Store, pod: Pod, exitCode: number, clock: TestClock, conditions: { type: string; status: 'True' }[] = []): Promise<void> {
  const cur = (await store.get<Pod>({ kind: 'Pod', namespace: NS, name: pod.metadata.name }))!;
  const at = new Date(clock.now()).toISOString();
  cur.status = {
    phase: 'Failed',
    conditions,
    containerStatuses: [{ name: 'main', ready: false, restartCount: 0, image: 'busybox:1', imageID: '', state: { terminated: { exitCode, finishedAt: at } }, lastState: {} }],
  };
  await store.update(cur, { origin: { actor: 'node/n1' } });
}

const indexOf = (p: Pod): string | undefined => p.metadata.annotations?.['batch.kubernetes.io/job-completion-index'];

function condition(j: Job | undefined, type: string): { status?: string; reason?: string; message?: string } | undefined {
  return j?.status?.conditions?.find((c) => c.type === type);
}

describe('controllers: Job', function () {
  this.timeout(15000);
  let store: MemoryStore;
  let manager: ControllerManager;
  let clock: TestClock;

  async function start(opts: { gc?: boolean } = {}): Promise<void> {
    manager = controllerManager(store, { clock, controllers: [new JobController(), ...(opts.gc ? [new GarbageCollector()] : [])] });
    await manager.start();
  }

  /** Waits until every queued reconcile ran (nothing more will happen without new input). */
  async function settle(): Promise<void> {
    await untilIdle(manager);
  }

  beforeEach(() => {
    store = new MemoryStore();
    clock = new TestClock();
  });
  afterEach(async () => {
    await manager?.stop();
    await store.close();
  });

  it('a Job with completions 3 and parallelism 2 runs at most 2 pods and completes after 3 successes', async () => {
    let maxActive = 0;
    const ac = new AbortController();
    void (async () => {
      const live = new Map<string, Pod>();
      try {
        for await (const ev of store.watch({ kinds: ['Pod'], fromRevision: 0, signal: ac.signal })) {
          const p = ev.object as Pod;
          if (ev.type === 'DELETED' || !isActive(p)) live.delete(p.metadata.name);
          else live.set(p.metadata.name, p);
          maxActive = Math.max(maxActive, live.size);
        }
      } catch {
        // closed
      }
    })();
    await start();
    const created = await store.create(job('calc', { completions: 3, parallelism: 2 }));
    let succeeded = 0;
    while (succeeded < 3) {
      await eventually(async () => (await activePods(store)).length === Math.min(2, 3 - succeeded), `${Math.min(2, 3 - succeeded)} active pods`);
      await settle();
      await finish(store, (await activePods(store))[0]!, 'Succeeded', clock);
      succeeded++;
    }
    await eventually(async () => condition(await getJob(store, 'calc'), 'Complete')?.status === 'True', 'the Job is Complete');
    ac.abort();
    const j = (await getJob(store, 'calc'))!;
    assert.equal(maxActive, 2);
    assert.deepEqual([j.status?.succeeded, j.status?.failed, j.status?.active], [3, 0, 0]);
    assert.equal(condition(j, 'Complete')?.reason, 'CompletionsReached');
    assert.equal(condition(j, 'SuccessCriteriaMet')?.status, 'True');
    assert.ok(j.status?.startTime && j.status.completionTime);
    assert.equal((await allPods(store)).length, 3);
    const uid = created.metadata.uid!;
    assert.deepEqual(j.spec.selector, { matchLabels: { 'batch.kubernetes.io/controller-uid': uid } });
    for (const p of await allPods(store)) {
      assert.match(p.metadata.name, /^calc-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
      assert.equal(p.metadata.labels?.['batch.kubernetes.io/controller-uid'], uid);
      assert.equal(p.metadata.labels?.['controller-uid'], uid);
      assert.equal(p.metadata.labels?.['batch.kubernetes.io/job-name'], 'calc');
      assert.equal(p.metadata.labels?.['job-name'], 'calc');
      assert.equal(p.metadata.labels?.app, 'calc');
      assert.deepEqual(p.metadata.ownerReferences?.map((r) => [r.kind, r.name, r.uid, r.controller]), [['Job', 'calc', uid, true]]);
    }
  });

  it('a failing Job waits 10 s, then 20 s between pods and stops at backoffLimit with reason BackoffLimitExceeded', async () => {
    await start();
    await store.create(job('flaky', { backoffLimit: 2 }));
    for (let failure = 1; failure <= 3; failure++) {
      await eventually(async () => (await activePods(store)).length === 1, `pod ${failure} runs`);
      await finish(store, (await activePods(store))[0]!, 'Failed', clock);
      await settle();
      if (failure === 3) break;
      const delay = 10_000 * 2 ** (failure - 1);
      clock.advance(delay - 1000);
      await settle();
      assert.equal((await activePods(store)).length, 0, `no replacement before the ${delay / 1000} s backoff`);
      clock.advance(1001);
    }
    await eventually(async () => condition(await getJob(store, 'flaky'), 'Failed')?.status === 'True', 'the Job failed');
    const j = (await getJob(store, 'flaky'))!;
    assert.equal(condition(j, 'Failed')?.reason, 'BackoffLimitExceeded');
    assert.deepEqual([j.status?.failed, j.status?.active, j.status?.succeeded], [3, 0, 0]);
    assert.equal((await allPods(store)).length, 3, 'a new pod per failure with restartPolicy Never');
  });

  it('with restartPolicy OnFailure, container restarts count toward backoffLimit and the running pod is removed', async () => {
    await start();
    await store.create(job('restarts', { backoffLimit: 2 }, 'OnFailure'));
    await eventually(async () => (await activePods(store)).length === 1, 'a pod runs');
    const [p] = await activePods(store);
    const cur = (await store.get<Pod>({ kind: 'Pod', namespace: NS, name: p!.metadata.name }))!;
    cur.status = {
      phase: 'Running',
      containerStatuses: [{ name: 'main', ready: true, restartCount: 1, image: 'busybox:1', imageID: '', state: { running: {} }, lastState: {} }],
    };
    const once = await store.update(cur);
    await settle();
    assert.equal(condition(await getJob(store, 'restarts'), 'Failed'), undefined, 'one restart is within the limit');
    once.status!.containerStatuses![0]!.restartCount = 2;
    await store.update(once);
    await eventually(async () => condition(await getJob(store, 'restarts'), 'Failed')?.reason === 'BackoffLimitExceeded', 'the Job failed');
    await eventually(async () => (await activePods(store)).length === 0, 'the pod is gone');
  });

  it('activeDeadlineSeconds fails the Job with DeadlineExceeded and kills its pods', async () => {
    await start();
    await store.create(job('slow', { activeDeadlineSeconds: 30, parallelism: 2, completions: 2 }));
    await eventually(async () => (await activePods(store)).length === 2, '2 pods run');
    clock.advance(20_000);
    await settle();
    assert.equal(condition(await getJob(store, 'slow'), 'Failed'), undefined);
    clock.advance(11_000);
    await eventually(async () => condition(await getJob(store, 'slow'), 'Failed')?.reason === 'DeadlineExceeded', 'deadline exceeded');
    await eventually(async () => (await activePods(store)).length === 0, 'pods are gone');
  });

  it('ttlSecondsAfterFinished deletes the finished Job and GC removes its pods', async () => {
    await start({ gc: true });
    await store.create(job('once', { ttlSecondsAfterFinished: 60 }));
    await eventually(async () => (await activePods(store)).length === 1, 'a pod runs');
    await finish(store, (await activePods(store))[0]!, 'Succeeded', clock);
    await eventually(async () => condition(await getJob(store, 'once'), 'Complete')?.status === 'True', 'complete');
    clock.advance(30_000);
    await settle();
    assert.ok(await getJob(store, 'once'), 'kept before the TTL');
    clock.advance(31_000);
    await eventually(async () => (await getJob(store, 'once')) === undefined, 'the Job is deleted');
    await eventually(async () => (await allPods(store)).length === 0, 'its pods are collected');
  });

  it('a suspended Job runs no pods until resumed', async () => {
    await start();
    const j = await store.create(job('later', { suspend: true }));
    await eventually(async () => condition(await getJob(store, 'later'), 'Suspended')?.status === 'True', 'Suspended condition');
    assert.equal(condition(await getJob(store, 'later'), 'Suspended')?.reason, 'JobSuspended');
    assert.equal((await allPods(store)).length, 0);
    await edit(store, j, (o) => (o.spec.suspend = false));
    await eventually(async () => (await activePods(store)).length === 1, 'a pod runs after resume');
    await eventually(async () => condition(await getJob(store, 'later'), 'Suspended')?.reason === 'JobResumed', 'resumed');
  });

  it('an Indexed Job runs one pod per index with JOB_COMPLETION_INDEX and replaces only the failed index', async () => {
    await start();
    await store.create(job('idx', { completions: 3, parallelism: 3, completionMode: 'Indexed' }));
    await eventually(async () => (await activePods(store)).length === 3, '3 pods run');
    const byIndex = new Map<string, Pod>();
    for (const p of await activePods(store)) {
      const i = p.metadata.annotations?.['batch.kubernetes.io/job-completion-index'];
      assert.ok(i !== undefined);
      assert.match(p.metadata.name, new RegExp(`^idx-${i}-[a-z0-9]{5}$`));
      assert.deepEqual(p.spec.containers[0]!.env, [{ name: 'JOB_COMPLETION_INDEX', value: i }]);
      assert.equal(p.spec.hostname, `idx-${i}`);
      byIndex.set(i, p);
    }
    assert.deepEqual([...byIndex.keys()].sort(), ['0', '1', '2']);
    await finish(store, byIndex.get('0')!, 'Succeeded', clock);
    await finish(store, byIndex.get('1')!, 'Succeeded', clock);
    await finish(store, byIndex.get('2')!, 'Failed', clock);
    await settle();
    clock.advance(10_001);
    await eventually(async () => (await activePods(store)).length === 1, 'index 2 is retried');
    const [retry] = await activePods(store);
    assert.equal(retry!.metadata.annotations?.['batch.kubernetes.io/job-completion-index'], '2');
    await finish(store, retry!, 'Succeeded', clock);
    await eventually(async () => condition(await getJob(store, 'idx'), 'Complete')?.status === 'True', 'complete');
    const j = (await getJob(store, 'idx'))! as Job & { status: { completedIndexes?: string } };
    assert.deepEqual([j.status.succeeded, j.status.failed, j.status.completedIndexes], [3, 1, '0-2']);
  });

  it('a work-queue Job (no completions) starts no new pods after a success and completes when all finish', async () => {
    await start();
    await store.create(job('queue', { parallelism: 2 }));
    await eventually(async () => (await activePods(store)).length === 2, '2 workers run');
    const [a, b] = await activePods(store);
    await finish(store, a!, 'Succeeded', clock);
    await settle();
    assert.equal((await activePods(store)).length, 1, 'no replacement for a finished worker');
    assert.equal(condition(await getJob(store, 'queue'), 'Complete'), undefined);
    await finish(store, b!, 'Succeeded', clock);
    await eventually(async () => condition(await getJob(store, 'queue'), 'Complete')?.status === 'True', 'complete');
  });

  const backoffCases: { name: string; history: ('S' | 'F')[]; elapsed: number; want: number }[] = [
    { name: 'no failures', history: ['S'], elapsed: 0, want: 0 },
    { name: 'one failure', history: ['F'], elapsed: 4000, want: 6000 },
    { name: 'three failures', history: ['F', 'F', 'F'], elapsed: 0, want: 40_000 },
    { name: 'a success resets the count', history: ['F', 'F', 'S', 'F'], elapsed: 0, want: 10_000 },
    { name: 'the cap is six minutes', history: Array<'F'>(12).fill('F'), elapsed: 0, want: 360_000 },
  ];
  for (const c of backoffCases) {
    it(`failureBackoffRemaining: ${c.name}`, () => {
      const base = Date.parse('2026-01-01T00:00:00Z');
      const pods = c.history.map((h, i) => ({
        apiVersion: 'v1', kind: 'Pod', metadata: { name: `p${i}` }, spec: { containers: [] },
        status: {
          phase: h === 'S' ? 'Succeeded' : 'Failed',
          containerStatuses: [{ name: 'm', ready: false, restartCount: 0, image: '', imageID: '', lastState: {}, state: { terminated: { exitCode: h === 'S' ? 0 : 1, finishedAt: new Date(base + i).toISOString() } } }],
        },
      })) as Pod[];
      const last = base + c.history.length - 1;
      assert.equal(failureBackoffRemaining(pods, last + c.elapsed), c.want);
    });
  }

  it('formatIndexes writes ranges as Kubernetes does', () => {
    assert.equal(formatIndexes(new Set([5, 0, 1, 2, 7, 8])), '0-2,5,7-8');
    assert.equal(formatIndexes(new Set()), '');
  });

  describe('podFailurePolicy, backoffLimitPerIndex and successPolicy', () => {
    it('a FailJob rule on an exit code fails the Job at once with reason PodFailurePolicy', async () => {
      await start();
      await store.create(job('fatal', { backoffLimit: 6, podFailurePolicy: { rules: [{ action: 'FailJob', onExitCodes: { containerName: 'main', operator: 'In', values: [42] } }] } }));
      await eventually(async () => (await activePods(store)).length === 1, 'a pod runs');
      const [p] = await activePods(store);
      await failWith(store, p!, 42, clock);
      await eventually(async () => condition(await getJob(store, 'fatal'), 'Failed')?.status === 'True', 'the Job failed');
      const j = await getJob(store, 'fatal');
      assert.equal(condition(j, 'Failed')?.reason, 'PodFailurePolicy');
      assert.equal(condition(j, 'Failed')?.message, `Container main for pod ${NS}/${p!.metadata.name} failed with exit code 42 matching FailJob rule at index 0`);
      assert.equal(condition(j, 'FailureTarget')?.reason, 'PodFailurePolicy');
      assert.equal((await allPods(store)).length, 1, 'no retry despite backoffLimit 6');
    });

    it('an Ignore rule keeps a failure out of the count: the pod is replaced at once, even with backoffLimit 0', async () => {
      await start();
      await store.create(job('tolerant', { backoffLimit: 0, podFailurePolicy: { rules: [
        { action: 'Ignore', onExitCodes: { operator: 'In', values: [3] } },
        { action: 'Ignore', onPodConditions: [{ type: 'DisruptionTarget' }] },
      ] } }));
      await eventually(async () => (await activePods(store)).length === 1, 'a pod runs');
      await failWith(store, (await activePods(store))[0]!, 3, clock);
      await eventually(async () => (await activePods(store)).length === 1 && (await allPods(store)).length === 2, 'replaced without a back-off');
      await failWith(store, (await activePods(store))[0]!, 137, clock, [{ type: 'DisruptionTarget', status: 'True' }]);
      await eventually(async () => (await allPods(store)).length === 3, 'replaced again: a disruption is ignored too');
      await finish(store, (await activePods(store))[0]!, 'Succeeded', clock);
      await eventually(async () => condition(await getJob(store, 'tolerant'), 'Complete')?.status === 'True', 'complete');
      assert.equal((await getJob(store, 'tolerant'))!.status?.failed, 0);
    });

    it('a failure no rule matches counts as usual (Count): backoffLimit 0 fails the Job', async () => {
      await start();
      await store.create(job('counted', { backoffLimit: 0, podFailurePolicy: { rules: [{ action: 'Ignore', onExitCodes: { operator: 'In', values: [3] } }, { action: 'Count', onExitCodes: { operator: 'NotIn', values: [3] } }] } }));
      await eventually(async () => (await activePods(store)).length === 1, 'a pod runs');
      await failWith(store, (await activePods(store))[0]!, 1, clock);
      await eventually(async () => condition(await getJob(store, 'counted'), 'Failed')?.reason === 'BackoffLimitExceeded', 'failed by the backoff limit');
    });

    it('with backoffLimitPerIndex, a FailIndex rule or too many failures fail one index; the Job fails with FailedIndexes once every index is done', async () => {
      await start();
      await store.create(job('shards', {
        completionMode: 'Indexed', completions: 2, parallelism: 2, backoffLimitPerIndex: 1,
        podFailurePolicy: { rules: [{ action: 'FailIndex', onExitCodes: { operator: 'In', values: [5] } }] },
      }));
      await eventually(async () => (await activePods(store)).length === 2, 'both indexes run');
      const byIndex = new Map((await activePods(store)).map((p) => [indexOf(p), p]));
      await failWith(store, byIndex.get('1')!, 5, clock);
      await failWith(store, byIndex.get('0')!, 1, clock);
      await settle();
      clock.advance(10_001);
      await eventually(async () => (await activePods(store)).length === 1, 'index 0 is retried, index 1 is not');
      const [retry] = await activePods(store);
      assert.equal(indexOf(retry!), '0');
      assert.equal((await getJob(store, 'shards'))!.status?.failedIndexes, '1');
      await finish(store, retry!, 'Succeeded', clock);
      await eventually(async () => condition(await getJob(store, 'shards'), 'Failed')?.status === 'True', 'the Job failed');
      const j = (await getJob(store, 'shards'))!;
      assert.equal(condition(j, 'Failed')?.reason, 'FailedIndexes');
      assert.deepEqual([j.status?.completedIndexes, j.status?.failedIndexes], ['0', '1']);
    });

    it('more failed indexes than maxFailedIndexes fail the Job at once', async () => {
      await start();
      await store.create(job('strict', { completionMode: 'Indexed', completions: 3, parallelism: 3, backoffLimitPerIndex: 0, maxFailedIndexes: 0 }));
      await eventually(async () => (await activePods(store)).length === 3, 'three indexes run');
      await failWith(store, (await activePods(store))[0]!, 1, clock);
      await eventually(async () => condition(await getJob(store, 'strict'), 'Failed')?.reason === 'MaxFailedIndexesExceeded', 'failed');
      await eventually(async () => (await activePods(store)).length === 0, 'the other indexes are stopped');
    });

    it('a successPolicy rule completes an Indexed Job early (reason SuccessPolicy) and stops the other indexes', async () => {
      await start();
      await store.create(job('leader', { completionMode: 'Indexed', completions: 3, parallelism: 3, successPolicy: { rules: [{ succeededIndexes: '0' }] } }));
      await eventually(async () => (await activePods(store)).length === 3, 'three indexes run');
      const leader = (await activePods(store)).find((p) => indexOf(p) === '0')!;
      await finish(store, leader, 'Succeeded', clock);
      await eventually(async () => condition(await getJob(store, 'leader'), 'Complete')?.status === 'True', 'complete');
      const j = (await getJob(store, 'leader'))!;
      assert.equal(condition(j, 'SuccessCriteriaMet')?.reason, 'SuccessPolicy');
      assert.equal(condition(j, 'SuccessCriteriaMet')?.message, 'Matched rules at index 0');
      await eventually(async () => (await activePods(store)).length === 0, 'the other indexes are stopped');
    });
  });
});
