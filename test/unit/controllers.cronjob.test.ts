import assert from 'node:assert/strict';
import { CronJobController, jobNameFor, scheduleWindow } from '../../src/controllers/cronjob.js';
import type { ControllerManager } from '../../src/controllers/runtime.js';
import type { CronJob, Job } from '../../src/model/types.js';
import type { Store } from '../../src/store/types.js';
import { MemoryStore } from '../fakes/memory-store.js';
import { controllerManager, eventually, NS, TestClock, untilIdle } from '../helpers/controllers.js';

function cronJob(name: string, spec: Partial<CronJob['spec']> = {}): CronJob {
  return {
    apiVersion: 'batch/v1',
    kind: 'CronJob',
    metadata: { name, namespace: NS },
    spec: {
      schedule: '* * * * *',
      timeZone: 'UTC',
      jobTemplate: {
        metadata: { labels: { team: 'batch' } },
        spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'main', image: 'busybox:1' }] } } },
      },
      ...spec,
    },
  };
}

async function jobs(store: Store): Promise<Job[]> {
  return (await store.list<Job>('Job', { namespace: NS })).items;
}

async function getCronJob(store: Store, name: string): Promise<CronJob> {
  return (await store.get<CronJob>({ kind: 'CronJob', namespace: NS, name }))!;
}

/** Stands in for the Job controller: marks a Job finished at the clock's time. */
async function finishJob(store: Store, job: Job, type: 'Complete' | 'Failed', clock: TestClock): Promise<void> {
  const cur = (await store.get<Job>({ kind: 'Job', namespace: NS, name: job.metadata.name }))!;
  const at = new Date(clock.now()).toISOString();
  cur.status = {
    ...(type === 'Complete' ? { completionTime: at, succeeded: 1 } : { failed: 1 }),
    conditions: [{ type, status: 'True', lastTransitionTime: at }],
  };
  await store.update(cur);
}

describe('controllers: CronJob', function () {
  this.timeout(15000);
  let store: MemoryStore;
  let manager: ControllerManager;
  let clock: TestClock;

  async function start(): Promise<void> {
    manager = controllerManager(store, { clock, controllers: [new CronJobController()] });
    await manager.start();
  }

  async function settle(): Promise<void> {
    await untilIdle(manager);
  }

  /** Moves the clock to `ms` after the next minute boundary, returning that boundary. */
  function toNextMinute(plusMs = 0): number {
    const boundary = (Math.floor(clock.now() / 60_000) + 1) * 60_000;
    clock.advance(boundary + plusMs - clock.now());
    return boundary;
  }

  beforeEach(() => {
    store = new MemoryStore();
    clock = new TestClock();
  });
  afterEach(async () => {
    await manager?.stop();
    await store.close();
  });

  it('creates a Job named <cronjob>-<minutes since epoch> exactly at the schedule time', async () => {
    await start();
    const cj = await store.create(cronJob('tick'));
    await settle();
    assert.equal((await jobs(store)).length, 0, 'nothing before the first schedule time');
    const at = toNextMinute();
    await eventually(async () => (await jobs(store)).length === 1, 'a Job is created at the schedule time');
    const [j] = await jobs(store);
    assert.equal(j!.metadata.name, `tick-${at / 60_000}`);
    assert.equal(j!.metadata.name, jobNameFor('tick', at));
    assert.equal(j!.metadata.annotations?.['batch.kubernetes.io/cronjob-scheduled-timestamp'], new Date(at).toISOString().replace('.000', ''));
    assert.equal(j!.metadata.labels?.team, 'batch');
    assert.deepEqual(j!.metadata.ownerReferences?.map((r) => [r.kind, r.name, r.uid, r.controller]), [['CronJob', 'tick', cj.metadata.uid, true]]);
    assert.equal(j!.spec.backoffLimit, 6, 'the Job is defaulted as the API server would');
    await eventually(async () => (await getCronJob(store, 'tick')).status?.active?.length === 1, 'status lists the active Job');
    const status = (await getCronJob(store, 'tick')).status!;
    assert.equal(status.lastScheduleTime, new Date(at).toISOString().replace('.000', ''));
    assert.deepEqual(status.active?.map((r) => r.name), [j!.metadata.name]);
    await finishJob(store, j!, 'Complete', clock);
    await eventually(async () => (await getCronJob(store, 'tick')).status?.active === undefined, 'the finished Job leaves active');
    assert.ok((await getCronJob(store, 'tick')).status?.lastSuccessfulTime);
  });

  const policies: { policy: 'Allow' | 'Forbid' | 'Replace'; want: (names: string[], first: string, second: string) => void }[] = [
    { policy: 'Allow', want: (names, first, second) => assert.deepEqual(names, [first, second].sort()) },
    { policy: 'Forbid', want: (names, first) => assert.deepEqual(names, [first]) },
    { policy: 'Replace', want: (names, _first, second) => assert.deepEqual(names, [second]) },
  ];
  for (const c of policies) {
    it(`concurrencyPolicy ${c.policy} with a Job still running at the next schedule time`, async () => {
      await start();
      await store.create(cronJob('run', { concurrencyPolicy: c.policy }));
      const first = jobNameFor('run', toNextMinute());
      await eventually(async () => (await jobs(store)).length === 1, 'the first Job');
      await settle();
      const second = jobNameFor('run', toNextMinute());
      await settle();
      if (c.policy !== 'Forbid') await eventually(async () => (await jobs(store)).some((j) => j.metadata.name === second), 'the second Job');
      await settle();
      c.want((await jobs(store)).map((j) => j.metadata.name).sort(), first, second);
    });
  }

  it('a CronJob with Forbid starts the missed run once the running Job finishes', async () => {
    await start();
    await store.create(cronJob('serial', { concurrencyPolicy: 'Forbid' }));
    toNextMinute();
    await eventually(async () => (await jobs(store)).length === 1, 'the first Job');
    const second = jobNameFor('serial', toNextMinute(5000));
    await settle();
    assert.equal((await jobs(store)).length, 1, 'no second Job while one runs');
    await finishJob(store, (await jobs(store))[0]!, 'Complete', clock);
    await eventually(async () => (await jobs(store)).some((j) => j.metadata.name === second), 'the missed run starts');
  });

  const missedCases = [
    { name: 'more than 100 missed schedules starts nothing', startingDeadlineSeconds: undefined, want: 0 },
    { name: 'startingDeadlineSeconds limits the count, so the latest run starts', startingDeadlineSeconds: 200, want: 1 },
  ];
  for (const c of missedCases) {
    it(c.name, async () => {
      await start();
      await store.create(cronJob('late', c.startingDeadlineSeconds !== undefined ? { startingDeadlineSeconds: c.startingDeadlineSeconds } : {}));
      await settle();
      const boundary = (Math.floor(clock.now() / 60_000) + 1) * 60_000;
      clock.advance(boundary + 101 * 60_000 + 1000 - clock.now());
      await settle();
      const names = (await jobs(store)).map((j) => j.metadata.name);
      assert.equal(names.length, c.want);
      if (c.want === 1) assert.equal(names[0], jobNameFor('late', boundary + 101 * 60_000));
      else assert.equal((await getCronJob(store, 'late')).status?.lastScheduleTime, undefined);
    });
  }

  it('a suspended CronJob starts no Jobs', async () => {
    await start();
    await store.create(cronJob('paused', { suspend: true }));
    toNextMinute();
    await settle();
    toNextMinute();
    await settle();
    assert.equal((await jobs(store)).length, 0);
  });

  it('keeps successfulJobsHistoryLimit successful and failedJobsHistoryLimit failed Jobs, deleting the oldest', async () => {
    await start();
    await store.create(cronJob('hist', { successfulJobsHistoryLimit: 2, failedJobsHistoryLimit: 1 }));
    const names: string[] = [];
    for (const outcome of ['Complete', 'Failed', 'Complete', 'Failed', 'Complete'] as const) {
      const name = jobNameFor('hist', toNextMinute());
      names.push(name);
      await eventually(async () => (await jobs(store)).some((j) => j.metadata.name === name), `Job ${name}`);
      await finishJob(store, (await jobs(store)).find((j) => j.metadata.name === name)!, outcome, clock);
      await settle();
    }
    await eventually(async () => (await jobs(store)).length === 3, '3 Jobs kept');
    assert.deepEqual((await jobs(store)).map((j) => j.metadata.name).sort(), [names[2]!, names[3]!, names[4]!].sort());
  });

  const windows = [
    { name: '@midnight in UTC', schedule: '@midnight', zone: 'UTC', from: '2026-03-01T10:00:00Z', to: '2026-03-03T10:00:00Z', missed: 2, recent: '2026-03-03T00:00:00Z', next: '2026-03-04T00:00:00Z' },
    { name: '9:00 in Asia/Tokyo is 0:00 UTC', schedule: '0 9 * * *', zone: 'Asia/Tokyo', from: '2026-03-01T01:00:00Z', to: '2026-03-01T23:00:00Z', missed: 0, recent: undefined, next: '2026-03-02T00:00:00Z' },
    { name: '@hourly counts each hour', schedule: '@hourly', zone: 'UTC', from: '2026-03-01T00:30:00Z', to: '2026-03-01T05:00:00Z', missed: 5, recent: '2026-03-01T05:00:00Z', next: '2026-03-01T06:00:00Z' },
    { name: 'the count stops after 101', schedule: '* * * * *', zone: 'UTC', from: '2026-03-01T00:00:00Z', to: '2026-03-02T00:00:30Z', missed: 101, recent: '2026-03-02T00:00:00Z', next: '2026-03-02T00:01:00Z' },
  ];
  for (const w of windows) {
    it(`scheduleWindow: ${w.name}`, () => {
      const res = scheduleWindow(w.schedule, w.zone, Date.parse(w.from), Date.parse(w.to));
      assert.equal(res.missed, w.missed);
      assert.equal(res.mostRecent === undefined ? undefined : new Date(res.mostRecent).toISOString().replace('.000', ''), w.recent);
      assert.equal(new Date(res.next).toISOString().replace('.000', ''), w.next);
    });
  }
});


