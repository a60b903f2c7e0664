import assert from 'node:assert/strict';
import { silentLogger } from '../../src/log.js';
import { Metrics } from '../../src/metrics/index.js';
import { SyncLoop } from '../../src/sync/loop.js';
import type { Source } from '../../src/sync/types.js';
import { MemoryStore } from '../fakes/memory-store.js';
import { scrape, seriesOf, valueOf } from '../helpers/prometheus.js';

const GOOD = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: page\ndata: {a: b}\n';
const BAD = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: page\ndata: [1, 2]\n';

/** A source whose branch `main` points at the commit the test sets, each commit with its files. */
function movingSource(commits: Record<string, Record<string, string>>): Source & { head: string } {
  const src = {
    head: Object.keys(commits)[0]!,
    resolve: async () => ({ commit: src.head, ref: 'main' }),
    files: async (commit: string) => Object.entries(commits[commit]!).map(([path, text]) => ({ path, content: new TextEncoder().encode(text) })),
    readPaths: async () => new Map(),
  };
  return src;
}

describe('sync metrics', () => {
  const first = 'a'.repeat(40);
  const broken = 'b'.repeat(40);
  const second = 'c'.repeat(40);

  it('names the revision in force in gantry_sync_info, keeps it through a rejected revision, and moves it with the next applied one', async () => {
    const store = new MemoryStore();
    const metrics = new Metrics();
    const source = movingSource({ [first]: { 'page.yaml': GOOD }, [broken]: { 'page.yaml': BAD }, [second]: { 'page.yaml': GOOD.replace('a: b', 'a: c') } });
    const loop = new SyncLoop({ source, store, logger: silentLogger(), intervalMs: 0, describe: { repo: 'https://git.example/team/deploy.git' }, metrics });
    try {
      assert.equal((await loop.trigger('test')).outcome, 'applied');
      let m = await scrape(metrics);
      assert.deepEqual(seriesOf(m, 'gantry_sync_info'), [{ revision: first, ref: 'main', repo: 'https://git.example/team/deploy.git' }]);
      assert.equal(valueOf(m, 'gantry_sync_info'), 1);
      assert.equal(valueOf(m, 'gantry_desired_objects'), 1);

      source.head = broken;
      assert.equal((await loop.trigger('test')).outcome, 'rejected');
      m = await scrape(metrics);
      assert.deepEqual(seriesOf(m, 'gantry_sync_info').map((l) => l.revision), [first], 'a rejected revision is not in force');

      source.head = second;
      assert.equal((await loop.trigger('test')).outcome, 'applied');
      assert.equal((await loop.trigger('test')).outcome, 'unchanged');
      m = await scrape(metrics);
      assert.deepEqual(seriesOf(m, 'gantry_sync_info').map((l) => l.revision), [second], 'one series: the old revision is gone');
      assert.equal(valueOf(m, 'gantry_sync_total', { outcome: 'applied' }), 2);
      assert.equal(valueOf(m, 'gantry_sync_total', { outcome: 'rejected' }), 1);
      assert.equal(valueOf(m, 'gantry_sync_total', { outcome: 'unchanged' }), 1);
      assert.equal(valueOf(m, 'gantry_sync_duration_seconds_count'), 4);
    } finally {
      await store.close();
    }
  });

  it('counts a pass whose source cannot be read as failed, and names no revision', async () => {
    const store = new MemoryStore();
    const metrics = new Metrics();
    const source: Source = { resolve: async () => Promise.reject(new Error('connection refused')), files: async () => [], readPaths: async () => new Map() };
    const loop = new SyncLoop({ source, store, logger: silentLogger(), intervalMs: 0, describe: { repo: 'r' }, metrics });
    try {
      assert.equal((await loop.trigger('test')).outcome, 'failed');
      const m = await scrape(metrics);
      assert.equal(valueOf(m, 'gantry_sync_total', { outcome: 'failed' }), 1);
      assert.deepEqual(seriesOf(m, 'gantry_sync_info'), []);
    } finally {
      await store.close();
    }
  });
});
