import assert from 'node:assert/strict';
import { WorkQueue } from '../../src/controllers/queue.js';
import { ControllerManager, type Controller } from '../../src/controllers/runtime.js';
import { GantryError } from '../../src/errors.js';
import { Metrics } from '../../src/metrics/index.js';
import type { ConfigMap } from '../../src/model/types.js';
import { MemoryStore } from '../fakes/memory-store.js';
import { eventually, TestClock } from '../helpers/controllers.js';
import { scrape, valueOf } from '../helpers/prometheus.js';

const cm = (name: string): ConfigMap => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'default' }, data: {} });

describe('controller metrics', () => {
  describe('a work queue', () => {
    it('reports how long a key waited and how long its work took, by the queue\'s clock', async () => {
      const metrics = new Metrics();
      const clock = new TestClock();
      const q = new WorkQueue({ clock, name: 'deployment', metrics: metrics.workqueue });
      q.add('Deployment/default/web');
      clock.t += 250;
      const key = (await q.get())!;
      clock.t += 40;
      q.done(key);
      const m = await scrape(metrics);
      assert.equal(valueOf(m, 'gantry_workqueue_queue_duration_seconds_count', { name: 'deployment' }), 1);
      assert.equal(valueOf(m, 'gantry_workqueue_queue_duration_seconds_sum', { name: 'deployment' }), 0.25);
      assert.equal(valueOf(m, 'gantry_workqueue_work_duration_seconds_count', { name: 'deployment' }), 1);
      assert.equal(valueOf(m, 'gantry_workqueue_work_duration_seconds_sum', { name: 'deployment' }), 0.04);
      // 0.25 s falls in the 0.5 s bucket, not the 0.1 s one.
      assert.equal(valueOf(m, 'gantry_workqueue_queue_duration_seconds_bucket', { name: 'deployment', le: '0.1' }), 0);
      assert.equal(valueOf(m, 'gantry_workqueue_queue_duration_seconds_bucket', { name: 'deployment', le: '0.5' }), 1);
    });

    it('counts an add of a key already waiting as no add, and shows the keys waiting as its depth', async () => {
      const metrics = new Metrics();
      const q = new WorkQueue({ clock: new TestClock(), name: 'replicaset', metrics: metrics.workqueue });
      q.add('a');
      q.add('b');
      q.add('a');
      let m = await scrape(metrics);
      assert.equal(valueOf(m, 'gantry_workqueue_adds_total', { name: 'replicaset' }), 2);
      assert.equal(valueOf(m, 'gantry_workqueue_depth', { name: 'replicaset' }), 2);
      q.done((await q.get())!);
      m = await scrape(metrics);
      assert.equal(valueOf(m, 'gantry_workqueue_depth', { name: 'replicaset' }), 1);
    });

    it('counts a key added while in work once, and times its wait from that add', async () => {
      const metrics = new Metrics();
      const clock = new TestClock();
      const q = new WorkQueue({ clock, name: 'job', metrics: metrics.workqueue });
      q.add('k');
      const k = (await q.get())!;
      clock.t += 10;
      q.add('k');
      clock.t += 30;
      q.done(k);
      assert.equal(q.len(), 1, 'put back after done');
      clock.t += 5;
      q.done((await q.get())!);
      const m = await scrape(metrics);
      assert.equal(valueOf(m, 'gantry_workqueue_adds_total', { name: 'job' }), 2);
      assert.equal(valueOf(m, 'gantry_workqueue_queue_duration_seconds_count', { name: 'job' }), 2);
      // First wait 0 s; the second from the add in work (35 ms before it was handed out again).
      assert.equal(Math.round(valueOf(m, 'gantry_workqueue_queue_duration_seconds_sum', { name: 'job' })! * 1000), 35);
    });

    it('counts a rate-limited add as a retry', async () => {
      const metrics = new Metrics();
      const q = new WorkQueue({ clock: new TestClock(), name: 'gc', metrics: metrics.workqueue });
      q.addRateLimited('k');
      q.addRateLimited('k');
      assert.equal(valueOf(await scrape(metrics), 'gantry_workqueue_retries_total', { name: 'gc' }), 2);
    });
  });

  describe('the controller manager', () => {
    let store: MemoryStore;
    let manager: ControllerManager | undefined;
    beforeEach(() => {
      store = new MemoryStore();
    });
    afterEach(async () => {
      await manager?.stop();
      manager = undefined;
      await store.close();
    });

    /** Reconciles each ConfigMap with the outcome its name asks for (once; then it succeeds). */
    function scripted(): Controller & { calls: Map<string, number> } {
      const calls = new Map<string, number>();
      return {
        name: 'scripted',
        kinds: ['ConfigMap'],
        calls,
        async reconcile(key) {
          const n = (calls.get(key) ?? 0) + 1;
          calls.set(key, n);
          if (n > 1) return;
          if (key.endsWith('/fails')) throw new Error('database is locked');
          if (key.endsWith('/stalls')) throw new GantryError('InvalidManifest', 'broken on purpose');
          if (key.endsWith('/waits')) throw new GantryError('Unschedulable', 'no node yet', { retryAfterMs: 10_000 });
          if (key.endsWith('/later')) return { requeueAfter: 60_000 };
        },
      };
    }

    async function run(c: Controller, metrics: Metrics): Promise<void> {
      manager = new ControllerManager(store, { workers: 2, metrics });
      manager.add(c);
      await manager.start();
    }

    const reconciles = async (metrics: Metrics, result: string) => valueOf(await scrape(metrics), 'gantry_controller_runtime_reconcile_total', { controller: 'scripted', result });

    it('after a reconcile error the error counter is 1, and the retry that succeeds counts a success', async () => {
      const metrics = new Metrics();
      await store.create(cm('fails'));
      const c = scripted();
      await run(c, metrics);
      await eventually(() => c.calls.get('ConfigMap/default/fails') === 2, 'the failed reconcile is retried');
      await eventually(async () => (await reconciles(metrics, 'success')) === 1, 'the retry is counted');
      const m = await scrape(metrics);
      assert.equal(valueOf(m, 'gantry_controller_runtime_reconcile_total', { controller: 'scripted', result: 'error' }), 1);
      assert.equal(valueOf(m, 'gantry_controller_runtime_reconcile_errors_total', { controller: 'scripted' }), 1);
      assert.equal(valueOf(m, 'gantry_workqueue_retries_total', { name: 'scripted' }), 1);
      assert.equal(valueOf(m, 'gantry_workqueue_work_duration_seconds_count', { name: 'scripted' }), 2);
    });

    it('counts a stalled error as an error, and a wait or a requeueAfter as a requeue', async () => {
      const metrics = new Metrics();
      for (const name of ['stalls', 'waits', 'later', 'fine']) await store.create(cm(name));
      const c = scripted();
      await run(c, metrics);
      await eventually(() => c.calls.size === 4, 'every object is reconciled');
      await eventually(async () => (await reconciles(metrics, 'success')) === 1 && (await reconciles(metrics, 'requeue')) === 2, 'the outcomes are counted');
      assert.equal(await reconciles(metrics, 'error'), 1);
      assert.equal(valueOf(await scrape(metrics), 'gantry_workqueue_retries_total', { name: 'scripted' }), 0, 'a stalled or waiting key is no rate-limited retry');
    });

    it('shows every result of a controller at zero before its first reconcile, so a rate over them is never absent', async () => {
      const metrics = new Metrics();
      await run(scripted(), metrics);
      const m = await scrape(metrics);
      for (const result of ['success', 'error', 'requeue']) assert.equal(valueOf(m, 'gantry_controller_runtime_reconcile_total', { controller: 'scripted', result }), 0);
      assert.equal(valueOf(m, 'gantry_workqueue_depth', { name: 'scripted' }), 0);
    });
  });
});
