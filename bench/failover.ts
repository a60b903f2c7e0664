/**
 * Control-plane failover on etcd: two `gantry server` processes (children, so the leader can be
 * killed with SIGKILL), no node. Per round: kill -9 the leader, then time (a) until the standby
 * reports that it leads and (b) until a commit pushed right after the kill is applied to the store
 * (the new leader syncs at takeover, so no webhook is needed). Rounds with the lease the tests use
 * (3 s) and one with the default (10 s); the takeover time is dominated by the lease, so the
 * figure to compare is takeover minus lease.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { readKubeconfig } from '../src/api/auth/kubeconfig.js';
import { silentLogger } from '../src/log.js';
import type { ConfigMap } from '../src/model/types.js';
import { openStore } from '../src/store/open.js';
import { apiRequest, type ApiTarget } from '../test/helpers/api-client.js';
import { createWorld, startChild, type ChildGantry, type World } from '../test/helpers/e2e.js';
import { startTestEtcd } from '../test/helpers/etcd.js';
import { git } from '../test/helpers/git-http-server.js';
import { percentile } from './stats.js';

const configMap = (n: number): string => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: round\ndata:\n  round: "${n}"\n`;

/** Runs the failover rounds and returns the figures. */
export async function benchFailover(): Promise<Record<string, number | string>> {
  const etcd = await startTestEtcd();
  const world: World = await createWorld({ 'round.yaml': configMap(0) });
  const store = await openStore(`etcd://${etcd.endpoint}`, { sqlitePath: '', logger: silentLogger() });
  const historyDir = path.join(world.root, 'git', 'history.git');
  await mkdir(historyDir, { recursive: true });
  await git(historyDir, ['init', '--bare', '-q', '-b', 'status']);
  await git(historyDir, ['config', 'http.receivepack', 'true']);
  const running = new Map<string, { child: ChildGantry; target: ApiTarget }>();
  let serial = 0;

  const start = async (lease: number): Promise<string> => {
    const name = `server-${++serial}`;
    const dataDir = path.join(world.root, name);
    const child = await startChild(world, dataDir, {
      config: {
        store: `etcd://${etcd.endpoint}`,
        leaderElection: { identity: name, leaseSeconds: lease },
        historyRemote: { url: `${world.git.url}/history.git` },
        intervalMs: 600_000,
      },
      components: { sync: true, api: true, audit: true, controllers: true, scheduler: true },
    });
    const { token } = await readKubeconfig(path.join(dataDir, 'kubeconfig'));
    running.set(name, { child, target: { apiUrl: child.apiUrl, ca: child.ca, token } });
    return name;
  };
  const leading = async (name: string): Promise<boolean> => {
    const res = await apiRequest(running.get(name)!.target, '/apis/gantry.dev/v1/status').catch(() => undefined);
    return res?.status === 200 && (JSON.parse(res.body) as { controlPlane?: { leading: boolean } }).controlPlane?.leading === true;
  };
  const until = async (what: string, fn: () => Promise<boolean>, timeoutMs: number): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    while (!(await fn())) {
      if (Date.now() > deadline) throw new Error(`failover bench: ${what} not within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 25));
    }
  };

  const figures: Record<string, number | string> = {};
  try {
    for (const [lease, rounds] of [[3, 3], [10, 1]] as const) {
      const takeover: number[] = [];
      const deployed: number[] = [];
      let leader = await start(lease);
      await until('first leader', () => leading(leader), 20_000);
      for (let round = 1; round <= rounds; round++) {
        const standby = await start(lease);
        const n = serial;
        const killedAt = performance.now();
        await running.get(leader)!.child.kill('SIGKILL');
        running.delete(leader);
        await world.push({ 'round.yaml': configMap(n) }, `round ${n}`);
        await until('takeover', () => leading(standby), lease * 1000 + 15_000);
        takeover.push(performance.now() - killedAt);
        await until('the pushed commit applied', async () => (await store.get<ConfigMap>({ kind: 'ConfigMap', namespace: 'default', name: 'round' }))?.data?.round === String(n), 30_000);
        deployed.push(performance.now() - killedAt);
        leader = standby;
      }
      figures[`lease ${lease} s: kill -9 → standby leads, p50 (${rounds} round${rounds > 1 ? 's' : ''})`] = `${(percentile(takeover, 50) / 1000).toFixed(2)} s`;
      figures[`lease ${lease} s: takeover minus the lease, p50 (the last keep-alive came before the kill)`] = `${((percentile(takeover, 50) - lease * 1000) / 1000).toFixed(2)} s`;
      figures[`lease ${lease} s: kill -9 → commit pushed meanwhile applied, p50`] = `${(percentile(deployed, 50) / 1000).toFixed(2)} s`;
      for (const [, s] of running) await s.child.kill('SIGTERM');
      running.clear();
    }
  } finally {
    for (const [, s] of running) await s.child.kill('SIGKILL').catch(() => undefined);
    await store.close();
    await world.cleanup();
    await etcd.destroy();
  }
  return figures;
}
