/**
 * End to end on real containerd: `GET /metrics`, scraped with the admin token after a rollout,
 * holds what an operator expects — pod start latency observed for the new pods, reconciles
 * counted per controller, the scheduler's attempts, the revision in force named by
 * `gantry_sync_info`, git fetches, the audit trail's commits and lag, API requests, a crash-looping
 * container's restarts — in a well-formed exposition whose labels never name a pod or a path;
 * and the API's per-request log lines are at debug, not info.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import type { Deployment, KubeObject } from '../../src/model/types.js';
import { apiRequest } from '../helpers/api-client.js';
import {
  createWorld, describePods, E2E_IMAGE, E2E_IMAGE_V2, e2ePrerequisites, isReady, podsWith, readIpForward, sendPushWebhook,
  startInProcess, takeDown, waitAttempted, waitFor, type InProcessGantry, type World,
} from '../helpers/e2e.js';
import { WEB_CONFIGMAP, WEB_SERVICE, webDeployment } from '../helpers/e2e-manifests.js';
import { parseExposition, seriesOf, valueOf, type Family } from '../helpers/prometheus.js';

/** A Deployment whose container exits 1 at once: restarted again and again. */
const crashDeployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: crash
spec:
  replicas: 1
  selector:
    matchLabels: {app: crash}
  template:
    metadata:
      labels: {app: crash}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
        - name: main
          image: ${E2E_IMAGE}
          command: ["sh", "-c", "exit 1"]
`;

/** Every label name a gantry family may carry: each takes values from a fixed set. */
const BOUNDED_LABELS = new Set(['controller', 'result', 'name', 'queue', 'reason', 'code', 'verb', 'resource', 'outcome', 'revision', 'ref', 'repo', 'le']);

describe('metrics scraped after a rollout (real containerd)', function () {
  this.timeout(180_000);
  const why = e2ePrerequisites();
  let world: World | undefined;
  let g: InProcessGantry;
  let ipForward: string | undefined;
  const logLines: Array<{ level: number; msg: string; component?: string }> = [];

  const scrape = async (): Promise<Map<string, Family>> => {
    const res = await apiRequest(g, '/metrics');
    assert.equal(res.status, 200, res.body);
    return parseExposition(res.body);
  };

  before(async function () {
    if (why) return this.skip();
    this.timeout(180_000);
    ipForward = await readIpForward();
    world = await createWorld({ 'web/deployment.yaml': webDeployment(), 'web/configmap.yaml': WEB_CONFIGMAP, 'web/service.yaml': WEB_SERVICE, 'crash/deployment.yaml': crashDeployment });
    // Everything at debug, kept in memory: the last test reads the API's request lines.
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const line of chunk.toString().split('\n')) if (line) logLines.push(JSON.parse(line) as { level: number; msg: string; component?: string });
        done();
      },
    });
    g = await startInProcess(world, { logger: pino({ level: 'debug' }, sink) });
  });

  after(async function () {
    this.timeout(120_000);
    await g?.stop().catch(() => undefined);
    if (world) {
      await takeDown(world, g?.dataDir ?? path.join(world.root, 'data'), ipForward);
      await world.cleanup();
    }
  });

  it('after a rollout: pod start latency observed, reconciles counted, gantry_sync_info names the applied commit, and every family is well-formed and bounded', async () => {
    const webReady = (image: string) => async () => {
      const pods = await podsWith(g.store, { app: 'web' });
      const d = await g.store.get<Deployment>({ kind: 'Deployment', namespace: 'default', name: 'web' });
      return pods.length === 2 && pods.every((p) => isReady(p) && p.spec.containers[0]!.image === image) && d?.status?.updatedReplicas === 2 && (d.status.replicas ?? 0) === 2;
    };
    const describeWeb = async () => describePods(await podsWith(g.store, { app: 'web' }));
    await waitFor('the first two web pods ready', webReady(E2E_IMAGE), { timeoutMs: 90_000, describe: describeWeb });
    const commit = await world!.push({ 'web/deployment.yaml': webDeployment({ image: E2E_IMAGE_V2 }) }, 'web: v2');
    assert.equal(await sendPushWebhook(g, commit), 202);
    await waitAttempted(g.store, commit);
    await waitFor('the rollout to v2', webReady(E2E_IMAGE_V2), { timeoutMs: 90_000, describe: describeWeb });
    assert.equal((await apiRequest(g, '/api/v1/namespaces/default/pods')).status, 200, 'a list, as kubectl get pods makes');
    const m = await waitFor('a restart of the crashing container, counted by its reason', async () => {
      const got = await scrape();
      return (valueOf(got, 'gantry_kubelet_container_restarts_total', { reason: 'Error' }) ?? 0) >= 1 ? got : undefined;
    }, { timeoutMs: 60_000, intervalMs: 500 });

    // Pod start latency: the two first pods and the two of the rollout, each within a minute.
    const started = valueOf(m, 'gantry_kubelet_pod_start_total_duration_seconds_count')!;
    assert.ok(started >= 4, `pods seen starting: ${started}`);
    assert.equal(valueOf(m, 'gantry_kubelet_pod_start_total_duration_seconds_bucket', { le: '60' }), started, 'every pod ran within a minute of its creation');
    const ready = valueOf(m, 'gantry_kubelet_pod_ready_duration_seconds_count')!;
    assert.ok(ready >= 4, `pods seen ready: ${ready}`);
    assert.ok(valueOf(m, 'gantry_kubelet_pod_ready_duration_seconds_sum')! / ready < 60);
    assert.equal(valueOf(m, 'gantry_kubelet_image_pulls_total', { result: 'success' }), 0, 'the images were imported: nothing pulled');

    // Controllers, their queues, the scheduler.
    for (const controller of ['deployment', 'replicaset']) {
      assert.ok(valueOf(m, 'gantry_controller_runtime_reconcile_total', { controller, result: 'success' })! >= 1, `${controller} reconciles`);
      assert.ok(valueOf(m, 'gantry_workqueue_adds_total', { name: controller })! >= 1);
      assert.ok(valueOf(m, 'gantry_workqueue_work_duration_seconds_count', { name: controller })! >= 1);
    }
    assert.ok(valueOf(m, 'gantry_workqueue_adds_total', { name: 'node-agent' })! >= 4, 'the node agent\'s pod queue');
    assert.ok(valueOf(m, 'gantry_scheduler_schedule_attempts_total', { result: 'scheduled' })! >= 5, 'four web pods and the crashing one');
    assert.equal(valueOf(m, 'gantry_scheduler_pending_pods'), 0);

    // The revision in force, and how it got there.
    assert.deepEqual(seriesOf(m, 'gantry_sync_info'), [{ revision: commit, ref: 'main', repo: world!.repoUrl }]);
    assert.equal(valueOf(m, 'gantry_sync_info'), 1);
    assert.ok(valueOf(m, 'gantry_sync_total', { outcome: 'applied' })! >= 2);
    assert.ok(valueOf(m, 'gantry_git_fetch_duration_seconds_count')! >= 2);
    assert.equal(valueOf(m, 'gantry_git_fetch_failures_total') ?? 0, 0);
    assert.equal(valueOf(m, 'gantry_webhook_requests_total', { result: 'accepted' }), 1);
    const commits = valueOf(m, 'gantry_audit_commits_total')!;
    assert.ok(commits >= 10, `audit commits: ${commits}`);
    assert.equal(valueOf(m, 'gantry_audit_lag_seconds_count'), commits);
    assert.ok(valueOf(m, 'gantry_audit_lag_seconds_sum')! / commits < 10, 'a change reaches the status branch within seconds');
    assert.ok(m.has('gantry_audit_queue_depth'));

    // The API, and the process.
    assert.ok(valueOf(m, 'gantry_apiserver_request_total', { verb: 'LIST', resource: 'pods', code: '200' })! >= 1);
    assert.ok(valueOf(m, 'gantry_apiserver_request_duration_seconds_count', { verb: 'LIST', resource: 'pods' })! >= 1);
    assert.ok(valueOf(m, 'process_cpu_seconds_total')! > 0);

    // Bounded labels: known names only, and no object of the cluster named in any value.
    const names = new Set<string>();
    for (const kind of ['Pod', 'ReplicaSet', 'Deployment']) for (const o of (await g.store.list<KubeObject>(kind, { namespace: 'default' })).items) names.add(o.metadata.name);
    for (const fam of m.values()) {
      if (!fam.name.startsWith('gantry_')) continue;
      for (const s of fam.samples) {
        for (const [label, value] of Object.entries(s.labels)) {
          assert.ok(BOUNDED_LABELS.has(label), `${s.name} has label ${label}`);
          assert.ok(![...names].some((n) => n.length > 3 && value.includes(n)), `${s.name}{${label}="${value}"} names an object`);
        }
      }
      if (fam.type === 'counter') assert.match(fam.name, /_total$/, `counter ${fam.name}`);
      if (fam.type === 'histogram') assert.match(fam.name, /_seconds$/, `histogram ${fam.name} measures seconds`);
    }
  });

  it('logs API requests at debug, never at info', async () => {
    await apiRequest(g, '/api/v1/namespaces/default/pods');
    const api = logLines.filter((l) => l.component === 'api');
    const routine = api.filter((l) => l.msg === 'incoming request' || l.msg === 'request completed');
    assert.ok(routine.length >= 2, 'requests are logged at debug');
    assert.deepEqual([...new Set(routine.map((l) => l.level))], [20]);
    assert.deepEqual(api.filter((l) => l.level === 30 && /request/.test(l.msg)).map((l) => l.msg), [], 'no request line at info');
  });
});
