/**
 * The real kubectl against gantry's API (in-memory store, real HTTP server) for the kinds of the
 * policy, scheduling and discovery groups: discovery with kubectl's short names, tables with
 * kubectl's columns (ReplicationController, LimitRange, ResourceQuota, PriorityClass, Endpoints,
 * EndpointSlice, IngressClass, a pod's nominated node), describe of quotas and limit ranges, and
 * explain from the OpenAPI documents. Skips with a message when kubectl is not installed.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createApiServer } from '../../src/api/server.js';
import { silentLogger } from '../../src/log.js';
import type { EndpointSlice, IngressClass, KubeObject, LimitRange, Pod, PriorityClass, ReplicationController, ResourceQuota } from '../../src/model/types.js';
import { MemoryStore } from '../fakes/memory-store.js';
import { kubectlPresent } from '../helpers/kubectl.js';

const OBJECTS: KubeObject[] = [
  {
    apiVersion: 'v1', kind: 'ReplicationController', metadata: { name: 'nginx', namespace: 'default' },
    spec: { replicas: 3, selector: { app: 'nginx' }, template: { metadata: { labels: { app: 'nginx' } }, spec: { containers: [{ name: 'nginx', image: 'nginx:1.27' }] } } },
    status: { replicas: 3, readyReplicas: 2 },
  } as ReplicationController,
  {
    apiVersion: 'v1', kind: 'LimitRange', metadata: { name: 'defaults', namespace: 'default' },
    spec: { limits: [{ type: 'Container', max: { cpu: '1' }, min: { cpu: '50m' }, default: { cpu: '200m' }, defaultRequest: { cpu: '100m' } }] },
  } as LimitRange,
  {
    apiVersion: 'v1', kind: 'ResourceQuota', metadata: { name: 'compute', namespace: 'default' },
    spec: { hard: { pods: '10', 'requests.cpu': '2', 'limits.cpu': '4' } },
    status: { hard: { pods: '10', 'requests.cpu': '2', 'limits.cpu': '4' }, used: { pods: '3', 'requests.cpu': '300m', 'limits.cpu': '600m' } },
  } as ResourceQuota,
  { apiVersion: 'scheduling.k8s.io/v1', kind: 'PriorityClass', metadata: { name: 'high' }, value: 1000000, globalDefault: false, preemptionPolicy: 'PreemptLowerPriority', description: 'urgent work' } as PriorityClass,
  {
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: 'db-abcde', namespace: 'default', labels: { 'kubernetes.io/service-name': 'db' } },
    addressType: 'IPv4', ports: [{ name: 'pg', port: 5432, protocol: 'TCP' }], endpoints: [{ addresses: ['10.1.0.5'] }, { addresses: ['10.1.0.6'] }],
  } as EndpointSlice,
  { apiVersion: 'networking.k8s.io/v1', kind: 'IngressClass', metadata: { name: 'external' }, spec: { controller: 'example.com/ingress', parameters: { apiGroup: 'k8s.example.com', kind: 'Params', name: 'lb' } } } as IngressClass,
  {
    apiVersion: 'v1', kind: 'Pod', metadata: { name: 'urgent', namespace: 'default' },
    spec: { containers: [{ name: 'main', image: 'busybox' }], priority: 1000000, priorityClassName: 'high' },
    status: { phase: 'Pending', nominatedNodeName: 'node-a' },
  } as Pod,
];

describe('kubectl and the policy, scheduling and discovery kinds', function () {
  this.timeout(60_000);
  let store: MemoryStore;
  let api: ReturnType<typeof createApiServer>;
  let url = '';
  let dir = '';
  let kubeconfig = '';

  const ok = (args: string[]): Promise<string> =>
    new Promise((resolve, reject) => {
      execFile('kubectl', [...args, `--server=${url}`], { env: { ...process.env, KUBECONFIG: kubeconfig }, timeout: 20_000 }, (err, stdout, stderr) => {
        if (err) reject(new Error(`kubectl ${args.join(' ')} failed:\n${stderr}`));
        else resolve(stdout);
      });
    });

  before(async function () {
    if (!kubectlPresent()) return this.skip();
    dir = await mkdtemp(path.join(os.tmpdir(), 'gantry-kubectl-kinds-'));
    kubeconfig = path.join(dir, 'kubeconfig');
    await writeFile(kubeconfig, 'apiVersion: v1\nkind: Config\n');
    store = new MemoryStore();
    for (const o of OBJECTS) await store.create(o);
    api = createApiServer({ store, logger: silentLogger(), repo: 'https://git.example.com/shop.git' });
    await api.listen({ host: '127.0.0.1', port: 0 });
    url = `http://127.0.0.1:${(api.server.address() as AddressInfo).port}`;
  });
  after(async () => {
    await api?.close();
    await store?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('discovers the kinds with kubectl\'s names, short names and groups', async () => {
    const resources = await ok(['api-resources']);
    for (const line of [
      /^replicationcontrollers\s+rc\s+v1\s+true\s+ReplicationController$/m,
      /^limitranges\s+limits\s+v1\s+true\s+LimitRange$/m,
      /^resourcequotas\s+quota\s+v1\s+true\s+ResourceQuota$/m,
      /^priorityclasses\s+pc\s+scheduling\.k8s\.io\/v1\s+false\s+PriorityClass$/m,
      /^endpointslices\s+discovery\.k8s\.io\/v1\s+true\s+EndpointSlice$/m,
      /^endpoints\s+ep\s+v1\s+true\s+Endpoints$/m,
      /^ingressclasses\s+networking\.k8s\.io\/v1\s+false\s+IngressClass$/m,
    ]) assert.match(resources, line);
  });

  it('prints each kind with kubectl\'s columns', async () => {
    assert.match(await ok(['get', 'rc']), /^NAME\s+DESIRED\s+CURRENT\s+READY\s+AGE\nnginx\s+3\s+3\s+2\s+\S+$/m);
    assert.match(await ok(['get', 'rc', '-o', 'wide']), /^nginx\s+3\s+3\s+2\s+\S+\s+nginx\s+nginx:1\.27\s+app=nginx$/m);
    assert.match(await ok(['get', 'limits']), /^NAME\s+CREATED AT\ndefaults\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/m);
    assert.match(await ok(['get', 'quota']), /^NAME\s+REQUEST\s+LIMIT\s+AGE\ncompute\s+pods: 3\/10, requests\.cpu: 300m\/2\s+limits\.cpu: 600m\/4\s+\S+$/m);
    assert.match(await ok(['get', 'pc']), /^NAME\s+VALUE\s+GLOBAL-DEFAULT\s+AGE\s+PREEMPTIONPOLICY\nhigh\s+1000000\s+false\s+\S+\s+PreemptLowerPriority$/m);
    assert.match(await ok(['get', 'endpointslices']), /^NAME\s+ADDRESSTYPE\s+PORTS\s+ENDPOINTS\s+AGE\ndb-abcde\s+IPv4\s+5432\s+10\.1\.0\.5,10\.1\.0\.6\s+\S+$/m);
    assert.match(await ok(['get', 'ingressclass']), /^NAME\s+CONTROLLER\s+PARAMETERS\s+AGE\nexternal\s+example\.com\/ingress\s+Params\.k8s\.example\.com\/lb\s+\S+$/m);
    assert.match(await ok(['get', 'pods', '-o', 'wide']), /^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\s+IP\s+NODE\s+NOMINATED NODE\s+READINESS GATES\nurgent\s+0\/1\s+Pending\s+0\s+\S+\s+<none>\s+<none>\s+node-a\s+<none>$/m);
  });

  it('describes a quota and a limit range as kubectl does', async () => {
    const quota = await ok(['describe', 'quota', 'compute']);
    assert.match(quota, /^Resource\s+Used\s+Hard$/m);
    assert.match(quota, /^requests\.cpu\s+300m\s+2$/m);
    assert.match(quota, /^pods\s+3\s+10$/m);
    const limits = await ok(['describe', 'limits', 'defaults']);
    assert.match(limits, /^Container\s+cpu\s+50m\s+1\s+100m\s+200m\s+-$/m);
    const pc = await ok(['describe', 'pc', 'high']);
    assert.match(pc, /^Value:\s+1000000$/m);
    assert.match(pc, /^Description:\s+urgent work$/m);
  });

  it('explains the new kinds\' fields from the OpenAPI documents', async () => {
    assert.match(await ok(['explain', 'resourcequota.spec.hard']), /FIELD:\s+hard/);
    assert.match(await ok(['explain', 'priorityclass']), /PriorityClass names a scheduling priority/);
    assert.match(await ok(['explain', 'endpointslice.endpoints.conditions']), /ready\s+<boolean>/);
  });
});
