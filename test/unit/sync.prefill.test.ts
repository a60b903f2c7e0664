import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { loadManifests, ManifestCache } from '../../src/sync/loader.js';
import { prefillCache } from '../../src/sync/prefill.js';
import type { SourceFile } from '../../src/sync/types.js';
import { validateObject } from '../../src/sync/validate.js';

function file(path: string, text: string): SourceFile {
  const content = new TextEncoder().encode(text);
  return { path, content, oid: createHash('sha1').update(text).digest('hex') };
}

function manifests(n: number, opts: { badAt?: number } = {}): SourceFile[] {
  return Array.from({ length: n }, (_, i) => file(`cm/${i}.yaml`, `apiVersion: v1
kind: ConfigMap
metadata:
  name: cm-${i}
data:
  key: "${i}"
${i === opts.badAt ? 'spec: {}\n' : ''}`));
}

describe('sync/prefill', function () {
  this.timeout(30_000);

  it('prefillCache() parses a cold load on two threads and the loader then finds everything cached', async () => {
    const files = manifests(1500);
    const cache = new ManifestCache();
    const stats = await prefillCache(files, { cache });
    assert.equal(stats.here + stats.worker, 1500);
    assert.ok(stats.worker > 0, 'the worker thread parsed some files');
    assert.ok(stats.here > 0, 'this thread parsed some files');
    const loaded = loadManifests(files, { validate: validateObject, cache });
    assert.equal(loaded.objects.length, 1500);
    assert.deepEqual(loaded.issues, []);
  });

  it('an invalid manifest parsed by either thread is reported exactly as a plain load reports it', async () => {
    const files = manifests(1200, { badAt: 1100 });
    const cache = new ManifestCache();
    await prefillCache(files, { cache });
    const viaPrefill = loadManifests(files, { validate: validateObject, cache });
    const plain = loadManifests(files, { validate: validateObject });
    assert.equal(viaPrefill.issues.length, 1);
    assert.deepEqual(viaPrefill.issues, plain.issues);
    assert.match(viaPrefill.issues[0]!.message, /spec is not supported/);
  });

  it('prefillCache() leaves a small load to the loader (no worker for a handful of files)', async () => {
    const stats = await prefillCache(manifests(10), { cache: new ManifestCache() });
    assert.deepEqual(stats, { here: 0, worker: 0 });
  });
});
