/**
 * End to end on real containerd: one commit makes one rollout, and health is reported the way a
 * user of Argo CD expects — a crash-looping Deployment is Degraded with its reason through
 * `gantry status`, `gantry wait` and the API, and a webhook receiver on loopback hears about
 * applied revisions, the degradation and the recovery.
 *
 * One gantry serves the tests of this file, in order (each builds on the state the previous one
 * left).
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { execFile } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { readAppHealth } from '../../src/health/read.js';
import type { ObjectHealth } from '../../src/health/types.js';
import { CONFIG_HASH_ANNOTATION } from '../../src/model/config-hash.js';
import type { Deployment, ReplicaSet } from '../../src/model/types.js';
import type { Notification } from '../../src/notify/types.js';
import { apiRequest } from '../helpers/api-client.js';
import { runCli } from '../helpers/cli.js';
import {
  createWorld, describePods, E2E_IMAGE, E2E_IMAGE_V2, e2ePrerequisites, isReady, podsWith, readIpForward, sendPushWebhook,
  startInProcess, takeDown, waitAttempted, waitFor, type InProcessGantry, type World,
} from '../helpers/e2e.js';
import { WEB_SERVICE, webDeployment } from '../helpers/e2e-manifests.js';
import { kubectlPresent } from '../helpers/kubectl.js';

const SECRET = 'notify-e2e-secret';

const configMap = (text: string): string => `apiVersion: v1
kind: ConfigMap
metadata:
  name: web-content
data:
  index.html: |
    <h1>${text}</h1>
`;

/** A Deployment whose busybox container exits 1 at once, forever. */
const crashDeployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: crash
spec:
  replicas: 1
  selector:
    matchLabels: {app: crash}
  template:
    metadata:
      labels: {app: crash}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
        - name: main
          image: ${E2E_IMAGE}
          command: ["sh", "-c", "echo failing; exit 1"]
`;

describe('one rollout per commit, health and notifications (real containerd)', function () {
  this.timeout(120_000);
  const why = e2ePrerequisites();
  let world: World | undefined;
  let g: InProcessGantry;
  let ipForward: string | undefined;
  let receiver: http.Server | undefined;
  const received: Array<{ n: Notification; signed: boolean }> = [];

  const cli = (args: string[]) => runCli([...args, '--data-dir', g.dataDir], { timeoutMs: 60_000 });
  const showWeb = async () => describePods(await podsWith(g.store, { app: 'web' }));

  async function pushAndSync(files: Record<string, string | null>, message: string): Promise<string> {
    const commit = await world!.push(files, message);
    assert.equal(await sendPushWebhook(g, commit), 202);
    await waitAttempted(g.store, commit);
    return commit;
  }

  /** The ReplicaSets that exist after the commit's rollout and did not before it (none is deleted: history limit 10). */
  async function replicaSetsCreatedBy(commitFiles: Record<string, string>, message: string, done: () => Promise<boolean>): Promise<ReplicaSet[]> {
    const list = async () => (await g.store.list<ReplicaSet>('ReplicaSet', { namespace: 'default' })).items;
    const before = new Set((await list()).map((rs) => rs.metadata.uid));
    const commit = await pushAndSync(commitFiles, message);
    await waitFor(`the rollout of ${commit.slice(0, 7)} to finish`, async () => (await done()) || undefined, { timeoutMs: 90_000, describe: showWeb });
    return (await list()).filter((rs) => !before.has(rs.metadata.uid));
  }

  const webRolledOut = (image: string) => async () => {
    const pods = await podsWith(g.store, { app: 'web' });
    const d = await g.store.get<Deployment>({ kind: 'Deployment', namespace: 'default', name: 'web' });
    return pods.length === 2 && pods.every((p) => isReady(p) && p.spec.containers[0]!.image === image) &&
      d?.status?.updatedReplicas === 2 && d.status.availableReplicas === 2 && (d.status.replicas ?? 0) === 2;
  };

  before(async function () {
    if (why) return this.skip();
    this.timeout(180_000);
    ipForward = await readIpForward();
    receiver = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        const signed = req.headers['x-gantry-signature-256'] === `sha256=${createHmac('sha256', SECRET).update(body).digest('hex')}`;
        received.push({ n: JSON.parse(body) as Notification, signed });
        res.end();
      });
    });
    await new Promise<void>((r) => receiver!.listen(0, '127.0.0.1', r));
    const port = (receiver.address() as AddressInfo).port;
    world = await createWorld({ 'web/deployment.yaml': webDeployment(), 'web/configmap.yaml': configMap('one'), 'web/service.yaml': WEB_SERVICE });
    g = await startInProcess(world, { config: { notifications: { webhook: { url: `http://127.0.0.1:${port}/gantry`, secret: SECRET }, delivery: { baseDelayMs: 100 } } } });
  });

  after(async function () {
    this.timeout(120_000);
    await g?.stop().catch(() => undefined);
    if (world) {
      await takeDown(world, g?.dataDir ?? path.join(world.root, 'data'), ipForward);
      await world.cleanup();
    }
    if (receiver) await new Promise((r) => { receiver!.closeAllConnections(); receiver!.close(r); });
  });

  it('a healthy sample app: gantry wait --for healthy returns, gantry status exits 0, the webhook hears applied then healthy', async () => {
    const wait = await cli(['wait', '--for', 'healthy', '--timeout', '90s']);
    assert.equal(wait.code, 0, wait.stdout + wait.stderr);
    assert.match(wait.stdout, /the app is healthy/);
    const status = await cli(['status']);
    assert.equal(status.code, 0, status.stdout);
    assert.match(status.stdout, /Sync: +Synced/);
    assert.match(status.stdout, /Health: +Healthy/);
    await waitFor('applied and healthy notifications', async () => (received.some((r) => r.n.type === 'healthy') ? true : undefined), { timeoutMs: 20_000 });
    const types = received.map((r) => r.n.type);
    assert.deepEqual(types.slice(0, 2), ['applied', 'healthy']);
    assert.ok(received.every((r) => r.signed), 'every notification carries a valid signature');
    assert.equal(received[0]!.n.revision, received[1]!.n.revision);
  });

  it('one commit changing the image and the ConfigMap rolls out exactly one new ReplicaSet, which describe shows as NewReplicaSet', async () => {
    const created = await replicaSetsCreatedBy(
      { 'web/deployment.yaml': webDeployment({ image: E2E_IMAGE_V2 }), 'web/configmap.yaml': configMap('two') }, 'web: v2 image and page',
      webRolledOut(E2E_IMAGE_V2),
    );
    assert.equal(created.length, 1, `ReplicaSets created: ${created.map((rs) => `${rs.metadata.name} (${rs.spec.template.spec.containers[0]!.image})`).join(', ')}`);
    const d = (await g.store.get<Deployment>({ kind: 'Deployment', namespace: 'default', name: 'web' }))!;
    const hash = d.spec.template.metadata?.annotations?.[CONFIG_HASH_ANNOTATION];
    assert.ok(hash, 'the Deployment itself carries the config hash');
    assert.equal(created[0]!.spec.template.metadata?.annotations?.[CONFIG_HASH_ANNOTATION], hash);
    assert.equal(created[0]!.spec.template.spec.containers[0]!.image, E2E_IMAGE_V2);
    if (kubectlPresent()) {
      const out = await new Promise<string>((resolve, reject) => execFile('kubectl', ['describe', 'deployment', 'web'], { env: { ...process.env, KUBECONFIG: g.kubeconfig }, timeout: 20_000 }, (err, stdout, stderr) => (err ? reject(new Error(stderr)) : resolve(stdout))));
      assert.match(out, new RegExp(`NewReplicaSet:\\s+${created[0]!.metadata.name} `));
    }
  });

  it('a ConfigMap-only change rolls out exactly one new ReplicaSet', async () => {
    const before = (await g.store.get<Deployment>({ kind: 'Deployment', namespace: 'default', name: 'web' }))!.spec.template.metadata?.annotations?.[CONFIG_HASH_ANNOTATION];
    const created = await replicaSetsCreatedBy({ 'web/configmap.yaml': configMap('three') }, 'web: page three', async () => {
      const d = await g.store.get<Deployment>({ kind: 'Deployment', namespace: 'default', name: 'web' });
      const hash = d?.spec.template.metadata?.annotations?.[CONFIG_HASH_ANNOTATION];
      const pods = await podsWith(g.store, { app: 'web' });
      return hash !== before && (await webRolledOut(E2E_IMAGE_V2)()) && pods.every((p) => p.metadata.annotations?.[CONFIG_HASH_ANNOTATION] === hash);
    });
    assert.equal(created.length, 1, `ReplicaSets created: ${created.map((rs) => rs.metadata.name).join(', ')}`);
  });

  it('a crash-looping Deployment is Degraded with its reason: gantry status exits 2, gantry wait fails at its timeout naming it, and the webhook hears it', async () => {
    await pushAndSync({ 'crash/deployment.yaml': crashDeployment }, 'crash: a container that exits 1');
    const crash = await waitFor('the crash Deployment to be Degraded', async () => {
      const o = (await readAppHealth(g.store)).objects.find((x) => x.key === 'Deployment/default/crash');
      return o?.health?.status === 'Degraded' ? o : undefined;
    }, { timeoutMs: 60_000 }) as ObjectHealth;
    assert.equal(crash.health?.reason, 'CrashLoopBackOff');
    assert.match(crash.health?.message ?? '', /pod crash-[a-z0-9]+-[a-z0-9]+: container main /);

    const status = await cli(['status']);
    assert.equal(status.code, 2, status.stdout);
    assert.match(status.stdout, /Health: +Degraded/);
    assert.match(status.stdout, /Deployment default\/crash +Degraded \(CrashLoopBackOff\): pod crash-/);

    const wait = await cli(['wait', '--for', 'healthy', '--timeout', '3s']);
    assert.equal(wait.code, 2, wait.stdout + wait.stderr);
    assert.match(wait.stdout, /timed out after \d+s waiting for the app to be healthy/);
    assert.match(wait.stdout, /Deployment default\/crash +Degraded \(CrashLoopBackOff\): pod crash-/);
    // One healthy object in a degraded app is waited for on its own, here through the server.
    const web = await runCli(['wait', '--for', 'healthy', 'deployment/web', '--timeout', '10s', '--kubeconfig', g.kubeconfig], { timeoutMs: 60_000 });
    assert.equal(web.code, 0, web.stdout + web.stderr);

    // The same through a server, as scripts elsewhere would ask.
    const remote = await runCli(['status', '--kubeconfig', g.kubeconfig, '-o', 'json'], { timeoutMs: 60_000 });
    assert.equal(remote.code, 2, remote.stderr);
    const doc = JSON.parse(remote.stdout) as { app: { health: { status: string } }; resources: ObjectHealth[] };
    assert.equal(doc.app.health.status, 'Degraded');
    const api = await apiRequest(g, '/apis/gantry.dev/v1/health/Deployment/default/crash');
    assert.equal(api.status, 200);
    assert.equal((JSON.parse(api.body) as ObjectHealth).health?.reason, 'CrashLoopBackOff');

    const degraded = await waitFor('a degraded notification', async () => received.find((r) => r.n.type === 'degraded'), { timeoutMs: 20_000 });
    assert.match(degraded.n.message, /Deployment default\/crash/);
    assert.ok(degraded.n.health?.objects?.some((o) => o.key === 'Deployment/default/crash' && o.reason === 'CrashLoopBackOff'));
  });

  it('removing the crash-looping Deployment recovers the app, and the webhook hears recovered', async () => {
    await pushAndSync({ 'crash/deployment.yaml': null }, 'crash: gone');
    const wait = await cli(['wait', '--for', 'healthy', '--timeout', '60s']);
    assert.equal(wait.code, 0, wait.stdout + wait.stderr);
    await waitFor('a recovered notification', async () => received.find((r) => r.n.type === 'recovered'), { timeoutMs: 20_000 });
  });
});
