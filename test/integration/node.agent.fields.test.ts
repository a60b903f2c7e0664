/**
 * The pod fields real repositories use, run by the node agent against real containerd and runc:
 * lifecycle hooks (a preStop hook delaying termination, measured; postStart), a gRPC probe
 * against a gRPC health server this test process serves, sidecars that start before and outlive
 * the main container, downwardAPI and projected files read from inside a container, Service
 * link variables, and the security context (read-only root, dropped capabilities, seccomp,
 * no_new_privs, privileged, users and groups with fsGroup ownership, host PID and IPC), pod
 * sysctls and mountPropagation.
 *
 * One agent bed for the file; the pods start together in `before` and each test reads its own.
 * Containers check what they see themselves and exit 0 only when it is right; their log says
 * what was wrong otherwise.
 */
import assert from 'node:assert/strict';
import { mkdir, readFile, readlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { deletePod } from '../../src/controllers/pods.js';
import type { KubeEvent } from '../../src/events/recorder.js';
import { silentLogger } from '../../src/log.js';
import type { ConfigMap, Container, Pod, Service } from '../../src/model/types.js';
import { StoreServiceView } from '../../src/node/proxy/source.js';
import { busybox, containerStatus, startAgentBedOrSkip, type AgentBed } from '../fakes/node-agent-bed.js';

const cs = containerStatus;
const run = async (cmd: string, args: string[]): Promise<void> => void (await promisify(execFile)(cmd, args));
const ready = (p: Pod): boolean => p.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
const phase = (want: string) => (p: Pod): boolean => p.status?.phase === want;
const uptime = async (): Promise<number> => Number((await readFile('/proc/uptime', 'utf8')).split(' ')[0]);
/** A shell line appending `<label> <seconds since boot>` to /log/events (the host's clock, shared with the test). */
const note = (label: string): string => `echo "${label} $(awk "{print \\$1}" /proc/uptime)" >> /log/events`;

/** A gRPC health server (grpc.health.v1.Health/Check) in this process, its statuses per service settable. */
async function startHealthServer(): Promise<{ port: number; set(service: string, status: 'SERVING' | 'NOT_SERVING'): void; stop(): Promise<void> }> {
  const statuses = new Map<string, number>();
  const server = new grpc.Server();
  server.register(
    '/grpc.health.v1.Health/Check',
    (call: grpc.ServerUnaryCall<string, number>, callback: grpc.sendUnaryData<number>) => {
      const status = statuses.get(call.request);
      if (status === undefined) callback({ code: grpc.status.NOT_FOUND, details: `unknown service ${call.request}` });
      else callback(null, status);
    },
    (status: number) => Buffer.from(protobuf.Writer.create().uint32(8).int32(status).finish()),
    (buf: Buffer) => {
      const r = protobuf.Reader.create(buf);
      let service = '';
      while (r.pos < r.len) {
        const tag = r.uint32();
        if (tag === 10) service = r.string();
        else r.skipType(tag & 7);
      }
      return service;
    },
    'unary',
  );
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  return {
    port,
    set: (service, status) => void statuses.set(service, status === 'SERVING' ? 1 : 2),
    stop: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
  };
}

/** The Events about a pod, once `pred` holds for them. */
async function eventsOf(bed: AgentBed, name: string, pred: (evs: KubeEvent[]) => boolean, timeoutMs = 20_000): Promise<KubeEvent[]> {
  const deadline = Date.now() + timeoutMs;
  let evs: KubeEvent[] = [];
  while (Date.now() < deadline) {
    evs = (await bed.store.list<KubeEvent>('Event', { namespace: 'default' })).items.filter((e) => e.involvedObject.name === name);
    if (pred(evs)) return evs;
    await sleep(200);
  }
  throw new Error(`the events of pod ${name} did not arrive; they are: ${evs.map((e) => `${e.reason}: ${e.message}`).join('; ')}`);
}

/** A container that runs `script` and exits with its status (checks print what went wrong). */
function check(name: string, script: string, extra: Partial<Container> = {}): Container {
  return busybox(name, ['sh', '-c', `set -e\n${script}`], extra);
}

describe('NodeAgent: hooks, gRPC probes, sidecars, downward API, service links, security (real containerd)', function () {
  this.timeout(180_000);
  let bed: AgentBed;
  let view: StoreServiceView | undefined;
  let health: Awaited<ReturnType<typeof startHealthServer>>;
  let logs: string;
  let shared = '';

  /** The log of a container of a pod (its last instance), for failure messages. */
  const logOf = async (pod: Pod, container: string): Promise<string> => readFile(bed.logs.pathFor(pod.metadata.uid!, container, 0), 'utf8').catch(() => '(no log)');
  /** Waits for a pod to succeed, showing its containers' logs when it failed. */
  const succeeded = async (name: string, containers: string[]): Promise<Pod> => {
    const p = await bed.waitPod(name, (x) => x.status?.phase === 'Succeeded' || x.status?.phase === 'Failed', 60_000);
    if (p.status?.phase !== 'Succeeded') {
      const out = await Promise.all(containers.map(async (c) => `--- ${c} (${JSON.stringify(cs(p, c)?.state ?? p.status?.initContainerStatuses?.find((s) => s.name === c)?.state)}):\n${await logOf(p, c)}`));
      assert.fail(`pod ${name} failed:\n${out.join('\n')}`);
    }
    return p;
  };

  before(async function () {
    bed = await startAgentBedOrSkip(this, { services: () => view?.services() ?? [] });
    view = new StoreServiceView({ store: bed.store, logger: silentLogger() });
    await view.start();
    health = await startHealthServer();
    health.set('ready', 'SERVING');
    health.set('live', 'SERVING');
    logs = path.join(bed.ctd.dir, 'logs');
    const hostLog = (dir: string) => ({ name: 'log', hostPath: { path: path.join(logs, dir), type: 'DirectoryOrCreate' } });
    const logMount = { name: 'log', mountPath: '/log' };
    await mkdir(path.join(bed.nodeDir, 'seccomp'), { recursive: true });
    await writeFile(path.join(bed.nodeDir, 'seccomp', 'no-mkdir.json'), JSON.stringify({
      defaultAction: 'SCMP_ACT_ALLOW',
      archMap: [{ architecture: 'SCMP_ARCH_X86_64', subArchitectures: ['SCMP_ARCH_X86', 'SCMP_ARCH_X32'] }, { architecture: 'SCMP_ARCH_AARCH64', subArchitectures: ['SCMP_ARCH_ARM'] }],
      syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }],
    }));
    await bed.store.create<ConfigMap>({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'app-config', namespace: 'default' }, data: { 'app.ini': 'x=1' } });
    await bed.store.create<Service>({
      apiVersion: 'v1', kind: 'Service', metadata: { name: 'web-api', namespace: 'default' },
      spec: { clusterIP: '10.96.7.7', ports: [{ name: 'http', port: 80, protocol: 'TCP', targetPort: 8080 }, { name: 'metrics', port: 9090, protocol: 'TCP' }] },
    });
    await bed.store.create<Service>({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'headless', namespace: 'default' }, spec: { clusterIP: 'None', ports: [{ port: 80 }] } });
    const deadline = Date.now() + 10_000;
    while ((view.services().length < 2) && Date.now() < deadline) await sleep(50);
    const hostStatus = await readFile('/proc/self/status', 'utf8');
    const capBnd = /^CapBnd:\s*(\S+)/m.exec(hostStatus)![1]!;
    const hostIpc = await readlink('/proc/self/ns/ipc');
    // A shared mount of the test's own, for mountPropagation (the machine's / may be private).
    shared = path.join(bed.ctd.dir, 'propagation');
    await mkdir(path.join(shared, 'sub'), { recursive: true });
    await run('mount', ['--bind', shared, shared]);
    await run('mount', ['--make-rshared', shared]);

    await Promise.all([
      // preStop: exec and sleep hooks, each before its container's SIGTERM, against the grace period.
      bed.createPod('prestop', {
        terminationGracePeriodSeconds: 10,
        volumes: [hostLog('prestop')],
        containers: [
          busybox('exec-hook', ['sh', '-c', `trap '${note('exec-term')}; exit 0' TERM; ${note('exec-start')}; while true; do sleep 0.1; done`], {
            volumeMounts: [logMount],
            lifecycle: { preStop: { exec: { command: ['sh', '-c', `${note('prestop-begin')}; sleep 2; ${note('prestop-end')}`] } } },
          }),
          busybox('sleep-hook', ['sh', '-c', `trap '${note('sleep-term')}; exit 0' TERM; while true; do sleep 0.1; done`], {
            volumeMounts: [logMount],
            lifecycle: { preStop: { sleep: { seconds: 2 } } },
          }),
        ],
      }),
      // postStart: one that runs (its file is there), one that fails (the container is killed and restarted).
      bed.createPod('poststart', {
        containers: [busybox('main', ['sh', '-c', 'sleep 3600'], { lifecycle: { postStart: { exec: { command: ['sh', '-c', 'echo hooked > /tmp/post-start'] } } } })],
      }),
      bed.createPod('poststart-fails', {
        containers: [busybox('main', ['sh', '-c', 'sleep 3600'], { lifecycle: { postStart: { exec: { command: ['sh', '-c', 'echo no >&2; exit 3'] } } } })],
      }),
      // gRPC probes against the health server of this process, through the host network.
      bed.createPod('grpc', {
        hostNetwork: true,
        containers: [busybox('main', ['sleep', '3600'], {
          readinessProbe: { grpc: { port: health.port, service: 'ready' }, periodSeconds: 1, failureThreshold: 1 },
          livenessProbe: { grpc: { port: health.port, service: 'live' }, periodSeconds: 1, failureThreshold: 2 },
        })],
      }),
      // Sidecars: one started (its startup probe passed) before the next init container and the
      // main container; one that keeps exiting and is restarted; both stopped after main.
      bed.createPod('sidecar', {
        restartPolicy: 'Never',
        volumes: [hostLog('sidecar')],
        initContainers: [
          busybox('proxy', ['sh', '-c', `trap '${note('proxy-term')}; exit 0' TERM; ${note('proxy-start')}; sleep 1; touch /tmp/up; while true; do sleep 0.1; done`], {
            restartPolicy: 'Always',
            volumeMounts: [logMount],
            startupProbe: { exec: { command: ['test', '-f', '/tmp/up'] }, periodSeconds: 1, failureThreshold: 30 },
          }),
          busybox('flaky', ['sh', '-c', 'sleep 0.5; exit 1'], { restartPolicy: 'Always' }),
          busybox('migrate', ['sh', '-c', note('migrate')], { volumeMounts: [logMount] }),
        ],
        containers: [busybox('main', ['sh', '-c', `${note('main-start')}; sleep 3; ${note('main-done')}`], { volumeMounts: [logMount] })],
      }),
      // The downward API in files, projections and env; a label change reaches the file.
      bed.createPod('downward', {
        restartPolicy: 'Never',
        volumes: [
          { name: 'podinfo', downwardAPI: { defaultMode: 0o440, items: [
            { path: 'name', fieldRef: { fieldPath: 'metadata.name' } },
            { path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } },
            { path: 'tier', fieldRef: { fieldPath: "metadata.labels['tier']" } },
            { path: 'mem', resourceFieldRef: { containerName: 'main', resource: 'limits.memory', divisor: '1Mi' } },
          ] } },
          { name: 'all', projected: { sources: [
            { configMap: { name: 'app-config', items: [{ key: 'app.ini', path: 'config/app.ini' }] } },
            { secret: { name: 'absent', optional: true } },
            { downwardAPI: { items: [{ path: 'ns', fieldRef: { fieldPath: 'metadata.namespace' } }, { path: 'uid', fieldRef: { fieldPath: 'metadata.uid' } }] } },
          ] } },
        ],
        containers: [check('main', [
          'test "$(cat /etc/podinfo/name)" = downward || { echo "name: $(cat /etc/podinfo/name)"; exit 1; }',
          'grep -qx \'tier="web"\' /etc/podinfo/labels || { echo "labels: $(cat /etc/podinfo/labels)"; exit 1; }',
          'test "$(cat /etc/podinfo/mem)" = 64 || { echo "mem: $(cat /etc/podinfo/mem)"; exit 1; }',
          'test "$(stat -L -c %a /etc/podinfo/name)" = 440 || { echo "mode: $(stat -L -c %a /etc/podinfo/name)"; exit 1; }',
          'test "$(cat /etc/all/config/app.ini)" = x=1 && test "$(cat /etc/all/ns)" = default && test -n "$(cat /etc/all/uid)"',
          'test "$MEM_MI" = 64 && test "$NODE" = "$EXPECT_NODE" && test -n "$POD_IP" && test "$TIER" = web || { env; exit 1; }',
          'i=0; until grep -qx api /etc/podinfo/tier; do i=$((i+1)); test $i -lt 600 || { echo "tier: $(cat /etc/podinfo/tier)"; exit 1; }; sleep 0.2; done',
        ].join('\n'), {
          resources: { limits: { memory: '64Mi' } },
          volumeMounts: [{ name: 'podinfo', mountPath: '/etc/podinfo' }, { name: 'all', mountPath: '/etc/all' }],
          env: [
            { name: 'MEM_MI', valueFrom: { resourceFieldRef: { resource: 'limits.memory', divisor: '1Mi' } } },
            { name: 'NODE', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
            { name: 'EXPECT_NODE', value: bed.nodeName },
            { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
            { name: 'TIER', valueFrom: { fieldRef: { fieldPath: "metadata.labels['tier']" } } },
          ],
        })],
      }, { labels: { tier: 'web' } }),
      // Service link variables, and none with enableServiceLinks false.
      bed.createPod('links', {
        restartPolicy: 'Never',
        containers: [check('main', [
          'test "$WEB_API_SERVICE_HOST" = 10.96.7.7 && test "$WEB_API_SERVICE_PORT" = 80 && test "$WEB_API_SERVICE_PORT_METRICS" = 9090 || { env | sort; exit 1; }',
          'test "$WEB_API_PORT" = tcp://10.96.7.7:80 && test "$WEB_API_PORT_9090_TCP_ADDR" = 10.96.7.7 && test "$WEB_API_PORT_80_TCP_PROTO" = tcp || { env | sort; exit 1; }',
          'test "$FROM_LINK" = "10.96.7.7:80" || { echo "FROM_LINK=$FROM_LINK"; exit 1; }',
          'test -z "$HEADLESS_SERVICE_HOST" || { echo "a headless Service has no variables"; exit 1; }',
        ].join('\n'), { env: [{ name: 'FROM_LINK', value: '$(WEB_API_SERVICE_HOST):$(WEB_API_SERVICE_PORT)' }] })],
      }),
      bed.createPod('no-links', {
        restartPolicy: 'Never',
        enableServiceLinks: false,
        containers: [check('main', 'test -z "$WEB_API_SERVICE_HOST" || { env | sort; exit 1; }')],
      }),
      // Security: each container checks what it may and may not do.
      bed.createPod('security', {
        restartPolicy: 'Never',
        hostPID: true,
        hostIPC: true,
        securityContext: { fsGroup: 2000, supplementalGroups: [3000] },
        volumes: [{ name: 'scratch', emptyDir: {} }],
        containers: [
          check('readonly-root', 'if touch /file-in-root 2>/dev/null; then echo "wrote to the read-only root"; exit 1; fi\ntouch /scratch/ok', {
            securityContext: { readOnlyRootFilesystem: true }, volumeMounts: [{ name: 'scratch', mountPath: '/scratch' }],
          }),
          check('no-chown', 'touch /tmp/f\nif chown 1:1 /tmp/f 2>/dev/null; then echo "chown worked without CAP_CHOWN"; exit 1; fi', { securityContext: { capabilities: { drop: ['CHOWN'] } } }),
          check('chown', 'touch /tmp/f && chown 1:1 /tmp/f'),
          check('seccomp-default', 'grep -q "^Seccomp:[[:space:]]*2" /proc/self/status || { grep Seccomp /proc/self/status; exit 1; }\nif unshare -U true 2>/dev/null; then echo "unshare allowed"; exit 1; fi\ngrep -q "^NoNewPrivs:[[:space:]]*0" /proc/self/status', {
            securityContext: { seccompProfile: { type: 'RuntimeDefault' } },
          }),
          check('unconfined', 'grep -q "^Seccomp:[[:space:]]*0" /proc/self/status\nunshare -U true'),
          check('seccomp-localhost', 'if mkdir /tmp/d 2>/dev/null; then echo "mkdir allowed"; exit 1; fi\ngrep -q "^NoNewPrivs:[[:space:]]*1" /proc/self/status', {
            securityContext: { seccompProfile: { type: 'Localhost', localhostProfile: 'no-mkdir.json' }, allowPrivilegeEscalation: false },
          }),
          check('privileged', `grep -q "^CapEff:[[:space:]]*${capBnd}" /proc/self/status || { grep Cap /proc/self/status; exit 1; }\ngrep -q "^Seccomp:[[:space:]]*0" /proc/self/status\ntest -c /dev/null && mkdir -p /tmp/m && mount -t tmpfs none /tmp/m`, { securityContext: { privileged: true } }),
          check('user', [
            'test "$(id -u)" = 1000 && test "$(id -g)" = 1000 || { id; exit 1; }',
            'id -G | tr " " "\\n" | grep -qx 2000 && id -G | tr " " "\\n" | grep -qx 3000 || { id; exit 1; }',
            'test "$(stat -c %g /scratch)" = 2000 || { ls -ld /scratch; exit 1; }',
            'touch /scratch/mine && test "$(stat -c %g /scratch/mine)" = 2000 || { ls -l /scratch; exit 1; }',
          ].join('\n'), { securityContext: { runAsUser: 1000, runAsGroup: 1000 }, volumeMounts: [{ name: 'scratch', mountPath: '/scratch' }] }),
          check('host-ns', `test -d /proc/${process.pid} || { echo "no host pid ${process.pid}"; exit 1; }\ntest "$(readlink /proc/self/ns/ipc)" = "${hostIpc}" || { readlink /proc/self/ns/ipc; exit 1; }`),
        ],
      }),
      // Sysctls in the pod's namespaces; a host mount made later reaching a HostToContainer mount only.
      bed.createPod('kernel', {
        restartPolicy: 'Never',
        securityContext: { sysctls: [{ name: 'net.ipv4.ip_unprivileged_port_start', value: '0' }, { name: 'net/ipv4/ip_local_port_range', value: '20000 40000' }] },
        volumes: [{ name: 'host', hostPath: { path: shared } }],
        containers: [
          check('sysctl', [
            'test "$(cat /proc/sys/net/ipv4/ip_unprivileged_port_start)" = 0 || { cat /proc/sys/net/ipv4/ip_unprivileged_port_start; exit 1; }',
            // busybox's read cannot read a /proc/sys file: cat it.
            'range=$(cat /proc/sys/net/ipv4/ip_local_port_range | tr "\\t" " "); test "$range" = "20000 40000" || { echo "range $range"; exit 1; }',
            'nc -l -p 80 & pid=$!; sleep 0.3; kill -0 $pid || { echo "uid $(id -u) could not listen on port 80"; exit 1; }; kill $pid',
          ].join('\n'), { securityContext: { runAsUser: 1000 } }),
          check('propagation', [
            'i=0; until [ -f /slave/sub/marker ]; do i=$((i + 1)); [ $i -lt 300 ] || { echo "the host mount never reached the HostToContainer mount"; exit 1; }; sleep 0.1; done',
            'if [ -e /private/sub/marker ]; then echo "the host mount reached a mount without propagation"; exit 1; fi',
          ].join('\n'), { volumeMounts: [{ name: 'host', mountPath: '/slave', mountPropagation: 'HostToContainer' }, { name: 'host', mountPath: '/private' }] }),
        ],
      }),
    ]);
    // The downward pod waits for this label change to reach its file.
    const downward = await bed.waitPod('downward', (p) => p.status?.phase === 'Running' || p.status?.phase === 'Failed');
    await bed.store.update({ ...downward, metadata: { ...downward.metadata, labels: { tier: 'api' } } });
  });

  after(async () => {
    if (shared) {
      await run('umount', [path.join(shared, 'sub')]).catch(() => undefined);
      await run('umount', [shared]).catch(() => undefined);
    }
    await health?.stop();
    await view?.stop();
    if (bed) await bed.stop();
  });

  it('a preStop hook runs before SIGTERM and delays termination, within the grace period (exec and sleep)', async () => {
    const pod = await bed.waitPod('prestop', (p) => p.status?.phase === 'Running' && !!cs(p, 'exec-hook')?.state.running && !!cs(p, 'sleep-hook')?.state.running);
    const started = Date.now();
    await sleep(300); // the trap is set
    const deletedAt = await uptime();
    await deletePod(bed.store, pod, { origin: { actor: 'test' } });
    await bed.waitGone('prestop', 30_000);
    const tookMs = Date.now() - started;
    const events = new Map((await readFile(path.join(logs, 'prestop', 'events'), 'utf8')).trim().split('\n').map((l) => l.split(' ') as [string, string]).map(([k, v]) => [k, Number(v)]));
    const at = (k: string): number => {
      assert.ok(events.has(k), `${k} was recorded: ${[...events.keys()].join(', ')}`);
      return events.get(k)!;
    };
    assert.ok(at('prestop-begin') >= deletedAt - 0.05, 'the hook ran after the deletion');
    assert.ok(at('prestop-end') - at('prestop-begin') >= 1.9, 'the hook took its 2 s');
    assert.ok(at('exec-term') >= at('prestop-end'), `SIGTERM came after the exec hook ended (${at('exec-term')} vs ${at('prestop-end')})`);
    assert.ok(at('sleep-term') - deletedAt >= 1.9, `SIGTERM came after the sleep hook's 2 s (${(at('sleep-term') - deletedAt).toFixed(2)} s)`);
    assert.ok(tookMs >= 2000, `the pod was gone only after its hooks (${tookMs} ms)`);
    assert.ok(at('exec-term') - deletedAt < 8, `SIGTERM came when the hooks ended, long before the 10 s grace period ended (${(at('exec-term') - deletedAt).toFixed(2)} s)`);
  });

  it('a postStart hook runs in the container; a failing one kills it (FailedPostStartHook) and it is restarted', async () => {
    const ok = await bed.waitPod('poststart', ready);
    assert.equal(cs(ok, 'main')?.restartCount, 0);
    const { execInContainer } = await import('../../src/node/containerd/run.js');
    const id = cs(ok, 'main')!.containerID!.replace('containerd://', '');
    const seen = (await execInContainer(bed.ctd.client, id, { args: ['grep', '-qx', 'hooked', '/tmp/post-start'] })).exitStatus;
    assert.equal(seen, 0, `the hook wrote its file; events: ${(await eventsOf(bed, 'poststart', () => true)).map((e) => `${e.reason}: ${e.message}`).join('; ')}`);
    const evs = await eventsOf(bed, 'poststart-fails', (e) => e.some((x) => x.reason === 'FailedPostStartHook') && e.some((x) => x.reason === 'Killing'));
    assert.match(evs.find((e) => e.reason === 'FailedPostStartHook')!.message, /Exec lifecycle hook \(\[sh -c echo no >&2; exit 3\]\) for Container "main" in Pod "poststart-fails_default\(.*\)" failed - error: command .* exited with 3/);
    assert.equal(evs.find((e) => e.reason === 'Killing')!.message, 'FailedPostStartHook');
    const restarted = await bed.waitPod('poststart-fails', (p) => (cs(p, 'main')?.restartCount ?? 0) >= 1, 30_000);
    assert.equal(ready(restarted), false, 'never ready: its hook fails every time');
  });

  it('a gRPC readiness probe follows the health server both ways; a failing gRPC liveness probe restarts the container', async () => {
    await bed.waitPod('grpc', ready);
    health.set('ready', 'NOT_SERVING');
    await bed.waitPod('grpc', (p) => p.status?.phase === 'Running' && !ready(p));
    const evs = await eventsOf(bed, 'grpc', (e) => e.some((x) => x.reason === 'Unhealthy'));
    assert.ok(evs.some((e) => e.message === 'Readiness probe failed: service unhealthy (responded with "NOT_SERVING")'), evs.map((e) => e.message).join('; '));
    health.set('ready', 'SERVING');
    await bed.waitPod('grpc', ready);
    health.set('live', 'NOT_SERVING');
    const killed = await bed.waitPod('grpc', (p) => (cs(p, 'main')?.restartCount ?? 0) >= 1, 30_000);
    health.set('live', 'SERVING');
    assert.match(cs(killed, 'main')?.lastState.terminated?.message ?? '', /failed liveness probe/);
    await bed.waitPod('grpc', ready);
  });

  it('a sidecar starts before the next init container and the main container, is restarted when it exits, and is stopped after main; the pod succeeds', async () => {
    const init = (p: Pod, n: string) => p.status?.initContainerStatuses?.find((s) => s.name === n);
    const done = await succeeded('sidecar', ['main', 'proxy', 'migrate']);
    assert.equal(done.status?.conditions?.find((c) => c.type === 'Initialized')?.status, 'True');
    const order = (await readFile(path.join(logs, 'sidecar', 'events'), 'utf8')).trim().split('\n').map((l) => l.split(' ')[0]);
    assert.deepEqual(order, ['proxy-start', 'migrate', 'main-start', 'main-done', 'proxy-term']);
    assert.equal(cs(done, 'main')?.state.terminated?.exitCode, 0);
    assert.equal(init(done, 'proxy')?.state.terminated?.exitCode, 0, 'the sidecar got SIGTERM and exited');
    assert.ok((init(done, 'flaky')?.restartCount ?? 0) >= 1, 'the exiting sidecar was restarted while main ran');
  });

  it('downwardAPI and projected files, and downward env, are what the container reads; a label change reaches the file', async () => {
    await succeeded('downward', ['main']);
  });

  it('containers get the Service link variables of their namespace, and none with enableServiceLinks false', async () => {
    await succeeded('links', ['main']);
    await succeeded('no-links', ['main']);
  });

  it('sets the pod\'s sysctls in its namespaces, and a host mount made after the start reaches a HostToContainer mount only', async () => {
    await bed.waitPod('kernel', (p) => p.status?.phase === 'Running' || p.status?.phase === 'Failed' || p.status?.phase === 'Succeeded');
    await run('mount', ['-t', 'tmpfs', 'tmpfs', path.join(shared, 'sub')]);
    await writeFile(path.join(shared, 'sub', 'marker'), 'mounted on the host\n');
    await succeeded('kernel', ['sysctl', 'propagation']);
  });

  it('read-only root, dropped CAP_CHOWN, RuntimeDefault and Localhost seccomp, no_new_privs, privileged, users with fsGroup, host PID and IPC hold inside the containers', async () => {
    await succeeded('security', ['readonly-root', 'no-chown', 'chown', 'seccomp-default', 'unconfined', 'seccomp-localhost', 'privileged', 'user', 'host-ns']);
  });
});
