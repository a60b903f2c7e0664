/**
 * A node agent that reaches the control plane only over HTTPS with an agent token (`gantry
 * agent`), beside a control plane that runs no agent of its own (`gantry server`): the node
 * registers and heartbeats, its pods run with their ConfigMaps, Secrets and claims (a local-path
 * volume in the agent's own data dir), their status, Events and resource usage reach the server,
 * and the server holds the agent to its own node.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { startGantry, type RunningGantry } from '../../src/app.js';
import { readKubeconfig } from '../../src/api/auth/kubeconfig.js';
import { TokenFile } from '../../src/api/auth/tokens.js';
import { dataPaths } from '../../src/config.js';
import { silentLogger } from '../../src/log.js';
import type { KubeEvent } from '../../src/events/recorder.js';
import type { Node, PersistentVolume, PersistentVolumeClaim, Pod } from '../../src/model/types.js';
import { startRemoteAgent, type RemoteAgent } from '../../src/remote-agent.js';
import { apiRequest } from '../helpers/api-client.js';
import { parseExposition, valueOf } from '../helpers/prometheus.js';
import { createWorld, e2eConfig, e2ePrerequisites, isReady, podsWith, readIpForward, takeDown, waitFor, type World } from '../helpers/e2e.js';
import { E2E_IMAGE } from '../helpers/e2e.js';

const APP = `apiVersion: v1
kind: Secret
metadata:
  name: creds
stringData:
  password: s3cret
---
apiVersion: v1
kind: Secret
metadata:
  name: unused
stringData:
  other: x
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
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
          command: ["sh", "-c", "cat /creds/password; echo; sleep 3600"]
          volumeMounts:
            - {name: creds, mountPath: /creds}
      volumes:
        - name: creds
          secret: {secretName: creds}
`;

describe('a remote node agent over the API (gantry agent beside gantry server)', function () {
  this.timeout(120_000);
  const why = e2ePrerequisites();
  let world: World | undefined;
  let server: RunningGantry | undefined;
  let agent: RemoteAgent | undefined;
  let agentDir = '';
  let ipForward: string | undefined;
  let token = '';
  let ca = '';

  before(async function () {
    if (why) return this.skip();
    this.timeout(180_000);
    ipForward = await readIpForward();
    world = await createWorld({ 'app.yaml': APP });
    const serverDir = path.join(world.root, 'server');
    // The control plane: everything but a node agent, as `gantry server` runs.
    server = await startGantry({
      config: e2eConfig(world, serverDir),
      logger: silentLogger(),
      components: { sync: true, api: true, audit: true, controllers: true, scheduler: true },
    });
    await server.sync!.trigger('start');
    server.startPolling();
    ca = server.ca!;
    token = await new TokenFile(dataPaths(serverDir).tokens).create('node-a', 'agent', { node: world.node.nodeName });
    agentDir = path.join(world.root, 'agent');
    agent = await startRemoteAgent({
      endpoint: { server: server.apiUrl!, token, ca },
      nodeName: world.node.nodeName,
      dataDir: agentDir,
      logger: silentLogger(),
      imagesDir: world.imagesDir,
      serviceCidr: world.serviceCidr,
      network: world.node.network,
      // A free port: the agent shares this machine's network namespace with others.
      kubeletListen: '0.0.0.0:0',
      tuning: { backoffBaseMs: 500, backoffMaxMs: 2000, heartbeatMs: 2000, resyncMs: 2000, usagePeriodMs: 1000 },
      metricsListen: { host: '127.0.0.1', port: 0 },
    });
  });

  after(async function () {
    this.timeout(120_000);
    await agent?.stop().catch(() => undefined);
    await server?.stop().catch(() => undefined);
    if (world) {
      await takeDown(world, agentDir || path.join(world.root, 'agent'), ipForward);
      await world.cleanup();
    }
  });

  it('registers its Node and runs the pods the scheduler binds to it, with their Secret', async () => {
    const node = await waitFor('the node Ready', async () => {
      const n = await server!.store.get<Node>({ kind: 'Node', name: world!.node.nodeName });
      return n?.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True' ? n : undefined;
    });
    assert.equal(node.metadata.name, world!.node.nodeName);
    const pods = await waitFor('2 Ready web pods', async () => {
      const p = await podsWith(server!.store, { app: 'web' });
      return p.length === 2 && p.every(isReady) ? p : undefined;
    }, { timeoutMs: 60_000 });
    for (const p of pods) {
      assert.equal(p.spec.nodeName, world!.node.nodeName);
      assert.ok(p.status?.podIP, 'the agent reported the pod IP');
    }
    // The agent wrote the Node and the pods' status as the node, in the audit trail's terms.
    const events = await waitFor('Started events from the remote kubelet', async () => {
      const evs = (await server!.store.list<KubeEvent>('Event')).items.filter((e) => e.reason === 'Started' && e.source?.host === world!.node.nodeName);
      return evs.length >= 2 ? evs : undefined;
    }, { timeoutMs: 10_000 });
    assert.equal(events[0]!.source?.component, 'kubelet');
  });

  it('serves its node\'s metrics on its own listener (the pods\' start latency, its pod queue), and the server serves none of them', async () => {
    const addr = agent!.metricsAddress!;
    const res = await apiRequest({ apiUrl: `http://${addr.host}:${addr.port}` }, '/metrics');
    assert.equal(res.status, 200);
    assert.match(String(res.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    const m = parseExposition(res.body);
    assert.ok(valueOf(m, 'gantry_kubelet_pod_start_total_duration_seconds_count')! >= 2, 'both web pods started here');
    assert.ok(valueOf(m, 'gantry_kubelet_pod_ready_duration_seconds_count')! >= 2);
    assert.ok(valueOf(m, 'gantry_workqueue_adds_total', { name: 'node-agent' })! >= 2);
    assert.ok(valueOf(m, 'process_cpu_seconds_total')! > 0, 'the process\'s own metrics');
    assert.equal([...m.keys()].filter((n) => /^gantry_(controller|scheduler|sync|apiserver|audit)_/.test(n)).length, 0, 'nothing of the control plane');
    assert.equal((await apiRequest({ apiUrl: `http://${addr.host}:${addr.port}` }, '/')).status, 404);
    const kubeconfig = await readKubeconfig(server!.kubeconfig!);
    const serverMetrics = parseExposition((await apiRequest({ apiUrl: server!.apiUrl!, ca, token: kubeconfig.token }, '/metrics')).body);
    assert.equal([...serverMetrics.keys()].filter((n) => n.startsWith('gantry_kubelet_')).length, 0, 'the server runs no node');
    assert.ok(valueOf(serverMetrics, 'gantry_scheduler_schedule_attempts_total', { result: 'scheduled' })! >= 2);
  });

  it('reports its pods\' usage to the server, which serves it as metrics.k8s.io (kubectl top), and only for its own node', async () => {
    const kc = await readKubeconfig(server!.kubeconfig!);
    const admin = { apiUrl: server!.apiUrl!, ca, token: kc.token };
    const pods = await waitFor('PodMetrics of both web pods', async () => {
      const res = await apiRequest(admin, '/apis/metrics.k8s.io/v1beta1/namespaces/default/pods?labelSelector=app%3Dweb');
      const items = res.json<{ items: { metadata: { name: string }; containers: { name: string; usage: { cpu: string; memory: string } }[] }[] }>().items;
      return items.length === 2 ? items : undefined;
    }, { timeoutMs: 30_000, intervalMs: 500 });
    for (const p of pods) {
      assert.equal(p.containers[0]!.name, 'main');
      assert.match(p.containers[0]!.usage.memory, /^\d+(Ki|Mi)?$/);
    }
    const node = await apiRequest(admin, `/apis/metrics.k8s.io/v1beta1/nodes/${world!.node.nodeName}`);
    assert.equal(node.status, 200, node.body);
    assert.match(node.json<{ usage: { cpu: string } }>().usage.cpu, /^\d+[nm]?$/);
    // An agent reports for its own node only.
    const forged = await apiRequest({ apiUrl: server!.apiUrl!, ca, token }, '/apis/gantry.dev/v1/nodes/another-node/agent/usage', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    assert.equal(forged.status, 403);
  });

  it('holds an agent token to its own node: no other node, no unreferenced Secret, no Kubernetes reads of Secrets', async () => {
    const as = { apiUrl: server!.apiUrl!, ca, token };
    const base = `/apis/gantry.dev/v1/nodes/${world!.node.nodeName}/agent`;
    assert.equal((await apiRequest(as, `${base}/secrets/default/creds`)).status, 200, 'a Secret its pod mounts');
    const unused = await apiRequest(as, `${base}/secrets/default/unused`);
    assert.equal(unused.status, 403);
    assert.match(unused.body, /only while one of its pods refers to it/);
    assert.equal((await apiRequest(as, '/apis/gantry.dev/v1/nodes/another-node/agent/pods')).status, 403);
    assert.equal((await apiRequest(as, '/api/v1/namespaces/default/secrets')).status, 403);
    assert.equal((await apiRequest(as, '/apis/gantry.dev/v1/objects/Secret')).status, 403);
    assert.equal((await apiRequest(as, '/apis/gantry.dev/v1/objects/Service')).status, 200, 'the Services view a node needs');
    // Writing another node's Node is refused, whatever the body says.
    const forged = await apiRequest(as, `${base}/node`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'another-node' } }) });
    assert.equal(forged.status, 400);
  });

  it('refuses an agent whose token is wrong or names another node', async () => {
    await assert.rejects(
      startRemoteAgent({ endpoint: { server: server!.apiUrl!, token: 'wrong', ca }, nodeName: 'x', dataDir: path.join(world!.root, 'nope'), logger: silentLogger() }),
      /Unauthorized.*401/,
    );
    await assert.rejects(
      startRemoteAgent({ endpoint: { server: server!.apiUrl!, token, ca }, nodeName: 'another-node', dataDir: path.join(world!.root, 'nope'), logger: silentLogger() }),
      /forbidden.*403/,
    );
  });

  it('a pod deleted through Git is stopped by the remote agent and finalized on the server', async () => {
    const before = await podsWith(server!.store, { app: 'web' });
    await world!.push({ 'app.yaml': APP.replace('replicas: 2', 'replicas: 1') }, 'web: 1 replica');
    await server!.sync!.trigger('test');
    await waitFor('one web pod left', async () => {
      const p = await podsWith(server!.store, { app: 'web' });
      return p.length === 1 && before.some((b) => b.metadata.uid === p[0]!.metadata.uid) ? p : undefined;
    }, { timeoutMs: 30_000 });
    const kc = await readKubeconfig(server!.kubeconfig!);
    const listed = await apiRequest({ apiUrl: server!.apiUrl!, ca, token: kc.token }, '/api/v1/namespaces/default/pods?labelSelector=app%3Dweb');
    assert.equal(listed.json<{ items: Pod[] }>().items.length, 1);
  });

  it('mounts a claim provisioned in the agent\'s data dir, reads only claims its pods use, and removes the directory when the claim goes', async () => {
    const CLAIMED = `apiVersion: v1
kind: PersistentVolumeClaim
metadata: { name: cache }
spec:
  accessModes: [ReadWriteOnce]
  resources: { requests: { storage: 16Mi } }
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: { name: spare }
spec:
  accessModes: [ReadWriteOnce]
  resources: { requests: { storage: 16Mi } }
---
apiVersion: v1
kind: Pod
metadata: { name: cacher }
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: main
      image: ${E2E_IMAGE}
      command: ["sh", "-c", "echo warm > /cache/state; sleep 3600"]
      volumeMounts: [{ name: cache, mountPath: /cache }]
  volumes:
    - name: cache
      persistentVolumeClaim: { claimName: cache }
`;
    await world!.push({ 'claimed.yaml': CLAIMED }, 'a pod with a claim');
    await server!.sync!.trigger('test');
    const pod = await waitFor('the cacher Ready', async () => {
      const p = await server!.store.get<Pod>({ kind: 'Pod', namespace: 'default', name: 'cacher' });
      return p && isReady(p) ? p : undefined;
    }, { timeoutMs: 60_000 });
    assert.equal(pod.spec.nodeName, world!.node.nodeName);
    const claim = (await server!.store.get<PersistentVolumeClaim>({ kind: 'PersistentVolumeClaim', namespace: 'default', name: 'cache' }))!;
    const pv = (await server!.store.get<PersistentVolume>({ kind: 'PersistentVolume', name: claim.spec.volumeName! }))!;
    const dir = path.join(agentDir, 'storage', pv.metadata.name);
    assert.equal(pv.spec.hostPath?.path, dir, 'the directory is on the agent\'s machine, in its data dir');
    await waitFor('the pod\'s write in the volume', async () => existsSync(path.join(dir, 'state')));

    const as = { apiUrl: server!.apiUrl!, ca, token };
    const base = `/apis/gantry.dev/v1/nodes/${world!.node.nodeName}/agent`;
    assert.equal((await apiRequest(as, `${base}/claims/default/cache`)).status, 200, 'a claim its pod mounts');
    assert.equal((await apiRequest(as, `${base}/claims/default/spare`)).status, 403, 'a claim none of its pods use');

    await world!.push({ 'claimed.yaml': null }, 'drop the pod and its claims');
    await server!.sync!.trigger('test');
    await waitFor('the volume gone', async () => !(await server!.store.get({ kind: 'PersistentVolume', name: pv.metadata.name })), { timeoutMs: 60_000 });
    assert.ok(!existsSync(dir), 'the agent removed the directory before the volume went');
  });
});
