/**
 * Two `gantry server` processes on one etcd: one leads (sync, controllers, scheduler, audit),
 * the other stands by, passing pushes it receives on to the leader. kill -9 of the leader → the
 * standby takes over within the lease, a push still deploys, no pod is doubled, and the audit
 * trail pushed to the history remote has every change exactly once.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { readKubeconfig } from '../../src/api/auth/kubeconfig.js';
import { TokenFile } from '../../src/api/auth/tokens.js';
import { isRecorded } from '../../src/audit/feed.js';
import { runStatus } from '../../src/cli/commands/inspect.js';
import { dataPaths } from '../../src/config.js';
import { silentLogger } from '../../src/log.js';
import { objectKey } from '../../src/model/keys.js';
import type { KubeObject } from '../../src/model/types.js';
import { startRemoteAgent, type RemoteAgent } from '../../src/remote-agent.js';
import { openStore } from '../../src/store/open.js';
import type { Store } from '../../src/store/types.js';
import { apiRequest, type ApiTarget } from '../helpers/api-client.js';
import {
  createWorld, E2E_IMAGE, e2ePrerequisites, isReady, podsWith, readIpForward, sendPushWebhook, startChild, takeDown, waitFor,
  type ChildGantry, type World,
} from '../helpers/e2e.js';
import { etcdBinary, startTestEtcd, type TestEtcd } from '../helpers/etcd.js';
import { git } from '../helpers/git-http-server.js';

const run = promisify(execFile);

const app = (replicas: number, greeting: string): string => `apiVersion: v1
kind: ConfigMap
metadata:
  name: greeting
data:
  text: ${greeting}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: ${replicas}
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
        - name: main
          image: ${E2E_IMAGE}
          command: ["sh", "-c", "sleep 3600"]
`;

interface ControlPlane { identity: string; leading: boolean; leader?: string }

describe('two control-plane servers on etcd: leader election and failover', function () {
  this.timeout(180_000);
  const why = e2ePrerequisites() ?? (etcdBinary() ? undefined : 'etcd is not installed');
  let world: World | undefined;
  let etcd: TestEtcd | undefined;
  let store: Store | undefined;
  const servers: Record<string, ChildGantry> = {};
  const targets: Record<string, ApiTarget> = {};
  let agent: RemoteAgent | undefined;
  let agentDir = '';
  let historyUrl = '';
  let historyDir = '';
  let ipForward: string | undefined;
  const commits: string[] = [];

  async function controlPlane(name: string): Promise<ControlPlane | undefined> {
    const res = await apiRequest(targets[name]!, '/apis/gantry.dev/v1/status').catch(() => undefined);
    if (res?.status !== 200) return undefined;
    return (JSON.parse(res.body) as { controlPlane?: ControlPlane }).controlPlane;
  }

  async function startServer(name: string): Promise<void> {
    const dataDir = path.join(world!.root, name);
    servers[name] = await startChild(world!, dataDir, {
      config: {
        store: `etcd://${etcd!.endpoint}`,
        leaderElection: { identity: name, leaseSeconds: 3 },
        historyRemote: { url: historyUrl },
        // Pushes arrive by webhook: a long poll shows that the push, not the timer, deploys.
        intervalMs: 600_000,
      },
      components: { sync: true, api: true, audit: true, controllers: true, scheduler: true },
    });
    const { token } = await readKubeconfig(path.join(dataDir, 'kubeconfig'));
    targets[name] = { apiUrl: servers[name]!.apiUrl, ca: servers[name]!.ca, token };
  }

  async function webPods(n: number, timeoutMs = 60_000): Promise<void> {
    await waitFor(`${n} Ready web pods`, async () => {
      const p = (await podsWith(store!, { app: 'web' })).filter((x) => !x.metadata.deletionTimestamp);
      return p.length === n && p.every(isReady);
    }, { timeoutMs });
  }

  before(async function () {
    if (why) return this.skip();
    this.timeout(240_000);
    ipForward = await readIpForward();
    etcd = await startTestEtcd();
    world = await createWorld({ 'app.yaml': app(1, 'one') });
    // The history remote both servers push the status branch to: an empty repository on the world's Git server.
    historyDir = path.join(world.root, 'git', 'history.git');
    await mkdir(historyDir, { recursive: true });
    // A repository made for the trail: its default branch is the status branch.
    await git(historyDir, ['init', '--bare', '-q', '-b', 'status']);
    await git(historyDir, ['config', 'http.receivepack', 'true']);
    historyUrl = `${world.git.url}/history.git`;
    store = await openStore(`etcd://${etcd.endpoint}`, { sqlitePath: '', logger: silentLogger() });
    await startServer('server-a');
    await startServer('server-b');
    agentDir = path.join(world.root, 'agent');
    const token = await new TokenFile(dataPaths(path.join(world.root, 'server-b')).tokens).create('node', 'agent', { node: world.node.nodeName });
    agent = await startRemoteAgent({
      endpoint: { server: servers['server-b']!.apiUrl, token, ca: servers['server-b']!.ca },
      nodeName: world.node.nodeName,
      dataDir: agentDir,
      logger: silentLogger(),
      imagesDir: world.imagesDir,
      serviceCidr: world.serviceCidr,
      network: world.node.network,
      // A free port: the agent shares this machine's network namespace with others.
      kubeletListen: '0.0.0.0:0',
      tuning: { backoffBaseMs: 500, backoffMaxMs: 2000, heartbeatMs: 2000, resyncMs: 2000 },
    });
  });

  after(async function () {
    this.timeout(120_000);
    await agent?.stop().catch(() => undefined);
    for (const s of Object.values(servers)) await s.kill('SIGTERM').catch(() => undefined);
    await store?.close().catch(() => undefined);
    if (world) await takeDown(world, agentDir || path.join(world.root, 'agent'), ipForward);
    await world?.cleanup();
    await etcd?.destroy();
  });

  it('elects one leader; the standby names it and passes a push it receives on to it', async () => {
    assert.deepEqual(await controlPlane('server-a'), { identity: 'server-a', leading: true, leader: 'server-a' });
    assert.deepEqual(await controlPlane('server-b'), { identity: 'server-b', leading: false, leader: 'server-a' });
    await webPods(1);
    const commit = await world!.push({ 'app.yaml': app(2, 'two') }, 'two replicas');
    commits.push(commit.slice(0, 7));
    // The webhook reaches the standby; the leader's pass deploys it (the poll is 10 minutes away).
    assert.equal(await sendPushWebhook(targets['server-b']!, commit), 202);
    await webPods(2);
    // POST sync on the standby answers with the leader's outcome.
    const res = await apiRequest(targets['server-b']!, '/apis/gantry.dev/v1/sync', { method: 'POST' });
    assert.equal(res.status, 200);
    assert.deepEqual(JSON.parse(res.body), { outcome: 'unchanged', revision: commit });
    // gantry status through either server names the leader.
    const status = await runStatus({ dataDir: path.join(world!.root, 'server-b'), kubeconfig: path.join(world!.root, 'server-b', 'kubeconfig') });
    assert.match(status.output, /Leader: +server-a; this server \(server-b\) stands by/);
    // A standby keeps no audit trail of its own and says who does.
    const history = await apiRequest(targets['server-b']!, '/apis/gantry.dev/v1/history');
    assert.equal(history.status, 503);
    assert.match(history.body, /standby.*server-a/);
  });

  it('kill -9 of the leader: the standby leads within 15 s and a push still deploys, with no pod doubled', async () => {
    const killed = Date.now();
    await servers['server-a']!.kill('SIGKILL');
    delete servers['server-a'];
    await waitFor('server-b leading', async () => (await controlPlane('server-b'))?.leading === true, { timeoutMs: 15_000, intervalMs: 200 });
    const tookOver = Date.now() - killed;
    assert.ok(tookOver <= 15_000, `took over after ${tookOver} ms`);
    const commit = await world!.push({ 'app.yaml': app(3, 'three') }, 'three replicas');
    commits.push(commit.slice(0, 7));
    assert.equal(await sendPushWebhook(targets['server-b']!, commit), 202);
    await webPods(3);
    // Exactly the pods of one ReplicaSet per template: no controller ran twice.
    const pods = await podsWith(store!, { app: 'web' });
    assert.equal(pods.length, 3, pods.map((p) => p.metadata.name).join(', '));
    const sets = (await store!.list('ReplicaSet')).items;
    assert.equal(sets.length, 1, 'the ConfigMap is not in the template: one ReplicaSet throughout');
  });

  it('survives an etcd restart longer than the lease: the server leads again and a push deploys', async () => {
    await etcd!.stop();
    // Longer than the lease: the leader must give up and campaign again.
    await new Promise((r) => setTimeout(r, 4000));
    await etcd!.start();
    await waitFor('server-b leading again', async () => (await controlPlane('server-b'))?.leading === true, { timeoutMs: 30_000, intervalMs: 200 });
    const commit = await world!.push({ 'app.yaml': app(4, 'four') }, 'four replicas');
    commits.push(commit.slice(0, 7));
    assert.equal(await sendPushWebhook(targets['server-b']!, commit), 202);
    await webPods(4);
    assert.equal((await podsWith(store!, { app: 'web' })).length, 4);
  });

  it('the pushed audit trail has every change once: no gap, no double', async () => {
    // A clean stop flushes and pushes the last commits.
    await agent!.stop();
    agent = undefined;
    await servers['server-b']!.kill('SIGTERM');
    delete servers['server-b'];
    const { stdout } = await run('git', ['--git-dir', historyDir, 'log', '--format=%B%x00', 'status'], { maxBuffer: 64 * 1024 * 1024 });
    const recorded: string[] = [];
    const applied: string[] = [];
    for (const msg of stdout.split('\0').map((m) => m.trim()).filter((m) => m !== '')) {
      const rev = /^Gantry-Store-Revision: (\d+)$/m.exec(msg)?.[1];
      const obj = /^Gantry-Object: (.+)$/m.exec(msg)?.[1];
      if (rev && obj) {
        recorded.push(`${rev} ${obj}`);
      }
      if (/^Gantry-Sync: applied/m.test(msg)) applied.push(/^Gantry-Desired-Revision: (\S+)$/m.exec(msg)?.[1] ?? '?');
    }
    const syncs = stdout.split('\0').filter((m) => /^Gantry-Sync:/m.test(m)).map((m) => m.trim().split('\n')[0]);
    assert.ok(applied.length >= 4, `the four revisions applied are in the trail: ${syncs.join('; ')} (commits ${commits.join(', ')})`);
    const dupes = recorded.filter((k, i) => recorded.indexOf(k) !== i);
    assert.deepEqual(dupes, [], 'no change recorded twice');
    // Every change the store ever made (nothing writes now), as the recorder would record it.
    const end = await store!.revision();
    const expected: string[] = [];
    const ac = new AbortController();
    for await (const ev of store!.watch({ fromRevision: 0, signal: ac.signal })) {
      if (isRecorded(ev)) expected.push(`${ev.revision} ${objectKey(ev.object as KubeObject)}`);
      if (ev.revision >= end) break;
    }
    ac.abort();

    const missing = expected.filter((k) => !recorded.includes(k));
    assert.deepEqual(missing.slice(0, 10), [], `${missing.length} of ${expected.length} changes missing from the pushed trail`);
    assert.ok(recorded.some((k) => k.endsWith('Deployment/default/web')), 'the Deployment is in the trail');
    // Each desired revision applied once, though two servers ran passes.
    assert.equal(new Set(applied).size, applied.length, `applied records: ${applied.join(', ')}`);
  });
});
