/**
 * The node agent's container lifecycle against real parts: probes of each kind, graceful
 * termination and force deletion, and an agent restart adopting what runs.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { deletePod } from '../../src/controllers/pods.js';
import type { KubeEvent } from '../../src/events/recorder.js';
import type { Pod } from '../../src/model/types.js';
import { createContainer, startTask } from '../../src/node/containerd/run.js';
import { buildSpec, cgroupsPathFor } from '../../src/node/containerd/spec.js';
import { getImage } from '../../src/node/images/image-store.js';
import { containerLabels } from '../../src/node/agent/labels.js';
import { BUSYBOX, busybox, containerStatus, startAgentBedOrSkip, type AgentBed } from '../fakes/node-agent-bed.js';

const cs = containerStatus;

/** The Events about a pod of the bed, once `pred` holds for them (the recorder writes in batches). */
async function waitEventsOf(bed: AgentBed, name: string, pred: (evs: KubeEvent[]) => boolean, timeoutMs = 20_000): Promise<KubeEvent[]> {
  const deadline = Date.now() + timeoutMs;
  let evs: KubeEvent[] = [];
  while (Date.now() < deadline) {
    evs = (await bed.store.list<KubeEvent>('Event', { namespace: 'default' })).items.filter((e) => e.involvedObject.kind === 'Pod' && e.involvedObject.name === name);
    if (pred(evs)) return evs;
    await sleep(200);
  }
  throw new Error(`the events of pod ${name} did not arrive in ${timeoutMs} ms; they are: ${evs.map((e) => `${e.reason} x${e.count}: ${e.message}`).join('; ')}`);
}
const ready = (p: Pod) => p.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';

describe('NodeAgent lifecycle: probes, termination, adoption (real containerd)', function () {
  this.timeout(120_000);
  let bed: AgentBed;

  const waitEvents = (name: string, pred: (evs: KubeEvent[]) => boolean): Promise<KubeEvent[]> => waitEventsOf(bed, name, pred);

  before(async function () {
    bed = await startAgentBedOrSkip(this);
  });

  after(async () => {
    if (bed) await bed.stop();
  });

  it('an exec readiness probe drives the container ready flag and the pod Ready condition both ways', async () => {
    await bed.createPod('exec-ready', {
      containers: [
        busybox('main', ['sh', '-c', 'sleep 1; touch /tmp/ready; sleep 3; rm /tmp/ready; sleep 3600'], {
          readinessProbe: { exec: { command: ['cat', '/tmp/ready'] }, periodSeconds: 1, failureThreshold: 1 },
        }),
      ],
    });
    const running = await bed.waitPod('exec-ready', (p) => p.status?.phase === 'Running');
    assert.equal(ready(running), false, 'not ready before the probe succeeds');
    const up = await bed.waitPod('exec-ready', ready);
    assert.equal(cs(up, 'main')?.ready, true);
    assert.equal(up.status?.conditions?.find((c) => c.type === 'ContainersReady')?.status, 'True');
    const down = await bed.waitPod('exec-ready', (p) => !ready(p));
    assert.equal(cs(down, 'main')?.ready, false);
    assert.equal(down.status?.conditions?.find((c) => c.type === 'Ready')?.reason, 'ContainersNotReady');
    assert.equal(cs(down, 'main')?.restartCount, 0, 'readiness failures never restart');
  });

  it('an httpGet readiness probe against busybox httpd (named port) makes the pod Ready', async () => {
    await bed.createPod('http-ready', {
      containers: [
        busybox('web', ['sh', '-c', 'sleep 1; mkdir -p /www; echo ok > /www/healthz; httpd -f -p 8080 -h /www'], {
          ports: [{ name: 'http', containerPort: 8080 }],
          readinessProbe: { httpGet: { path: '/healthz', port: 'http' }, periodSeconds: 1 },
        }),
      ],
    });
    const pod = await bed.waitPod('http-ready', ready);
    assert.equal(cs(pod, 'web')?.ready, true);
  });

  it('an httpGet probe answered 404 keeps the pod unready', async () => {
    await bed.createPod('http-404', {
      containers: [busybox('web', ['httpd', '-f', '-p', '8080', '-h', '/tmp'], { readinessProbe: { httpGet: { path: '/missing', port: 8080 }, periodSeconds: 1 } })],
    });
    await bed.waitPod('http-404', (p) => p.status?.phase === 'Running');
    await sleep(2500);
    const pod = await bed.getPod('http-404');
    assert.equal(ready(pod!), false);
  });

  it('a tcpSocket readiness probe turns Ready once something listens on the port', async () => {
    await bed.createPod('tcp-ready', {
      containers: [busybox('nc', ['sh', '-c', 'sleep 1; nc -ll -p 7000 -e cat'], { readinessProbe: { tcpSocket: { port: 7000 }, periodSeconds: 1 } })],
    });
    const pod = await bed.waitPod('tcp-ready', ready);
    assert.equal(cs(pod, 'nc')?.ready, true);
  });

  it('a failing liveness probe kills and restarts the container (restartCount 1, lastState Error)', async () => {
    await bed.createPod('live', {
      terminationGracePeriodSeconds: 1,
      containers: [busybox('main', ['sleep', '3600'], { livenessProbe: { tcpSocket: { port: 6553 }, periodSeconds: 1, failureThreshold: 2 } })],
    });
    const pod = await bed.waitPod('live', (p) => (cs(p, 'main')?.restartCount ?? 0) >= 1);
    const s = cs(pod, 'main')!;
    assert.equal(s.lastState.terminated?.reason, 'Error');
    assert.equal(s.lastState.terminated?.exitCode, 137);
    assert.match(s.lastState.terminated?.message ?? '', /failed liveness probe/);
    // The kubelet's Events: a Warning per failed run, then the kill that restarts the container.
    const events = await waitEvents('live', (evs) => evs.some((e) => e.reason === 'Killing'));
    const unhealthy = events.find((e) => e.reason === 'Unhealthy');
    assert.equal(unhealthy?.type, 'Warning');
    assert.match(unhealthy?.message ?? '', /^Liveness probe failed: dial tcp [\d.]+:6553: /);
    assert.equal(unhealthy?.involvedObject.fieldPath, 'spec.containers{main}');
    assert.equal(events.find((e) => e.reason === 'Killing')?.message, 'Container main failed liveness probe, will be restarted');
  });

  it('a failing readiness probe is one Unhealthy event whose count grows; an image already present is Pulled "already present"', async () => {
    await bed.createPod('never-ready', {
      containers: [busybox('main', ['sleep', '3600'], { readinessProbe: { exec: { command: ['cat', '/no/such/file'] }, periodSeconds: 1 } })],
    });
    const first = await waitEvents('never-ready', (evs) => evs.some((e) => e.reason === 'Unhealthy' && (e.count ?? 1) >= 2));
    const unhealthy = first.filter((e) => e.reason === 'Unhealthy');
    assert.equal(unhealthy.length, 1, 'repeats aggregate into one event');
    assert.match(unhealthy[0]!.message, /^Readiness probe failed: /);
    const later = await waitEvents('never-ready', (evs) => (evs.find((e) => e.reason === 'Unhealthy')?.count ?? 0) > unhealthy[0]!.count!);
    assert.ok(Date.parse(later.find((e) => e.reason === 'Unhealthy')!.lastTimestamp!) >= Date.parse(unhealthy[0]!.lastTimestamp!));
    const pulled = later.find((e) => e.reason === 'Pulled');
    assert.equal(pulled?.message, `Container image "${BUSYBOX}" already present on machine`);
    assert.equal(pulled?.source?.component, 'kubelet');
    assert.ok(!later.some((e) => e.reason === 'Pulling'), 'nothing was pulled');
    // Pulled comes no later than Created, as the kubelet reports them (times are whole seconds).
    const created = later.find((e) => e.reason === 'Created');
    assert.ok(Date.parse(pulled!.firstTimestamp!) <= Date.parse(created!.firstTimestamp!));
  });

  it('a startup probe holds readiness back until it succeeds, and liveness only starts after it', async () => {
    await bed.createPod('startup', {
      containers: [
        busybox('main', ['sh', '-c', 'sleep 5; touch /tmp/started; sleep 3600'], {
          startupProbe: { exec: { command: ['cat', '/tmp/started'] }, periodSeconds: 1, failureThreshold: 30 },
          // Would fail (and kill) at once if it ran before startup succeeded.
          livenessProbe: { exec: { command: ['cat', '/tmp/started'] }, periodSeconds: 1, failureThreshold: 1 },
        }),
      ],
    });
    const early = await bed.waitPod('startup', (p) => p.status?.phase === 'Running');
    assert.equal(cs(early, 'main')?.started, false);
    assert.equal(ready(early), false);
    const later = await bed.waitPod('startup', (p) => cs(p, 'main')?.started === true && ready(p));
    assert.equal(cs(later, 'main')?.restartCount, 0);
  });

  it('graceful deletion: SIGTERM, the process exits, containers, network and the Pod object are removed', async () => {
    const created = await bed.createPod('graceful', { terminationGracePeriodSeconds: 20, containers: [busybox('main', ['sh', '-c', 'trap "exit 0" TERM; while true; do sleep 0.2; done'])] });
    await bed.waitPod('graceful', (p) => p.status?.phase === 'Running');
    const uid = created.metadata.uid!;
    assert.ok(await bed.network.get(uid));
    const started = Date.now();
    assert.equal(await deletePod(bed.store, (await bed.getPod('graceful'))!, { origin: { actor: 'test' } }), 'terminating');
    await bed.waitGone('graceful');
    assert.ok(Date.now() - started < 15_000, 'did not wait for the whole grace period');
    assert.deepEqual(await bed.ctd.client.listContainerRecords([`labels."gantry.dev/pod-uid"==${uid}`]), []);
    assert.equal(await bed.network.get(uid), undefined);
    assert.ok(!(await bed.network.list()).includes(uid));
  });

  it('graceful deletion of a process that ignores SIGTERM ends in SIGKILL after the grace period', async () => {
    const created = await bed.createPod('stubborn', { terminationGracePeriodSeconds: 1, containers: [busybox('main', ['sleep', '3600'])] });
    await bed.waitPod('stubborn', (p) => p.status?.phase === 'Running');
    await deletePod(bed.store, (await bed.getPod('stubborn'))!, { origin: { actor: 'test' } });
    await bed.waitGone('stubborn');
    assert.deepEqual(await bed.ctd.client.listContainerRecords([`labels."gantry.dev/pod-uid"==${created.metadata.uid}`]), []);
  });

  it('a pod deleted from the store directly (force) has its containers removed at once', async () => {
    const created = await bed.createPod('forced', { terminationGracePeriodSeconds: 30, containers: [busybox('main', ['sleep', '3600'])] });
    await bed.waitPod('forced', (p) => p.status?.phase === 'Running');
    await bed.store.delete({ kind: 'Pod', namespace: 'default', name: 'forced' });
    const deadline = Date.now() + 20_000;
    let left = 1;
    while (left > 0 && Date.now() < deadline) {
      left = (await bed.ctd.client.listContainerRecords([`labels."gantry.dev/pod-uid"==${created.metadata.uid}`])).length;
      if (left) await sleep(100);
    }
    assert.equal(left, 0);
  });

  it('a restarted agent adopts running pods untouched (same container id and pid) and removes an orphan container', async () => {
    const created = await bed.createPod('keep', { containers: [busybox('main', ['sleep', '3600']), busybox('web', ['httpd', '-f', '-p', '8080', '-h', '/tmp'], { readinessProbe: { tcpSocket: { port: 8080 }, periodSeconds: 1 } })] });
    const before = await bed.waitPod('keep', (p) => ready(p));
    const uid = created.metadata.uid!;
    const ids = before.status!.containerStatuses!.map((s) => s.containerID!.replace('containerd://', ''));
    const pids = await Promise.all(ids.map(async (id) => (await bed.ctd.client.getTask(id))!.pid));

    await bed.agent.stop();
    // An orphan: gantry's labels, but a pod uid the store does not know.
    const image = (await getImage(bed.ctd.client, BUSYBOX))!;
    const orphanId = 'orphan-uid-main-0';
    const log = path.join(bed.ctd.dir, 'orphan.log');
    await createContainer(bed.ctd.client, {
      id: orphanId,
      image,
      spec: buildSpec({ args: ['sleep', '3600'], env: image.config.Env ?? [], cgroupsPath: cgroupsPathFor('orphan-uid', 'main') }),
      labels: containerLabels({ podUid: 'orphan-uid', podName: 'ghost', podNamespace: 'default', container: 'main', restartCount: 0, kind: 'app' }),
      stdoutPath: log,
      stderrPath: log,
      runcRoot: bed.ctd.daemon.runcRoot,
    });
    await startTask(bed.ctd.client, orphanId);

    await bed.restartAgent();
    assert.equal(await bed.ctd.client.getContainerRecord(orphanId), undefined, 'orphan removed during adoption');
    // Give the new agent a few syncs (resync is 1 s in tests), then check nothing was restarted.
    await sleep(2500);
    const after = await bed.waitPod('keep', (p) => ready(p));
    assert.deepEqual(after.status!.containerStatuses!.map((s) => s.containerID!.replace('containerd://', '')), ids);
    assert.deepEqual(await Promise.all(ids.map(async (id) => (await bed.ctd.client.getTask(id))?.pid)), pids);
    assert.deepEqual(after.status!.containerStatuses!.map((s) => s.restartCount), [0, 0]);
    const records = await bed.ctd.client.listContainerRecords([`labels."gantry.dev/pod-uid"==${uid}`]);
    assert.equal(records.length, 2, 'no duplicate containers');
    assert.equal(cs(after, 'main')?.state.running?.startedAt, cs(before, 'main')?.state.running?.startedAt);
  });

  it('a restarted agent restarts (per restartPolicy) a container that died while no agent ran', async () => {
    const created = await bed.createPod('died', { containers: [busybox('main', ['sleep', '3600'])] });
    const before = await bed.waitPod('died', (p) => p.status?.phase === 'Running');
    const id = cs(before, 'main')!.containerID!.replace('containerd://', '');
    await bed.agent.stop();
    await bed.ctd.client.killTask(id, 9, { all: true });
    await sleep(300);
    await bed.restartAgent();
    const after = await bed.waitPod('died', (p) => cs(p, 'main')?.restartCount === 1 && !!cs(p, 'main')?.state.running);
    assert.equal(cs(after, 'main')?.lastState.terminated?.exitCode, 137);
    const records = await bed.ctd.client.listContainerRecords([`labels."gantry.dev/pod-uid"==${created.metadata.uid}`]);
    assert.equal(records.length, 1);
  });
});
