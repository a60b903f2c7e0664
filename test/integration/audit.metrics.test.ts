/**
 * The audit trail's metrics with the real recorder on a real Git repository: commits counted,
 * each change's lag from the store watch to its commit observed, and the queue depth read from
 * the running recorder.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { openRecorder } from '../../src/audit/recorder.js';
import { Metrics } from '../../src/metrics/index.js';
import type { KubeObject } from '../../src/model/types.js';
import { tempDir } from '../helpers/git-http-server.js';
import { scrape, valueOf } from '../helpers/prometheus.js';

const cm = (name: string, rv: number): KubeObject => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'default', resourceVersion: String(rv) }, data: { a: name } });

describe('audit metrics (real Git repository)', function () {
  this.timeout(60_000);

  it('counts the commits of recorded changes, observes their lag, and shows what is still queued', async () => {
    const tmp = await tempDir('gantry-audit-metrics-');
    const metrics = new Metrics();
    const recorder = await openRecorder(path.join(tmp.dir, 'history.git'), { ...metrics.audit.recorderHooks() });
    const release = metrics.audit.countQueuedWith(() => recorder.stats().queued);
    try {
      for (let i = 1; i <= 3; i++) recorder.recordChange({ type: 'ADDED', object: cm(`c${i}`, i), revision: i, origin: { actor: 'sync' } });
      // The writer drains on a later turn: read the gauge at once (its collect runs before any await).
      const depth = await metrics.registry.getSingleMetric('gantry_audit_queue_depth')!.get();
      assert.equal(depth.values[0]?.value, 3);
      await recorder.flush();
      const m = await scrape(metrics);
      assert.equal(valueOf(m, 'gantry_audit_commits_total'), 3);
      assert.equal(valueOf(m, 'gantry_audit_lag_seconds_count'), 3);
      const lag = valueOf(m, 'gantry_audit_lag_seconds_sum')!;
      assert.ok(lag > 0 && lag < 30, `lag in seconds: ${lag}`);
      assert.equal(valueOf(m, 'gantry_audit_queue_depth'), 0);
      assert.equal(valueOf(m, 'gantry_audit_dropped_total'), 0);
    } finally {
      release();
      await recorder.close();
      await tmp.cleanup();
    }
    assert.equal(valueOf(await scrape(metrics), 'gantry_audit_queue_depth'), 0, 'no recorder, nothing queued');
  });
});
