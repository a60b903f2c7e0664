import assert from 'node:assert/strict';
import { isGantryError } from '../../src/errors.js';
import { parseReference } from '../../src/node/images/reference.js';
import { isInsecureRegistry, normalizeRegistryKey, parseChallenge, parseDockerConfigJson } from '../../src/node/images/registry.js';
import { chainIds, selectManifest } from '../../src/node/images/image-store.js';
import { layoutImageName } from '../../src/node/images/import.js';

const D = `sha256:${'a'.repeat(64)}`;

describe('parseReference()', () => {
  const cases: [string, { registry: string; repository: string; tag?: string; digest?: string; name: string }][] = [
    ['busybox', { registry: 'docker.io', repository: 'library/busybox', tag: 'latest', name: 'docker.io/library/busybox:latest' }],
    ['busybox:1.36', { registry: 'docker.io', repository: 'library/busybox', tag: '1.36', name: 'docker.io/library/busybox:1.36' }],
    ['team/app', { registry: 'docker.io', repository: 'team/app', tag: 'latest', name: 'docker.io/team/app:latest' }],
    ['docker.io/busybox', { registry: 'docker.io', repository: 'library/busybox', tag: 'latest', name: 'docker.io/library/busybox:latest' }],
    ['index.docker.io/library/busybox', { registry: 'docker.io', repository: 'library/busybox', tag: 'latest', name: 'docker.io/library/busybox:latest' }],
    ['localhost:5000/app:1.0', { registry: 'localhost:5000', repository: 'app', tag: '1.0', name: 'localhost:5000/app:1.0' }],
    ['localhost/app', { registry: 'localhost', repository: 'app', tag: 'latest', name: 'localhost/app:latest' }],
    ['127.0.0.1:5000/a/b/c:v2', { registry: '127.0.0.1:5000', repository: 'a/b/c', tag: 'v2', name: '127.0.0.1:5000/a/b/c:v2' }],
    ['ghcr.io/org/tool', { registry: 'ghcr.io', repository: 'org/tool', tag: 'latest', name: 'ghcr.io/org/tool:latest' }],
    [`repo@${D}`, { registry: 'docker.io', repository: 'library/repo', digest: D, name: `docker.io/library/repo@${D}` }],
    [`quay.io/x/y:1@${D}`, { registry: 'quay.io', repository: 'x/y', tag: '1', digest: D, name: `quay.io/x/y:1@${D}` }],
    ['reg-1.example.com:443/x__y.z', { registry: 'reg-1.example.com:443', repository: 'x__y.z', tag: 'latest', name: 'reg-1.example.com:443/x__y.z:latest' }],
  ];
  for (const [text, want] of cases) {
    it(`parses "${text}" as ${want.name}`, () => {
      const got = parseReference(text);
      assert.deepEqual({ ...got }, { tag: undefined, digest: undefined, ...want });
    });
  }

  const bad: [string, RegExp][] = [
    ['', /empty/],
    ['Busybox', /lowercase/],
    ['busybox:', /tag/],
    ['busybox@sha256:123', /digest/],
    ['a//b', /path component/],
    ['busybox:bad tag', /tag/],
    ['my_repo.with-dots/x', /registry host/],
  ];
  for (const [text, why] of bad) {
    it(`rejects "${text}" with InvalidArgument`, () => {
      assert.throws(() => parseReference(text), (err: unknown) => isGantryError(err, 'InvalidArgument') && why.test(err.message) && err.message.includes(`"${text}"`));
    });
  }
});

describe('parseDockerConfigJson()', () => {
  it('reads base64 auth and username/password entries keyed by registry host', () => {
    const doc = JSON.stringify({
      auths: {
        'https://index.docker.io/v1/': { auth: Buffer.from('me:pa:ss').toString('base64') },
        'localhost:5000': { username: 'u', password: 'p' },
        'http://reg.example.com:8080/path': { auth: Buffer.from('x:y').toString('base64') },
      },
    });
    assert.deepEqual(parseDockerConfigJson(doc), {
      'docker.io': { username: 'me', password: 'pa:ss' },
      'localhost:5000': { username: 'u', password: 'p' },
      'reg.example.com:8080': { username: 'x', password: 'y' },
    });
  });

  it('rejects a document without auths', () => {
    assert.throws(() => parseDockerConfigJson('{"foo":1}'), (err: unknown) => isGantryError(err, 'InvalidArgument') && /auths/.test(err.message));
    assert.throws(() => parseDockerConfigJson('not json'), (err: unknown) => isGantryError(err, 'InvalidArgument'));
  });
});

describe('registry helpers', () => {
  it('normalizeRegistryKey() strips scheme and path and maps Docker Hub aliases', () => {
    assert.equal(normalizeRegistryKey('https://index.docker.io/v1/'), 'docker.io');
    assert.equal(normalizeRegistryKey('https://r.example/v2/'), 'r.example');
    assert.equal(normalizeRegistryKey('r.example:5000'), 'r.example:5000');
  });

  it('isInsecureRegistry() allows plain HTTP for loopback and listed hosts only', () => {
    assert.equal(isInsecureRegistry('localhost:5000'), true);
    assert.equal(isInsecureRegistry('127.0.0.1:5000'), true);
    assert.equal(isInsecureRegistry('[::1]:5000'), true);
    assert.equal(isInsecureRegistry('registry.lan:5000'), false);
    assert.equal(isInsecureRegistry('registry.lan:5000', ['registry.lan:5000']), true);
    assert.equal(isInsecureRegistry('docker.io'), false);
  });

  it('parseChallenge() reads a Bearer WWW-Authenticate challenge', () => {
    assert.deepEqual(parseChallenge('realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"'), {
      realm: 'https://auth.docker.io/token',
      service: 'registry.docker.io',
      scope: 'repository:library/busybox:pull',
    });
  });
});

describe('image layout helpers', () => {
  it('chainIds() keeps the first diffID and hashes "parent diffID" for the rest', () => {
    const a = `sha256:${'1'.repeat(64)}`;
    const b = `sha256:${'2'.repeat(64)}`;
    const [c0, c1] = chainIds([a, b]);
    assert.equal(c0, a);
    // sha256 of "sha256:111… sha256:222…", computed independently with coreutils' sha256sum.
    assert.equal(c1, 'sha256:9932074217c35353d2e03a3f5a86549f7c67bfeb0ba53e23d69f4d4c8f7958f5');
    assert.deepEqual(chainIds([]), []);
  });

  it('selectManifest() picks the requested platform and names what exists when it is missing', () => {
    const index = {
      manifests: [
        { mediaType: 'm', digest: 'sha256:arm', size: 1, platform: { os: 'linux', architecture: 'arm64' } },
        { mediaType: 'm', digest: 'sha256:amd', size: 2, platform: { os: 'linux', architecture: 'amd64' } },
      ],
    };
    assert.equal(selectManifest(index, 'linux/amd64', 'image x').digest, 'sha256:amd');
    assert.throws(() => selectManifest(index, 'linux/s390x', 'image x'), (err: unknown) => isGantryError(err, 'ImagePullFailed') && /linux\/arm64, linux\/amd64/.test(err.message));
  });

  it('layoutImageName() prefers io.containerd.image.name and turns a bare tag into an import.local name', () => {
    assert.equal(layoutImageName({ 'io.containerd.image.name': 'busybox:1', 'org.opencontainers.image.ref.name': '1' }, 'x'), 'docker.io/library/busybox:1');
    assert.equal(layoutImageName({ 'org.opencontainers.image.ref.name': 'example.com/a:2' }, 'x'), 'example.com/a:2');
    assert.equal(layoutImageName({ 'org.opencontainers.image.ref.name': 'v3' }, 'My Tools.tar'), 'import.local/my-tools:v3');
    assert.equal(layoutImageName({}, 'x'), undefined);
  });
});
