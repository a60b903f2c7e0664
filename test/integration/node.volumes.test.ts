/**
 * HostVolumeManager on a real filesystem (temp dir). The memory emptyDir case mounts a tmpfs and
 * needs root; it skips otherwise.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { lstat, mkdir, mkdtemp, open, readFile, readdir, readlink, rm, stat, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { isGantryError } from '../../src/errors.js';
import type { ConfigMap, Container, PersistentVolume, PersistentVolumeClaim, Pod, Secret, Volume } from '../../src/model/types.js';
import type { ClaimVolume } from '../../src/node/api.js';
import type { PodReferences } from '../../src/node/types.js';
import { HostVolumeManager } from '../../src/node/volumes/manager.js';
import { isMountPoint } from '../../src/node/volumes/mount.js';

function mkPod(volumes: Volume[], mounts: Container['volumeMounts'], opts: { name?: string; namespace?: string; uid?: string } = {}): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: opts.name ?? 'p', namespace: opts.namespace ?? 'default', uid: opts.uid ?? randomUUID() },
    spec: { volumes, containers: [{ name: 'app', image: 'busybox', volumeMounts: mounts }] },
  };
}

function configMap(name: string, data: Record<string, string>): ConfigMap {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'default' }, data };
}

function refs(cms: ConfigMap[] = [], secrets: Secret[] = [], claims: ClaimVolume[] = []): PodReferences {
  return {
    configMaps: new Map(cms.map((c) => [c.metadata.name, c])),
    secrets: new Map(secrets.map((s) => [s.metadata.name, s])),
    claims: new Map(claims.map((c) => [c.claim.metadata.name, c])),
  };
}

/** A claim bound (or not, without `path`) to a local-path volume whose directory is `path`. */
function claimVolume(name: string, opts: { path?: string; modes?: PersistentVolumeClaim['spec']['accessModes']; deleting?: boolean } = {}): ClaimVolume {
  const modes = opts.modes ?? ['ReadWriteOnce'];
  const claim: PersistentVolumeClaim = {
    apiVersion: 'v1', kind: 'PersistentVolumeClaim',
    metadata: { name, namespace: 'prod', uid: randomUUID(), ...(opts.deleting ? { deletionTimestamp: '2024-01-01T00:00:00Z' } : {}) },
    spec: { accessModes: modes, resources: { requests: { storage: '1Gi' } }, ...(opts.path ? { volumeName: `pvc-${name}` } : {}) },
    status: { phase: opts.path ? 'Bound' : 'Pending' },
  };
  if (!opts.path) return { claim };
  const volume: PersistentVolume = {
    apiVersion: 'v1', kind: 'PersistentVolume',
    metadata: { name: `pvc-${name}`, annotations: { 'pv.kubernetes.io/provisioned-by': 'gantry.dev/local-path' } },
    spec: { capacity: { storage: '1Gi' }, accessModes: modes, hostPath: { path: opts.path, type: 'DirectoryOrCreate' } },
  };
  return { claim, volume };
}

async function mode(p: string): Promise<string> {
  return ((await stat(p)).mode & 0o777).toString(8);
}

describe('HostVolumeManager', () => {
  let dir = '';
  let mgr: HostVolumeManager;
  const created: string[] = [];

  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'gantry-vol-'));
    mgr = new HostVolumeManager({ dataDir: dir, storageDir: path.join(dir, 'storage') });
  });

  afterEach(async () => {
    for (const uid of await mgr.list()) await mgr.cleanup(uid);
    await rm(dir, { recursive: true, force: true });
    for (const p of created.splice(0)) await rm(p, { recursive: true, force: true });
  });

  it('writes configMap items at their paths with per-item mode and defaultMode', async () => {
    const pod = mkPod(
      [{ name: 'cfg', configMap: { name: 'app', defaultMode: 0o440, items: [{ key: 'a', path: 'conf/a.conf' }, { key: 'b', path: 'b.sh', mode: 0o755 }] } }],
      [{ name: 'cfg', mountPath: '/etc/app' }],
    );
    const mounts = await mgr.prepare(pod, refs([configMap('app', { a: 'alpha', b: 'echo hi', c: 'unused' })]));
    const [m] = mounts.get('app')!;
    assert.deepEqual(m, { destination: '/etc/app', type: 'bind', source: path.join(dir, 'pods', pod.metadata.uid!, 'volumes', 'configmap', 'cfg'), options: ['rbind', 'rprivate', 'ro'] });
    assert.equal(await readFile(path.join(m!.source, 'conf/a.conf'), 'utf8'), 'alpha');
    assert.equal(await readFile(path.join(m!.source, 'b.sh'), 'utf8'), 'echo hi');
    assert.equal(await mode(path.join(m!.source, 'conf/a.conf')), '440');
    assert.equal(await mode(path.join(m!.source, 'b.sh')), '755');
    assert.ok(!existsSync(path.join(m!.source, 'c')), 'keys not listed in items are not projected');
    assert.deepEqual((await readdir(m!.source)).filter((e) => !e.startsWith('..')).sort(), ['b.sh', 'conf']);
  });

  it('writes every key of a configMap with mode 0644 by default', async () => {
    const pod = mkPod([{ name: 'cfg', configMap: { name: 'app' } }], [{ name: 'cfg', mountPath: '/c' }]);
    const src = (await mgr.prepare(pod, refs([configMap('app', { x: '1', y: '2' })]))).get('app')![0]!.source;
    assert.equal(await readFile(path.join(src, 'x'), 'utf8'), '1');
    assert.equal(await mode(path.join(src, 'y')), '644');
  });

  it('writes secret data base64-decoded', async () => {
    const secret: Secret = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db', namespace: 'default' }, data: { password: Buffer.from('hunter2').toString('base64') } };
    const pod = mkPod([{ name: 'creds', secret: { secretName: 'db' } }], [{ name: 'creds', mountPath: '/secrets' }]);
    const [m] = (await mgr.prepare(pod, refs([], [secret]))).get('app')!;
    assert.equal(await readFile(path.join(m!.source, 'password'), 'utf8'), 'hunter2');
    assert.deepEqual(m!.options, ['rbind', 'rprivate', 'ro']);
  });

  it('fails on a missing configMap with an error naming it, and gives an empty directory when it is optional', async () => {
    const pod = mkPod([{ name: 'cfg', configMap: { name: 'missing' } }], [{ name: 'cfg', mountPath: '/c' }]);
    await assert.rejects(mgr.prepare(pod, refs()), (e: unknown) => isGantryError(e, 'NotFound') && e.disposition === 'waiting' && /configmap "missing" not found/.test(e.message));
    const opt = mkPod([{ name: 'cfg', configMap: { name: 'missing', optional: true } }], [{ name: 'cfg', mountPath: '/c' }]);
    const src = (await mgr.prepare(opt, refs())).get('app')![0]!.source;
    assert.deepEqual((await readdir(src)).filter((e) => !e.startsWith('..')), []);
  });

  it('refreshes configMap files atomically: open files keep the old content, paths show the new one', async () => {
    const pod = mkPod([{ name: 'cfg', configMap: { name: 'app' } }], [{ name: 'cfg', mountPath: '/c' }]);
    const src = (await mgr.prepare(pod, refs([configMap('app', { k: 'v1', gone: 'x' })]))).get('app')![0]!.source;
    const versionBefore = await readlink(path.join(src, '..data'));
    const held = await open(path.join(src, 'k'), 'r');
    try {
      await mgr.prepare(pod, refs([configMap('app', { k: 'v2', added: 'y' })]));
      assert.equal((await held.readFile()).toString(), 'v1', 'a reader that opened the old version still reads it whole');
    } finally {
      await held.close();
    }
    assert.equal(await readFile(path.join(src, 'k'), 'utf8'), 'v2');
    assert.equal(await readFile(path.join(src, 'added'), 'utf8'), 'y');
    assert.ok(!existsSync(path.join(src, 'gone')), 'a removed key disappears');
    assert.ok((await lstat(path.join(src, 'k'))).isSymbolicLink(), 'keys are links through ..data');
    const versionAfter = await readlink(path.join(src, '..data'));
    assert.notEqual(versionAfter, versionBefore);
    assert.deepEqual((await readdir(src)).filter((e) => e.startsWith('..') && e !== '..data'), [versionAfter], 'the old version was removed after the swap');
    await mgr.prepare(pod, refs([configMap('app', { k: 'v2', added: 'y' })]));
    assert.equal(await readlink(path.join(src, '..data')), versionAfter, 'unchanged content writes no new version');
  });

  it('mounts a bound claim from its volume\'s directory, kept across pod cleanup so a replacement pod finds its data', async () => {
    const vol: Volume = { name: 'data', persistentVolumeClaim: { claimName: 'data-db-0' } };
    const pvDir = path.join(dir, 'storage', 'pvc-data-db-0');
    const bound = claimVolume('data-db-0', { path: pvDir });
    const first = mkPod([vol], [{ name: 'data', mountPath: '/var/lib/db' }], { name: 'db-0', namespace: 'prod' });
    const mount = (await mgr.prepare(first, refs([], [], [bound]))).get('app')![0]!;
    assert.equal(mount.source, pvDir);
    assert.deepEqual(mount.options, ['rbind', 'rprivate', 'rw']);
    assert.equal(await mode(pvDir), '777', 'any container user may write, as in local-path-provisioner');
    await writeFile(path.join(pvDir, 'row'), 'kept');
    await mgr.cleanup(first.metadata.uid!);
    assert.ok(!existsSync(mgr.podVolumesDir(first.metadata.uid!)));
    const second = mkPod([vol], [{ name: 'data', mountPath: '/var/lib/db' }], { name: 'db-0', namespace: 'prod' });
    const again = (await mgr.prepare(second, refs([], [], [bound]))).get('app')![0]!.source;
    assert.equal(await readFile(path.join(again, 'row'), 'utf8'), 'kept');
  });

  it('moves the claim directory an earlier gantry kept into the volume when a pod mounts it first', async () => {
    const legacy = path.join(dir, 'volumes', 'prod', 'data-db-0');
    await mkdir(legacy, { recursive: true });
    await writeFile(path.join(legacy, 'row'), 'from before');
    const bound = claimVolume('data-db-0', { path: path.join(dir, 'storage', 'pvc-data-db-0') });
    bound.volume!.spec.claimRef = { namespace: 'prod', name: 'data-db-0' };
    const pod = mkPod([{ name: 'data', persistentVolumeClaim: { claimName: 'data-db-0' } }], [{ name: 'data', mountPath: '/data' }], { namespace: 'prod' });
    const src = (await mgr.prepare(pod, refs([], [], [bound]))).get('app')![0]!.source;
    assert.equal(await readFile(path.join(src, 'row'), 'utf8'), 'from before');
    assert.ok(!existsSync(legacy));
  });

  it('mounts a ReadOnlyMany claim read-only, and waits for a claim that is missing, unbound or being deleted', async () => {
    const vol: Volume = { name: 'data', persistentVolumeClaim: { claimName: 'shared' } };
    const pod = mkPod([vol], [{ name: 'data', mountPath: '/data' }]);
    const rox = claimVolume('shared', { path: path.join(dir, 'storage', 'pvc-shared'), modes: ['ReadOnlyMany'] });
    assert.deepEqual((await mgr.prepare(pod, refs([], [], [rox]))).get('app')![0]!.options, ['rbind', 'rprivate', 'ro']);
    for (const [why, claims] of [
      ['not found', []],
      ['is not bound', [claimVolume('shared')]],
      ['is being deleted', [claimVolume('shared', { path: path.join(dir, 'storage', 'pvc-shared'), deleting: true })]],
    ] as const) {
      await assert.rejects(mgr.prepare(mkPod([vol], [{ name: 'data', mountPath: '/data' }]), refs([], [], [...claims])), (err: unknown) => {
        assert.ok(isGantryError(err, 'VolumeSetupFailed') && err.disposition === 'waiting', String(err));
        assert.match((err as Error).message, new RegExp(`persistentvolumeclaim "shared" ${why}`));
        return true;
      });
    }
  });

  const hostPathCases: { type: string; setup: 'dir' | 'file' | 'none'; ok: boolean; creates?: 'dir' | 'file' }[] = [
    { type: 'Directory', setup: 'dir', ok: true },
    { type: 'Directory', setup: 'none', ok: false },
    { type: 'Directory', setup: 'file', ok: false },
    { type: 'DirectoryOrCreate', setup: 'none', ok: true, creates: 'dir' },
    { type: 'DirectoryOrCreate', setup: 'file', ok: false },
    { type: 'File', setup: 'file', ok: true },
    { type: 'File', setup: 'dir', ok: false },
    { type: 'File', setup: 'none', ok: false },
    { type: 'FileOrCreate', setup: 'none', ok: true, creates: 'file' },
    { type: 'Socket', setup: 'file', ok: false },
    { type: '', setup: 'none', ok: true },
  ];
  for (const c of hostPathCases) {
    it(`hostPath type "${c.type}" on ${c.setup === 'none' ? 'a missing path' : `a ${c.setup}`} ${c.ok ? 'is accepted' : 'is refused'}`, async () => {
      const base = await mkdtemp(path.join(os.tmpdir(), 'gantry-hp-'));
      created.push(base);
      const target = path.join(base, 'target');
      if (c.setup === 'dir') await mkdir(target);
      if (c.setup === 'file') await writeFile(target, 'x');
      const pod = mkPod([{ name: 'h', hostPath: { path: target, type: c.type } }], [{ name: 'h', mountPath: '/h' }]);
      if (!c.ok) {
        await assert.rejects(mgr.prepare(pod, refs()), (e: unknown) => isGantryError(e, 'VolumeSetupFailed') && e.message.includes(target));
        return;
      }
      const [m] = (await mgr.prepare(pod, refs())).get('app')!;
      assert.deepEqual(m, { destination: '/h', type: 'bind', source: target, options: ['rbind', 'rprivate', 'rw'] });
      if (c.creates === 'dir') assert.ok((await stat(target)).isDirectory());
      if (c.creates === 'file') assert.ok((await stat(target)).isFile());
    });
  }

  it('binds a subPath of an emptyDir (created if missing) and a configMap key file by subPath', async () => {
    const pod = mkPod(
      [{ name: 'scratch', emptyDir: {} }, { name: 'cfg', configMap: { name: 'app' } }],
      [
        { name: 'scratch', mountPath: '/work', subPath: 'app/work' },
        { name: 'cfg', mountPath: '/etc/app.conf', subPath: 'app.conf' },
      ],
    );
    const [work, conf] = (await mgr.prepare(pod, refs([configMap('app', { 'app.conf': 'x=1' })]))).get('app')!;
    const volDir = path.join(mgr.podVolumesDir(pod.metadata.uid!), 'empty-dir', 'scratch');
    assert.equal(work!.source, path.join(volDir, 'app', 'work'));
    assert.ok((await stat(work!.source)).isDirectory());
    assert.equal(await readFile(conf!.source, 'utf8'), 'x=1');
    assert.ok(!(await lstat(conf!.source)).isSymbolicLink(), 'the bind source is the real file, not the ..data link');
  });

  it('refuses a subPath that a symlink inside the volume points outside it', async () => {
    const pod = mkPod([{ name: 'scratch', emptyDir: {} }], [{ name: 'scratch', mountPath: '/x' }]);
    await mgr.prepare(pod, refs());
    const volDir = path.join(mgr.podVolumesDir(pod.metadata.uid!), 'empty-dir', 'scratch');
    // What a container could do inside its emptyDir before a later container mounts a subPath.
    await symlink('/etc', path.join(volDir, 'escape'));
    pod.spec.containers.push({ name: 'late', image: 'busybox', volumeMounts: [{ name: 'scratch', mountPath: '/y', subPath: 'escape' }] });
    await assert.rejects(mgr.prepare(pod, refs()), (e: unknown) => isGantryError(e, 'VolumeSetupFailed') && /outside the volume/.test(e.message));
  });

  it('gives each pod its own emptyDir that survives prepare() again and goes with cleanup()', async () => {
    const a = mkPod([{ name: 'scratch', emptyDir: {} }], [{ name: 'scratch', mountPath: '/s' }]);
    const b = mkPod([{ name: 'scratch', emptyDir: {} }], [{ name: 'scratch', mountPath: '/s' }]);
    const sa = (await mgr.prepare(a, refs())).get('app')![0]!.source;
    const sb = (await mgr.prepare(b, refs())).get('app')![0]!.source;
    assert.notEqual(sa, sb);
    assert.equal(await mode(sa), '777');
    await writeFile(path.join(sa, 'f'), 'a');
    await mgr.prepare(a, refs());
    assert.equal(await readFile(path.join(sa, 'f'), 'utf8'), 'a');
    assert.ok(!existsSync(path.join(sb, 'f')));
    assert.deepEqual(await mgr.list(), [a.metadata.uid!, b.metadata.uid!].sort());
    await mgr.cleanup(a.metadata.uid!);
    assert.ok(!existsSync(sa));
    assert.deepEqual(await mgr.list(), [b.metadata.uid!]);
    await mgr.cleanup(a.metadata.uid!);
  });

  it('mounts a size-limited tmpfs for a Memory emptyDir and unmounts it on cleanup', async function () {
    if (process.getuid?.() !== 0) {
      console.log('      skipping: mounting tmpfs needs root');
      this.skip();
    }
    const pod = mkPod([{ name: 'shm', emptyDir: { medium: 'Memory', sizeLimit: '8Mi' } }], [{ name: 'shm', mountPath: '/shm' }]);
    const src = (await mgr.prepare(pod, refs())).get('app')![0]!.source;
    assert.ok(await isMountPoint(src));
    const info = (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').find((l) => l.split(' ')[4] === src)!;
    assert.match(info, /tmpfs/);
    assert.match(info, /size=8192k/);
    await mgr.prepare(pod, refs());
    const count = (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').filter((l) => l.split(' ')[4] === src).length;
    assert.equal(count, 1, 'prepare() again does not stack a second tmpfs');
    await mgr.cleanup(pod.metadata.uid!);
    assert.ok(!(await isMountPoint(src)));
    assert.ok(!existsSync(src));
  });
});
