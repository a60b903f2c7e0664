/**
 * The horizontal pod autoscaler end to end on real containerd: a Deployment of busybox
 * containers burning CPU (each capped at 100m, requesting 50m) under an autoscaler aiming at 30%
 * (a margin for a busy machine, where a container of small CPU weight gets less than its cap) is
 * scaled up to its maxReplicas from the usage the node agent reads through containerd's task
 * metrics; `kubectl top pod`, `kubectl get hpa` and `gantry get hpa` show it; a commit asking for
 * another replica count leaves the autoscaler's alone (the plan says why); and once the pods stop
 * burning (a file made through `kubectl exec`) it scales back down after its short window.
 *
 * Agents report every 2 s and the controller computes every 2 s here (15 s each by default).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import type { Deployment, HorizontalPodAutoscaler, KubeObject } from '../../src/model/types.js';
import { runCli } from '../helpers/cli.js';
import {
  createWorld, describePods, E2E_IMAGE, e2ePrerequisites, isReady, podsWith, readIpForward, sendPushWebhook, startInProcess, takeDown,
  waitAttempted, waitFor, type InProcessGantry, type World,
} from '../helpers/e2e.js';
import { writeFiles } from '../helpers/git-http-server.js';
import { kubectlPresent } from '../helpers/kubectl.js';

/** A Deployment whose containers burn CPU until /tmp/idle exists; replicas left to the autoscaler. */
function burnDeployment(opts: { replicas?: number; env?: string } = {}): string {
  return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: burn
spec:
${opts.replicas !== undefined ? `  replicas: ${opts.replicas}\n` : ''}  selector:
    matchLabels: {app: burn}
  template:
    metadata:
      labels: {app: burn}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
        - name: burn
          image: ${E2E_IMAGE}
          command: ["sh", "-c", "while [ ! -f /tmp/idle ]; do :; done; exec sleep 3600"]
${opts.env ? `          env: [{name: MODE, value: ${opts.env}}]\n` : ''}          resources:
            requests: {cpu: 50m}
            limits: {cpu: 100m}
`;
}

const AUTOSCALER = `apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: burn
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: burn}
  minReplicas: 1
  maxReplicas: 3
  metrics:
    - type: Resource
      resource:
        name: cpu
        target: {type: Utilization, averageUtilization: 30}
  behavior:
    scaleDown:
      stabilizationWindowSeconds: 4
      policies: [{type: Percent, value: 100, periodSeconds: 4}]
`;

describe('HorizontalPodAutoscaler on real containerd: scale up under load, down when it stops', function () {
  this.timeout(240_000);
  const why = e2ePrerequisites();
  let world: World | undefined;
  let g: InProcessGantry;
  let ipForward: string | undefined;

  const kubectl = (args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
    new Promise((resolve) => {
      execFile('kubectl', args, { env: { ...process.env, KUBECONFIG: g.kubeconfig }, timeout: 30_000 }, (err, stdout, stderr) => {
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
      });
    });
  const replicas = async (): Promise<number | undefined> => (await g.store.get<Deployment>({ kind: 'Deployment', namespace: 'default', name: 'burn' }))?.spec.replicas;
  const autoscaler = async (): Promise<HorizontalPodAutoscaler | undefined> => g.store.get<HorizontalPodAutoscaler>({ kind: 'HorizontalPodAutoscaler', namespace: 'default', name: 'burn' });
  /** The Events of namespace default whose reason is `reason` and message matches, once recorded (the recorder writes them in the background). */
  const eventLike = (reason: string, message: RegExp): Promise<string> => waitFor(`a ${reason} event matching ${message}`, async () => {
    const events = (await g.store.list<KubeObject & { reason?: string; message?: string }>('Event', { namespace: 'default' })).items;
    return events.find((e) => e.reason === reason && message.test(e.message ?? ''))?.message;
  }, { timeoutMs: 20_000, intervalMs: 250 });
  const describe = async (): Promise<string> => `${describePods(await podsWith(g.store, { app: 'burn' }))}\n${JSON.stringify((await autoscaler())?.status, null, 1)}`;

  before(async function () {
    if (why) return this.skip();
    this.timeout(180_000);
    ipForward = await readIpForward();
    world = await createWorld({ 'burn/deployment.yaml': burnDeployment(), 'burn/hpa.yaml': AUTOSCALER });
    world.node.usagePeriodMs = 2000;
    g = await startInProcess(world, { config: { controllers: { horizontalPodAutoscaler: { syncPeriodMs: 2000 } } } });
  });

  after(async function () {
    this.timeout(120_000);
    await g?.stop().catch(() => undefined);
    if (world) {
      await takeDown(world, g?.dataDir ?? path.join(world.root, 'data'), ipForward);
      await world.cleanup();
    }
  });

  it('scales the burning Deployment up to maxReplicas from containerd\'s CPU readings, with Kubernetes\' event', async () => {
    await waitFor('the autoscaler to scale burn to 3', async () => (await replicas()) === 3, { timeoutMs: 120_000, intervalMs: 500, describe });
    const h = (await autoscaler())!;
    const cpu = h.status?.currentMetrics?.[0]?.resource?.current.averageUtilization;
    assert.ok(cpu !== undefined && cpu > 33, `measured ${cpu}% of the request`);
    await eventLike('SuccessfulRescale', /^New size: [23]; reason: cpu resource utilization \(percentage of request\) above target$/);
  });

  it('kubectl top pod, kubectl get hpa and gantry get hpa show the usage and the targets', async function () {
    if (!kubectlPresent()) return this.skip();
    await waitFor('all three burn pods running', async () => (await podsWith(g.store, { app: 'burn' })).filter(isReady).length === 3, { timeoutMs: 60_000, describe });
    const top = await waitFor('kubectl top pod to list a burn pod', async () => {
      const r = await kubectl(['top', 'pod', '-l', 'app=burn']);
      return r.code === 0 && /^burn-\S+\s+\d+m\s+\d+Mi\s*$/m.test(r.stdout) ? r.stdout : undefined;
    }, { timeoutMs: 30_000, intervalMs: 1000 });
    assert.match(top, /^NAME\s+CPU\(cores\)\s+MEMORY\(bytes\)\s*$/m);
    const node = await kubectl(['top', 'node']);
    assert.equal(node.code, 0, node.stderr);
    assert.match(node.stdout, new RegExp(`^${world!.node.nodeName}\\s+\\d+m\\s+\\d+%\\s+\\d+Mi\\s+\\d+%`, 'm'));

    const hpa = await kubectl(['get', 'hpa']);
    assert.equal(hpa.code, 0, hpa.stderr);
    assert.match(hpa.stdout, /^NAME\s+REFERENCE\s+TARGETS\s+MINPODS\s+MAXPODS\s+REPLICAS\s+AGE\s*$/m);
    assert.match(hpa.stdout, /^burn\s+Deployment\/burn\s+cpu: \d+%\/30%\s+1\s+3\s+\d\s+\S+\s*$/m);
    const own = await runCli(['get', 'hpa', '--kubeconfig', g.kubeconfig], { timeoutMs: 60_000 });
    assert.equal(own.code, 0, own.stderr);
    assert.match(own.stdout, /^burn\s+Deployment\/burn\s+cpu: \d+%\/30%\s+1\s+3\s+\d\s+\S+\s*$/m);

    const described = await kubectl(['describe', 'hpa', 'burn']);
    assert.equal(described.code, 0, described.stderr);
    assert.match(described.stdout, /Reference:\s+Deployment\/burn/);
    assert.match(described.stdout, /resource cpu on pods\s+\(as a percentage of request\):\s+\d+% \(\d+m\) \/ 30%/);
    assert.match(described.stdout, /AbleToScale\s+True/);
    assert.match(described.stdout, /SuccessfulRescale/);
  });

  it('a commit asking for another replica count leaves the autoscaler\'s: the plan notes it and the sync keeps 3', async () => {
    await writeFiles(world!.work, { 'burn/deployment.yaml': burnDeployment({ replicas: 1 }) });
    const plan = await runCli(['plan', '--repo', world!.work, '--live', '--data-dir', g.dataDir], { timeoutMs: 90_000 });
    assert.equal(plan.code, 0, plan.stdout + plan.stderr);
    assert.match(plan.stdout, /Deployment default\/burn: replicas managed by HorizontalPodAutoscaler default\/burn: live 3 kept, the manifest's 1 not applied/);

    const commit = await world!.push({ 'burn/deployment.yaml': burnDeployment({ replicas: 1, env: 'gitops' }) }, 'burn: one replica and a MODE');
    assert.equal(await sendPushWebhook(g, commit), 202);
    const st = await waitAttempted(g.store, commit, 60_000);
    assert.equal(st?.lastAppliedRevision, commit);
    const d = (await g.store.get<Deployment>({ kind: 'Deployment', namespace: 'default', name: 'burn' }))!;
    assert.deepEqual(d.spec.template.spec.containers[0]!.env, [{ name: 'MODE', value: 'gitops' }], 'the rest of the commit is applied');
    assert.equal(d.spec.replicas, 3, 'the autoscaler\'s replicas stay');
  });

  it('scales back down to minReplicas once the pods stop burning', async function () {
    if (!kubectlPresent()) return this.skip();
    // The template changed: wait for the new pods, then quiet every one of them.
    await waitFor('the rolled-out burn pods running', async () => {
      const pods = (await podsWith(g.store, { app: 'burn' })).filter((p) => !p.metadata.deletionTimestamp);
      return pods.length >= 1 && pods.every((p) => isReady(p) && p.spec.containers[0]!.env?.[0]?.value === 'gitops');
    }, { timeoutMs: 90_000, intervalMs: 500, describe });
    const quiet = new Set<string>();
    await waitFor('the autoscaler to scale burn down to 1', async () => {
      for (const p of await podsWith(g.store, { app: 'burn' })) {
        if (quiet.has(p.metadata.name) || !isReady(p) || p.metadata.deletionTimestamp) continue;
        const r = await kubectl(['exec', p.metadata.name, '--', 'touch', '/tmp/idle']);
        if (r.code === 0) quiet.add(p.metadata.name);
      }
      return (await replicas()) === 1;
    }, { timeoutMs: 120_000, intervalMs: 1000, describe });
    await eventLike('SuccessfulRescale', /^New size: 1; reason: All metrics below target$/);
  });
});
