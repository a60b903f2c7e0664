/**
 * The node's half of local-path volumes on a temp dir: directories made when a volume appears,
 * removed (and the cleanup finalizer released) when it is deleted, never outside the storage
 * dir, and an earlier gantry's claim directory moved into its volume.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { silentLogger } from '../../src/log.js';
import type { PersistentVolume } from '../../src/model/types.js';
import type { NodeApi } from '../../src/node/api.js';
import { LocalPathVolumes } from '../../src/node/agent/local-volumes.js';

describe('node: local-path volume directories', () => {
  let dir = '';
  let storageDir = '';
  let finished: string[] = [];
  let volumes: LocalPathVolumes;

  function pv(name: string, o: { path?: string; deleting?: boolean; claim?: string } = {}): PersistentVolume {
    return {
      apiVersion: 'v1', kind: 'PersistentVolume',
      metadata: { name, uid: `uid-${name}`, finalizers: ['gantry.dev/local-path-cleanup'], annotations: { 'pv.kubernetes.io/provisioned-by': 'gantry.dev/local-path' }, ...(o.deleting ? { deletionTimestamp: '2026-01-01T00:00:00Z' } : {}) },
      spec: { hostPath: { path: o.path ?? path.join(storageDir, name), type: 'DirectoryOrCreate' }, ...(o.claim ? { claimRef: { namespace: 'prod', name: o.claim } } : {}) },
    };
  }

  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'gantry-local-path-'));
    storageDir = path.join(dir, 'storage');
    finished = [];
    const api = { finishVolumeCleanup: async (v: PersistentVolume) => void finished.push(v.metadata.name) } as unknown as NodeApi;
    volumes = new LocalPathVolumes({ api, storageDir, legacyDir: path.join(dir, 'node'), logger: silentLogger() });
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('makes a volume\'s directory writable by any container user, and removes it with its data when the volume is deleted', async () => {
    await volumes.handle(pv('pvc-1'), 'ADDED');
    const d = path.join(storageDir, 'pvc-1');
    assert.equal(((await stat(d)).mode & 0o777).toString(8), '777');
    await writeFile(path.join(d, 'row'), 'data');
    await volumes.handle(pv('pvc-1'), 'MODIFIED');
    assert.equal(await readFile(path.join(d, 'row'), 'utf8'), 'data', 'an update leaves the data alone');
    await volumes.handle(pv('pvc-1', { deleting: true }));
    assert.ok(!existsSync(d), 'the directory is gone');
    assert.deepEqual(finished, ['pvc-1'], 'and only then is the volume released');
  });

  it('never touches a path outside its storage dir, whatever the volume says', async () => {
    const outside = path.join(dir, 'precious');
    await mkdir(outside);
    await volumes.handle(pv('pvc-2', { path: outside, deleting: true }));
    assert.ok(existsSync(outside));
    assert.deepEqual(finished, [], 'a volume it cannot clean is not released');
    await volumes.handle(pv('pvc-3', { path: path.join(storageDir, 'pvc-other'), deleting: true }));
    assert.deepEqual(finished, []);
  });

  it('moves the claim directory an earlier gantry kept into the claim\'s new volume', async () => {
    const legacy = path.join(dir, 'node', 'volumes', 'prod', 'data-db-0');
    await mkdir(legacy, { recursive: true });
    await writeFile(path.join(legacy, 'PG_VERSION'), '16');
    await volumes.handle(pv('pvc-4', { claim: 'data-db-0' }), 'ADDED');
    assert.equal(await readFile(path.join(storageDir, 'pvc-4', 'PG_VERSION'), 'utf8'), '16');
    assert.ok(!existsSync(legacy));
  });
});
