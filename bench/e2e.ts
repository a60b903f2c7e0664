/**
 * End-to-end figures of `gantry up`, against real containerd, real Git over smart HTTP and real
 * CNI networking (each with its own temp dir, bridge and pod CIDR, removed at the end):
 *
 * - push → running: a commit adding a Deployment of 10 pods is pushed over HTTP and announced
 *   with a GitHub-signed webhook; measured from the `git push` completing to the store showing
 *   all 10 pods Running and Ready. One warm-up run, then RUNS runs, each a new Deployment (the
 *   previous one is deleted, untimed, in between); p50 and p95 (target p50 ≤ 1 s).
 * - the same push where the commit also removes the previous Deployment of 20 pods that ignore
 *   SIGTERM (grace 30 s): the new pods must not wait for the old ones' grace periods (issue 13);
 *   p50, p95 and the ratio to the figure above.
 * - RSS of `gantry up` with 100 pods: gantry (the built dist, as `bin/gantry.js` runs it; built
 *   first when older than the sources) runs as a child process with every component; a
 *   Deployment of 100 busybox `sleep` pods; once all run, VmRSS of the child from /proc (target
 *   ≤ 150 MB), and of its private containerd, for information.
 *
 * Needs root, containerd, runc and the CNI plugins; otherwise it reports why it skipped.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pkiPaths } from '../src/api/auth/pki.js';
import type { Pod } from '../src/model/types.js';
import type { Store } from '../src/store/types.js';
import {
  createWorld,
  e2eConfig,
  e2ePrerequisites,
  isReady,
  openReadonlyStore,
  podsWith,
  readIpForward,
  sendPushWebhook,
  startInProcess,
  takeDown,
  viewContainerd,
  waitFor,
  type World,
} from '../test/helpers/e2e.js';
import { sleeperDeployment } from '../test/helpers/e2e-manifests.js';
import { ensureBuilt, root } from './build.js';
import { percentile } from './stats.js';

const RUNS = 5;
const PODS_PER_RUN = 10;
const RSS_PODS = 100;

/** Polls the store every few ms until `n` pods of `app` are Running and Ready (bounded); resolves with them. */
export async function waitRunning(store: Store, app: string, n: number, timeoutMs: number): Promise<Pod[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const pods = await podsWith(store, { app });
    if (pods.length === n && pods.every(isReady)) return pods;
    if (Date.now() > deadline) throw new Error(`${app}: ${pods.filter(isReady).length}/${n} pods Running and Ready after ${timeoutMs} ms`);
    await sleep(5);
  }
}

/**
 * Untimed, between runs: the removed pods' teardowns (SIGKILL, CNI DEL, container removal) go on
 * after the store has forgotten them; waiting for containerd to hold no pod container keeps one
 * run's cleanup out of the next run's figure.
 */
async function settled(containerdAddress: string): Promise<void> {
  const view = await viewContainerd(containerdAddress);
  try {
    await waitFor('no pod containers left', async () => (await view.byPod()).size === 0, { timeoutMs: 60_000, intervalMs: 50 });
  } finally {
    view.close();
  }
}

/** Push (webhook) → 10 pods Running, in ms per run. */
async function pushToRunning(world: World): Promise<number[]> {
  const g = await startInProcess(world);
  const times: number[] = [];
  try {
    let previous: string | undefined;
    for (let i = 0; i <= RUNS; i++) {
      const name = `burst-${i}`;
      if (previous) {
        const commit = await world.push({ [`${previous}.yaml`]: null }, `remove ${previous}`);
        await sendPushWebhook(g, commit);
        const gone = previous;
        await waitFor(`${gone} removed`, async () => (await podsWith(g.store, { app: gone })).length === 0, { timeoutMs: 60_000 });
        await settled(g.containerdAddress);
      }
      const commit = await world.push({ [`${name}.yaml`]: sleeperDeployment(name, PODS_PER_RUN) }, `add ${name}`);
      const t0 = performance.now();
      const status = await sendPushWebhook(g, commit);
      if (status !== 202) throw new Error(`webhook answered ${status}`);
      await waitRunning(g.store, name, PODS_PER_RUN, 60_000);
      // Run 0 warms up (first pod network, first sync of a new file layout).
      if (i > 0) times.push(performance.now() - t0);
      previous = name;
    }
    // The RSS figure starts another gantry on this repo: leave it without the last burst.
    if (previous) await world.push({ [`${previous}.yaml`]: null }, `remove ${previous}`);
  } finally {
    await g.stop();
    await takeDown(world, g.dataDir);
  }
  return times;
}

/** Terminating pods left on the node by the previous revision in the second push figure. */
const TERMINATING = 20;

/**
 * Push (webhook) → 10 pods Running, where the same commit removes the previous Deployment of
 * TERMINATING pods whose PID 1 (`sleep`) ignores SIGTERM, with a 30 s grace period: they sit it
 * out on the node while the new pods start. Ms per run, and how many old pods were still
 * terminating when the new ones all ran.
 */
async function pushBesideTerminating(world: World): Promise<{ times: number[]; stillTerminating: number[] }> {
  const g = await startInProcess(world);
  const times: number[] = [];
  const stillTerminating: number[] = [];
  try {
    for (let i = 0; i <= RUNS; i++) {
      const old = `old-${i}`;
      const name = `fresh-${i}`;
      const setup = await world.push({ [`${old}.yaml`]: sleeperDeployment(old, TERMINATING, { graceSeconds: 30 }) }, `add ${old}`);
      await sendPushWebhook(g, setup);
      await waitRunning(g.store, old, TERMINATING, 60_000);
      // Untimed: the old revision runs a while before the next push, as in use; right after 20
      // starts the audit recorder and the status writes still have a backlog, which the other
      // figure's runs never meet either.
      await sleep(3000);
      const commit = await world.push({ [`${old}.yaml`]: null, [`${name}.yaml`]: sleeperDeployment(name, PODS_PER_RUN) }, `replace ${old} by ${name}`);
      const t0 = performance.now();
      const status = await sendPushWebhook(g, commit);
      if (status !== 202) throw new Error(`webhook answered ${status}`);
      await waitRunning(g.store, name, PODS_PER_RUN, 60_000);
      const elapsed = performance.now() - t0;
      const left = await podsWith(g.store, { app: old });
      if (i > 0) {
        times.push(elapsed);
        stillTerminating.push(left.filter((p) => p.metadata.deletionTimestamp).length);
      }
      // Untimed: end the old pods' wait (force deletion) and remove the new Deployment.
      await waitFor(`${old} terminating`, async () => (await podsWith(g.store, { app: old })).every((p) => p.metadata.deletionTimestamp), { timeoutMs: 30_000 });
      for (const p of await podsWith(g.store, { app: old })) await g.store.delete({ kind: 'Pod', namespace: 'default', name: p.metadata.name }).catch(() => undefined);
      const removed = await world.push({ [`${name}.yaml`]: null }, `remove ${name}`);
      await sendPushWebhook(g, removed);
      await waitFor(`${name} removed`, async () => (await podsWith(g.store, { app: name })).length === 0 && (await podsWith(g.store, { app: old })).length === 0, { timeoutMs: 60_000 });
      await settled(g.containerdAddress);
    }
  } finally {
    await g.stop();
    await takeDown(world, g.dataDir);
  }
  return { times, stillTerminating };
}

/**
 * The real `gantry up` (bin/gantry.js, the built dist) on the world's repo and network: the
 * process a user runs, progress output and all.
 */
function gantryUpArgs(world: World, dataDir: string): string[] {
  const c = e2eConfig(world, dataDir);
  return [
    path.join(root, 'bin', 'gantry.js'), 'up',
    '--repo', c.repo, '--ref', c.ref ?? 'main', '--data-dir', dataDir,
    '--listen', c.listen, '--interval', '5s', '--webhook-secret', c.webhookSecret ?? '',
    '--images-dir', c.imagesDir ?? '', '--node-name', world.node.nodeName,
    '--pod-cidr', world.node.network.podCidr, '--bridge', world.node.network.bridgeName, '--service-cidr', world.serviceCidr,
    '--ingress-listen', '127.0.0.1:0', '--ingress-tls-listen', '127.0.0.1:0',
  ];
}

async function vmRssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1] ?? NaN);
  return Math.round((kb / 1024) * 10) / 10;
}

/** RSS of gantry (and of its containerd) with 100 pods running. */
async function rssWith100Pods(world: World): Promise<Record<string, number>> {
  const app = await ensureBuilt();
  const dataDir = path.join(world.root, 'rss-data');
  if (!existsSync(app)) throw new Error('gantry is not built');
  const child = spawn(process.execPath, gantryUpArgs(world, dataDir), { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let store: Store | undefined;
  try {
    const apiUrl = await new Promise<string>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`gantry did not start in 60 s\n${stderr}`)), 60_000);
      // gantry up reports progress on stderr: the API address, then "watching for changes".
      child.stderr.on('data', (d: Buffer) => {
        out += d.toString();
        stderr = out;
        const m = /API listening on (https?:\/\/\S+)/.exec(out);
        if (m && /watching for changes/.test(out)) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      });
      void exited.then(() => reject(new Error(`gantry exited before it was ready\n${stderr}`)));
    });
    const idle = await vmRssMb(child.pid!);
    store = openReadonlyStore(dataDir);
    const commit = await world.push({ 'many.yaml': sleeperDeployment('many', RSS_PODS) }, `add ${RSS_PODS} pods`);
    await sendPushWebhook({ apiUrl, ca: await readFile(pkiPaths(dataDir).caCert, 'utf8') }, commit);
    const t0 = performance.now();
    await waitRunning(store, 'many', RSS_PODS, 300_000);
    const startSeconds = (performance.now() - t0) / 1000;
    // Right after the burst of 100 starts, V8 still holds the garbage of it: sample that as the
    // start-up peak, then let gantry idle for 30 s (probes, heartbeats, resyncs go on) and take
    // the median of five samples as the running figure the target is about.
    let peak = 0;
    for (let i = 0; i < 10; i++) {
      await sleep(500);
      peak = Math.max(peak, await vmRssMb(child.pid!));
    }
    await sleep(30_000);
    const steady: number[] = [];
    for (let i = 0; i < 5; i++) {
      steady.push(await vmRssMb(child.pid!));
      await sleep(1000);
    }
    steady.sort((a, b) => a - b);
    const last = steady[2]!;
    const ctdPid = Number((await readFile(path.join(dataDir, 'containerd', 'containerd.pid'), 'utf8').catch(() => '')).trim());
    const pods = (await store.list<Pod>('Pod')).items.length;
    return {
      rss_gantry_idle_mb: idle,
      [`rss_gantry_${RSS_PODS}_pods_mb`]: last,
      [`rss_gantry_${RSS_PODS}_pods_startup_peak_mb`]: peak,
      rss_containerd_mb: ctdPid ? await vmRssMb(ctdPid).catch(() => NaN) : NaN,
      [`start_${RSS_PODS}_pods_s`]: Math.round(startSeconds * 10) / 10,
      pods_in_store: pods,
    };
  } finally {
    await store?.close();
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await Promise.race([exited, sleep(30_000)]);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await takeDown(world, dataDir);
  }
}

/** Runs both figures; see the module comment. */
export async function benchE2e(): Promise<Record<string, number | string>> {
  const why = e2ePrerequisites();
  if (why) return { skipped: why };
  const ipForward = await readIpForward();
  const world = await createWorld({ 'README.md': 'e2e bench\n' });
  try {
    const times = await pushToRunning(world);
    const beside = await pushBesideTerminating(world);
    const rss = await rssWith100Pods(world);
    return {
      [`push_to_${PODS_PER_RUN}_running_p50_ms`]: Math.round(percentile(times, 50)),
      [`push_to_${PODS_PER_RUN}_running_p95_ms`]: Math.round(percentile(times, 95)),
      push_to_running_runs_ms: times.map((t) => Math.round(t)).join(' '),
      [`push_to_${PODS_PER_RUN}_running_beside_${TERMINATING}_terminating_p50_ms`]: Math.round(percentile(beside.times, 50)),
      [`push_to_${PODS_PER_RUN}_running_beside_${TERMINATING}_terminating_p95_ms`]: Math.round(percentile(beside.times, 95)),
      push_beside_terminating_runs_ms: beside.times.map((t) => Math.round(t)).join(' '),
      ratio_beside_terminating_to_alone_p50: Math.round((percentile(beside.times, 50) / percentile(times, 50)) * 100) / 100,
      old_pods_still_terminating_when_new_ran: beside.stillTerminating.join(' '),
      ...rss,
    };
  } finally {
    await takeDown(world, path.join(world.root, 'data'), ipForward);
    await world.cleanup();
  }
}
