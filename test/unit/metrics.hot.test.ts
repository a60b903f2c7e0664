import assert from 'node:assert/strict';
import { Counter, Histogram, Registry } from 'prom-client';
import { HotCounter, HotHistogram } from '../../src/metrics/hot.js';
import { parseExposition, valueOf } from '../helpers/prometheus.js';

describe('hot-path metrics', () => {
  it('expose exactly what prom-client\'s own Counter and Histogram expose for the same observations', async () => {
    const ours = new Registry();
    const theirs = new Registry();
    const buckets = [0.001, 0.01, 0.1, 1];
    const hc = new HotCounter(ours, { name: 'x_total', help: 'Things.' });
    const hh = new HotHistogram(ours, { name: 'x_seconds', help: 'Time of things.', buckets });
    const pc = new Counter({ name: 'x_total', help: 'Things.', labelNames: ['name'] as const, registers: [theirs] });
    const ph = new Histogram({ name: 'x_seconds', help: 'Time of things.', labelNames: ['name'] as const, buckets, registers: [theirs] });
    const observations = [0, 0.001, 0.0011, 0.05, 0.1, 2, 1e9];
    for (const name of ['a', 'b']) {
      const c = hc.child({ name });
      const h = hh.child({ name });
      for (const v of observations) {
        c.inc();
        pc.inc({ name });
        h.observe(v);
        ph.observe({ name }, v);
      }
    }
    // The same families, samples and values (prom-client writes `le` first, we last, as Go's client does).
    assert.deepEqual(parseExposition(await ours.metrics()), parseExposition(await theirs.metrics()));
    assert.match(await ours.metrics(), /^x_seconds_bucket\{name="a",le="0\.001"\} 2$/m);
  });

  it('count an observation equal to a bound in that bucket (le is inclusive)', async () => {
    const r = new Registry();
    new HotHistogram(r, { name: 'y_seconds', help: 'h', buckets: [0.5, 1] }).child({}).observe(0.5);
    const m = parseExposition(await r.metrics());
    assert.equal(valueOf(m, 'y_seconds_bucket', { le: '0.5' }), 1);
    assert.equal(valueOf(m, 'y_seconds_count'), 1);
  });

  it('show a child at zero from its making, and zero again after a reset of the registry', async () => {
    const r = new Registry();
    const c = new HotCounter(r, { name: 'z_total', help: 'h' });
    const child = c.child({ result: 'error' });
    assert.equal(valueOf(parseExposition(await r.metrics()), 'z_total', { result: 'error' }), 0);
    child.inc(3);
    assert.equal(valueOf(parseExposition(await r.metrics()), 'z_total', { result: 'error' }), 3);
    r.resetMetrics();
    assert.equal(valueOf(parseExposition(await r.metrics()), 'z_total', { result: 'error' }), 0);
    assert.strictEqual(c.child({ result: 'error' }) !== child, true, 'a new handle…');
    c.child({ result: 'error' }).inc();
    child.inc();
    assert.equal(valueOf(parseExposition(await r.metrics()), 'z_total', { result: 'error' }), 2, '…onto the same series');
  });
});
