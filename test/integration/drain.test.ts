/**
 * PodDisruptionBudgets, evictions, cordon and drain on a real single-node gantry (containerd,
 * runc, CNI), with `gantry drain` and the real `kubectl drain` / `cordon` / `uncordon` / `get pdb`.
 *
 * A 3-replica Deployment with a budget of minAvailable 2 on one node: a drain evicts one pod, its
 * replacement stays Pending (the only node is cordoned), the budget then has no disruption left
 * and the drain blocks until its --timeout, naming the budget. Uncordoning lets the replacement
 * run and the budget recover. Skips with a message where kubectl or the e2e prerequisites are
 * missing.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import type { Node, Pod, PodDisruptionBudget } from '../../src/model/types.js';
import { runCli } from '../helpers/cli.js';
import { E2E_IMAGE, createWorld, e2ePrerequisites, isReady, podsWith, readIpForward, startInProcess, takeDown, waitFor, type InProcessGantry, type World } from '../helpers/e2e.js';
import { kubectlPresent } from '../helpers/kubectl.js';

const MANIFESTS: Record<string, string> = {
  'web.yaml': `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 3
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      terminationGracePeriodSeconds: 0
      containers:
        - name: main
          image: ${E2E_IMAGE}
          command: ["sleep", "3600"]
`,
  'web-pdb.yaml': `apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: web
spec:
  minAvailable: 2
  selector:
    matchLabels:
      app: web
`,
  'agent.yaml': `apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
spec:
  selector:
    matchLabels:
      app: agent
  template:
    metadata:
      labels:
        app: agent
    spec:
      terminationGracePeriodSeconds: 0
      containers:
        - name: main
          image: ${E2E_IMAGE}
          command: ["sleep", "3600"]
`,
};

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

describe('drain, cordon and PodDisruptionBudgets on a real node', function () {
  this.timeout(120_000);
  const why = !kubectlPresent() ? 'kubectl is not installed' : e2ePrerequisites();
  let world: World | undefined;
  let g: InProcessGantry | undefined;
  let ipForward: string | undefined;
  let dataDir = '';
  let nodeName = '';

  const kubectl = (args: string[], timeoutMs = 30_000): Promise<Run> =>
    new Promise((resolve) => {
      execFile('kubectl', ['--kubeconfig', g!.kubeconfig, ...args], { timeout: timeoutMs }, (err, stdout, stderr) => {
        resolve({ code: err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0, stdout, stderr });
      });
    });
  const pdb = async () => (await g!.store.get<PodDisruptionBudget>({ kind: 'PodDisruptionBudget', namespace: 'default', name: 'web' }))!;
  const node = async () => (await g!.store.get<Node>({ kind: 'Node', name: nodeName }))!;
  const webPods = async (): Promise<Pod[]> => podsWith(g!.store, { app: 'web' });

  before(async function () {
    if (why) {
      console.log(`      skipped: ${why}`);
      return this.skip();
    }
    ipForward = await readIpForward();
    world = await createWorld(MANIFESTS);
    nodeName = world.node.nodeName;
    dataDir = path.join(world.root, 'data');
    g = await startInProcess(world, { dataDir });
    await waitFor('3 web pods and the agent Ready, the budget allowing 1', async () => {
      const web = await webPods();
      const agent = await podsWith(g!.store, { app: 'agent' });
      const st = (await pdb())?.status;
      return web.length === 3 && web.every(isReady) && agent.length === 1 && agent.every(isReady) && st?.disruptionsAllowed === 1;
    }, { timeoutMs: 60_000 });
  });

  after(async function () {
    this.timeout(60_000);
    await g?.stop();
    if (world) {
      await takeDown(world, dataDir, ipForward);
      await world.cleanup();
    }
  });

  it('kubectl get pdb and gantry get pdb print the budget with kubectl\'s columns', async () => {
    const r = await kubectl(['get', 'pdb']);
    assert.equal(r.code, 0, r.stderr);
    const [header, row] = r.stdout.trimEnd().split('\n');
    assert.deepEqual(header!.split(/\s{2,}/), ['NAME', 'MIN AVAILABLE', 'MAX UNAVAILABLE', 'ALLOWED DISRUPTIONS', 'AGE']);
    assert.deepEqual(row!.split(/\s+/).slice(0, 4), ['web', '2', 'N/A', '1']);
    const mine = await runCli(['get', 'pdb', '--data-dir', dataDir]);
    assert.equal(mine.code, 0, mine.stderr);
    const [h, w] = mine.stdout.trimEnd().split('\n');
    assert.deepEqual(h!.split(/\s{2,}/), ['NAME', 'MIN AVAILABLE', 'MAX UNAVAILABLE', 'ALLOWED DISRUPTIONS', 'AGE']);
    assert.deepEqual(w!.split(/\s+/).slice(0, 4), ['web', '2', 'N/A', '1']);
  });

  it('gantry drain refuses a node with DaemonSet pods without --ignore-daemonsets, leaving it cordoned', async () => {
    const r = await runCli(['drain', nodeName, '--data-dir', dataDir]);
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stdout, new RegExp(`node/${nodeName} cordoned`));
    assert.match(r.stderr, /cannot delete DaemonSet-managed Pods \(use --ignore-daemonsets to ignore\): default\/agent-/);
    assert.equal((await node()).spec.unschedulable, true);
    const nodes = await kubectl(['get', 'nodes']);
    assert.match(nodes.stdout, new RegExp(`${nodeName}\\s+Ready,SchedulingDisabled`));
    assert.equal((await webPods()).filter((p) => p.metadata.deletionTimestamp).length, 0, 'nothing evicted');
  });

  it('gantry drain evicts one pod, then blocks on the budget (the replacement cannot run on the cordoned node) until --timeout', async () => {
    const r = await runCli(['drain', nodeName, '--data-dir', dataDir, '--ignore-daemonsets', '--timeout', '7s'], { timeoutMs: 40_000 });
    assert.equal(r.code, 1, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /node\/\S+ already cordoned/);
    assert.match(r.stdout, /Warning: ignoring DaemonSet-managed Pods: default\/agent-/);
    assert.equal((r.stdout.match(/^pod\/web-\S+ evicted$/gm) ?? []).length, 1, r.stdout);
    assert.match(r.stdout, /cannot evict pod default\/web-\S+ yet: The disruption budget web needs 2 healthy pods and has 2 currently/);
    assert.match(r.stderr, /did not complete within 7s; the node stays cordoned; pods left: default\/web-\S+ \(blocked: The disruption budget web/);
    const pods = await webPods();
    const pending = pods.filter((p) => !p.spec.nodeName);
    assert.equal(pending.length, 1, 'the replacement waits for a schedulable node');
    assert.equal(pods.filter((p) => p.spec.nodeName && isReady(p)).length, 2);
    const st = (await pdb()).status!;
    assert.deepEqual([st.currentHealthy, st.desiredHealthy, st.disruptionsAllowed], [2, 2, 0]);
  });

  it('kubectl drain is refused by the budget too (429, retried until its timeout)', async () => {
    const r = await kubectl(['drain', nodeName, '--ignore-daemonsets', '--timeout=4s'], 30_000);
    assert.notEqual(r.code, 0, r.stdout);
    assert.match(r.stderr, /Cannot evict pod as it would violate the pod's disruption budget/);
    assert.match(r.stdout + r.stderr, /already cordoned/);
    assert.equal((await webPods()).length, 3, 'no further pod went');
  });

  it('kubectl uncordon lets the replacement run and the budget recover; kubectl cordon cordons again', async () => {
    const un = await kubectl(['uncordon', nodeName]);
    assert.equal(un.code, 0, un.stderr);
    assert.match(un.stdout, new RegExp(`node/${nodeName} uncordoned`));
    assert.equal((await node()).spec.unschedulable, undefined);
    await waitFor('3 web pods Ready again and the budget allowing 1', async () => {
      const web = await webPods();
      return web.length === 3 && web.every(isReady) && (await pdb()).status?.disruptionsAllowed === 1;
    }, { timeoutMs: 30_000 });
    const c = await kubectl(['cordon', nodeName]);
    assert.equal(c.code, 0, c.stderr);
    assert.match(c.stdout, new RegExp(`node/${nodeName} cordoned`));
    assert.equal((await node()).spec.unschedulable, true);
  });

  it('kubectl drain evicts what the budget allows and waits for the pod to go, then is refused for the rest', async () => {
    const r = await kubectl(['drain', nodeName, '--ignore-daemonsets', '--grace-period=0', '--timeout=6s'], 30_000);
    assert.notEqual(r.code, 0, r.stdout);
    assert.equal((r.stdout.match(/^pod\/web-\S+ evicted$/gm) ?? []).length, 1, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stderr, /Cannot evict pod as it would violate the pod's disruption budget/);
    const back = await runCli(['uncordon', nodeName, '--data-dir', dataDir]);
    assert.equal(back.code, 0, back.stderr);
    assert.match(back.stdout, new RegExp(`node/${nodeName} uncordoned`));
  });
});
