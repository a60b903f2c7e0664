/**
 * gantry's API as a user reaches it after `gantry up`: HTTPS with the CA in <data-dir>/pki, the
 * admin token in <data-dir>/kubeconfig, the real kubectl and @kubernetes/client-node against
 * it, a read-only token made with `gantry token create`, `kubectl get -w` seeing a change pushed
 * through Git, and the CLI's read commands pointed at the server with --kubeconfig.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import type { Deployment } from '../../src/model/types.js';
import { apiRequest } from '../helpers/api-client.js';
import { runCli } from '../helpers/cli.js';
import {
  createWorld,
  e2ePrerequisites,
  isReady,
  podsWith,
  readIpForward,
  sendPushWebhook,
  startInProcess,
  takeDown,
  waitAttempted,
  waitFor,
  type InProcessGantry,
  type World,
} from '../helpers/e2e.js';
import { sleeperDeployment } from '../helpers/e2e-manifests.js';
import { kubectlPresent } from '../helpers/kubectl.js';

const SECRET = `apiVersion: v1
kind: Secret
metadata:
  name: db
type: Opaque
stringData:
  password: hunter2
`;

describe('the API after gantry up: HTTPS, tokens, kubectl and client libraries', function () {
  this.timeout(120_000);
  const why = e2ePrerequisites() ?? (kubectlPresent() ? undefined : 'kubectl is not installed');
  let world: World | undefined;
  let g: InProcessGantry;
  let ipForward: string | undefined;

  const kubectl = (args: string[], kubeconfig = g.kubeconfig): Promise<{ code: number; stdout: string; stderr: string }> =>
    new Promise((resolve) => {
      const child = execFile('kubectl', ['--kubeconfig', kubeconfig, ...args], { timeout: 20_000 }, (err, stdout, stderr) => {
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
      });
      child.stdin?.end();
    });

  before(async function () {
    if (why) {
      console.log(`      skipped: ${why}`);
      return this.skip();
    }
    this.timeout(180_000);
    ipForward = await readIpForward();
    world = await createWorld({ 'app/web.yaml': sleeperDeployment('web', 1), 'app/secret.yaml': SECRET });
    g = await startInProcess(world);
    await waitFor('the web pod Ready', async () => (await podsWith(g.store, { app: 'web' })).some(isReady));
  });

  after(async function () {
    this.timeout(120_000);
    await g?.stop().catch(() => undefined);
    if (world) {
      await takeDown(world, g?.dataDir ?? path.join(world.root, 'data'), ipForward);
      await world.cleanup();
    }
  });

  it('serves HTTPS by default with the CA and admin token of <data-dir>/kubeconfig', async () => {
    assert.match(g.apiUrl, /^https:\/\//);
    const pods = await kubectl(['get', 'pods', '-o', 'wide']);
    assert.equal(pods.code, 0, pods.stderr);
    assert.match(pods.stdout, /^web-\S+\s+1\/1\s+Running/m);
    const syncs = await kubectl(['get', 'syncs']);
    assert.equal(syncs.code, 0, syncs.stderr);
    assert.match(syncs.stdout, /default/);
    // The admin token reads Secrets.
    const secret = await kubectl(['get', 'secret', 'db', '-o', 'jsonpath={.data.password}']);
    assert.equal(Buffer.from(secret.stdout, 'base64').toString(), 'hunter2');
  });

  it('answers 401 without a token or with a wrong one', async () => {
    const none = await apiRequest({ apiUrl: g.apiUrl, ca: g.ca }, '/api/v1/pods');
    assert.equal(none.status, 401);
    assert.equal(none.json<{ kind: string; reason: string }>().reason, 'Unauthorized');
    const wrong = await kubectl(['get', 'pods', '--token', 'not-a-token']);
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stderr, /You must be logged in to the server/);
    assert.equal((await apiRequest({ apiUrl: g.apiUrl, ca: g.ca }, '/healthz')).status, 200);
  });

  it('gives a read-only token made by gantry token create everything but Secrets', async () => {
    const file = path.join(world!.root, 'ci.kubeconfig');
    const made = await runCli(['token', 'create', 'ci', '--role', 'read-only', '--kubeconfig-out', file, '--data-dir', g.dataDir]);
    assert.equal(made.code, 0, made.stderr);
    // The running server picks the new token up within a second.
    const pods = await waitFor('the new token accepted', async () => {
      const r = await kubectl(['get', 'pods'], file);
      return r.code === 0 ? r : undefined;
    }, { timeoutMs: 5000 });
    assert.match(pods.stdout, /web-/);
    const secrets = await kubectl(['get', 'secrets'], file);
    assert.notEqual(secrets.code, 0);
    assert.match(secrets.stderr, /Forbidden.*User "ci" \(role read-only\) cannot list resource "secrets"/);
    const listed = await runCli(['token', 'list', '--data-dir', g.dataDir]);
    assert.match(listed.stdout, /^admin\s+admin/m);
    assert.match(listed.stdout, /^ci\s+read-only/m);
    const revoked = await runCli(['token', 'revoke', 'ci', '--data-dir', g.dataDir]);
    assert.equal(revoked.code, 0, revoked.stderr);
    await waitFor('the revoked token refused', async () => (await kubectl(['get', 'pods'], file)).code !== 0, { timeoutMs: 5000 });
  });

  it('kubectl get -w sees a change pushed through Git', async () => {
    const watcher = spawn('kubectl', ['--kubeconfig', g.kubeconfig, 'get', 'deployment', 'web', '-w', '-o', 'jsonpath={.spec.replicas}{"\\n"}'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    watcher.stdout.on('data', (d: Buffer) => (out += d.toString()));
    try {
      await waitFor('the first line of the watch', async () => /^1$/m.test(out), { timeoutMs: 15_000 });
      const commit = await world!.push({ 'app/web.yaml': sleeperDeployment('web', 2) }, 'web: 2 replicas');
      assert.equal(await sendPushWebhook(g, commit), 202);
      await waitFor('the watch to print 2 replicas', async () => /^2$/m.test(out), { timeoutMs: 30_000 });
    } finally {
      watcher.kill('SIGTERM');
    }
  });

  it('@kubernetes/client-node lists and watches pods with the kubeconfig', async () => {
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(g.kubeconfig);
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const listed = await core.listNamespacedPod({ namespace: 'default', labelSelector: 'app=web' });
    assert.ok(listed.items.length >= 1, 'web pods listed');
    assert.ok(listed.metadata?.resourceVersion, 'the list carries a resourceVersion');
    const seen: string[] = [];
    const watch = new k8s.Watch(kc);
    const req = await watch.watch('/api/v1/namespaces/default/pods', { labelSelector: 'app=web', resourceVersion: listed.metadata!.resourceVersion }, (type, obj: k8s.V1Pod) => {
      seen.push(`${type} ${obj.metadata?.name ?? ''}`);
    }, () => undefined);
    try {
      const commit = await world!.push({ 'app/web.yaml': sleeperDeployment('web', 3) }, 'web: 3 replicas');
      await sendPushWebhook(g, commit);
      await waitFor('a new pod ADDED through the watch', async () => seen.some((s) => s.startsWith('ADDED web-')), { timeoutMs: 30_000 });
    } finally {
      req.abort();
    }
  });

  it('gantry exec runs a command in a pod through the API, with stdin and the exit code', async () => {
    const pod = (await podsWith(g.store, { app: 'web' })).find(isReady)!;
    const r = await runCli(['exec', pod.metadata.name, '--data-dir', g.dataDir, '--', 'sh', '-c', 'echo out; echo err >&2; exit 3']);
    assert.equal(r.code, 3, r.stderr);
    assert.equal(r.stdout, 'out\n');
    assert.match(r.stderr, /^err$/m);
    assert.match(r.stderr, /command terminated with exit code 3/);
    const piped = await runCli(['exec', '-i', pod.metadata.name, '--data-dir', g.dataDir, '--', 'cat'], { input: 'through stdin\n' });
    assert.equal(piped.code, 0, piped.stderr);
    assert.equal(piped.stdout, 'through stdin\n');
    // A line written to the container's own stdout shows in its log, read through the server.
    const wrote = await runCli(['exec', pod.metadata.name, '--data-dir', g.dataDir, '--', 'sh', '-c', 'echo logged-by-exec > /proc/1/fd/1']);
    assert.equal(wrote.code, 0, wrote.stderr);
    const logs = await waitFor('the line in the log', async () => {
      const l = await runCli(['logs', pod.metadata.name, '--kubeconfig', g.kubeconfig, '--data-dir', path.join(world!.root, 'nowhere')]);
      return /logged-by-exec/.test(l.stdout) ? l : undefined;
    }, { timeoutMs: 10_000 });
    assert.equal(logs.code, 0);
    const missing = await runCli(['exec', 'no-such-pod', '--data-dir', g.dataDir, '--', 'true']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /pods "no-such-pod" not found/);
  });

  it('the CLI reads the server with --kubeconfig: get, status and history', async () => {
    const remote = ['--kubeconfig', g.kubeconfig, '--data-dir', path.join(world!.root, 'nowhere')];
    const got = await runCli(['get', 'deployments', ...remote]);
    assert.equal(got.code, 0, got.stderr);
    assert.match(got.stdout, /^web\s+\d\/\d/m);
    const json = await runCli(['get', 'deployment', 'web', '-o', 'json', ...remote]);
    assert.equal((JSON.parse(json.stdout) as Deployment).metadata.name, 'web');
    const status = await runCli(['status', ...remote]);
    assert.match(status.stdout, /In force:/);
    const commit = await world!.push({ 'app/web.yaml': sleeperDeployment('web', 1) }, 'web: back to 1');
    await sendPushWebhook(g, commit);
    await waitAttempted(g.store, commit);
    await g.gantry.recorder!.flush();
    const history = await runCli(['history', 'deployment/web', ...remote]);
    assert.equal(history.code, 0, history.stderr);
    assert.match(history.stdout, /web/);
    const bad = await runCli(['get', 'pods', '--server', g.apiUrl, '--data-dir', path.join(world!.root, 'nowhere')], { env: { GANTRY_TOKEN: '' } });
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /needs a token/);
  });
});
