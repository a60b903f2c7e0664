/**
 * `gantry describe` against the real `kubectl describe` (v1.32) for the same objects, served by
 * gantry's Kubernetes API: the pages must be the same text, line for line, but for what kubectl
 * reads from APIs gantry does not serve (a Service's endpoints come from EndpointSlices, a Node's
 * Lease). Skips with a message when kubectl is not installed.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createApiServer } from '../../src/api/server.js';
import { describeObject, eventsFor, type DescribeContext } from '../../src/cli/describe.js';
import { silentLogger } from '../../src/log.js';
import type { ObjectRef } from '../../src/model/keys.js';
import { matchesRequirements, toRequirements } from '../../src/model/selectors.js';
import type { KubeObject } from '../../src/model/types.js';
import type { ListOptions, ListResult } from '../../src/store/types.js';
import { MemoryStore } from '../fakes/memory-store.js';
import * as f from '../fixtures/describe-objects.js';
import { kubectlPresent } from '../helpers/kubectl.js';

const events = [...f.podEvents, ...f.deploymentEvents, ...f.nodeEvents];
const all: KubeObject[] = [f.pod, f.otherPod, f.deployment, f.newReplicaSet, f.oldReplicaSet, f.service, f.endpoints, f.node, ...events];

/** The fixtures as they are (uids, owner references and times kept), which a store's create would replace. */
class FixtureStore extends MemoryStore {
  override async get<T extends KubeObject = KubeObject>(ref: ObjectRef): Promise<T | undefined> {
    return all.find((o) => o.kind === ref.kind && o.metadata.name === ref.name && (ref.namespace === undefined || (o.metadata.namespace ?? 'default') === ref.namespace)) as T | undefined;
  }
  override async list<T extends KubeObject = KubeObject>(kind: string, opts: ListOptions = {}): Promise<ListResult<T>> {
    const reqs = toRequirements(opts.labelSelector);
    return { items: all.filter((o) => o.kind === kind && (!opts.namespace || o.metadata.namespace === opts.namespace) && matchesRequirements(reqs, o.metadata.labels)) as T[], revision: 1 };
  }
}

describe('gantry describe prints what kubectl describe prints', function () {
  this.timeout(60_000);
  let api: ReturnType<typeof createApiServer>;
  let url = '';
  let dir = '';
  let kubeconfig = '';

  const kubectlDescribe = (args: string[]): Promise<string> =>
    new Promise((resolve, reject) => {
      execFile('kubectl', ['describe', ...args, `--server=${url}`], { env: { ...process.env, KUBECONFIG: kubeconfig, TZ: 'UTC' }, timeout: 20_000 }, (err, stdout, stderr) => {
        if (err) reject(new Error(`kubectl describe ${args.join(' ')}: ${stderr}`));
        else resolve(stdout);
      });
    });
  const gantry = (obj: KubeObject, ctx: DescribeContext = {}): string => `${describeObject(obj, { events: eventsFor(obj, events), ...ctx })}\n`;

  before(async function () {
    if (!kubectlPresent()) {
      console.log('      skipping: kubectl is not on the PATH');
      return this.skip();
    }
    dir = await mkdtemp(path.join(os.tmpdir(), 'gantry-describe-kubectl-'));
    kubeconfig = path.join(dir, 'kubeconfig');
    await writeFile(kubeconfig, 'apiVersion: v1\nkind: Config\n');
    api = createApiServer({ store: new FixtureStore(), logger: silentLogger() });
    await api.listen({ host: '127.0.0.1', port: 0 });
    url = `http://127.0.0.1:${(api.server.address() as AddressInfo).port}`;
  });
  after(async () => {
    await api?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('a pod of two containers, with probes, a restart, env, mounts, tolerations and events', async () => {
    assert.equal(gantry(f.pod), await kubectlDescribe(['pod', '-n', 'shop', f.pod.metadata.name]));
  });

  it('a deployment mid-rollout, with its pod template and replica sets', async () => {
    assert.equal(gantry(f.deployment, { replicaSets: [f.newReplicaSet, f.oldReplicaSet] }), await kubectlDescribe(['deployment', '-n', 'shop', 'web']));
  });

  it('a replica set and the state of its pods', async () => {
    assert.equal(gantry(f.newReplicaSet, { pods: [f.pod, f.otherPod] }), await kubectlDescribe(['replicaset', '-n', 'shop', f.newReplicaSet.metadata.name]));
  });

  it('endpoints', async () => {
    assert.equal(gantry(f.endpoints), await kubectlDescribe(['endpoints', '-n', 'shop', 'web']));
  });

  it('a service (but for its endpoints, which kubectl reads from EndpointSlices)', async () => {
    const ours = gantry(f.service, { endpoints: f.endpoints });
    const theirs = await kubectlDescribe(['service', '-n', 'shop', 'web']);
    assert.match(ours, /\nEndpoints: +10\.244\.0\.12:8080,10\.244\.0\.13:8080\n/);
    const withoutEndpoints = (t: string): string => t.replace(/^Endpoints:.*$/gm, 'Endpoints:');
    assert.equal(withoutEndpoints(ours), withoutEndpoints(theirs));
  });

  it('a node with its pods (but for the Lease, which gantry does not serve)', async () => {
    const theirs = (await kubectlDescribe(['node', 'node-a'])).replace(/^Lease:.*\n/m, '');
    assert.equal(gantry(f.node, { pods: [f.pod, f.otherPod] }), theirs);
  });
});
