/**
 * Images against a real private containerd and real loopback docker-registry instances:
 * air-gap import, pulls (anonymous, basic auth, wrong password, unknown digest), index
 * resolution, GC safety, and digest verification.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import path from 'node:path';
import { isGantryError } from '../../src/errors.js';
import { Metrics } from '../../src/metrics/index.js';
import { ContainerdClient } from '../../src/node/containerd/client.js';
import { buildBusyboxImage, type BuiltImage } from '../../src/node/images/busybox-image.js';
import { getImage } from '../../src/node/images/image-store.js';
import { importImages, importLayout } from '../../src/node/images/import.js';
import { pullImage } from '../../src/node/images/pull.js';
import { ImageManager, type ImageEvent } from '../../src/node/agent/images.js';
import { MediaTypes, parseDockerConfigJson } from '../../src/node/images/registry.js';
import { containerdPrerequisites, startTestContainerd, type TestContainerd } from '../helpers/containerd.js';
import { assertRegistryPrerequisites, startBearerFront, startTestRegistry, type BearerFront, type PushableImage, type TestRegistry } from '../helpers/registry.js';
import { scrape, valueOf } from '../helpers/prometheus.js';

const USER = 'gantry';
const PASSWORD = 's3cret-pass';

describe('node images (containerd + docker-registry)', function () {
  this.timeout(120_000);
  let ctd: TestContainerd;
  /** Pulls use their own containerd namespace, so layers really come from the registry, not the import. */
  let puller: ContainerdClient;
  let open: TestRegistry;
  let locked: TestRegistry;
  let bearer: BearerFront;
  let built: BuiltImage;
  let layoutDir: string;

  before(async function () {
    const why = containerdPrerequisites();
    if (why) {
      console.log(`      skipping: ${why}`);
      this.skip();
    }
    assertRegistryPrerequisites();
    ctd = await startTestContainerd('gantry-images-test');
    puller = await ContainerdClient.connect({ address: ctd.daemon.address, namespace: 'gantry-pull-test' });
    layoutDir = path.join(ctd.dir, 'images', 'busybox');
    built = await buildBusyboxImage({ outDir: layoutDir, name: 'gantry.local/busybox:latest' });
    [open, locked] = await Promise.all([startTestRegistry(), startTestRegistry({ auth: { username: USER, password: PASSWORD } })]);
    const image: PushableImage = { manifest: built.manifest, manifestMediaType: MediaTypes.ociManifest, blobs: built.blobs };
    await open.push('test/busybox', '1.0', image);
    await locked.push('private/busybox', '1.0', image);
    // The same image behind an OCI index, as multi-platform images are published.
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaTypes.ociIndex,
        manifests: [{ mediaType: MediaTypes.ociManifest, digest: built.manifestDigest, size: built.manifest.length, platform: { os: 'linux', architecture: 'amd64' } }],
      }),
    );
    await open.push('test/busybox', 'multi', { manifest: index, manifestMediaType: MediaTypes.ociIndex, blobs: new Map() });
    bearer = await startBearerFront(open, { username: USER, password: PASSWORD });
  });

  after(async () => {
    puller?.close();
    await bearer?.stop();
    await Promise.all([open?.stop(), locked?.stop()]);
    await ctd?.stop();
  });

  it('importImages() imports an OCI layout directory, and getImage() returns its config and top snapshot', async () => {
    const summary = await importImages(ctd.client, path.join(ctd.dir, 'images'));
    assert.deepEqual(summary.failed, []);
    assert.equal(summary.imported.length, 1);
    assert.equal(summary.imported[0]!.name, 'gantry.local/busybox:latest');
    const image = await getImage(ctd.client, 'gantry.local/busybox:latest');
    assert.ok(image, 'image is present after import');
    assert.equal(image.digest, built.manifestDigest);
    assert.deepEqual(image.config.Cmd, ['sh']);
    assert.equal(image.chainId, built.diffId, 'a one-layer image has its diffID as chainID');
    assert.ok(await ctd.client.statSnapshot(image.chainId), 'the layer is unpacked into a committed snapshot');
  });

  it('importImages() skips an image already present at the same digest', async () => {
    const again = await importImages(ctd.client, path.join(ctd.dir, 'images'));
    assert.deepEqual(again.imported.map((r) => r.skipped), [true]);
  });

  it('importLayout() imports a tarball of an OCI layout under the name from its annotation', async () => {
    const other = path.join(ctd.dir, 'tarball');
    await buildBusyboxImage({ outDir: other, name: 'example.com/tools/busybox:tar' });
    const tarFile = path.join(ctd.dir, 'busybox.tar');
    execFileSync('tar', ['-cf', tarFile, '-C', other, '.']);
    const results = await importLayout(ctd.client, tarFile);
    assert.equal(results.length, 1);
    assert.equal(results[0]!.name, 'example.com/tools/busybox:tar');
    assert.ok(await getImage(ctd.client, 'example.com/tools/busybox:tar'));
  });

  it('importLayout() imports a docker save tarball under its RepoTags', async () => {
    const dir = path.join(ctd.dir, 'docker-save');
    const img = await buildBusyboxImage({ outDir: path.join(ctd.dir, 'for-save'), files: { 'etc/saved': 'yes' } });
    const config = img.blobs.get(img.configDigest)!.data;
    await mkdir(path.join(dir, 'layer1'), { recursive: true });
    await writeFile(path.join(dir, 'layer1', 'layer.tar'), gunzipSync(img.blobs.get(img.layerDigest)!.data));
    await writeFile(path.join(dir, `${img.configDigest.slice(7)}.json`), config);
    await writeFile(path.join(dir, 'manifest.json'), JSON.stringify([{ Config: `${img.configDigest.slice(7)}.json`, RepoTags: ['saved/busybox:1'], Layers: ['layer1/layer.tar'] }]));
    const tarFile = path.join(ctd.dir, 'saved.tar');
    execFileSync('tar', ['-cf', tarFile, '-C', dir, '.']);
    const results = await importLayout(ctd.client, tarFile);
    assert.deepEqual(results.map((r) => r.name), ['docker.io/saved/busybox:1']);
    const image = await getImage(ctd.client, 'saved/busybox:1');
    assert.equal(image?.chainId, img.diffId, 'unpacked from the uncompressed layer');
  });

  it('importLayout() rejects a layer whose bytes do not match its digest', async () => {
    const tampered = path.join(ctd.dir, 'tampered');
    // A distinct layer, so containerd does not already hold it.
    const img = await buildBusyboxImage({ outDir: tampered, name: 'gantry.local/tampered:latest', files: { 'etc/tampered': 'yes' } });
    const layerFile = path.join(tampered, 'blobs', 'sha256', img.layerDigest.slice(7));
    const bytes = await readFile(layerFile);
    bytes[bytes.length - 20] ^= 0xff;
    await writeFile(layerFile, bytes);
    await assert.rejects(importLayout(ctd.client, tampered), (err: unknown) => {
      assert.ok(isGantryError(err, 'ImagePullFailed'), String(err));
      assert.match(err.message, new RegExp(`layer ${img.layerDigest} digest mismatch: got sha256:[0-9a-f]{64}`));
      return true;
    });
    assert.equal(await getImage(ctd.client, 'gantry.local/tampered:latest'), undefined);
  });

  it('pullImage() pulls from a loopback registry anonymously', async () => {
    assert.equal(await puller.contentInfo(built.layerDigest), undefined, 'the pull namespace starts empty');
    const ref = `${open.host}/test/busybox:1.0`;
    const pulled = await pullImage(puller, ref);
    assert.equal(pulled.name, ref);
    assert.equal(pulled.digest, built.manifestDigest);
    assert.deepEqual(pulled.config.Env, ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin']);
    const image = await getImage(puller, ref);
    assert.equal(image?.chainId, pulled.chainId);
    assert.equal((await puller.contentInfo(built.layerDigest))?.size, built.blobs.get(built.layerDigest)!.data.length);
  });

  it('ImageManager reports Pulling and Pulled (time and size) for a pull, and "already present" after it', async () => {
    const client = await ContainerdClient.connect({ address: ctd.daemon.address, namespace: 'gantry-pull-events-test' });
    try {
      const images = new ImageManager({ client });
      const ref = `${open.host}/test/busybox:1.0`;
      const heard: ImageEvent[] = [];
      const image = await images.ensure('pod-1', { name: 'main', image: ref, imagePullPolicy: 'IfNotPresent' }, { auth: {}, report: (e) => heard.push(e) });
      assert.ok('chainId' in image, 'the image is there');
      assert.equal(heard.length, 2, JSON.stringify(heard));
      assert.deepEqual(heard[0], { type: 'Normal', reason: 'Pulling', message: `Pulling image "${ref}"` });
      // containerd's CRI size: the manifest, the config and the layers as stored.
      const size = built.manifest.length + [...built.blobs].filter(([d]) => d !== built.manifestDigest).reduce((n, [, b]) => n + b.data.length, 0);
      assert.equal(heard[1]!.reason, 'Pulled');
      assert.match(heard[1]!.message, new RegExp(`^Successfully pulled image "${ref.replace(/[.]/g, '\\.')}" in (\\d+ms|[\\d.]+s) \\((\\d+ms|[\\d.]+s) including waiting\\)\\. Image size: ${size} bytes\\.$`));
      heard.length = 0;
      await images.ensure('pod-2', { name: 'main', image: ref, imagePullPolicy: 'IfNotPresent' }, { auth: {}, report: (e) => heard.push(e) });
      assert.deepEqual(heard, [{ type: 'Normal', reason: 'Pulled', message: `Container image "${ref}" already present on machine` }]);
    } finally {
      client.close();
    }
  });

  it('ImageManager counts pulls by result and times the successful ones; an image already present is no pull', async () => {
    const client = await ContainerdClient.connect({ address: ctd.daemon.address, namespace: 'gantry-pull-metrics-test' });
    try {
      const metrics = new Metrics();
      const images = new ImageManager({ client, metrics: metrics.kubelet });
      const ref = `${open.host}/test/busybox:1.0`;
      // Two pods asking at once share one pull.
      const [a, b] = await Promise.all(['pod-1', 'pod-2'].map((pod) => images.ensure(pod, { name: 'main', image: ref, imagePullPolicy: 'IfNotPresent' }, { auth: {} })));
      assert.ok('chainId' in a! && 'chainId' in b!, 'the image is there');
      await images.ensure('pod-3', { name: 'main', image: ref, imagePullPolicy: 'IfNotPresent' }, { auth: {} });
      const missing = await images.ensure('pod-4', { name: 'main', image: `${open.host}/test/nothing:1.0`, imagePullPolicy: 'IfNotPresent' }, { auth: {} });
      assert.equal('reason' in missing && missing.reason, 'ErrImagePull');
      const m = await scrape(metrics);
      assert.equal(valueOf(m, 'gantry_kubelet_image_pulls_total', { result: 'success' }), 1);
      assert.equal(valueOf(m, 'gantry_kubelet_image_pulls_total', { result: 'failure' }), 1);
      assert.equal(valueOf(m, 'gantry_kubelet_image_pull_duration_seconds_count'), 1);
      const seconds = valueOf(m, 'gantry_kubelet_image_pull_duration_seconds_sum')!;
      assert.ok(seconds > 0 && seconds < 60, `a pull from loopback takes well under a minute: ${seconds}`);
    } finally {
      client.close();
    }
  });

  it('pullImage() resolves an OCI index to the linux/amd64 manifest', async () => {
    const pulled = await pullImage(puller, `${open.host}/test/busybox:multi`);
    assert.notEqual(pulled.digest, built.manifestDigest, 'the image record points at the index');
    assert.equal(pulled.manifestDigest, built.manifestDigest);
    const image = await getImage(puller, `${open.host}/test/busybox:multi`);
    assert.equal(image?.manifestDigest, built.manifestDigest);
  });

  it('pullImage() authenticates with credentials from a .dockerconfigjson', async () => {
    const secret = JSON.stringify({ auths: { [`http://${locked.host}`]: { auth: Buffer.from(`${USER}:${PASSWORD}`).toString('base64') } } });
    const pulled = await pullImage(puller, `${locked.host}/private/busybox:1.0`, { auth: parseDockerConfigJson(secret) });
    assert.equal(pulled.manifestDigest, built.manifestDigest);
  });

  it('pullImage() with a wrong password fails with the registry\'s message', async () => {
    await assert.rejects(pullImage(puller, `${locked.host}/private/busybox:1.0`, { auth: { [locked.host]: { username: USER, password: 'wrong' } } }), (err: unknown) => {
      assert.ok(isGantryError(err, 'ImagePullFailed'), String(err));
      assert.match(err.message, /authentication required/);
      assert.match(err.message, /private\/busybox/);
      return true;
    });
  });

  it('pullImage() without credentials from a registry that needs them says so', async () => {
    await assert.rejects(pullImage(puller, `${locked.host}/private/busybox:1.0`), (err: unknown) => {
      assert.ok(isGantryError(err, 'ImagePullFailed'), String(err));
      assert.match(err.message, /unauthorized|credentials/);
      return true;
    });
  });

  it('pullImage() of a digest the registry does not have fails with "manifest unknown"', async () => {
    const wrong = `sha256:${'0'.repeat(64)}`;
    await assert.rejects(pullImage(puller, `${open.host}/test/busybox@${wrong}`), (err: unknown) => {
      assert.ok(isGantryError(err, 'ImagePullFailed'), String(err));
      assert.match(err.message, /manifest unknown/);
      assert.ok(err.message.includes(wrong), err.message);
      return true;
    });
  });

  it('pullImage() by the right digest succeeds', async () => {
    const pulled = await pullImage(puller, `${open.host}/test/busybox@${built.manifestDigest}`);
    assert.equal(pulled.digest, built.manifestDigest);
  });

  it('pulled images survive containerd\'s garbage collection (GC labels are set)', async () => {
    // Deleting a lease with sync runs a full garbage collection before answering.
    const lease = await puller.createLease();
    await puller.deleteLease(lease.id, { sync: true });
    const image = await getImage(puller, `${open.host}/test/busybox:multi`);
    assert.ok(image, 'image still complete after GC');
    assert.ok(await puller.contentInfo(built.layerDigest), 'layer blob kept');
    const config = await puller.contentInfo(built.configDigest);
    assert.equal(config?.labels['containerd.io/gc.ref.snapshot.overlayfs'], built.diffId);
  });

  it('pullImage() gets a bearer token from the realm with basic credentials and follows blob redirects', async () => {
    const ref = `${bearer.host}/test/busybox:1.0`;
    const pulled = await pullImage(puller, ref, { auth: { [bearer.host]: { username: USER, password: PASSWORD } } });
    assert.equal(pulled.manifestDigest, built.manifestDigest);
    assert.equal(bearer.tokensIssued(), 1, 'one token, reused for every request of the pull');
  });

  it('pullImage() reports the token service\'s message when it refuses the credentials', async () => {
    await assert.rejects(pullImage(puller, `${bearer.host}/test/busybox:1.0`, { auth: { [bearer.host]: { username: USER, password: 'nope' } } }), (err: unknown) => {
      assert.ok(isGantryError(err, 'ImagePullFailed'), String(err));
      assert.match(err.message, /invalid username or password/);
      return true;
    });
  });
});
