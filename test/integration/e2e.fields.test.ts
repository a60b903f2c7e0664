/**
 * End to end, from Git to containers: Jobs whose podFailurePolicy decides on real exit codes
 * (FailJob ends the Job at the first matching exit; Ignore lets a Job with backoffLimit 0 retry),
 * and a bare Pod held back by its scheduling gates until a commit removes them; the manifests
 * leave maps and objects null (`annotations:` left empty, `resources: ~`), as people write them.
 * One gantry for the file; its Jobs and Pod start together.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import type { Job, Pod } from '../../src/model/types.js';
import { E2E_IMAGE, createWorld, e2ePrerequisites, podCondition, readIpForward, sendPushWebhook, startInProcess, takeDown, waitAttempted, waitFor, type InProcessGantry, type World } from '../helpers/e2e.js';

const jobWithPolicy = (name: string, script: string, rules: string, opts: { backoffLimit: number; state?: string }): string => `apiVersion: batch/v1
kind: Job
metadata:
  name: ${name}
  annotations:
spec:
  backoffLimit: ${opts.backoffLimit}
  podFailurePolicy:
    rules:
${rules}
  template:
    metadata:
      labels: { job: ${name} }
    spec:
      restartPolicy: Never
      terminationGracePeriodSeconds: 1
      containers:
        - name: main
          image: ${E2E_IMAGE}
          command: ["sh", "-c", ${JSON.stringify(script)}]
          resources: ~
${opts.state ? `          volumeMounts: [{ name: state, mountPath: /state }]
      volumes:
        - name: state
          hostPath: { path: ${opts.state}, type: DirectoryOrCreate }
` : ''}`;

const gatedPod = (gates: boolean): string => `apiVersion: v1
kind: Pod
metadata:
  name: gated
  labels:
  annotations:
spec:
  terminationGracePeriodSeconds: 1
${gates ? '  schedulingGates:\n    - name: example.com/capacity-review\n' : ''}  containers:
    - name: main
      image: ${E2E_IMAGE}
      command: ["sleep", "3600"]
`;

describe('gantry up end to end: Job pod failure policies and scheduling gates (real containerd)', function () {
  this.timeout(150_000);
  const why = e2ePrerequisites();
  let world: World | undefined;
  let g: InProcessGantry;
  let ipForward: string | undefined;

  const getJob = (name: string) => g.store.get<Job>({ kind: 'Job', namespace: 'default', name });
  const jobPods = async (name: string) => (await g.store.list<Pod>('Pod', { namespace: 'default' })).items.filter((p) => p.metadata.labels?.job === name);
  const finished = (j: Job | undefined, type: 'Complete' | 'Failed') => j?.status?.conditions?.find((c) => c.type === type && c.status === 'True');

  before(async function () {
    if (why) return this.skip();
    this.timeout(180_000);
    ipForward = await readIpForward();
    world = await createWorld({});
    const state = path.join(world.root, 'state');
    await world.push({
      'jobs/fatal.yaml': jobWithPolicy('fatal', 'exit 42', "      - action: FailJob\n        onExitCodes: { containerName: main, operator: In, values: [42] }", { backoffLimit: 6 }),
      'jobs/tolerant.yaml': jobWithPolicy('tolerant', 'if [ -f /state/tried ]; then exit 0; fi; touch /state/tried; exit 3', "      - action: Ignore\n        onExitCodes: { operator: In, values: [3] }", { backoffLimit: 0, state }),
      'pods/gated.yaml': gatedPod(true),
    }, 'jobs with pod failure policies, a gated pod');
    g = await startInProcess(world);
  });

  after(async function () {
    this.timeout(120_000);
    await g?.stop().catch(() => undefined);
    if (world) {
      await takeDown(world, g?.dataDir ?? path.join(world.root, 'data'), ipForward);
      await world.cleanup();
    }
  });

  it('a FailJob rule fails the Job at the first exit 42, with no retry despite backoffLimit 6', async () => {
    const j = await waitFor('the fatal Job failed', async () => {
      const job = await getJob('fatal');
      return finished(job, 'Failed') ? job : undefined;
    }, { timeoutMs: 60_000 });
    const failed = finished(j, 'Failed')!;
    assert.equal(failed.reason, 'PodFailurePolicy');
    assert.match(failed.message!, /^Container main for pod default\/fatal-\w+ failed with exit code 42 matching FailJob rule at index 0$/);
    const pods = await jobPods('fatal');
    assert.equal(pods.length, 1, 'one pod only');
    assert.equal(pods[0]!.status?.containerStatuses?.[0]?.state.terminated?.exitCode, 42);
  });

  it('an Ignore rule lets a Job with backoffLimit 0 run again after exit 3 and complete, counting no failure', async () => {
    const j = await waitFor('the tolerant Job completed', async () => {
      const job = await getJob('tolerant');
      if (finished(job, 'Failed')) throw new Error(`the tolerant Job failed: ${JSON.stringify(job!.status)}`);
      return finished(job, 'Complete') ? job : undefined;
    }, { timeoutMs: 60_000 });
    assert.equal(j.status?.failed, 0);
    assert.equal(j.status?.succeeded, 1);
    const exits = (await jobPods('tolerant')).map((p) => p.status?.containerStatuses?.[0]?.state.terminated?.exitCode).sort();
    assert.deepEqual(exits, [0, 3]);
  });

  it('a Pod with scheduling gates stays Pending (SchedulingGated) until a commit removes them, then runs', async () => {
    const held = await waitFor('the gated pod is marked', async () => {
      const p = await g.store.get<Pod>({ kind: 'Pod', namespace: 'default', name: 'gated' });
      return podCondition(p!, 'PodScheduled')?.reason === 'SchedulingGated' ? p : undefined;
    }, { timeoutMs: 30_000 });
    assert.equal(held!.spec.nodeName, undefined);
    assert.equal(held!.status?.phase, 'Pending');
    const commit = await world!.push({ 'pods/gated.yaml': gatedPod(false) }, 'gated: capacity reviewed');
    assert.equal(await sendPushWebhook(g, commit), 202);
    await waitAttempted(g.store, commit);
    const running = await waitFor('the ungated pod runs', async () => {
      const p = await g.store.get<Pod>({ kind: 'Pod', namespace: 'default', name: 'gated' });
      return p?.status?.phase === 'Running' ? p : undefined;
    }, { timeoutMs: 60_000 });
    assert.equal(running.spec.nodeName, world!.node.nodeName);
    assert.equal(podCondition(running, 'PodScheduled')?.status, 'True');
  });
});
