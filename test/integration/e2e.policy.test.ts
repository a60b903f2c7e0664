/**
 * LimitRanges, ResourceQuotas and PriorityClasses end to end, with real containerd and the real
 * kubectl: a LimitRange's defaults in the pods a Deployment makes (as describe shows them); a
 * quota's usage kept by its controller (kubectl get quota); a revision that would exceed a quota
 * rejected whole, naming the object and the quota, nothing of it applied; a Deployment scaled
 * past the quota, and one breaking the LimitRange, refused pod by pod with FailedCreate events in
 * Kubernetes' words; a bare Pod breaking the LimitRange rejecting its revision; and a
 * high-priority pod preempting a low-priority one on a full node (nominated, the victim deleted
 * with a Preempted event), the victim's replacement left pending.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import type { KubeEvent } from '../../src/events/recorder.js';
import { LIMIT_RANGER_ANNOTATION } from '../../src/model/limitrange.js';
import { cpuMillis } from '../../src/model/quantity.js';
import type { ConfigMap, Node, Pod, ResourceQuota } from '../../src/model/types.js';
import { E2E_IMAGE, createWorld, e2ePrerequisites, isReady, readIpForward, sendPushWebhook, startInProcess, syncStatus, takeDown, waitAttempted, waitFor, type InProcessGantry, type World } from '../helpers/e2e.js';
import { kubectlPresent } from '../helpers/kubectl.js';

/** A Deployment of sleepers in `namespace`; `spec` lines go under the pod spec, `resources` under the container. */
function sleepers(name: string, opts: { namespace: string; replicas?: number; spec?: string; resources?: string }): string {
  return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
  namespace: ${opts.namespace}
spec:
  replicas: ${opts.replicas ?? 1}
  selector:
    matchLabels:
      app: ${name}
  template:
    metadata:
      labels:
        app: ${name}
    spec:
      terminationGracePeriodSeconds: 0
${opts.spec ?? ''}      containers:
        - name: main
          image: ${E2E_IMAGE}
          command: ["sleep", "3600"]
${opts.resources ?? ''}`;
}

const TEAM = `apiVersion: v1
kind: Namespace
metadata:
  name: team
---
apiVersion: v1
kind: LimitRange
metadata:
  name: defaults
  namespace: team
spec:
  limits:
    - type: Container
      default: { cpu: 200m, memory: 64Mi }
      defaultRequest: { cpu: 100m, memory: 32Mi }
      max: { cpu: "1" }
---
apiVersion: v1
kind: ResourceQuota
metadata:
  name: compute
  namespace: team
spec:
  hard:
    pods: "3"
    requests.cpu: 500m
    requests.memory: 256Mi
`;

/** A bare Pod in team asking for `cpu` (request and limit). */
function barePod(name: string, cpu: string): string {
  return `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
  namespace: team
spec:
  containers:
    - name: main
      image: ${E2E_IMAGE}
      command: ["sleep", "3600"]
      resources:
        limits: { cpu: "${cpu}", memory: 16Mi }
`;
}

describe('LimitRanges, ResourceQuotas and PriorityClasses (real containerd, real kubectl)', function () {
  this.timeout(300_000);
  const why = e2ePrerequisites() ?? (kubectlPresent() ? undefined : 'kubectl is not installed');
  let world: World | undefined;
  let g: InProcessGantry | undefined;
  let ipForward: string | undefined;
  let dataDir = '';

  const pods = async (ns: string, app: string) => (await g!.store.list<Pod>('Pod', { namespace: ns, labelSelector: `app=${app}` })).items;
  const events = async (ns: string) => (await g!.store.list<KubeEvent>('Event', { namespace: ns })).items;

  function kubectl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      execFile('kubectl', ['--kubeconfig', g!.kubeconfig, ...args], { timeout: 30_000 }, (err, stdout, stderr) => {
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
      });
    });
  }

  async function push(files: Record<string, string | null>, message: string): Promise<string> {
    const commit = await world!.push(files, message);
    await sendPushWebhook(g!, commit);
    await waitAttempted(g!.store, commit);
    return commit;
  }

  before(async function () {
    if (why) return this.skip();
    ipForward = await readIpForward();
    world = await createWorld({ 'team.yaml': TEAM, 'web.yaml': sleepers('web', { namespace: 'team' }) });
    dataDir = path.join(world.root, 'data');
    g = await startInProcess(world, { dataDir });
  });

  after(async function () {
    this.timeout(120_000);
    await g?.stop();
    if (world) {
      await takeDown(world, dataDir, ipForward);
      await world.cleanup();
    }
  });

  it('fills a LimitRange\'s defaults into the pods a Deployment makes, as kubectl describe shows them', async () => {
    const pod = await waitFor('a running web pod', async () => (await pods('team', 'web')).find(isReady), { timeoutMs: 90_000 });
    assert.deepEqual(pod!.spec.containers[0]!.resources, { limits: { cpu: '200m', memory: '64Mi' }, requests: { cpu: '100m', memory: '32Mi' } });
    assert.equal(pod!.metadata.annotations?.[LIMIT_RANGER_ANNOTATION], 'LimitRanger plugin set: cpu, memory request for container main; cpu, memory limit for container main');
    const described = await kubectl(['describe', 'pod', '-n', 'team', pod!.metadata.name]);
    assert.equal(described.code, 0, described.stderr);
    assert.match(described.stdout, /Limits:\s+cpu:\s+200m\s+memory:\s+64Mi\s+Requests:\s+cpu:\s+100m\s+memory:\s+32Mi/);
  });

  it('keeps the quota\'s usage, as kubectl get quota shows it', async () => {
    await waitFor('the quota counting the web pod', async () => {
      const q = await g!.store.get<ResourceQuota>({ kind: 'ResourceQuota', namespace: 'team', name: 'compute' });
      return q?.status?.used?.pods === '1' && q.status.used['requests.cpu'] === '100m';
    });
    const table = await kubectl(['get', 'quota', '-n', 'team']);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^NAME\s+REQUEST\s+LIMIT\s+AGE$/m);
    assert.match(table.stdout, /^compute\s+pods: 1\/3, requests\.cpu: 100m\/500m, requests\.memory: 32Mi\/256Mi\s/m);
  });

  it('rejects a revision that would exceed a quota whole, naming the object and the quota', async () => {
    const before = (await syncStatus(g!.store))?.lastAppliedRevision;
    const extra = `apiVersion: v1
kind: ConfigMap
metadata:
  name: extra
  namespace: team
data:
  a: b
`;
    const commit = await push({ 'extra.yaml': extra, 'hog.yaml': barePod('hog', '600m') }, 'a hog of a pod');
    const st = await waitAttempted(g!.store, commit);
    assert.notEqual(st?.lastAppliedRevision, commit);
    assert.equal(st?.lastAppliedRevision, before, 'the last good revision stays in force');
    const issue = st?.issues?.find((i) => i.object === 'Pod/team/hog');
    assert.ok(issue, JSON.stringify(st?.issues));
    assert.equal(issue.file, 'hog.yaml');
    assert.match(issue.message, /pods "hog" is forbidden: exceeded quota: compute, requested: requests\.cpu=600m, used: requests\.cpu=100m, limited: requests\.cpu=500m/);
    assert.equal(await g!.store.get<ConfigMap>({ kind: 'ConfigMap', namespace: 'team', name: 'extra' }), undefined, 'nothing of the revision is applied');
    const fixed = await push({ 'hog.yaml': null }, 'no hog');
    assert.equal((await waitAttempted(g!.store, fixed))?.lastAppliedRevision, fixed);
    assert.ok(await g!.store.get({ kind: 'ConfigMap', namespace: 'team', name: 'extra' }));
  });

  it('refuses a Deployment\'s pods past the quota and past the LimitRange with FailedCreate events, in Kubernetes\' words', async () => {
    await push({ 'web.yaml': sleepers('web', { namespace: 'team', replicas: 4 }), 'greedy.yaml': sleepers('greedy', { namespace: 'team', resources: '          resources:\n            limits: { cpu: "2" }\n' }) }, 'web ×4, and a greedy one');
    const failures = await waitFor('FailedCreate events for web and greedy', async () => {
      const failed = (await events('team')).filter((e) => e.reason === 'FailedCreate');
      const web = failed.find((e) => e.involvedObject.name.startsWith('web-') && /exceeded quota/.test(e.message));
      const greedy = failed.find((e) => e.involvedObject.name.startsWith('greedy-'));
      return web && greedy ? { web, greedy } : undefined;
    }, { timeoutMs: 60_000 });
    assert.match(failures.web.message, /^Error creating: pods "web-\w+-" is forbidden: exceeded quota: compute, requested: pods=1, used: pods=3, limited: pods=3$/);
    assert.match(failures.greedy.message, /^Error creating: pods "greedy-\w+-" is forbidden: maximum cpu usage per Container is 1, but limit is 2 \(LimitRange defaults\)$/);
    assert.equal((await pods('team', 'web')).length, 3);
    assert.equal((await pods('team', 'greedy')).length, 0);
  });

  it('rejects a revision declaring a bare Pod that breaks the LimitRange, naming file, object and range', async () => {
    const commit = await push({ 'bad.yaml': barePod('bad', '2') }, 'a pod above the max');
    const st = await waitAttempted(g!.store, commit);
    assert.notEqual(st?.lastAppliedRevision, commit);
    const issue = st?.issues?.find((i) => i.object === 'Pod/team/bad');
    assert.ok(issue, JSON.stringify(st?.issues));
    assert.equal(issue.file, 'bad.yaml');
    assert.match(issue.message, /pods "bad" is forbidden: maximum cpu usage per Container is 1, but limit is 2 \(LimitRange defaults\)/);
    await push({ 'bad.yaml': null, 'greedy.yaml': null, 'web.yaml': sleepers('web', { namespace: 'team' }) }, 'back to one web pod');
  });

  it('lets a high-priority pod preempt a low-priority one on a full node, nominated, the victim told why', async () => {
    const node = (await g!.store.list<Node>('Node')).items[0]!;
    // Each asks for 60% of the node: one fits beside the small web pods, two do not.
    const share = `${Math.ceil(cpuMillis(node.status!.allocatable!.cpu) * 0.6)}m`;
    const resources = `          resources:\n            requests: { cpu: ${share}, memory: 8Mi }\n`;
    const classes = `apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata:
  name: low
value: 100
---
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata:
  name: high
value: 1000000
description: preempts the low ones
---
apiVersion: v1
kind: Namespace
metadata:
  name: prio
`;
    await push({ 'classes.yaml': classes, 'batch.yaml': sleepers('batch', { namespace: 'prio', spec: '      priorityClassName: low\n', resources }) }, 'low-priority batch work');
    const victim = await waitFor('a running batch pod', async () => (await pods('prio', 'batch')).find(isReady), { timeoutMs: 90_000 });
    assert.equal(victim!.spec.priority, 100);

    const from = await g!.store.revision();
    const nominations: string[] = [];
    const ac = new AbortController();
    const watching = (async () => {
      for await (const ev of g!.store.watch({ fromRevision: from, kinds: ['Pod'], signal: ac.signal })) {
        const p = ev.object as Pod;
        if (p.metadata.labels?.app === 'urgent' && p.status?.nominatedNodeName) nominations.push(p.status.nominatedNodeName);
      }
    })().catch(() => undefined);
    try {
      await push({ 'urgent.yaml': sleepers('urgent', { namespace: 'prio', spec: '      priorityClassName: high\n', resources }) }, 'urgent work');
      const urgent = await waitFor('the urgent pod running', async () => (await pods('prio', 'urgent')).find(isReady), { timeoutMs: 90_000 });
      assert.equal(urgent!.spec.priority, 1_000_000);
      assert.equal(urgent!.spec.nodeName, node.metadata.name);
      assert.ok(nominations.includes(node.metadata.name), 'the urgent pod was nominated to the node before it was bound');
      assert.equal(await g!.store.get({ kind: 'Pod', namespace: 'prio', name: victim!.metadata.name }), undefined, 'the victim is gone');
      const preempted = await waitFor('the Preempted event', async () => (await events('prio')).find((e) => e.reason === 'Preempted' && e.involvedObject.name === victim!.metadata.name));
      assert.equal(preempted.message, `Preempted by pod ${urgent!.metadata.uid} on node ${node.metadata.name}`);
      // Its ReplicaSet makes another, which may not preempt a higher priority: it waits.
      const waiting = await waitFor('the replacement batch pod waiting', async () => (await pods('prio', 'batch')).find((p) => p.status?.conditions?.some((c) => c.reason === 'Unschedulable')));
      const cond = waiting.status!.conditions!.find((c) => c.type === 'PodScheduled')!;
      assert.match(cond.message ?? '', /^0\/1 nodes are available: 1 Insufficient cpu\. preemption: 0\/1 nodes are available: 1 /);
      const table = await kubectl(['get', 'priorityclasses']);
      assert.match(table.stdout, /^high\s+1000000\s+false\s+\S+\s+PreemptLowerPriority$/m);
      assert.match(table.stdout, /^system-node-critical\s+2000001000\s+false\s+/m);
    } finally {
      ac.abort();
      await watching;
    }
  });
});
