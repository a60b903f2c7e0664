import assert from 'node:assert/strict';
import type { Container, Pod } from '../../src/model/types.js';
import { Backoff } from '../../src/node/agent/backoff.js';
import { goDuration as formatGoDuration } from '../../src/model/time.js';
import { containerArgs, containerResources, containerUser, hostsFile, podResolvConf, stopSignal } from '../../src/node/agent/container-config.js';
import { expandVars, mergeEnv, resolvePodEnv, type EnvContext } from '../../src/node/agent/env.js';
import { effectivePullPolicy, credentialsFromSecrets } from '../../src/node/agent/images.js';
import { containerIdFor, containerLabels, parseContainerLabels } from '../../src/node/agent/labels.js';

function pod(spec: Partial<Pod['spec']> = {}, meta: Partial<Pod['metadata']> = {}): Pod {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web-1', namespace: 'shop', uid: 'u-1', labels: { app: 'web' }, ...meta }, spec: { containers: [{ name: 'main', image: 'busybox' }], nodeName: 'n1', ...spec } };
}

const ctx = (over: Partial<EnvContext> = {}): EnvContext => ({
  refs: { configMaps: new Map(), secrets: new Map(), claims: new Map() },
  podIP: '10.0.0.5',
  hostIP: '192.0.2.1',
  nodeName: 'n1',
  nodeAllocatable: { cpuMillis: 4000, memoryBytes: 8 * 2 ** 30 },
  ...over,
});

describe('node agent: container config from image and pod spec', () => {
  it('containerArgs() follows Kubernetes\' command/args rules against the image Entrypoint/Cmd', () => {
    const image = { Entrypoint: ['/entry'], Cmd: ['--default'] };
    const vars = new Map([['NAME', 'world']]);
    const cases: [Partial<Container>, string[]][] = [
      [{}, ['/entry', '--default']],
      [{ args: ['--x'] }, ['/entry', '--x']],
      [{ command: ['/bin/echo'] }, ['/bin/echo']],
      [{ command: ['/bin/echo'], args: ['hello $(NAME)'] }, ['/bin/echo', 'hello world']],
      [{ args: ['$(MISSING)', '$$(NAME)'] }, ['/entry', '$(MISSING)', '$(NAME)']],
    ];
    for (const [c, want] of cases) assert.deepEqual(containerArgs({ name: 'c', image: 'x', ...c }, image, vars), want, JSON.stringify(c));
  });

  it('containerArgs() fails when neither the pod nor the image names a program', () => {
    assert.throws(() => containerArgs({ name: 'c', image: 'x' }, {}, new Map()), /no command specified/);
  });

  it('expandVars() handles $$, unknown references, unterminated references and plain dollars', () => {
    const vars = new Map([['A', '1']]);
    const cases: [string, string][] = [
      ['$(A)', '1'],
      ['x$(A)y', 'x1y'],
      ['$$(A)', '$(A)'],
      ['$(B)', '$(B)'],
      ['cost $5', 'cost $5'],
      ['$(A', '$(A'],
      ['end$', 'end$'],
    ];
    for (const [text, want] of cases) assert.equal(expandVars(text, vars), want, text);
  });

  it('resolvePodEnv() layers envFrom (with prefix) under env, resolves keys, fields and resources', () => {
    const p = pod();
    const c: Container = {
      name: 'main',
      image: 'busybox',
      resources: { limits: { memory: '128Mi' } },
      envFrom: [{ configMapRef: { name: 'cfg' }, prefix: 'CFG_' }, { secretRef: { name: 'sec' } }],
      env: [
        { name: 'CFG_mode', value: 'override' },
        { name: 'IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
        { name: 'APP', valueFrom: { fieldRef: { fieldPath: "metadata.labels['app']" } } },
        { name: 'NS', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
        { name: 'MEM', valueFrom: { resourceFieldRef: { resource: 'limits.memory', divisor: '1Mi' } } },
        { name: 'CPU', valueFrom: { resourceFieldRef: { resource: 'limits.cpu' } } },
        { name: 'URL', value: 'http://$(IP):80/$(CFG_mode)' },
      ],
    };
    const refs = {
      configMaps: new Map([['cfg', { apiVersion: 'v1', kind: 'ConfigMap' as const, metadata: { name: 'cfg' }, data: { mode: 'prod', 'bad key': 'x' } }]]),
      secrets: new Map([['sec', { apiVersion: 'v1', kind: 'Secret' as const, metadata: { name: 'sec' }, data: { TOKEN: Buffer.from('t0k').toString('base64') } }]]),
      claims: new Map(),
    };
    const env = resolvePodEnv(p, c, ctx({ refs }));
    assert.deepEqual(Object.fromEntries(env), {
      CFG_mode: 'override',
      TOKEN: 't0k',
      IP: '10.0.0.5',
      APP: 'web',
      NS: 'shop',
      MEM: '128',
      CPU: '4',
      URL: 'http://10.0.0.5:80/override',
    });
  });

  it('resolvePodEnv() reports missing ConfigMaps, Secrets and keys as the kubelet words them, unless optional', () => {
    const p = pod();
    const cases: [Container['env'], string | undefined][] = [
      [[{ name: 'X', valueFrom: { configMapKeyRef: { name: 'nope', key: 'k' } } }], 'configmap "nope" not found'],
      [[{ name: 'X', valueFrom: { secretKeyRef: { name: 'nope', key: 'k' } } }], 'secret "nope" not found'],
      [[{ name: 'X', valueFrom: { configMapKeyRef: { name: 'nope', key: 'k', optional: true } } }], undefined],
    ];
    for (const [env, msg] of cases) {
      const run = () => resolvePodEnv(p, { name: 'main', image: 'x', env }, ctx());
      if (msg) assert.throws(run, (err: Error) => err.message === msg);
      else assert.doesNotThrow(run);
    }
    const refs = { configMaps: new Map([['cfg', { apiVersion: 'v1', kind: 'ConfigMap' as const, metadata: { name: 'cfg' }, data: {} }]]), secrets: new Map(), claims: new Map() };
    assert.throws(() => resolvePodEnv(p, { name: 'main', image: 'x', env: [{ name: 'X', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'k' } } }] }, ctx({ refs })), /couldn't find key k in ConfigMap shop\/cfg/);
  });

  it('mergeEnv() keeps the image env and lets the pod override it', () => {
    assert.deepEqual(mergeEnv(['PATH=/bin', 'A=1'], new Map([['A', '2'], ['B', '3']])), ['PATH=/bin', 'A=2', 'B=3']);
  });

  it('containerUser() prefers container over pod over image, numeric users only', () => {
    const c: Container = { name: 'main', image: 'x' };
    assert.deepEqual(containerUser(pod(), c, {}), { uid: 0, gid: 0 });
    assert.deepEqual(containerUser(pod(), c, { User: '1000:2000' }), { uid: 1000, gid: 2000 });
    assert.deepEqual(containerUser(pod({ securityContext: { runAsUser: 5, fsGroup: 7 } }), c, { User: '1000' }), { uid: 5, gid: 0, additionalGids: [7] });
    assert.deepEqual(containerUser(pod({ securityContext: { runAsUser: 5 } }), { ...c, securityContext: { runAsUser: 6, runAsGroup: 8 } }, {}), { uid: 6, gid: 8 });
    assert.throws(() => containerUser(pod(), c, { User: 'www-data' }), /numeric users only/);
    assert.throws(() => containerUser(pod({ securityContext: { runAsNonRoot: true } }), c, {}), /runAsNonRoot/);
  });

  it('containerResources() turns limits and requests into memory bytes, CFS quota, shares and a pids limit', () => {
    assert.deepEqual(containerResources({ name: 'c', image: 'x', resources: { limits: { memory: '64Mi', cpu: '250m' }, requests: { cpu: '100m' } } }), {
      pidsLimit: 4096,
      memoryBytes: 64 * 2 ** 20,
      cpuQuota: 25_000,
      cpuPeriod: 100_000,
      cpuShares: 102,
    });
    assert.deepEqual(containerResources({ name: 'c', image: 'x' }), { pidsLimit: 4096, cpuShares: 2 });
    assert.equal(containerResources({ name: 'c', image: 'x', resources: { limits: { cpu: '2' } } }).cpuShares, 2048);
  });

  it('stopSignal() reads the image STOPSIGNAL in its spellings', () => {
    assert.equal(stopSignal({}), 15);
    assert.equal(stopSignal({ StopSignal: 'SIGQUIT' }), 3);
    assert.equal(stopSignal({ StopSignal: 'INT' }), 2);
    assert.equal(stopSignal({ StopSignal: '9' }), 9);
  });

  it('hostsFile() names the pod with its IP (and FQDN with a subdomain)', () => {
    assert.match(hostsFile(pod(), '10.0.0.5'), /^10\.0\.0\.5\tweb-1$/m);
    assert.match(hostsFile(pod({ hostname: 'db-0', subdomain: 'db' }), '10.0.0.6'), /^10\.0\.0\.6\tdb-0\.db\.shop\.svc\.cluster\.local\tdb-0$/m);
    assert.match(hostsFile(pod(), '10.0.0.5'), /^127\.0\.0\.1\tlocalhost$/m);
  });

  it('podResolvConf() drops loopback nameservers a pod cannot reach', () => {
    assert.equal(podResolvConf('nameserver 127.0.0.53\nnameserver 192.0.2.53\nsearch example.org\n'), 'nameserver 192.0.2.53\nsearch example.org\n');
  });
});

describe('node agent: back-off, ids and labels, pull policy', () => {
  it('Backoff retries the first failure at once, then waits base, doubling to max, and forgets after 2×max', () => {
    const b = new Backoff(10_000, 300_000);
    assert.equal(b.remaining('k', 0, 0), 0);
    assert.equal(b.next('k', 0), 10_000);
    assert.equal(b.remaining('k', 1000, 1000), 10_000);
    assert.equal(b.remaining('k', 1000, 11_000), 0);
    const seen: number[] = [];
    for (let i = 1; i <= 7; i++) seen.push(b.next('k', i * 1000));
    assert.deepEqual(seen, [20_000, 40_000, 80_000, 160_000, 300_000, 300_000, 300_000]);
    // Ten clean minutes later the history is gone.
    assert.equal(b.remaining('k', 7000 + 600_001, 7000 + 600_001), 0);
    assert.equal(b.next('k', 7000 + 600_001), 10_000);
  });

  it('formatGoDuration() prints durations as kubelet messages show them', () => {
    const cases: [number, string][] = [[10_000, '10s'], [80_000, '1m20s'], [300_000, '5m0s'], [400, '400ms'], [1600, '1.6s']];
    for (const [ms, want] of cases) assert.equal(formatGoDuration(ms), want);
  });

  it('containerIdFor() is deterministic, within containerd\'s id rules, and distinct per restart', () => {
    const uid = '0b9f3c1e-6a1d-4a55-9f43-6e2d9c3f7a10';
    assert.equal(containerIdFor(uid, 'web', 0), `${uid}-web-0`);
    assert.notEqual(containerIdFor(uid, 'web', 1), containerIdFor(uid, 'web', 0));
    const long = containerIdFor(uid, 'a'.repeat(63), 12);
    assert.ok(long.length <= 76, long);
    assert.match(long, /^[A-Za-z0-9][A-Za-z0-9_.-]{0,75}$/);
    assert.notEqual(containerIdFor(uid, `${'a'.repeat(62)}b`, 12), long);
  });

  it('parseContainerLabels() reads back what containerLabels() wrote, and ignores foreign containers', () => {
    const labels = containerLabels({ podUid: 'u', podName: 'p', podNamespace: 'ns', container: 'c', restartCount: 3, kind: 'init' });
    assert.deepEqual(parseContainerLabels('id', labels), { id: 'id', podUid: 'u', podName: 'p', podNamespace: 'ns', container: 'c', restartCount: 3, kind: 'init' });
    assert.equal(parseContainerLabels('id', { other: 'x' }), undefined);
  });

  it('effectivePullPolicy() defaults as Kubernetes: Always for latest or no tag, IfNotPresent otherwise', () => {
    const cases: [string, string | undefined, string][] = [
      ['busybox', undefined, 'Always'],
      ['busybox:latest', undefined, 'Always'],
      ['busybox:1.36', undefined, 'IfNotPresent'],
      [`busybox@sha256:${'a'.repeat(64)}`, undefined, 'IfNotPresent'],
      ['busybox', 'Never', 'Never'],
    ];
    for (const [image, policy, want] of cases) assert.equal(effectivePullPolicy({ name: 'c', image, imagePullPolicy: policy as Container['imagePullPolicy'] }), want, image);
  });

  it('credentialsFromSecrets() reads .dockerconfigjson pull secrets', () => {
    const doc = JSON.stringify({ auths: { 'registry.example:5000': { auth: Buffer.from('me:pw').toString('base64') } } });
    const creds = credentialsFromSecrets([{ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'pull' }, type: 'kubernetes.io/dockerconfigjson', data: { '.dockerconfigjson': Buffer.from(doc).toString('base64') } }]);
    assert.deepEqual(creds, { 'registry.example:5000': { username: 'me', password: 'pw' } });
  });
});
