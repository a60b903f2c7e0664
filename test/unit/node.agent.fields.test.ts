/**
 * The node agent's pure logic for the pod fields beyond the basics: Service link variables, the
 * downward API, downwardAPI and projected payloads, container security (capabilities, privilege,
 * seccomp), the default and Localhost seccomp filters, the stop state machine with preStop hooks
 * and sidecar turns, pod status with sidecars, gRPC probes, lifecycle hook handlers, volume
 * ownership for fsGroup, and kubectl's columns for such pods.
 */
import assert from 'node:assert/strict';
import { chown, lstat, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { formatMap, podFieldValue, resourceFieldValue, unsupportedDivisor, unsupportedFieldPath } from '../../src/model/downward.js';
import { capabilitiesOfMask, capabilityName } from '../../src/model/capabilities.js';
import { podReady, podRestarts, podStatus } from '../../src/model/columns.js';
import type { Container, Pod, Service } from '../../src/model/types.js';
import { containerSecurity, containerUser } from '../../src/node/agent/container-config.js';
import { resolvePodEnv } from '../../src/node/agent/env.js';
import { decodeHealthStatus, encodeHealthRequest, grpcProbe } from '../../src/node/agent/grpc-probe.js';
import { runHook, type HookTarget } from '../../src/node/agent/hooks.js';
import { computePodStatus, podPhase } from '../../src/node/agent/pod-status.js';
import { newContainer, type ContainerRuntime, type PodRuntime } from '../../src/node/agent/runtime.js';
import { linkedServices, serviceEnvVars } from '../../src/node/agent/service-env.js';
import { advanceStop, MIN_GRACE_MS, requestStop } from '../../src/node/agent/termination.js';
import type { ContainerdClient } from '../../src/node/containerd/client.js';
import { defaultSeccompProfile, profileFilter } from '../../src/node/containerd/seccomp.js';
import { DEFAULT_CAPABILITIES } from '../../src/node/containerd/spec.js';
import { setVolumeOwnership } from '../../src/node/volumes/ownership.js';
import { downwardPayload, projectedPayload } from '../../src/node/volumes/payload.js';

const pod = (spec: Partial<Pod['spec']> = {}, meta: Partial<Pod['metadata']> = {}): Pod => ({
  apiVersion: 'v1', kind: 'Pod',
  metadata: { name: 'web-0', namespace: 'shop', uid: 'u-1', labels: { app: 'web', 'tier': 'front "end"' }, annotations: { note: 'a' }, ...meta },
  spec: { containers: [{ name: 'main', image: 'busybox', resources: { limits: { cpu: '250m', memory: '64Mi' }, requests: { cpu: '100m' } } }], nodeName: 'n1', ...spec },
});
const svc = (namespace: string, name: string, clusterIP: string, ports: Service['spec']['ports']): Service => ({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace }, spec: { clusterIP, ports } });
const node = { cpuMillis: 2000, memoryBytes: 8 * 2 ** 30, ephemeralBytes: 100 * 2 ** 30 };

describe('node agent: Service link variables', () => {
  const services = [
    svc('shop', 'web-api', '10.96.0.20', [{ name: 'http', port: 80, protocol: 'TCP' }, { name: 'dns', port: 53, protocol: 'UDP' }]),
    svc('shop', 'db', 'None', [{ port: 5432 }]),
    svc('other', 'cache', '10.96.0.30', [{ port: 6379 }]),
    svc('default', 'kubernetes', '10.96.0.1', [{ name: 'https', port: 443, protocol: 'TCP' }]),
  ];

  it('gives the namespace\'s Services with a cluster IP, and the kubernetes Service always', () => {
    assert.deepEqual(linkedServices(services, 'shop', true).map((s) => s.metadata.name).sort(), ['kubernetes', 'web-api']);
    assert.deepEqual(linkedServices(services, 'shop', false).map((s) => s.metadata.name), ['kubernetes']);
  });

  it('names the variables as the kubelet does (host, ports, named ports, Docker links)', () => {
    const vars = serviceEnvVars([services[0]!]);
    assert.deepEqual(Object.fromEntries(vars), {
      WEB_API_SERVICE_HOST: '10.96.0.20',
      WEB_API_SERVICE_PORT: '80',
      WEB_API_SERVICE_PORT_HTTP: '80',
      WEB_API_SERVICE_PORT_DNS: '53',
      WEB_API_PORT: 'tcp://10.96.0.20:80',
      WEB_API_PORT_80_TCP: 'tcp://10.96.0.20:80',
      WEB_API_PORT_80_TCP_PROTO: 'tcp',
      WEB_API_PORT_80_TCP_PORT: '80',
      WEB_API_PORT_80_TCP_ADDR: '10.96.0.20',
      WEB_API_PORT_53_UDP: 'udp://10.96.0.20:53',
      WEB_API_PORT_53_UDP_PROTO: 'udp',
      WEB_API_PORT_53_UDP_PORT: '53',
      WEB_API_PORT_53_UDP_ADDR: '10.96.0.20',
    });
  });

  it('puts them after the container\'s own, which win and may refer to them', () => {
    const p = pod({}, { namespace: 'shop' });
    const c: Container = { name: 'main', image: 'busybox', env: [{ name: 'WEB_API_SERVICE_PORT', value: '8080' }, { name: 'URL', value: 'http://$(WEB_API_SERVICE_HOST):$(WEB_API_SERVICE_PORT)' }] };
    const env = resolvePodEnv(p, c, { refs: { configMaps: new Map(), secrets: new Map(), claims: new Map() }, nodeName: 'n1', nodeAllocatable: node, services });
    const keys = [...env.keys()];
    assert.deepEqual(keys.slice(0, 2), ['WEB_API_SERVICE_PORT', 'URL']);
    assert.equal(env.get('WEB_API_SERVICE_PORT'), '8080');
    assert.equal(env.get('URL'), 'http://10.96.0.20:8080');
    assert.equal(env.get('KUBERNETES_SERVICE_HOST'), '10.96.0.1');
    const off = resolvePodEnv(pod({ enableServiceLinks: false }), c, { refs: { configMaps: new Map(), secrets: new Map(), claims: new Map() }, nodeName: 'n1', nodeAllocatable: node, services });
    assert.equal(off.get('KUBERNETES_SERVICE_HOST'), '10.96.0.1');
    assert.equal(off.has('WEB_API_PORT'), false);
  });
});

describe('node agent: the downward API', () => {
  it('reads pod fields, with labels and annotations as sorted quoted lines', () => {
    const p = pod();
    const ctx = { nodeName: 'n1', podIP: '10.244.0.5', hostIP: '192.0.2.1' };
    assert.equal(podFieldValue(p, 'metadata.uid', ctx), 'u-1');
    assert.equal(podFieldValue(p, "metadata.labels['tier']", ctx), 'front "end"');
    assert.equal(podFieldValue(p, "metadata.annotations['missing']", ctx), '');
    assert.equal(podFieldValue(p, 'metadata.labels', ctx), 'app="web"\ntier="front \\"end\\""');
    assert.equal(podFieldValue(p, 'status.podIPs', ctx), '10.244.0.5');
    assert.equal(podFieldValue(p, 'spec.serviceAccountName', ctx), 'default');
    assert.equal(formatMap(undefined), '');
    assert.throws(() => podFieldValue(p, 'status.phase', ctx), /not a downward API field/);
  });

  it('reads resources divided and rounded up, an unset limit as the node\'s allocatable', () => {
    const p = pod();
    const c = p.spec.containers[0];
    assert.equal(resourceFieldValue(p, c, { resource: 'limits.cpu' }, node), '1');
    assert.equal(resourceFieldValue(p, c, { resource: 'limits.cpu', divisor: '1m' }, node), '250');
    assert.equal(resourceFieldValue(p, c, { resource: 'requests.cpu', divisor: '1m' }, node), '100');
    assert.equal(resourceFieldValue(p, c, { resource: 'limits.memory', divisor: '1Mi' }, node), '64');
    assert.equal(resourceFieldValue(p, c, { resource: 'requests.memory' }, node), '0');
    assert.equal(resourceFieldValue(p, c, { resource: 'limits.ephemeral-storage', divisor: '1Gi' }, node), '100');
    assert.equal(resourceFieldValue(p, undefined, { containerName: 'main', resource: 'limits.memory', divisor: '1Ki' }, node), String(64 * 1024));
    assert.throws(() => resourceFieldValue(p, undefined, { containerName: 'nope', resource: 'limits.cpu' }, node), /which the pod does not have/);
  });

  it('knows which fields and divisors env vars and volume files may use', () => {
    assert.equal(unsupportedFieldPath('status.podIP', 'env'), undefined);
    assert.match(unsupportedFieldPath('status.podIP', 'volume')!, /supported values/);
    assert.equal(unsupportedFieldPath('metadata.labels', 'volume'), undefined);
    assert.match(unsupportedFieldPath('metadata.labels', 'env')!, /supported values/);
    assert.equal(unsupportedFieldPath("metadata.annotations['a/b']", 'env'), undefined);
    assert.equal(unsupportedDivisor('limits.cpu', '1m'), undefined);
    assert.match(unsupportedDivisor('limits.cpu', '1Mi')!, /1m and 1/);
    assert.equal(unsupportedDivisor('requests.memory', '1Gi'), undefined);
  });

  it('downwardPayload() and projectedPayload() make the files, modes and all', () => {
    const p = pod();
    const files = downwardPayload([
      { path: 'name', fieldRef: { fieldPath: 'metadata.name' } },
      { path: 'limits/mem', resourceFieldRef: { containerName: 'main', resource: 'limits.memory', divisor: '1Mi' }, mode: 0o400 },
    ], 0o444, p, { node }, 'podinfo');
    assert.deepEqual([...files].map(([k, f]) => [k, f.data.toString(), f.mode]), [['name', 'web-0', 0o444], ['limits/mem', '64', 0o400]]);
    const cm = { apiVersion: 'v1', kind: 'ConfigMap' as const, metadata: { name: 'cfg' }, data: { 'a.ini': 'a=1', 'b.ini': 'b=2' } };
    const all = projectedPayload({
      defaultMode: 0o440,
      sources: [
        { configMap: { name: 'cfg', items: [{ key: 'a.ini', path: 'conf/a.ini' }] } },
        { secret: { name: 'absent', optional: true } },
        { downwardAPI: { items: [{ path: 'ns', fieldRef: { fieldPath: 'metadata.namespace' } }] } },
      ],
    }, p, { configMaps: new Map([['cfg', cm]]), secrets: new Map() }, { node }, 'all');
    assert.deepEqual([...all].map(([k, f]) => [k, f.data.toString(), f.mode]), [['conf/a.ini', 'a=1', 0o440], ['ns', 'shop', 0o440]]);
    assert.throws(() => projectedPayload({ sources: [{ secret: { name: 'absent' } }] }, p, { configMaps: new Map(), secrets: new Map() }, { node }, 'all'), /secret "absent" not found/);
  });
});

describe('node agent: container security', () => {
  const host = [...DEFAULT_CAPABILITIES, 'CAP_NET_ADMIN', 'CAP_SYS_ADMIN', 'CAP_SYS_PTRACE', 'CAP_SYS_TIME'];
  const c = (sc: Container['securityContext']): Container => ({ name: 'c', image: 'busybox', securityContext: sc });

  it('adds and drops capabilities on containerd\'s default set, ALL included, within what the node holds', () => {
    assert.deepEqual(containerSecurity(pod(), c(undefined), host).capabilities.sort(), [...DEFAULT_CAPABILITIES].sort());
    const added = containerSecurity(pod(), c({ capabilities: { add: ['NET_ADMIN', 'cap_sys_time', 'SYS_RESOURCE'], drop: ['CHOWN', 'CAP_KILL'] } }), host).capabilities;
    assert.ok(added.includes('CAP_NET_ADMIN') && added.includes('CAP_SYS_TIME'));
    assert.ok(!added.includes('CAP_CHOWN') && !added.includes('CAP_KILL'));
    assert.ok(!added.includes('CAP_SYS_RESOURCE'), 'a capability the node lacks cannot be given');
    assert.deepEqual(containerSecurity(pod(), c({ capabilities: { drop: ['ALL'], add: ['NET_BIND_SERVICE'] } }), host).capabilities, ['CAP_NET_BIND_SERVICE']);
    assert.deepEqual(containerSecurity(pod(), c({ capabilities: { add: ['ALL'], drop: ['SYS_ADMIN'] } }), host).capabilities.sort(), host.filter((x) => x !== 'CAP_SYS_ADMIN').sort());
    assert.deepEqual(containerSecurity(pod(), c({ privileged: true }), host).capabilities.sort(), [...host].sort());
  });

  it('sets no_new_privs only for allowPrivilegeEscalation false; seccomp from the container, else the pod, else Unconfined', () => {
    assert.equal(containerSecurity(pod(), c(undefined), host).noNewPrivileges, false);
    assert.equal(containerSecurity(pod(), c({ allowPrivilegeEscalation: false }), host).noNewPrivileges, true);
    assert.deepEqual(containerSecurity(pod(), c(undefined), host).seccomp, { type: 'Unconfined' });
    const podDefault = pod({ securityContext: { seccompProfile: { type: 'RuntimeDefault' } } });
    assert.deepEqual(containerSecurity(podDefault, c(undefined), host).seccomp, { type: 'RuntimeDefault' });
    assert.deepEqual(containerSecurity(podDefault, c({ seccompProfile: { type: 'Localhost', localhostProfile: 'p/x.json' } }), host).seccomp, { type: 'Localhost', file: 'p/x.json' });
    assert.deepEqual(containerSecurity(podDefault, c({ privileged: true }), host).seccomp, { type: 'Unconfined' }, 'privileged containers are not filtered');
    assert.equal(containerSecurity(pod(), c({ readOnlyRootFilesystem: true }), host).readonlyRootfs, true);
  });

  it('adds fsGroup then supplementalGroups to the process\'s groups', () => {
    const u = containerUser(pod({ securityContext: { runAsUser: 1000, fsGroup: 2000, supplementalGroups: [3000, 2000] } }), c(undefined), {});
    assert.deepEqual(u, { uid: 1000, gid: 0, additionalGids: [2000, 3000] });
  });

  it('spells capabilities as containerd does and reads /proc masks', () => {
    assert.equal(capabilityName('net_admin'), 'CAP_NET_ADMIN');
    assert.equal(capabilityName('CAP_CHOWN'), 'CAP_CHOWN');
    assert.equal(capabilityName('all'), 'ALL');
    assert.equal(capabilityName('NET_ADMN'), undefined);
    assert.deepEqual(capabilitiesOfMask('0000000000000003'), ['CAP_CHOWN', 'CAP_DAC_OVERRIDE']);
    assert.equal(capabilitiesOfMask('000001ffffffffff').length, 41);
  });
});

describe('node agent: seccomp filters', () => {
  const names = (f: Record<string, unknown>): string[] => (f.syscalls as { names: string[] }[]).flatMap((s) => s.names);

  it('the default filter refuses what Docker documents, giving back what a held capability makes legitimate', () => {
    const plain = defaultSeccompProfile(DEFAULT_CAPABILITIES);
    assert.equal(plain.defaultAction, 'SCMP_ACT_ALLOW');
    for (const s of ['mount', 'umount2', 'unshare', 'setns', 'reboot', 'kexec_load', 'init_module', 'add_key', 'keyctl', 'bpf', 'process_vm_readv', 'clock_settime', 'swapon', 'clone3']) {
      assert.ok(names(plain).includes(s), `${s} refused`);
    }
    assert.ok(!names(plain).includes('ptrace'), 'ptrace is allowed on modern kernels, as in Docker');
    assert.equal((plain.syscalls as { names: string[]; args?: unknown[] }[]).filter((s) => s.names[0] === 'clone' && s.args).length, 7, 'clone with any namespace flag is refused');
    const admin = defaultSeccompProfile([...DEFAULT_CAPABILITIES, 'CAP_SYS_ADMIN', 'CAP_SYS_TIME']);
    for (const s of ['mount', 'unshare', 'setns', 'clone', 'clone3', 'clock_settime', 'bpf']) assert.ok(!names(admin).includes(s), `${s} given back`);
    assert.ok(names(admin).includes('reboot'), 'reboot still needs CAP_SYS_BOOT');
  });

  it('reads Localhost profiles in the OCI and Docker forms, with includes/excludes by capability and architecture', () => {
    const f = profileFilter({
      defaultAction: 'SCMP_ACT_ERRNO',
      defaultErrnoRet: 1,
      archMap: [{ architecture: 'SCMP_ARCH_X86_64', subArchitectures: ['SCMP_ARCH_X86'] }],
      syscalls: [
        { names: ['read', 'write'], action: 'SCMP_ACT_ALLOW' },
        { name: 'mount', action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYS_ADMIN'] } },
        { names: ['chown'], action: 'SCMP_ACT_ALLOW', excludes: { caps: ['CAP_CHOWN'] } },
      ],
    }, 'x.json', DEFAULT_CAPABILITIES);
    assert.deepEqual(f, {
      defaultAction: 'SCMP_ACT_ERRNO',
      defaultErrnoRet: 1,
      architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86'],
      syscalls: [{ names: ['read', 'write'], action: 'SCMP_ACT_ALLOW' }],
    });
    assert.throws(() => profileFilter({ syscalls: [] } as never, 'bad.json', []), /bad\.json has no defaultAction/);
    assert.throws(() => profileFilter({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ action: 'SCMP_ACT_ERRNO' }] }, 'bad.json', []), /syscalls\[0\] needs names and an action/);
  });
});

describe('node agent: stopping a container (preStop hook, turn, signal, kill)', () => {
  /** containerd as far as a stop needs it: one running task that records the signals it gets. */
  function fakeClient(): { client: ContainerdClient; signals: Array<{ signal: number; all: boolean }>; exit(): void } {
    let status = 'RUNNING';
    const signals: Array<{ signal: number; all: boolean }> = [];
    const client = {
      getTask: async () => ({ status, pid: 0, exit_status: 0 }),
      killTask: async (_id: string, signal: number, opts: { all: boolean }) => void signals.push({ signal, all: opts.all }),
    } as unknown as ContainerdClient;
    return { client, signals, exit: () => void (status = 'STOPPED') };
  }
  const running = (): ContainerRuntime => Object.assign(newContainer('c', 'app', 'busybox'), { phase: 'running' as const, id: 'c-0' });

  it('runs the preStop hook first, signals when it ends, and SIGKILLs at the deadline', async () => {
    const { client, signals } = fakeClient();
    const c = running();
    let finish!: () => void;
    let hooks = 0;
    const preStop = () => { hooks++; return new Promise<void>((r) => (finish = r)); };
    requestStop(c, 10_000);
    const opts = { cgroupsPath: '/gantry/u/c', preStop };
    assert.equal(await advanceStop(client, c, { ...opts, now: 0 }), 10_000, 'waits for the hook');
    assert.equal(await advanceStop(client, c, { ...opts, now: 1000 }), 9000);
    assert.deepEqual(signals, [], 'no signal while the hook runs');
    finish();
    await new Promise((r) => setImmediate(r));
    assert.equal(await advanceStop(client, c, { ...opts, now: 3000 }), 7000);
    assert.deepEqual(signals, [{ signal: 15, all: false }], 'SIGTERM once the hook ended');
    assert.equal(hooks, 1, 'the hook ran once');
    await advanceStop(client, c, { ...opts, now: 10_000 });
    assert.deepEqual(signals.at(-1), { signal: 9, all: true });
  });

  it('gives the process 2 s after a hook that outlived the grace period', async () => {
    const { client, signals } = fakeClient();
    const c = running();
    requestStop(c, 5000);
    const opts = { cgroupsPath: '/gantry/u/c', preStop: () => new Promise<void>(() => undefined) };
    await advanceStop(client, c, { ...opts, now: 0 });
    assert.equal(await advanceStop(client, c, { ...opts, now: 5000 }), MIN_GRACE_MS);
    assert.deepEqual(signals, [{ signal: 15, all: false }]);
    await advanceStop(client, c, { ...opts, now: 5000 + MIN_GRACE_MS });
    assert.equal(signals.at(-1)!.signal, 9);
  });

  it('a sidecar waits for its turn, then is signalled; a hostPID container is killed process by process', async () => {
    const { client, signals } = fakeClient();
    const c = running();
    requestStop(c, 30_000);
    assert.equal(await advanceStop(client, c, { now: 0, cgroupsPath: '/x', waitTurn: true }), 30_000);
    assert.equal(signals.length, 0, 'no signal before its turn');
    assert.equal(await advanceStop(client, c, { now: 1000, cgroupsPath: '/x' }), 29_000);
    assert.equal(signals[0]!.signal, 15);
    const other = fakeClient();
    const h = running();
    requestStop(h, 0);
    await advanceStop(other.client, h, { now: 0, cgroupsPath: '/x', hostPID: true });
    assert.deepEqual(other.signals, [{ signal: 9, all: true }]);
  });
});

describe('node agent: pod status with sidecars', () => {
  const spec = (): Pod => pod({
    restartPolicy: 'Never',
    initContainers: [{ name: 'proxy', image: 'busybox', restartPolicy: 'Always' }, { name: 'migrate', image: 'busybox' }],
    containers: [{ name: 'main', image: 'busybox' }],
  });
  const state = (name: string, kind: 'init' | 'app', s: Partial<ContainerRuntime>, sidecar = false): ContainerRuntime => Object.assign(newContainer(name, kind, 'busybox', sidecar), s);
  const rt = (proxy: Partial<ContainerRuntime>, migrate: Partial<ContainerRuntime> | undefined, main: Partial<ContainerRuntime> | undefined, initialized = false): PodRuntime => ({
    uid: 'u', namespace: 'shop', name: 'web-0', conditions: [], initialized,
    init: new Map([['proxy', state('proxy', 'init', proxy, true)], ...(migrate ? [['migrate', state('migrate', 'init', migrate)] as const] : [])]),
    app: new Map(main ? [['main', state('main', 'app', main)]] : []),
  });
  const up = { phase: 'running' as const, id: 'x', started: true, ready: true };
  const done = (code: number) => ({ phase: 'exited' as const, id: 'x', terminated: { exitCode: code } });

  it('is Pending until the sidecar started and the init container completed; the sidecar is counted ready, not completed', () => {
    const p = spec();
    assert.equal(podPhase(p, rt({ phase: 'running', id: 'x', started: false }, undefined, undefined)), 'Pending');
    const s = computePodStatus(p, rt(up, done(0), up, true), { hostIP: '192.0.2.1', now: '2026-01-01T00:00:00Z' });
    assert.equal(s.phase, 'Running');
    assert.equal(s.conditions!.find((c) => c.type === 'Initialized')!.status, 'True');
    assert.equal(s.initContainerStatuses!.find((c) => c.name === 'proxy')!.ready, true);
    const unready = computePodStatus(p, rt({ ...up, ready: false }, done(0), up, true), { hostIP: '192.0.2.1', now: '2026-01-01T00:00:00Z' });
    assert.equal(unready.conditions!.find((c) => c.type === 'ContainersReady')!.message, 'containers with unready status: [proxy]');
  });

  it('stays Running while the sidecar runs after main finished, then takes main\'s outcome whatever the sidecar\'s exit', () => {
    const p = spec();
    assert.equal(podPhase(p, rt(up, done(0), done(0), true)), 'Running');
    assert.equal(podPhase(p, rt(done(143), done(0), done(0), true)), 'Succeeded');
    assert.equal(podPhase(p, rt(done(0), done(0), done(1), true)), 'Failed');
  });
});

describe('node agent: gRPC probes', () => {
  let server: grpc.Server;
  let port: number;
  const statuses: Record<string, number> = { '': 1, sick: 2 };

  before(async () => {
    server = new grpc.Server();
    server.register('/grpc.health.v1.Health/Check', (call: grpc.ServerUnaryCall<Buffer, number>, cb: grpc.sendUnaryData<number>) => {
      const service = call.request.length ? call.request.subarray(2).toString() : '';
      cb(null, statuses[service] ?? 3);
    }, (status: number) => (status ? Buffer.from([8, status]) : Buffer.alloc(0)), (b: Buffer) => b, 'unary');
    port = await new Promise((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  });
  after(() => new Promise<void>((r) => server.tryShutdown(() => r())));

  it('encodes the request and decodes the status of the health protocol', () => {
    assert.deepEqual([...encodeHealthRequest('db')], [10, 2, 100, 98]);
    assert.deepEqual([...encodeHealthRequest('')], []);
    assert.equal(decodeHealthStatus(Buffer.from([8, 2])), 2);
    assert.equal(decodeHealthStatus(Buffer.alloc(0)), 0);
  });

  it('succeeds on SERVING and fails otherwise with the kubelet\'s words', async () => {
    assert.deepEqual(await grpcProbe({ host: '127.0.0.1', port, timeoutMs: 2000 }), { ok: true });
    assert.deepEqual(await grpcProbe({ host: '127.0.0.1', port, service: 'sick', timeoutMs: 2000 }), { ok: false, message: 'service unhealthy (responded with "NOT_SERVING")' });
    assert.deepEqual(await grpcProbe({ host: '127.0.0.1', port, service: 'other', timeoutMs: 2000 }), { ok: false, message: 'service unhealthy (responded with "SERVICE_UNKNOWN")' });
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', () => r()));
    const free = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const refused = await grpcProbe({ host: '127.0.0.1', port: free, timeoutMs: 1000 });
    assert.equal(refused.ok, false);
    assert.match(refused.message!, /^timeout: failed to connect service "127\.0\.0\.1:\d+" within 1s/);
  });
});

describe('node agent: lifecycle hook handlers', () => {
  const target = (port = 1): HookTarget => ({
    client: {} as ContainerdClient, containerId: 'c-0', podName: 'web-0_shop(u-1)', podIP: '127.0.0.1', scratchDir: '/nonexistent',
    container: { name: 'main', image: 'busybox', ports: [{ name: 'admin', containerPort: port }] },
  });

  it('an httpGet hook succeeds on any answer and fails only when the request does', async () => {
    const server = http.createServer((_req, res) => { res.statusCode = 500; res.end(); });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as AddressInfo).port;
    try {
      assert.deepEqual(await runHook({ httpGet: { path: '/quit', port: 'admin' } }, target(port)), { ok: true });
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
    const failed = await runHook({ httpGet: { path: '/quit', port } }, target(port));
    assert.equal(failed.ok, false);
    assert.match(failed.message!, /^HTTP lifecycle hook \(\/quit\) for Container "main" in Pod "web-0_shop\(u-1\)" failed - error: /);
  });

  it('a sleep hook waits, cut short by its time limit; a tcpSocket hook fails, as in Kubernetes', async () => {
    const t0 = Date.now();
    assert.deepEqual(await runHook({ sleep: { seconds: 5 } }, target(), { timeoutMs: 100 }), { ok: true });
    assert.ok(Date.now() - t0 < 1000);
    const tcp = await runHook({ tcpSocket: { port: 80 } }, target());
    assert.equal(tcp.ok, false);
    assert.match(tcp.message!, /TCPSocket is not supported as a lifecycle handler/);
  });
});

describe('node volumes: fsGroup ownership', () => {
  let dir: string;
  beforeEach(async function () {
    if (process.getuid?.() !== 0) this.skip();
    dir = await mkdtemp(path.join(tmpdir(), 'gantry-fsgroup-'));
    await mkdir(path.join(dir, 'sub'));
    await writeFile(path.join(dir, 'sub', 'f'), 'x', { mode: 0o600 });
    await symlink('sub/f', path.join(dir, 'link'));
  });
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('gives every file the group with group read-write, directories the setgid bit; a read-only volume group read only', async () => {
    assert.equal(await setVolumeOwnership(dir, 2000, { readOnly: false }), true);
    const st = async (p: string) => lstat(path.join(dir, p));
    assert.equal((await st('.')).gid, 2000);
    assert.equal((await st('.')).mode & 0o2770, 0o2770);
    assert.equal((await st('sub')).mode & 0o2000, 0o2000);
    assert.equal((await st('sub/f')).gid, 2000);
    assert.equal((await st('sub/f')).mode & 0o777, 0o660);
    assert.equal((await st('link')).gid, 2000, 'a symlink gets the group too');
    await setVolumeOwnership(dir, 3000, { readOnly: true });
    assert.equal((await st('sub/f')).mode & 0o777, 0o660, 'modes only ever gain bits');
    assert.equal((await st('sub/f')).gid, 3000);
  });

  it('with OnRootMismatch, skips a volume whose root already matches and walks one that does not', async () => {
    assert.equal(await setVolumeOwnership(dir, 2000, { readOnly: false, policy: 'OnRootMismatch' }), true);
    await writeFile(path.join(dir, 'later'), 'y', { mode: 0o600 });
    // New files inherit the group from the setgid directory; this one is given another.
    await chown(path.join(dir, 'later'), 0, 0);
    assert.equal(await setVolumeOwnership(dir, 2000, { readOnly: false, policy: 'OnRootMismatch' }), false);
    assert.notEqual((await lstat(path.join(dir, 'later'))).gid, 2000, 'skipped: the root already matched');
    assert.equal(await setVolumeOwnership(dir, 2000, { readOnly: false, policy: 'Always' }), true);
    assert.equal((await lstat(path.join(dir, 'later'))).gid, 2000);
    assert.equal(await setVolumeOwnership(dir, 4000, { readOnly: false, policy: 'OnRootMismatch' }), true, 'another group: walked');
  });
});

describe('kubectl columns for the pods these fields make', () => {
  const cstatus = (name: string, s: { ready?: boolean; started?: boolean; restartCount?: number; state?: object }) => ({
    name, ready: s.ready ?? false, started: s.started, restartCount: s.restartCount ?? 0, image: 'busybox', imageID: '', lastState: {}, state: s.state ?? { running: {} },
  });
  const withSidecar = (status: Pod['status']): Pod => ({
    ...pod({ initContainers: [{ name: 'proxy', image: 'busybox', restartPolicy: 'Always' }, { name: 'migrate', image: 'busybox' }], containers: [{ name: 'main', image: 'busybox' }] }),
    status,
  });

  it('counts a sidecar in READY and RESTARTS, and lets the pod go on once it started', () => {
    const running = withSidecar({
      phase: 'Running',
      initContainerStatuses: [cstatus('proxy', { ready: true, started: true, restartCount: 2 }), cstatus('migrate', { ready: true, state: { terminated: { exitCode: 0 } } })],
      containerStatuses: [cstatus('main', { ready: true, started: true })],
    });
    assert.equal(podReady(running), '2/2');
    assert.equal(podRestarts(running), 2);
    assert.equal(podStatus(running), 'Running');
    const starting = withSidecar({ phase: 'Pending', initContainerStatuses: [cstatus('proxy', { started: false }), cstatus('migrate', { state: { waiting: { reason: 'PodInitializing' } } })] });
    assert.equal(podStatus(starting), 'Init:0/2');
    assert.equal(podReady(starting), '0/2');
  });

  it('shows SchedulingGated for a pod its gates hold back', () => {
    const gated: Pod = { ...pod({ schedulingGates: [{ name: 'x' }] }), status: { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False', reason: 'SchedulingGated' }] } };
    assert.equal(podStatus(gated), 'SchedulingGated');
  });
});
