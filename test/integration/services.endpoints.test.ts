/**
 * Endpoints and EndpointSlices declared by hand, end to end with real containerd, CNI, iptables,
 * the cluster DNS and the real kubectl: a Service without a selector routes to the Endpoints the
 * repo declares (and another to an EndpointSlice it declares), reachable from a pod by name and
 * cluster IP; gantry mirrors every Service's Endpoints into EndpointSlices, so `kubectl describe
 * service` (which reads slices) shows the endpoints of a selector Service and of a hand-declared
 * one; and removing the manifests removes the Endpoints and their slices.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { MANAGED_BY_LABEL, SERVICE_NAME_LABEL, SLICE_CONTROLLER, SLICE_MIRROR } from '../../src/model/endpointslices.js';
import type { Endpoints, EndpointSlice, Pod, Service } from '../../src/model/types.js';
import { ContainerdClient } from '../../src/node/containerd/client.js';
import { execInContainer } from '../../src/node/containerd/run.js';
import { CONTAINERD_NAMESPACE } from '../../src/node/host.js';
import { sleeperDeployment } from '../helpers/e2e-manifests.js';
import { E2E_IMAGE, createWorld, e2ePrerequisites, isReady, podsWith, readIpForward, sendPushWebhook, startInProcess, takeDown, waitAttempted, waitFor, type InProcessGantry, type World } from '../helpers/e2e.js';
import { kubectlPresent } from '../helpers/kubectl.js';

/** An httpd Deployment whose pages say the pod's name. */
function httpd(name: string): string {
  return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
spec:
  replicas: 1
  selector:
    matchLabels:
      app: ${name}
  template:
    metadata:
      labels:
        app: ${name}
    spec:
      terminationGracePeriodSeconds: 0
      containers:
        - name: httpd
          image: ${E2E_IMAGE}
          command: ["sh", "-c", "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www"]
          ports:
            - name: http
              containerPort: 8080
          readinessProbe:
            tcpSocket:
              port: http
            periodSeconds: 1
`;
}

const MANIFESTS: Record<string, string> = {
  'api.yaml': `${httpd('api')}---
apiVersion: v1
kind: Service
metadata:
  name: api
spec:
  selector:
    app: api
  ports:
    - port: 80
      targetPort: http
`,
  // Not behind any selector: the hand-declared endpoints below lead to it.
  'legacy.yaml': httpd('legacy'),
  'client.yaml': sleeperDeployment('client', 1, { graceSeconds: 0 }),
};

/** A Service without a selector with Endpoints, and one with an EndpointSlice, both at `ip`:8080. */
function external(ip: string): string {
  return `apiVersion: v1
kind: Service
metadata:
  name: legacy-db
spec:
  ports:
    - port: 80
      targetPort: 8080
---
apiVersion: v1
kind: Endpoints
metadata:
  name: legacy-db
subsets:
  - addresses:
      - ip: ${ip}
    ports:
      - port: 8080
---
apiVersion: v1
kind: Service
metadata:
  name: legacy-sliced
spec:
  ports:
    - name: web
      port: 80
      targetPort: 8080
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: legacy-sliced-1
  labels:
    kubernetes.io/service-name: legacy-sliced
addressType: IPv4
ports:
  - name: web
    port: 8080
    protocol: TCP
endpoints:
  - addresses: ["${ip}"]
    conditions: { ready: true }
`;
}

describe('Endpoints and EndpointSlices declared by hand (real containerd, real kubectl)', function () {
  this.timeout(240_000);
  const why = e2ePrerequisites() ?? (kubectlPresent() ? undefined : 'kubectl is not installed');
  let world: World | undefined;
  let g: InProcessGantry | undefined;
  let ctd: ContainerdClient | undefined;
  let ipForward: string | undefined;
  let dataDir = '';
  let legacyPod: Pod | undefined;

  const service = async (name: string) => (await g!.store.get<Service>({ kind: 'Service', namespace: 'default', name }))!;
  const slicesOf = async (name: string) => (await g!.store.list<EndpointSlice>('EndpointSlice', { namespace: 'default', labelSelector: `${SERVICE_NAME_LABEL}=${name}` })).items;
  const containerId = (p: Pod) => p.status!.containerStatuses![0]!.containerID!.replace(/^containerd:\/\//, '');

  /** Runs `script` with sh in the pod's container; its exit status and output. */
  async function sh(pod: Pod, script: string): Promise<{ code: number; out: string }> {
    const out = path.join(world!.root, `exec-${randomInt(1e9)}.out`);
    const res = await execInContainer(ctd!, containerId(pod), { args: ['sh', '-c', script], stdoutPath: out, stderrPath: out, timeoutMs: 20_000 });
    const text = await readFile(out, 'utf8');
    await rm(out, { force: true });
    return { code: res.exitStatus, out: text };
  }

  function kubectl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      execFile('kubectl', ['--kubeconfig', g!.kubeconfig, ...args], { timeout: 30_000 }, (err, stdout, stderr) => {
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
      });
    });
  }

  const ready = (app: string) => waitFor(`a ready ${app} pod`, async () => (await podsWith(g!.store, { app })).find(isReady), { timeoutMs: 90_000 });

  before(async function () {
    if (why) return this.skip();
    ipForward = await readIpForward();
    world = await createWorld(MANIFESTS);
    dataDir = path.join(world.root, 'data');
    g = await startInProcess(world, { dataDir });
    ctd = await ContainerdClient.connect({ address: g.containerdAddress, namespace: CONTAINERD_NAMESPACE });
    legacyPod = await ready('legacy');
    await ready('api');
    await ready('client');
    const commit = await world.push({ 'external.yaml': external(legacyPod.status!.podIP!) }, 'legacy database outside the selectors');
    await sendPushWebhook(g, commit);
    const st = await waitAttempted(g.store, commit);
    assert.equal(st?.lastAppliedRevision, commit, JSON.stringify(st));
  });

  after(async function () {
    this.timeout(120_000);
    ctd?.close();
    await g?.stop();
    if (world) {
      await takeDown(world, dataDir, ipForward);
      await world.cleanup();
    }
  });

  it('routes a Service without a selector to its hand-declared Endpoints, by name and cluster IP from a pod', async () => {
    const client = await ready('client');
    const ip = (await service('legacy-db')).spec.clusterIP!;
    const lookup = await sh(client, 'nslookup legacy-db.default.svc.cluster.local');
    assert.match(lookup.out, new RegExp(`Address:\\s+${ip.replace(/\./g, '\\.')}\\s*$`, 'm'), lookup.out);
    const got = await waitFor('an answer through the cluster IP', async () => {
      const r = await sh(client, `wget -q -O - http://${ip}:80/`);
      return r.code === 0 ? r.out.trim() : undefined;
    }, { timeoutMs: 20_000 });
    assert.equal(got, legacyPod!.metadata.name);
    const ep = await g!.store.get<Endpoints>({ kind: 'Endpoints', namespace: 'default', name: 'legacy-db' });
    assert.deepEqual(ep?.subsets, [{ addresses: [{ ip: legacyPod!.status!.podIP! }], ports: [{ port: 8080, protocol: 'TCP' }] }], 'the controller leaves declared Endpoints as declared');
  });

  it('routes a Service to an EndpointSlice declared for it by hand', async () => {
    const client = await ready('client');
    const ip = (await service('legacy-sliced')).spec.clusterIP!;
    const got = await waitFor('an answer through the cluster IP', async () => {
      const r = await sh(client, `wget -q -O - http://${ip}:80/`);
      return r.code === 0 ? r.out.trim() : undefined;
    }, { timeoutMs: 20_000 });
    assert.equal(got, legacyPod!.metadata.name);
  });

  it('mirrors Endpoints into EndpointSlices, managed as Kubernetes marks them', async () => {
    const mirrored = await waitFor('the mirrored slice of legacy-db', async () => (await slicesOf('legacy-db'))[0]);
    assert.equal(mirrored.metadata.labels?.[MANAGED_BY_LABEL], SLICE_MIRROR);
    assert.deepEqual(mirrored.endpoints?.map((e) => e.addresses[0]), [legacyPod!.status!.podIP]);
    assert.equal(mirrored.metadata.ownerReferences?.[0]?.kind, 'Endpoints');
    const [apiPod] = await podsWith(g!.store, { app: 'api' });
    const api = await waitFor('the slice of api', async () => (await slicesOf('api')).find((s) => s.endpoints?.length));
    assert.equal(api.metadata.labels?.[MANAGED_BY_LABEL], SLICE_CONTROLLER);
    assert.deepEqual(api.endpoints?.[0], { addresses: [apiPod!.status!.podIP!], conditions: { ready: true, serving: true, terminating: false }, nodeName: world!.node.nodeName, targetRef: { kind: 'Pod', namespace: 'default', name: apiPod!.metadata.name, uid: apiPod!.metadata.uid } });
    const table = await kubectl(['get', 'endpointslices', '-l', `${SERVICE_NAME_LABEL}=legacy-db`]);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^NAME\s+ADDRESSTYPE\s+PORTS\s+ENDPOINTS\s+AGE$/m);
    assert.match(table.stdout, new RegExp(`^legacy-db-\\w{5}\\s+IPv4\\s+8080\\s+${legacyPod!.status!.podIP!.replace(/\./g, '\\.')}\\s`, 'm'));
  });

  it('kubectl describe service shows the endpoints of a selector Service and of a hand-declared one', async () => {
    const [apiPod] = await podsWith(g!.store, { app: 'api' });
    const api = await kubectl(['describe', 'service', 'api']);
    assert.equal(api.code, 0, api.stderr);
    assert.match(api.stdout, new RegExp(`^Endpoints:\\s+${apiPod!.status!.podIP!.replace(/\./g, '\\.')}:8080$`, 'm'), api.stdout);
    const legacy = await kubectl(['describe', 'service', 'legacy-db']);
    assert.equal(legacy.code, 0, legacy.stderr);
    assert.match(legacy.stdout, /^Selector:\s+<none>$/m);
    assert.match(legacy.stdout, new RegExp(`^Endpoints:\\s+${legacyPod!.status!.podIP!.replace(/\./g, '\\.')}:8080$`, 'm'), legacy.stdout);
  });

  it('prunes the declared Endpoints and EndpointSlice with their manifest, and the mirrored slice with them', async () => {
    const commit = await world!.push({ 'external.yaml': null }, 'retire the legacy database');
    await sendPushWebhook(g!, commit);
    await waitAttempted(g!.store, commit);
    await waitFor('the Endpoints and every slice gone', async () => {
      const ep = await g!.store.get({ kind: 'Endpoints', namespace: 'default', name: 'legacy-db' });
      return !ep && (await slicesOf('legacy-db')).length === 0 && (await slicesOf('legacy-sliced')).length === 0;
    }, { timeoutMs: 20_000 });
  });
});
