/**
 * The guestbook end to end (test/fixtures/guestbook: a frontend, a Redis-like leader and its
 * followers, all busybox shell scripts in their roles), deployed through the real sync loop from
 * Git over smart HTTP onto real containerd, with its ConfigMaps, Secret, ServiceAccount, probes,
 * resource requests, PodDisruptionBudget, HorizontalPodAutoscaler, Ingress and NetworkPolicies:
 * a value written through the Ingress reaches the leader (given the Secret's token), is copied by
 * the followers through the leader's Service name, and is read back through the Ingress from a
 * follower, which names itself.
 *
 * The autoscaler computes every 2 s and agents report usage every 2 s here (15 s by default).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFile } from 'node:child_process';
import type { Deployment, HorizontalPodAutoscaler, KubeObject, Pod, PodDisruptionBudget, Service } from '../../src/model/types.js';
import { createWorld, describePods, e2ePrerequisites, isReady, readIpForward, startInProcess, takeDown, waitFor, type InProcessGantry, type World } from '../helpers/e2e.js';
import { kubectlPresent } from '../helpers/kubectl.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const APP = path.join(here, '../fixtures/guestbook');
const NS = 'guestbook';
const HOST = 'guestbook.localhost';

/** The guestbook's manifests, as the repo's `guestbook/` folder. */
function appFiles(): Record<string, string> {
  const files: Record<string, string> = {};
  for (const name of readdirSync(APP)) if (name.endsWith('.yaml')) files[`guestbook/${name}`] = readFileSync(path.join(APP, name), 'utf8');
  return files;
}

/** A GET through the ingress controller for the guestbook's host. */
function viaIngress(addr: string, pathAndQuery: string): Promise<{ status: number; body: string }> {
  const i = addr.lastIndexOf(':');
  return new Promise((resolve) => {
    const req = http.get({ hostname: addr.slice(0, i), port: Number(addr.slice(i + 1)), path: pathAndQuery, headers: { host: HOST }, timeout: 15_000 }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err) => resolve({ status: 0, body: err.message }));
  });
}

describe('the guestbook app from Git on real containerd (frontend, leader, followers, busybox in their roles)', function () {
  this.timeout(240_000);
  const why = e2ePrerequisites();
  let world: World | undefined;
  let g: InProcessGantry;
  let ingress = '';
  let ipForward: string | undefined;

  const pods = async (labels: Record<string, string>): Promise<Pod[]> => {
    const selector = Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(',');
    return (await g.store.list<Pod>('Pod', { namespace: NS, labelSelector: selector })).items.filter((p) => !p.metadata.deletionTimestamp);
  };
  const kubectl = (args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
    new Promise((resolve) => {
      execFile('kubectl', args, { env: { ...process.env, KUBECONFIG: g.kubeconfig }, timeout: 30_000 }, (err, stdout, stderr) => {
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
      });
    });
  const all = async (): Promise<string> => describePods((await g.store.list<Pod>('Pod', { namespace: NS })).items);

  before(async function () {
    if (why) return this.skip();
    this.timeout(180_000);
    ipForward = await readIpForward();
    world = await createWorld(appFiles());
    world.node.usagePeriodMs = 2000;
    g = await startInProcess(world, { config: { controllers: { horizontalPodAutoscaler: { syncPeriodMs: 2000 } } } });
    ingress = g.gantry.ingress!.http!;
  });

  after(async function () {
    this.timeout(120_000);
    await g?.stop().catch(() => undefined);
    if (world) {
      await takeDown(world, g?.dataDir ?? path.join(world.root, 'data'), ipForward);
      await world.cleanup();
    }
  });

  it('applies every object of the app from Git and brings the leader, both followers and both frontends to Ready', async () => {
    const want: { labels: Record<string, string>; count: number }[] = [
      { labels: { app: 'redis', role: 'leader' }, count: 1 },
      { labels: { app: 'redis', role: 'follower' }, count: 2 },
      { labels: { app: 'guestbook', tier: 'frontend' }, count: 2 },
    ];
    await waitFor('the leader, two followers and two frontends ready', async () => {
      // The autoscaler may add frontends (never fewer than two).
      for (const w of want) if ((await pods(w.labels)).filter(isReady).length < w.count) return false;
      return true;
    }, { timeoutMs: 120_000, intervalMs: 500, describe: all });
    for (const kind of ['Namespace', 'ServiceAccount', 'Secret', 'ConfigMap', 'Deployment', 'Service', 'Ingress', 'NetworkPolicy', 'PodDisruptionBudget', 'HorizontalPodAutoscaler']) {
      const items = (await g.store.list<KubeObject>(kind, kind === 'Namespace' ? {} : { namespace: NS })).items;
      assert.ok(items.some((o) => o.metadata.annotations?.['gantry.dev/managed-by']), `no ${kind} of the app was applied`);
    }
    // The account mounts no token: no pod of the app has the API access volume.
    for (const p of (await g.store.list<Pod>('Pod', { namespace: NS })).items) {
      assert.ok(!p.spec.volumes?.some((v) => v.name.startsWith('kube-api-access-')), `${p.metadata.name} got a service account token`);
    }
  });

  it('writes a value through the Ingress to the leader and reads it back from a follower', async () => {
    const value = `signed-${Date.now()}`;
    const page = await viaIngress(ingress, '/');
    assert.equal(page.status, 200, page.body);
    assert.match(page.body, /<h1>Guestbook<\/h1>/);

    const set = await waitFor('the frontend to write through the leader', async () => {
      const r = await viaIngress(ingress, `/cgi-bin/guestbook?cmd=set&value=${value}`);
      return r.status === 200 ? r : undefined;
    }, { timeoutMs: 30_000, intervalMs: 1000, describe: all });
    assert.equal(set.body.trim(), 'OK');

    const got = await waitFor('the value to come back through a follower', async () => {
      const r = await viaIngress(ingress, '/cgi-bin/guestbook?cmd=get');
      return r.status === 200 && r.body.includes(value) ? r.body : undefined;
    }, { timeoutMs: 30_000, intervalMs: 1000, describe: all });
    const followers = new Set((await pods({ app: 'redis', role: 'follower' })).map((p) => p.metadata.name));
    const servedBy = /^follower: (\S+)$/m.exec(got)?.[1];
    assert.ok(servedBy && followers.has(servedBy), `served by "${servedBy}", not one of ${[...followers].join(', ')}:\n${got}`);
  });

  it('lets only the tiers the NetworkPolicies name reach the leader and followers, and the leader take writes only with the Secret\'s token', async function () {
    if (!kubectlPresent()) return this.skip();
    const [frontend] = (await pods({ app: 'guestbook', tier: 'frontend' })).filter(isReady);
    const [follower] = (await pods({ app: 'redis', role: 'follower' })).filter(isReady);
    assert.ok(frontend && follower, await all());
    const leaderIP = (await g.store.get<Service>({ kind: 'Service', namespace: NS, name: 'redis-leader' }))!.spec.clusterIP!;
    const followerIP = (await g.store.get<Service>({ kind: 'Service', namespace: NS, name: 'redis-follower' }))!.spec.clusterIP!;
    const sh = (pod: Pod, script: string) => kubectl(['-n', NS, 'exec', pod.metadata.name, '--', 'sh', '-c', script]);

    const forged = await sh(frontend, `timeout 5 wget -q -O - "http://${leaderIP}:6379/cgi-bin/set?token=wrong&value=forged" 2>&1; echo "exit=$?"`);
    assert.match(forged.stdout, /403/, forged.stdout + forged.stderr);
    const fromFollower = await sh(follower, `timeout 5 wget -q -O - http://${leaderIP}:6379/healthz 2>&1; echo "exit=$?"`);
    assert.match(fromFollower.stdout, /^ok$/m, 'a follower reaches the leader');
    const followerToFollower = await sh(follower, `timeout 3 wget -q -O - http://${followerIP}:6379/healthz 2>&1; echo "exit=$?"`);
    assert.doesNotMatch(followerToFollower.stdout, /^ok$/m, 'a follower may not reach the followers');
    assert.match(followerToFollower.stdout, /exit=[1-9]/);
    const read = await viaIngress(ingress, '/cgi-bin/guestbook?cmd=get');
    assert.ok(!read.body.includes('forged'), read.body);
  });

  it('keeps the frontend\'s PodDisruptionBudget and autoscaler in step with its pods', async () => {
    const frontend = { app: 'guestbook', tier: 'frontend' };
    const budget = () => g.store.get<PodDisruptionBudget>({ kind: 'PodDisruptionBudget', namespace: NS, name: 'frontend' });
    await waitFor('the budget to count the ready frontends, allowing all but one to be disrupted', async () => {
      const ready = (await pods(frontend)).filter(isReady).length;
      const st = (await budget())?.status;
      return ready >= 2 && st?.currentHealthy === ready && st.desiredHealthy === 1 && st.disruptionsAllowed === ready - 1;
    }, { timeoutMs: 30_000, intervalMs: 500, describe: async () => `${JSON.stringify((await budget())?.status)}\n${await all()}` });

    const autoscaler = () => g.store.get<HorizontalPodAutoscaler>({ kind: 'HorizontalPodAutoscaler', namespace: NS, name: 'frontend' });
    // Requests are small (20m): the CGI work of the tests above may well have scaled it up.
    await waitFor('the autoscaler to measure the frontend and the Deployment to hold its count', async () => {
      const st = (await autoscaler())?.status;
      const replicas = (await g.store.get<Deployment>({ kind: 'Deployment', namespace: NS, name: 'frontend' }))?.spec.replicas;
      return st?.currentMetrics?.[0]?.resource?.current.averageUtilization !== undefined && st.desiredReplicas >= 2 && st.desiredReplicas <= 4 && replicas === st.desiredReplicas;
    }, { timeoutMs: 60_000, intervalMs: 1000, describe: async () => JSON.stringify((await autoscaler())?.status) });
  });
});
