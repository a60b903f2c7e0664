/**
 * The real kubectl against gantry's Kubernetes API (the store is the in-memory fake; the HTTP
 * server and kubectl are real): version, discovery, tables as kubectl prints them, -o
 * json/jsonpath/name, label and field selectors, chunked lists, watch, and refused writes.
 * Skips with a message when kubectl is not installed.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import http from 'node:http';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createApiServer } from '../../src/api/server.js';
import { EventRecorder } from '../../src/events/recorder.js';
import { silentLogger } from '../../src/log.js';
import type { Deployment, Node, Pod } from '../../src/model/types.js';
import { MemoryStore } from '../fakes/memory-store.js';
import { kubectlPresent } from '../helpers/kubectl.js';

function pod(name: string, ns: string, labels: Record<string, string>, phase: 'Running' | 'Pending', ip: string): Pod {
  return {
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name, namespace: ns, labels },
    spec: { nodeName: 'node-a', containers: [{ name: 'main', image: 'busybox' }] },
    status: { phase, podIP: ip, containerStatuses: [{ name: 'main', ready: phase === 'Running', restartCount: 1, image: 'busybox', imageID: '', lastState: {}, state: phase === 'Running' ? { running: {} } : { waiting: { reason: 'ContainerCreating' } } }] },
  };
}

describe('kubectl against gantry\'s Kubernetes API', function () {
  this.timeout(60_000);
  let store: MemoryStore;
  let api: ReturnType<typeof createApiServer>;
  let url = '';
  let dir = '';
  let kubeconfig = '';

  const kubectl = (args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
    new Promise((resolve) => {
      execFile('kubectl', [...args, `--server=${url}`], { env: { ...process.env, KUBECONFIG: kubeconfig }, timeout: 20_000 }, (err, stdout, stderr) => {
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
      });
    });
  const ok = async (args: string[]): Promise<string> => {
    const r = await kubectl(args);
    assert.equal(r.code, 0, `kubectl ${args.join(' ')} failed:\n${r.stderr}`);
    return r.stdout;
  };

  before(async function () {
    if (!kubectlPresent()) return this.skip();
    dir = await mkdtemp(path.join(os.tmpdir(), 'gantry-kubectl-'));
    kubeconfig = path.join(dir, 'kubeconfig');
    await writeFile(kubeconfig, 'apiVersion: v1\nkind: Config\n');
    store = new MemoryStore();
    await store.create(pod('web-1', 'default', { app: 'web' }, 'Running', '10.244.0.5'));
    await store.create(pod('web-2', 'default', { app: 'web' }, 'Pending', '10.244.0.6'));
    await store.create(pod('db-0', 'data', { app: 'db' }, 'Running', '10.244.0.7'));
    const deploy: Deployment = {
      apiVersion: 'apps/v1', kind: 'Deployment',
      metadata: { name: 'web', namespace: 'default', annotations: { 'gantry.dev/source-path': 'web/deployment.yaml' } },
      spec: { replicas: 2, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'main', image: 'busybox' }] } } },
      status: { readyReplicas: 1, updatedReplicas: 2, availableReplicas: 1 },
    };
    await store.create(deploy);
    const node: Node = { apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-a' }, spec: {}, status: { conditions: [{ type: 'Ready', status: 'True' }] } };
    await store.create(node);
    api = createApiServer({ store, logger: silentLogger(), repo: 'https://git.example.com/shop.git' });
    await api.listen({ host: '127.0.0.1', port: 0 });
    url = `http://127.0.0.1:${(api.server.address() as AddressInfo).port}`;
  });
  after(async () => {
    await api?.close();
    await store?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('reports the server version and discovers gantry\'s resources', async () => {
    const v = JSON.parse(await ok(['version', '-o', 'json'])) as { serverVersion: { gitVersion: string } };
    assert.equal(v.serverVersion.gitVersion, 'v1.32.0-gantry');
    const resources = await ok(['api-resources']);
    assert.match(resources, /^deployments\s+deploy\s+apps\/v1\s+true\s+Deployment$/m);
    assert.match(resources, /^pods\s+po\s+v1\s+true\s+Pod$/m);
    assert.match(resources, /^nodes\s+no\s+v1\s+false\s+Node$/m);
    assert.match(resources, /^networkpolicies\s+netpol\s+networking\.k8s\.io\/v1\s+true\s+NetworkPolicy$/m);
  });

  it('prints tables with kubectl\'s columns, -o wide and -A', async () => {
    const pods = await ok(['get', 'pods']);
    assert.match(pods, /^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE$/m);
    assert.match(pods, /^web-1\s+1\/1\s+Running\s+1\s+\S+$/m);
    assert.match(pods, /^web-2\s+0\/1\s+ContainerCreating\s+1\s+\S+$/m);
    assert.doesNotMatch(pods, /db-0/);
    assert.match(await ok(['get', 'pods', '-o', 'wide']), /^web-1\s+1\/1\s+Running\s+1\s+\S+\s+10\.244\.0\.5\s+node-a\s+<none>\s+<none>$/m);
    const all = await ok(['get', 'pods', '-A']);
    assert.match(all, /^NAMESPACE\s+NAME\s+READY/m);
    assert.match(all, /^data\s+db-0\s+1\/1\s+Running/m);
    assert.match(await ok(['get', 'deploy']), /^web\s+1\/2\s+2\s+1\s+\S+$/m);
    assert.match(await ok(['get', 'nodes']), /^node-a\s+Ready/m);
  });

  it('selects by label and field, and prints json, jsonpath and names', async () => {
    assert.equal((await ok(['get', 'pods', '-l', 'app=web', '-o', 'name'])).trim(), 'pod/web-1\npod/web-2');
    assert.equal((await ok(['get', 'pods', '-A', '--field-selector', 'status.phase=Running', '-o', 'name'])).trim(), 'pod/db-0\npod/web-1');
    assert.equal(await ok(['get', 'pod', 'web-1', '-o', 'jsonpath={.status.podIP}']), '10.244.0.5');
    const list = JSON.parse(await ok(['get', 'deploy', '-o', 'json'])) as { items: Deployment[] };
    assert.equal(list.items[0]!.kind, 'Deployment');
    assert.equal(list.items[0]!.spec.replicas, 2);
  });

  it('lists in chunks with limit and continue', async () => {
    assert.equal((await ok(['get', 'pods', '-A', '--chunk-size=1', '-o', 'name'])).trim().split('\n').length, 3);
  });

  it('lists Events and shows them in kubectl describe', async () => {
    const web1 = (await store.get<Pod>({ kind: 'Pod', namespace: 'default', name: 'web-1' }))!;
    const rec = new EventRecorder({ store, component: 'kubelet', host: 'node-a', logger: silentLogger() });
    rec.emit(web1, 'Normal', 'Started', 'Started container main', { fieldPath: 'spec.containers{main}' });
    rec.emit(web1, 'Warning', 'BackOff', 'Back-off restarting failed container main');
    await rec.flush();
    const events = await ok(['get', 'events']);
    assert.match(events, /^LAST SEEN\s+TYPE\s+REASON\s+OBJECT\s+MESSAGE$/m);
    assert.match(events, /Warning\s+BackOff\s+pod\/web-1\s+Back-off restarting failed container main/);
    const described = await ok(['describe', 'pod', 'web-1']);
    assert.match(described, /^Name:\s+web-1$/m);
    assert.match(described, /^Events:/m);
    assert.match(described, /Normal\s+Started\s+\S+\s+kubelet\s+Started container main/);
  });

  it('answers a missing object with a NotFound Status', async () => {
    const r = await kubectl(['get', 'pod', 'nope']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /pods "nope" not found/);
  });

  it('refuses writes, saying which file in the repo declares the object', async () => {
    const r = await kubectl(['scale', 'deploy/web', '--replicas=5']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /gantry is driven by Git: change Deployment default\/web by committing to the repo \(https:\/\/git\.example\.com\/shop\.git\): it is declared in web\/deployment\.yaml/);
    const del = await kubectl(['delete', 'pod', 'web-1']);
    assert.notEqual(del.code, 0);
    assert.match(del.stderr, /driven by Git/);
    assert.ok(await store.get({ kind: 'Pod', namespace: 'default', name: 'web-1' }), 'the pod is still there');
  });

  it('answers a watch from a resourceVersion at once, before any event, and streams the next change', async () => {
    const rv = await store.revision();
    const events: string[] = [];
    const req = http.get(`${url}/api/v1/namespaces/default/pods?watch=true&resourceVersion=${rv}`);
    try {
      const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('no response headers within 2 s')), 2000);
        req.on('response', (r) => { clearTimeout(t); resolve(r); });
        req.on('error', reject);
      });
      assert.equal(res.statusCode, 200);
      res.on('data', (d: Buffer) => events.push(...d.toString().split('\n').filter(Boolean)));
      await store.create(pod('web-4', 'default', { app: 'web' }, 'Pending', '10.244.0.9'));
      const deadline = Date.now() + 5000;
      while (events.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      const ev = JSON.parse(events[0]!) as { type: string; object: Pod };
      assert.equal(ev.type, 'ADDED');
      assert.equal(ev.object.metadata.name, 'web-4');
    } finally {
      req.destroy();
    }
  });

  it('watches: kubectl get -w prints a change made after it started', async () => {
    const child = spawn('kubectl', ['get', 'pods', '-w', '-o', 'name', `--server=${url}`], { env: { ...process.env, KUBECONFIG: kubeconfig } });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    try {
      const deadline = Date.now() + 15_000;
      while (!out.includes('pod/web-2') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      await store.create(pod('web-3', 'default', { app: 'web' }, 'Pending', '10.244.0.8'));
      while (!out.includes('pod/web-3') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      assert.match(out, /pod\/web-3/, out);
    } finally {
      child.kill();
    }
  });
});
