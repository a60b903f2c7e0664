/**
 * The node agent against real parts: a private containerd with runc, the busybox image, real CNI
 * networking and volumes, a SQLite store. Pods are created in the store bound to the agent's node
 * and observed through their status, containerd and the network.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { readFile } from 'node:fs/promises';
import type { KubeEvent } from '../../src/events/recorder.js';
import type { ConfigMap, Node, Secret } from '../../src/model/types.js';
import { readCgroupLimits, cgroupsPathFor } from '../../src/node/containerd/spec.js';
import { busybox, containerStatus, startAgentBedOrSkip, type AgentBed } from '../fakes/node-agent-bed.js';

function httpGet(host: string, port: number, urlPath = '/'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host, port, path: urlPath, timeout: 5000, agent: false }, (res) => {
      let body = '';
      res.on('data', (b: Buffer) => (body += b.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

const cs = containerStatus;

describe('NodeAgent (real containerd, CNI, volumes, SQLite store)', function () {
  this.timeout(120_000);
  let bed: AgentBed;

  before(async function () {
    bed = await startAgentBedOrSkip(this);
  });

  after(async () => {
    if (bed) await bed.stop();
  });

  it('registers its Node with capacity, allocatable, labels and a Ready heartbeat', async () => {
    const node = await bed.store.get<Node>({ kind: 'Node', name: bed.nodeName });
    assert.ok(node);
    assert.equal(node.metadata.labels?.['kubernetes.io/hostname'], bed.nodeName);
    assert.equal(node.metadata.labels?.['kubernetes.io/os'], 'linux');
    assert.ok(node.metadata.labels?.['kubernetes.io/arch']);
    assert.equal(node.status?.allocatable?.pods, '110');
    assert.ok(Number(node.status?.allocatable?.cpu) >= 1);
    assert.match(String(node.status?.allocatable?.memory), /^\d+(Ki|Mi|Gi)$/);
    const ready = node.status?.conditions?.find((c) => c.type === 'Ready') as { status: string; lastHeartbeatTime?: string } | undefined;
    assert.equal(ready?.status, 'True');
    assert.ok(ready?.lastHeartbeatTime);
    assert.equal(node.status?.nodeInfo?.kubeletVersion, 'gantry/0.1.0');
  });

  it('runs a pod and reports Running with a pod IP the host can reach', async () => {
    await bed.createPod('web', { containers: [busybox('httpd', ['httpd', '-f', '-p', '8080', '-h', '/etc'], { ports: [{ containerPort: 8080 }] })] });
    const pod = await bed.waitPod('web', (p) => p.status?.phase === 'Running' && !!p.status.podIP);
    assert.ok(pod.status?.podIP && /^10\.98\./.test(pod.status.podIP), `pod IP ${pod.status?.podIP}`);
    assert.deepEqual(pod.status?.podIPs, [{ ip: pod.status?.podIP }]);
    assert.ok(pod.status?.startTime);
    const s = cs(pod, 'httpd');
    assert.ok(s?.state.running?.startedAt);
    assert.match(s?.containerID ?? '', /^containerd:\/\//);
    assert.equal(s?.ready, true);
    assert.equal(s?.restartCount, 0);
    for (const t of ['PodScheduled', 'Initialized', 'ContainersReady', 'Ready']) {
      assert.equal(pod.status?.conditions?.find((c) => c.type === t)?.status, 'True', t);
    }
    const res = await httpGet(pod.status!.podIP!, 8080, '/hosts');
    assert.equal(res.status, 200);
    // The pod's generated /etc/hosts names the pod with its IP.
    assert.match(res.body, new RegExp(`${pod.status!.podIP!.replace(/\./g, '\\.')}\\s+web`));
  });

  it('restartPolicy Never: exit 0 → Succeeded with reason Completed; exit 3 → Failed with the exit code', async () => {
    await bed.createPod('ok', { restartPolicy: 'Never', containers: [busybox('main', ['sh', '-c', 'exit 0'])] });
    await bed.createPod('bad', { restartPolicy: 'Never', containers: [busybox('main', ['sh', '-c', 'exit 3'])] });
    const ok = await bed.waitPod('ok', (p) => p.status?.phase === 'Succeeded');
    assert.equal(cs(ok, 'main')?.state.terminated?.exitCode, 0);
    assert.equal(cs(ok, 'main')?.state.terminated?.reason, 'Completed');
    assert.equal(ok.status?.conditions?.find((c) => c.type === 'Ready')?.reason, 'PodCompleted');
    const bad = await bed.waitPod('bad', (p) => p.status?.phase === 'Failed');
    assert.equal(cs(bad, 'main')?.state.terminated?.exitCode, 3);
    assert.equal(cs(bad, 'main')?.state.terminated?.reason, 'Error');
    assert.equal(cs(bad, 'main')?.restartCount, 0);
  });

  it('restartPolicy OnFailure: a container that fails once and then succeeds ends Succeeded with restartCount 1', async () => {
    // The emptyDir survives the restart: the second run finds the marker and exits 0.
    await bed.createPod('retry', {
      restartPolicy: 'OnFailure',
      volumes: [{ name: 'scratch', emptyDir: {} }],
      containers: [busybox('main', ['sh', '-c', 'if [ -f /s/ran ]; then exit 0; fi; touch /s/ran; exit 1'], { volumeMounts: [{ name: 'scratch', mountPath: '/s' }] })],
    });
    const pod = await bed.waitPod('retry', (p) => p.status?.phase === 'Succeeded');
    assert.equal(cs(pod, 'main')?.restartCount, 1);
    assert.equal(cs(pod, 'main')?.lastState.terminated?.exitCode, 1);
  });

  it('a crashing container goes into CrashLoopBackOff with a growing restartCount and the kubelet message', async () => {
    const created = await bed.createPod('crash', { containers: [busybox('main', ['sh', '-c', 'exit 2'])] });
    const pod = await bed.waitPod('crash', (p) => (cs(p, 'main')?.restartCount ?? 0) >= 2 && cs(p, 'main')?.state.waiting?.reason === 'CrashLoopBackOff');
    const s = cs(pod, 'main')!;
    assert.match(s.state.waiting!.message!, new RegExp(`^back-off \\S+ restarting failed container=main pod=crash_default\\(${created.metadata.uid}\\)$`));
    assert.equal(s.lastState.terminated?.exitCode, 2);
    assert.equal(s.lastState.terminated?.reason, 'Error');
    assert.equal(pod.status?.phase, 'Running');
    assert.equal(pod.status?.conditions?.find((c) => c.type === 'Ready')?.status, 'False');
    // Only the current instance exists in containerd: restarts replace, never duplicate.
    const records = await bed.ctd.client.listContainerRecords([`labels."gantry.dev/pod-uid"==${created.metadata.uid}`]);
    assert.equal(records.length, 1);
  });

  it('limits land in the container cgroup (memory, CPU quota, pids)', async () => {
    const created = await bed.createPod('limited', {
      containers: [busybox('main', ['sleep', '3600'], { resources: { limits: { memory: '64Mi', cpu: '250m' } } })],
    });
    await bed.waitPod('limited', (p) => p.status?.phase === 'Running');
    const limits = readCgroupLimits(cgroupsPathFor(created.metadata.uid!, 'main'));
    assert.equal(limits.memoryBytes, 64 * 1024 * 1024);
    assert.equal(limits.cpuQuota, 25_000);
    assert.equal(limits.cpuPeriod, 100_000);
    assert.equal(limits.pidsLimit, 4096);
  });

  it('configMap volume files and env from ConfigMap and Secret (envFrom with prefix, valueFrom, fieldRef, $(VAR))', async () => {
    await bed.store.create<ConfigMap>({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg', namespace: 'default' }, data: { 'index.html': 'hello from cm\n', greeting: 'hi' } });
    await bed.store.create<Secret>({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'sec', namespace: 'default' }, data: { password: Buffer.from('s3cret').toString('base64') } });
    await bed.createPod('cfg', {
      volumes: [{ name: 'www', configMap: { name: 'cfg' } }],
      containers: [
        busybox('main', ['sh', '-c', 'env > /tmp/env; httpd -f -p 8080 -h /tmp'], {
          volumeMounts: [{ name: 'www', mountPath: '/www' }],
          envFrom: [{ prefix: 'CM_', configMapRef: { name: 'cfg' } }],
          env: [
            { name: 'PASSWORD', valueFrom: { secretKeyRef: { name: 'sec', key: 'password' } } },
            { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
            { name: 'MSG', value: '$(CM_greeting) from $(POD_NAME) $$(literal)' },
          ],
          ports: [{ containerPort: 8080 }],
        }),
        busybox('files', ['httpd', '-f', '-p', '8081', '-h', '/www'], { volumeMounts: [{ name: 'www', mountPath: '/www' }] }),
      ],
    });
    const pod = await bed.waitPod('cfg', (p) => p.status?.phase === 'Running' && p.status.conditions?.find((c) => c.type === 'Ready')?.status === 'True');
    const env = (await httpGet(pod.status!.podIP!, 8080, '/env')).body;
    assert.match(env, /^CM_greeting=hi$/m);
    assert.match(env, /^PASSWORD=s3cret$/m);
    assert.match(env, /^POD_NAME=cfg$/m);
    assert.match(env, /^MSG=hi from cfg \$\(literal\)$/m);
    assert.match(env, /^PATH=/m, 'image env kept');
    assert.equal((await httpGet(pod.status!.podIP!, 8081, '/index.html')).body, 'hello from cm\n');
  });

  it('a pod whose ConfigMap is missing waits with CreateContainerConfigError, then starts once it exists', async () => {
    await bed.createPod('needs-cm', { containers: [busybox('main', ['sleep', '3600'], { env: [{ name: 'X', valueFrom: { configMapKeyRef: { name: 'later', key: 'x' } } }] })] });
    const waiting = await bed.waitPod('needs-cm', (p) => cs(p, 'main')?.state.waiting?.reason === 'CreateContainerConfigError');
    assert.equal(cs(waiting, 'main')?.state.waiting?.message, 'configmap "later" not found');
    assert.equal(waiting.status?.phase, 'Pending');
    await bed.store.create<ConfigMap>({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'later', namespace: 'default' }, data: { x: '1' } });
    await bed.waitPod('needs-cm', (p) => p.status?.phase === 'Running');
  });

  it('two containers of a pod talk over localhost', async () => {
    await bed.createPod('pair', {
      containers: [
        busybox('server', ['sh', '-c', 'echo pong > /tmp/ping; httpd -f -p 9000 -h /tmp']),
        busybox('client', ['sh', '-c', 'until wget -q -O /tmp/got http://127.0.0.1:9000/ping; do sleep 0.2; done; httpd -f -p 9001 -h /tmp']),
      ],
    });
    const pod = await bed.waitPod('pair', (p) => p.status?.phase === 'Running');
    let got = '';
    for (let i = 0; i < 50 && got !== 'pong\n'; i++) {
      got = await httpGet(pod.status!.podIP!, 9001, '/got').then((r) => (r.status === 200 ? r.body : ''), () => '');
      if (got !== 'pong\n') await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal(got, 'pong\n');
  });

  it('init containers run in order, each to completion, before the app container', async () => {
    await bed.createPod('init', {
      volumes: [{ name: 'work', emptyDir: {} }],
      initContainers: [
        busybox('first', ['sh', '-c', 'echo first >> /w/order'], { volumeMounts: [{ name: 'work', mountPath: '/w' }] }),
        busybox('second', ['sh', '-c', 'sleep 0.5; echo second >> /w/order'], { volumeMounts: [{ name: 'work', mountPath: '/w' }] }),
      ],
      containers: [busybox('main', ['sh', '-c', 'echo main >> /w/order; httpd -f -p 8080 -h /w'], { volumeMounts: [{ name: 'work', mountPath: '/w' }] })],
    });
    const pod = await bed.waitPod('init', (p) => p.status?.phase === 'Running');
    assert.deepEqual(pod.status?.initContainerStatuses?.map((s) => [s.name, s.state.terminated?.reason, s.ready]), [
      ['first', 'Completed', true],
      ['second', 'Completed', true],
    ]);
    assert.equal(pod.status?.conditions?.find((c) => c.type === 'Initialized')?.status, 'True');
    assert.equal((await httpGet(pod.status!.podIP!, 8080, '/order')).body, 'first\nsecond\nmain\n');
  });

  it('a failing init container with restartPolicy Never fails the pod and the app container never starts', async () => {
    await bed.createPod('init-fail', { restartPolicy: 'Never', initContainers: [busybox('setup', ['sh', '-c', 'exit 7'])], containers: [busybox('main', ['sleep', '3600'])] });
    const pod = await bed.waitPod('init-fail', (p) => p.status?.phase === 'Failed');
    assert.equal(pod.status?.initContainerStatuses?.[0]?.state.terminated?.exitCode, 7);
    assert.equal(cs(pod, 'main')?.state.running, undefined);
    assert.equal(pod.status?.conditions?.find((c) => c.type === 'Initialized')?.status, 'False');
  });

  it('pod logs go to the file of each restart', async () => {
    const created = await bed.createPod('logs', { restartPolicy: 'Never', containers: [busybox('main', ['sh', '-c', 'echo out; echo err >&2'])] });
    await bed.waitPod('logs', (p) => p.status?.phase === 'Succeeded');
    // The shim copies stdout and stderr to the file on its own; the exit event can arrive
    // before the last copy lands, so give it a moment.
    const path = bed.logs.pathFor(created.metadata.uid!, 'main', 0);
    let text = '';
    for (let i = 0; i < 50 && !(/out/.test(text) && /err/.test(text)); i++) {
      text = await readFile(path, 'utf8');
      if (!(/out/.test(text) && /err/.test(text))) await new Promise((r) => setTimeout(r, 100));
    }
    assert.match(text, /out/);
    assert.match(text, /err/);
  });

  it('stdout and stderr of short-lived containers both reach the log, for every one of 20 pods at once', async () => {
    const names = Array.from({ length: 20 }, (_, i) => `both-streams-${i}`);
    const pods = await Promise.all(names.map((n) => bed.createPod(n, { restartPolicy: 'Never', containers: [busybox('main', ['sh', '-c', 'echo out; echo err >&2'])] })));
    await Promise.all(names.map((n) => bed.waitPod(n, (p) => p.status?.phase === 'Succeeded', 60_000)));
    const missing: string[] = [];
    for (const [i, p] of pods.entries()) {
      const file = bed.logs.pathFor(p.metadata.uid!, 'main', 0);
      let text = '';
      for (let t = 0; t < 30 && !(/out/.test(text) && /err/.test(text)); t++) {
        text = await readFile(file, 'utf8');
        if (!(/out/.test(text) && /err/.test(text))) await new Promise((r) => setTimeout(r, 100));
      }
      if (!/out\n/.test(text) || !/err\n/.test(text)) missing.push(`${names[i]}: ${JSON.stringify(text)}`);
    }
    assert.deepEqual(missing, []);
  });

  it('an image that cannot be pulled waits with ErrImagePull and then ImagePullBackOff, with the registry error', async () => {
    // A loopback registry address where nothing listens: the pull fails at once.
    await bed.createPod('nopull', { containers: [{ name: 'main', image: '127.0.0.1:1/missing/app:1.0', imagePullPolicy: 'Always', command: ['true'] }] });
    const first = await bed.waitPod('nopull', (p) => cs(p, 'main')?.state.waiting?.reason === 'ErrImagePull');
    assert.match(cs(first, 'main')!.state.waiting!.message!, /127\.0\.0\.1:1\/missing\/app:1\.0/);
    const later = await bed.waitPod('nopull', (p) => cs(p, 'main')?.state.waiting?.reason === 'ImagePullBackOff');
    assert.match(cs(later, 'main')!.state.waiting!.message!, /^Back-off pulling image "127\.0\.0\.1:1\/missing\/app:1\.0"/);
    assert.equal(later.status?.phase, 'Pending');
    // The kubelet's Events for it: the attempt, its failure, then the back-off.
    const image = '"127.0.0.1:1/missing/app:1.0"';
    let events: KubeEvent[] = [];
    for (let t = 0; t < 50; t++) {
      events = (await bed.store.list<KubeEvent>('Event')).items.filter((e) => e.involvedObject.name === 'nopull');
      if (events.some((e) => e.reason === 'BackOff') && events.some((e) => e.message === 'Error: ImagePullBackOff')) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    const find = (reason: string, message: RegExp | string) => events.find((e) => e.reason === reason && (typeof message === 'string' ? e.message === message : message.test(e.message)));
    assert.equal(find('Pulling', `Pulling image ${image}`)?.type, 'Normal', events.map((e) => `${e.reason}: ${e.message}`).join('\n'));
    assert.equal(find('Failed', new RegExp(`^Failed to pull image ${image.replace(/[.]/g, '\\.')}: .+`))?.type, 'Warning');
    assert.equal(find('Failed', 'Error: ErrImagePull')?.type, 'Warning');
    assert.equal(find('BackOff', `Back-off pulling image ${image}`)?.type, 'Normal');
    assert.equal(find('Failed', 'Error: ImagePullBackOff')?.involvedObject.fieldPath, 'spec.containers{main}');
  });

  it('imagePullPolicy Never with an absent image waits with ErrImageNeverPull', async () => {
    await bed.createPod('never', { containers: [{ name: 'main', image: 'gantry.local/absent:1.0', imagePullPolicy: 'Never', command: ['true'] }] });
    const pod = await bed.waitPod('never', (p) => cs(p, 'main')?.state.waiting?.reason === 'ErrImageNeverPull');
    assert.equal(cs(pod, 'main')!.state.waiting!.message, 'Container image "gantry.local/absent:1.0" is not present with pull policy of Never');
  });
});
