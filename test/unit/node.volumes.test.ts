/**
 * Pure parts of the volume manager: projecting configMaps/secrets onto files, container mounts,
 * and the host-side check of mount propagation (against a mountinfo file of the test's own).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { isGantryError } from '../../src/errors.js';
import type { ConfigMap, Pod, Secret } from '../../src/model/types.js';
import { containerMounts, rootfsPropagation, type VolumeSource } from '../../src/node/volumes/mounts.js';
import { configMapPayload, secretPayload, validateRelativePath } from '../../src/node/volumes/payload.js';
import { parseMountinfo } from '../../src/node/volumes/mount.js';
import { checkPropagation, mountOf } from '../../src/node/volumes/propagation.js';
import type { SpecMount } from '../../src/node/containerd/spec.js';

const cm: ConfigMap = {
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name: 'app', namespace: 'default' },
  data: { 'app.conf': 'port=80\n', 'log.conf': 'level=info\n' },
  binaryData: { 'logo.bin': Buffer.from([0, 1, 2, 255]).toString('base64') },
};

function files(p: Map<string, { data: Buffer; mode: number }>): Record<string, [string, string]> {
  return Object.fromEntries([...p].map(([k, v]) => [k, [v.data.toString('latin1'), v.mode.toString(8)]]));
}

describe('configMapPayload()', () => {
  it('projects every key with the default mode 0644 when there are no items', () => {
    assert.deepEqual(files(configMapPayload({ name: 'app' }, cm, 'cfg')), {
      'app.conf': ['port=80\n', '644'],
      'log.conf': ['level=info\n', '644'],
      'logo.bin': ['\x00\x01\x02\xff', '644'],
    });
  });

  it('projects only the listed items at their paths, with per-item mode over defaultMode', () => {
    const p = configMapPayload(
      { name: 'app', defaultMode: 0o400, items: [{ key: 'app.conf', path: 'conf/main.conf' }, { key: 'log.conf', path: 'log', mode: 0o600 }] },
      cm,
      'cfg',
    );
    assert.deepEqual(files(p), { 'conf/main.conf': ['port=80\n', '400'], log: ['level=info\n', '600'] });
  });

  it('reports a missing configMap the way the kubelet does, as waiting', () => {
    assert.throws(
      () => configMapPayload({ name: 'nope' }, undefined, 'cfg'),
      (e: unknown) => isGantryError(e, 'NotFound') && e.disposition === 'waiting' && e.message.startsWith('configmap "nope" not found'),
    );
  });

  it('gives an empty volume for a missing optional configMap, and skips its missing optional items', () => {
    assert.equal(configMapPayload({ name: 'nope', optional: true }, undefined, 'cfg').size, 0);
    const p = configMapPayload({ name: 'app', optional: true, items: [{ key: 'absent', path: 'x' }, { key: 'app.conf', path: 'a' }] }, cm, 'cfg');
    assert.deepEqual([...p.keys()], ['a']);
  });

  it('rejects an item key the configMap lacks when not optional', () => {
    assert.throws(() => configMapPayload({ name: 'app', items: [{ key: 'absent', path: 'x' }] }, cm, 'cfg'), /configmap "app" has no key "absent"/);
  });

  it('rejects item paths that climb out of the volume', () => {
    for (const bad of ['../etc/passwd', '/abs', 'a/../../b', '..data/x', '']) {
      assert.throws(() => configMapPayload({ name: 'app', items: [{ key: 'app.conf', path: bad }] }, cm, 'cfg'), (e: unknown) => isGantryError(e, 'InvalidArgument'), bad);
    }
    assert.doesNotThrow(() => validateRelativePath('a/b.c', 'path'));
  });
});

describe('secretPayload()', () => {
  it('decodes base64 data and names a missing secret', () => {
    const s: Secret = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db' }, data: { password: Buffer.from('s3cret').toString('base64') } };
    assert.deepEqual(files(secretPayload({ name: 'db' }, s, 'creds')), { password: ['s3cret', '644'] });
    assert.throws(() => secretPayload({ name: 'db' }, undefined, 'creds'), /secret "db" not found/);
  });
});

describe('containerMounts()', () => {
  const pod: Pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p', namespace: 'default', uid: 'u1' },
    spec: {
      containers: [
        {
          name: 'app',
          image: 'busybox',
          volumeMounts: [
            { name: 'data', mountPath: '/data' },
            { name: 'data', mountPath: '/logs', subPath: 'logs', readOnly: true },
            { name: 'cfg', mountPath: '/etc/app' },
          ],
        },
      ],
    },
  };
  const sources = new Map<string, VolumeSource>([
    ['data', { hostPath: '/node/pods/u1/volumes/empty-dir/data', forceReadOnly: false }],
    ['cfg', { hostPath: '/node/pods/u1/volumes/configmap/cfg', forceReadOnly: true }],
  ]);

  it('binds each volume read-write unless readOnly, configMaps always read-only, subPath inside the volume, privately', () => {
    const { mounts, subPaths } = containerMounts(pod, pod.spec.containers[0]!, sources);
    assert.deepEqual(mounts, [
      { destination: '/data', type: 'bind', source: '/node/pods/u1/volumes/empty-dir/data', options: ['rbind', 'rprivate', 'rw'] },
      { destination: '/logs', type: 'bind', source: '/node/pods/u1/volumes/empty-dir/data/logs', options: ['rbind', 'rprivate', 'ro'] },
      { destination: '/etc/app', type: 'bind', source: '/node/pods/u1/volumes/configmap/cfg', options: ['rbind', 'rprivate', 'ro'] },
    ]);
    assert.deepEqual(subPaths, [{ hostPath: '/node/pods/u1/volumes/empty-dir/data/logs', volume: 'data' }]);
    assert.equal(rootfsPropagation(mounts), undefined);
  });

  it('gives mountPropagation HostToContainer a slave mount and Bidirectional a shared one, with the root to match', () => {
    const c = {
      name: 'x',
      image: 'busybox',
      volumeMounts: [{ name: 'data', mountPath: '/host', mountPropagation: 'HostToContainer' as const }, { name: 'data', mountPath: '/none', mountPropagation: 'None' as const }],
    };
    const slave = containerMounts(pod, c, sources).mounts;
    assert.deepEqual(slave.map((m) => m.options), [['rbind', 'rslave', 'rw'], ['rbind', 'rprivate', 'rw']]);
    assert.equal(rootfsPropagation(slave), 'rslave');
    const shared = containerMounts(pod, { ...c, volumeMounts: [...c.volumeMounts, { name: 'data', mountPath: '/both', mountPropagation: 'Bidirectional' as const }] }, sources).mounts;
    assert.deepEqual(shared[2]!.options, ['rbind', 'rshared', 'rw']);
    assert.equal(rootfsPropagation(shared), 'rshared');
  });

  it('rejects a mount of an undefined volume and a subPath with ".."', () => {
    const c = { name: 'x', image: 'busybox', volumeMounts: [{ name: 'ghost', mountPath: '/g' }] };
    assert.throws(() => containerMounts(pod, c, sources), /mounts volume "ghost", which the pod does not define/);
    const d = { name: 'x', image: 'busybox', volumeMounts: [{ name: 'data', mountPath: '/g', subPath: '../../etc' }] };
    assert.throws(() => containerMounts(pod, d, sources), (e: unknown) => isGantryError(e, 'InvalidArgument'));
  });
});

describe('node volumes: mount propagation on the host side', () => {
  const info = [
    '26 1 254:0 / / rw,relatime - ext4 /dev/vda rw',
    '40 26 0:50 / /srv/shared rw,relatime shared:7 - tmpfs tmpfs rw',
    '41 26 0:51 / /srv/slave rw,relatime master:7 - tmpfs tmpfs rw',
    '42 40 0:52 / /srv/shared/with\\040space rw - tmpfs tmpfs rw',
  ].join('\n');

  it('reads each mount point with its propagation, and finds the one holding a path', () => {
    const points = parseMountinfo(info);
    assert.deepEqual(points.map((p) => [p.path, p.shared, p.slave]), [['/', false, false], ['/srv/shared', true, false], ['/srv/slave', false, true], ['/srv/shared/with space', false, false]]);
    assert.equal(mountOf(points, '/srv/shared/data')?.path, '/srv/shared');
    assert.equal(mountOf(points, '/srv/sharedother')?.path, '/');
    assert.equal(mountOf(points, '/srv/shared/with space/x')?.path, '/srv/shared/with space');
  });

  it('refuses HostToContainer on a private mount and Bidirectional on a slave one, naming the mount', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'gantry-propagation-'));
    try {
      const file = path.join(dir, 'mountinfo');
      await writeFile(file, info);
      const bind = (source: string, propagation: string): SpecMount => ({ destination: '/host', type: 'bind', source, options: ['rbind', propagation, 'ro'] });
      await checkPropagation('c', [bind('/srv/shared/x', 'rshared'), bind('/srv/slave/x', 'rslave'), bind('/var/x', 'rprivate')], file);
      await assert.rejects(checkPropagation('c', [bind('/var/x', 'rslave')], file), /the volume mounted at \/host asks for mountPropagation HostToContainer, but its host path \/var\/x is on \/, a private mount/);
      await assert.rejects(checkPropagation('c', [bind('/srv/slave/x', 'rshared')], file), /mountPropagation Bidirectional.*mount --make-rshared \/srv\/slave/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
