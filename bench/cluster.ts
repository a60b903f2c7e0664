/**
 * Push → running on a cluster of three nodes (test/helpers/netns-cluster.ts): a `gantry server` in
 * this process, three `gantry agent` processes, each in a network namespace of its own with its
 * own private containerd, talking HTTPS to the server as remote machines would.
 *
 * Per run: a commit adding a Deployment of PODS busybox `sleep` pods is pushed over smart HTTP
 * and announced with a signed webhook; measured from the push completing to the server's store
 * showing all PODS pods Running and Ready (their status came back from the agents over the API).
 * One warm-up run, then RUNS runs, each a new Deployment (the previous one removed, untimed, and
 * its containers gone from every node's containerd). p50 and p95, how the pods spread, and, in the
 * same run, the same push to `gantry up` on one node (in process) for the ratio.
 *
 * Needs root, containerd, runc, the CNI plugins and iproute2; otherwise it reports why it skipped.
 */
import path from 'node:path';
import { TokenFile } from '../src/api/auth/tokens.js';
import { startGantry, type RunningGantry } from '../src/app.js';
import { dataPaths } from '../src/config.js';
import { silentLogger } from '../src/log.js';
import type { Node, Pod } from '../src/model/types.js';
import { privateContainerdPaths } from '../src/node/containerd/daemon.js';
import type { Store } from '../src/store/types.js';
import {
  createWorld,
  e2eConfig,
  e2ePrerequisites,
  isReady,
  podsWith,
  sendPushWebhook,
  startInProcess,
  takeDown,
  viewContainerd,
  waitFor,
  type World,
} from '../test/helpers/e2e.js';
import { sleeperDeployment } from '../test/helpers/e2e-manifests.js';
import { createNetnsCluster, writeCa, type NetnsCluster } from '../test/helpers/netns-cluster.js';
import { waitRunning } from './e2e.js';
import { percentile } from './stats.js';

const RUNS = 5;
const PODS = 30;

/** Untimed: waits until none of `sockets` (containerd) holds a pod container. */
async function settled(sockets: string[]): Promise<void> {
  for (const address of sockets) {
    const view = await viewContainerd(address);
    try {
      await waitFor('no pod containers left', async () => (await view.byPod()).size === 0, { timeoutMs: 60_000, intervalMs: 50 });
    } finally {
      view.close();
    }
  }
}

/** Runs RUNS+1 pushes against `target`, each a new Deployment; returns the timed runs and the last spread. */
async function pushes(world: World, store: Store, target: { apiUrl: string; ca: string }, sockets: string[]): Promise<{ times: number[]; spread: Map<string, number> }> {
  const times: number[] = [];
  let spread = new Map<string, number>();
  let previous: string | undefined;
  for (let i = 0; i <= RUNS; i++) {
    const name = `wave-${i}`;
    if (previous) {
      const gone = previous;
      await sendPushWebhook(target, await world.push({ [`${gone}.yaml`]: null }, `remove ${gone}`));
      await waitFor(`${gone} removed`, async () => (await podsWith(store, { app: gone })).length === 0, { timeoutMs: 90_000 });
      await settled(sockets);
    }
    const commit = await world.push({ [`${name}.yaml`]: sleeperDeployment(name, PODS) }, `add ${name}`);
    const t0 = performance.now();
    const status = await sendPushWebhook(target, commit);
    if (status !== 202) throw new Error(`webhook answered ${status}`);
    const pods = await waitRunning(store, name, PODS, 120_000);
    // Run 0 warms up (each node's first pod network and image unpack).
    if (i > 0) times.push(performance.now() - t0);
    spread = new Map();
    for (const p of pods) spread.set(p.spec.nodeName!, (spread.get(p.spec.nodeName!) ?? 0) + 1);
    previous = name;
  }
  if (previous) await sendPushWebhook(target, await world.push({ [`${previous}.yaml`]: null }, `remove ${previous}`));
  return { times, spread };
}

/** The three-node figures. */
async function onCluster(world: World): Promise<{ times: number[]; spread: Map<string, number> }> {
  let cluster: NetnsCluster | undefined;
  let server: RunningGantry | undefined;
  try {
    cluster = await createNetnsCluster({ root: path.join(world.root, 'nodes') });
    const serverDir = path.join(world.root, 'server');
    server = await startGantry({
      config: { ...e2eConfig(world, serverDir), listen: `${cluster.hostIP}:0`, tlsSans: [cluster.hostIP] },
      logger: silentLogger(),
      components: { sync: true, api: true, audit: true, controllers: true, scheduler: true },
    });
    await server.sync!.trigger('start');
    server.startPolling();
    const caFile = await writeCa(world.root, server.ca!);
    const tokens = new TokenFile(dataPaths(serverDir).tokens);
    for (const [i, n] of cluster.nodes.entries()) {
      const token = await tokens.create(n.name, 'agent', { node: n.name });
      await cluster.startAgent(i, { server: server.apiUrl!, token, caFile, imagesDir: world.imagesDir, serviceCidr: world.serviceCidr });
    }
    const s = server;
    await waitFor('3 Ready nodes', async () => {
      const nodes = (await s.store.list<Node>('Node')).items;
      return nodes.filter((n) => n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')).length === 3;
    }, { timeoutMs: 90_000 });
    const sockets = cluster.nodes.map((n) => privateContainerdPaths(path.join(n.dataDir, 'containerd')).socket);
    return await pushes(world, s.store, { apiUrl: s.apiUrl!, ca: s.ca! }, sockets);
  } finally {
    await cluster?.destroy();
    await server?.stop();
  }
}

/** The same pushes to `gantry up` on one node. */
async function onOneNode(world: World): Promise<number[]> {
  const g = await startInProcess(world, { dataDir: path.join(world.root, 'single') });
  try {
    return (await pushes(world, g.store, { apiUrl: g.apiUrl, ca: g.ca }, [g.containerdAddress])).times;
  } finally {
    await g.stop();
    await takeDown(world, g.dataDir);
  }
}

/** Runs the cluster bench and returns its figures. */
export async function benchCluster(): Promise<Record<string, number | string>> {
  const why = e2ePrerequisites();
  if (why) return { skipped: why };
  const world = await createWorld({});
  try {
    const cluster = await onCluster(world);
    const single = await onOneNode(world);
    const p50 = percentile(cluster.times, 50);
    const p50single = percentile(single, 50);
    return {
      [`push → ${PODS} pods Running over 3 nodes, p50 (ms)`]: Math.round(p50),
      [`push → ${PODS} pods Running over 3 nodes, p95 (ms)`]: Math.round(percentile(cluster.times, 95)),
      'pods per node (last run)': [...cluster.spread.values()].sort((a, b) => b - a).join(' / '),
      [`push → ${PODS} pods Running on 1 node (gantry up), p50 (ms)`]: Math.round(p50single),
      'ratio 3 nodes / 1 node': Number((p50 / p50single).toFixed(2)),
      runs: `${RUNS} each, after a warm-up`,
    };
  } finally {
    await world.cleanup();
  }
}
