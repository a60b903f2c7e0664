/**
 * `gantry describe`, `gantry get events` and `gantry get -w` as a user runs them: the CLI in a
 * child process against a data directory whose SQLite store another process (this test) writes.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { dataPaths } from '../../src/config.js';
import type { KubeEvent } from '../../src/events/recorder.js';
import { k8sTime } from '../../src/model/time.js';
import type { KubeObject, Pod } from '../../src/model/types.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import type { Store } from '../../src/store/types.js';
import { runCli } from '../helpers/cli.js';
import * as f from '../fixtures/describe-objects.js';

const entry = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'helpers', 'cli-entry.ts');

function eventAbout(obj: KubeObject, name: string, e: { reason: string; message: string; type?: 'Normal' | 'Warning'; component: string; agoS: number; count?: number; firstAgoS?: number }): KubeEvent {
  const now = Date.now();
  return {
    apiVersion: 'v1', kind: 'Event',
    metadata: { name, namespace: obj.metadata.namespace ?? 'default' },
    involvedObject: { kind: obj.kind, name: obj.metadata.name, ...(obj.metadata.namespace ? { namespace: obj.metadata.namespace } : {}), uid: obj.metadata.uid },
    reason: e.reason, message: e.message, type: e.type ?? 'Normal', source: { component: e.component },
    firstTimestamp: k8sTime(now - (e.firstAgoS ?? e.agoS) * 1000), lastTimestamp: k8sTime(now - e.agoS * 1000), count: e.count ?? 1,
  };
}

describe('gantry describe, get events and get -w against a data directory', function () {
  this.timeout(60_000);
  let dir = '';
  let store: Store;

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'gantry-describe-'));
    store = openSqliteStore(dataPaths(dir).store);
    const strip = <T extends KubeObject>(o: T): T => ({ ...o, metadata: { ...o.metadata, uid: undefined, creationTimestamp: undefined, resourceVersion: undefined } });
    const pod = await store.create(strip(f.pod));
    await store.create(strip(f.otherPod));
    const deploy = await store.create(strip(f.deployment));
    for (const rs of [f.newReplicaSet, f.oldReplicaSet]) {
      await store.create({ ...strip(rs), metadata: { ...strip(rs).metadata, ownerReferences: [{ ...rs.metadata.ownerReferences![0]!, uid: deploy.metadata.uid! }] } });
    }
    await store.create(strip(f.service));
    await store.create(strip(f.endpoints));
    await store.create(strip(f.node));
    await store.create(eventAbout(pod, 'p3', { type: 'Warning', reason: 'Unhealthy', message: 'Readiness probe failed: no', component: 'kubelet', agoS: 5, firstAgoS: 300, count: 31 }));
    await store.create(eventAbout(pod, 'p1', { reason: 'Scheduled', message: 'Successfully assigned shop/web-6d4cf56db6-x7k2p to node-a', component: 'default-scheduler', agoS: 600 }));
    await store.create(eventAbout(pod, 'p2', { reason: 'Pulled', message: 'Container image "registry.local/web:1.4.2" already present on machine', component: 'kubelet', agoS: 590 }));
    await store.create(eventAbout(deploy, 'd1', { reason: 'ScalingReplicaSet', message: 'Scaled up replica set web-6d4cf56db6 from 0 to 1', component: 'deployment-controller', agoS: 610 }));
  });
  after(async () => {
    await store?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('describe pod prints the kubectl page with the pod\'s events oldest first', async () => {
    const r = await runCli(['describe', 'pod', 'web-6d4cf56db6-x7k2p', '-n', 'shop', '--data-dir', dir]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Name: +web-6d4cf56db6-x7k2p\nNamespace: +shop\nPriority: +0\nNode: +node-a\/192\.168\.1\.10\n/);
    assert.match(r.stdout, /\nControlled By: +ReplicaSet\/web-6d4cf56db6\n/);
    assert.match(r.stdout, /\n {4}Last State: +Terminated\n {6}Reason: +Error\n {6}Exit Code: +137\n/);
    assert.match(r.stdout, /\nQoS Class: +Burstable\n/);
    const events = r.stdout.slice(r.stdout.indexOf('Events:'));
    const reasons = [...events.matchAll(/^ {2}(?:Normal|Warning) +(\w+)/gm)].map((m) => m[1]);
    assert.deepEqual(reasons, ['Scheduled', 'Pulled', 'Unhealthy']);
    assert.match(events, /Warning +Unhealthy +\d+s \(x31 over 5m(\d+s)?\) +kubelet +Readiness probe failed: no/);
  });

  it('describe pod takes a name prefix, as kubectl does, and says when nothing matches', async () => {
    const r = await runCli(['describe', 'pods', 'web-6d4', '-n', 'shop', '--data-dir', dir]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Name: +web-6d4cf56db6-x7k2p$/m);
    const missing = await runCli(['describe', 'pod', 'nope', '-n', 'shop', '--data-dir', dir]);
    assert.equal(missing.code, 1);
    assert.match(missing.stdout, /pods "nope" not found in namespace shop/);
  });

  it('describe deployment shows replicas, strategy, and its new and old ReplicaSets', async () => {
    const r = await runCli(['describe', 'deploy', 'web', '-n', 'shop', '--data-dir', dir]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /\nReplicas: +3 desired \| 2 updated \| 4 total \| 3 available \| 1 unavailable\n/);
    assert.match(r.stdout, /\nRollingUpdateStrategy: +25% max unavailable, 25% max surge\n/);
    assert.match(r.stdout, /\nOldReplicaSets: +web-5f8b9c7d4a \(2\/2 replicas created\)\nNewReplicaSet: +web-6d4cf56db6 \(2\/2 replicas created\)\n/);
    assert.match(r.stdout, /Normal +ScalingReplicaSet +10m +deployment-controller +Scaled up replica set web-6d4cf56db6 from 0 to 1/);
  });

  it('describe node lists its pods and the resources they ask for; a -l selection describes each match', async () => {
    const r = await runCli(['describe', 'node', 'node-a', '--data-dir', dir]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /\nRoles: +control-plane\n/);
    assert.match(r.stdout, /\nNon-terminated Pods: +\(2 in total\)\n/);
    assert.match(r.stdout, /\n {2}cpu +350m \(17%\) +500m \(25%\)\n/);
    assert.match(r.stdout, /\nEvents: +<none>\n$/);
    const svc = await runCli(['describe', 'svc', '-l', 'app=web', '-n', 'shop', '--data-dir', dir]);
    assert.equal(svc.code, 0, svc.stderr);
    assert.match(svc.stdout, /\nEndpoints: +10\.244\.0\.12:8080,10\.244\.0\.13:8080\n/);
  });

  it('get events prints kubectl\'s columns, oldest first', async () => {
    const r = await runCli(['get', 'events', '-n', 'shop', '--data-dir', dir]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.match(lines[0]!, /^LAST SEEN +TYPE +REASON +OBJECT +MESSAGE$/);
    assert.deepEqual(lines.slice(1).map((l) => l.split(/ {2,}/)[2]), ['ScalingReplicaSet', 'Scheduled', 'Pulled', 'Unhealthy']);
    assert.match(lines[4]!, /^\d+s +Warning +Unhealthy +pod\/web-6d4cf56db6-x7k2p +Readiness probe failed: no$/);
  });

  it('get pods -w prints the table, then a row for a change another process makes, and ends on SIGINT', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', entry, 'get', 'pods', '-n', 'shop', '-w', '--data-dir', dir], {
      env: { ...process.env, NO_COLOR: '1', GANTRY_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const until = async (pred: () => boolean, what: string): Promise<void> => {
      const deadline = Date.now() + 20_000;
      while (!pred()) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; output:\n${out}\n${err}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    try {
      await until(() => /web-6d4cf56db6-x7k2p/.test(out), 'the initial table');
      assert.match(out, /^NAME +READY +STATUS +RESTARTS +AGE\n/);
      const added: Pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web-new', namespace: 'shop' }, spec: { containers: [{ name: 'web', image: 'busybox' }] }, status: { phase: 'Pending' } };
      await store.create(added);
      await until(() => /\nweb-new +0\/1 +Pending +0 +\d+s\n/.test(out), 'the row of the new pod');
      // A change in another namespace is not this watch's.
      await store.create({ ...added, metadata: { name: 'elsewhere', namespace: 'data' } });
      const stored = await store.get<Pod>({ kind: 'Pod', namespace: 'shop', name: 'web-new' });
      await store.update({ ...stored!, status: { phase: 'Running' } });
      await until(() => /\nweb-new +0\/1 +Running /.test(out), 'the row of the changed pod');
      assert.doesNotMatch(out, /elsewhere/);
      assert.equal(out.match(/^NAME /gm)?.length, 1, 'the header is printed once');
      child.kill('SIGINT');
      const code = await Promise.race([exited, new Promise<string>((r) => setTimeout(() => r('still running'), 10_000))]);
      assert.equal(code, 0, `gantry get -w after SIGINT: ${String(code)}\n${err}`);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
