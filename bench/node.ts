/**
 * Node agent figures: create → running latency of 20 pods started through the agent (a Pod
 * created in the store with `spec.nodeName` set, until the agent reports phase Running), against
 * a raw `ctr run -d` of the same image (and the same containerd create+start done in-process over
 * gRPC), each 20 times one after another; p50/p95 and the ratio (target ≤ 1.3×). Agent pods are
 * measured with their own pod network (netns + CNI bridge, work ctr does not do) and with
 * hostNetwork (the like-for-like case). RSS is process.memoryUsage().rss of this process, which
 * runs the agent in-process together with the store and the bench itself, with 40 pods running.
 *
 * Termination never delays a start (issue 13): 100 pods whose PID 1 ignores SIGTERM run; 100 pods
 * are started at once beside them, then 100 more at the moment the first 100 are deleted with a
 * 30 s grace period (longer than a burst, so the starts meet the grace periods, not the kills);
 * three rounds, the ratio of the totals (target ≤ 1.2), and how far from its grace period's end
 * each deleted pod's container died (target ± 1 s).
 *
 * Needs root, containerd, runc and the CNI plugins; otherwise it reports why it skipped.
 * Everything runs against a private containerd in a temp dir and is removed at the end.
 */
import { execFile } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { silentLogger } from '../src/log.js';
import type { Pod } from '../src/model/types.js';
import { NodeAgent } from '../src/node/agent/agent.js';
import { StoreNodeApi } from '../src/node/store-api.js';
import { ContainerdClient } from '../src/node/containerd/client.js';
import { startPrivateContainerd } from '../src/node/containerd/daemon.js';
import { createContainer, deleteContainer, startTask } from '../src/node/containerd/run.js';
import { buildSpec, cgroupsPathFor, removeCgroup } from '../src/node/containerd/spec.js';
import { buildBusyboxImage } from '../src/node/images/busybox-image.js';
import { getImage } from '../src/node/images/image-store.js';
import { importImages } from '../src/node/images/import.js';
import { FileContainerLogs } from '../src/node/logs/index.js';
import { CniNetworkManager } from '../src/node/network/manager.js';
import { HostVolumeManager } from '../src/node/volumes/manager.js';
import { openSqliteStore } from '../src/store/sqlite.js';
import type { Store } from '../src/store/types.js';
import { deletePod } from '../src/controllers/pods.js';
import { percentile } from './stats.js';

const run = promisify(execFile);
const N = 20;
const IMAGE = 'gantry.local/busybox:latest';

function whyNot(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root';
  for (const bin of ['/usr/bin/containerd', '/usr/sbin/runc', '/usr/lib/cni/bridge']) {
    if (!existsSync(bin) && !existsSync(bin.replace('/usr/sbin/', '/usr/bin/'))) return `${bin} missing`;
  }
  return undefined;
}

/** Pods in each burst of the termination figure. */
const BURST = 100;
/** Grace period of the pods being deleted meanwhile (their `sleep` ignores SIGTERM, so all of it is used). */
const TERM_GRACE_S = 30;
/** Rounds of: a burst beside running pods, then a burst while those pods terminate. */
const TERM_ROUNDS = 3;

function podManifest(name: string, grace: number): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', labels: { bench: name.replace(/-\d+$/, '') } },
    spec: { nodeName: 'bench-node', terminationGracePeriodSeconds: grace, containers: [{ name: 'main', image: IMAGE, imagePullPolicy: 'IfNotPresent', command: ['sleep', '3600'] }] },
  };
}

/**
 * Creates `names` at once and resolves when all are Running (ms from the first create). Watches
 * rather than polls: a list of hundreds of pods every few ms would load the very process (store
 * and agent live in it) whose speed is measured.
 */
async function burstToRunning(store: Store, names: string[], grace: number): Promise<number> {
  const want = new Set(names);
  const ac = new AbortController();
  const fromRevision = await store.revision();
  const allRunning = (async () => {
    const running = new Set<string>();
    for await (const ev of store.watch({ fromRevision, kinds: ['Pod'], signal: ac.signal })) {
      const p = ev.object as Pod;
      if (want.has(p.metadata.name) && p.status?.phase === 'Running') running.add(p.metadata.name);
      if (running.size === want.size) return performance.now();
    }
    return NaN;
  })();
  const t0 = performance.now();
  try {
    await Promise.all(names.map((n) => store.create<Pod>(podManifest(n, grace))));
    const done = await Promise.race([allRunning, sleep(180_000, NaN, { signal: ac.signal }).catch(() => NaN)]);
    if (Number.isNaN(done)) throw new Error(`${names.length} pods were not all Running after 180 s`);
    return done - t0;
  } finally {
    ac.abort();
  }
}

/** Removes pods from the store at once (force), and waits until the agent has no runtime for them. */
async function forceRemove(store: Store, agent: NodeAgent, pods: Pod[]): Promise<void> {
  for (const p of pods) await store.delete({ kind: 'Pod', namespace: 'default', name: p.metadata.name }).catch(() => undefined);
  const deadline = Date.now() + 120_000;
  while (pods.some((p) => agent.podRuntime(p.metadata.uid!)) && Date.now() < deadline) await sleep(50);
  // containerd collects the removed snapshots in the background: let that pass before the next burst.
  await sleep(3000);
}

/**
 * The issue-13 figure: BURST pods started at once on a quiet node, then BURST more started at
 * the moment BURST running pods (whose PID 1 ignores SIGTERM) are deleted with a grace period of
 * TERM_GRACE_S; the ratio of the two times, and when each deleted pod's container died relative to
 * its grace period's end (from containerd's exit events).
 */
async function startsBehindTerminations(store: Store, client: ContainerdClient, agent: NodeAgent): Promise<{ quietMs: number[]; busyMs: number[]; offsets: number[] }> {
  const names = (prefix: string) => Array.from({ length: BURST }, (_, i) => `${prefix}-${i}`);
  const named = async (prefix: string) => (await store.list<Pod>('Pod')).items.filter((p) => p.metadata.name.startsWith(`${prefix}-`));
  const quietMs: number[] = [];
  const busyMs: number[] = [];
  const offsets: number[] = [];
  // Several rounds, each measuring both ways, so that a machine busy with something else for a
  // while weighs on both (a single burst varies by ±30% here).
  for (let round = 0; round < TERM_ROUNDS; round++) {
    await burstToRunning(store, names(`doomed${round}`), TERM_GRACE_S);
    await sleep(3000);
    // The same node, the same pods running, no deletions: the figure to compare with.
    quietMs.push(await burstToRunning(store, names(`quiet${round}`), 0));
    await forceRemove(store, agent, await named(`quiet${round}`));
    const doomed = await named(`doomed${round}`);
    const byContainer = new Map(doomed.map((p) => [p.status!.containerStatuses![0]!.containerID!.replace('containerd://', ''), p.metadata.name]));
    const exits = new Map<string, number>();
    const ac = new AbortController();
    const watching = (async () => {
      for await (const ev of client.subscribe({ signal: ac.signal })) {
        if (ev.kind !== 'TaskExit') continue;
        const name = byContainer.get(ev.event.container_id);
        if (name) exits.set(name, ev.event.exited_at?.getTime() ?? Date.now());
      }
    })().catch(() => undefined);
    await sleep(100);

    const due = new Map<string, number>();
    const busy = burstToRunning(store, names(`busy${round}`), 0);
    for (const p of doomed) {
      await deletePod(store, p, { origin: { actor: 'bench' } });
      const marked = await store.get<Pod>({ kind: 'Pod', namespace: 'default', name: p.metadata.name });
      if (marked?.metadata.deletionTimestamp) due.set(p.metadata.name, Date.parse(marked.metadata.deletionTimestamp) + TERM_GRACE_S * 1000);
    }
    busyMs.push(await busy);
    // Every doomed pod leaves the store once its SIGKILL came and the agent cleaned up.
    const deadline = Date.now() + (TERM_GRACE_S + 60) * 1000;
    while (Date.now() < deadline && (await named(`doomed${round}`)).length > 0) await sleep(200);
    await sleep(200);
    ac.abort();
    await watching;
    for (const [n, at] of due) offsets.push(exits.has(n) ? exits.get(n)! - at : NaN);
    await forceRemove(store, agent, await named(`busy${round}`));
  }
  return { quietMs, busyMs, offsets };
}

/** Node agent benchmark; see the module comment. */
export async function benchNode(): Promise<Record<string, number | string>> {
  const why = whyNot();
  if (why) return { skipped: why };
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gantry-bench-node-'));
  const ipForward = (await readFile('/proc/sys/net/ipv4/ip_forward', 'utf8')).trim();
  const daemon = await startPrivateContainerd({ dataDir: path.join(dir, 'containerd') });
  const ns = 'gantry-bench';
  const client = await ContainerdClient.connect({ address: daemon.address, namespace: ns });
  const nodeDir = path.join(dir, 'node');
  const tag = randomInt(10_000, 99_999);
  const network = new CniNetworkManager({ dataDir: nodeDir, podCidr: `10.97.${randomInt(1, 250)}.0/24`, bridgeName: `gbn${tag}`, networkName: `gbn-${tag}` });
  const store = openSqliteStore(path.join(dir, 'state.db'));
  let agent: NodeAgent | undefined;
  const out: Record<string, number | string> = {};
  try {
    const layout = path.join(dir, 'images', 'busybox');
    await mkdir(layout, { recursive: true });
    await buildBusyboxImage({ outDir: layout, name: IMAGE });
    await importImages(client, path.join(dir, 'images'));
    const image = (await getImage(client, IMAGE))!;

    // Raw baseline 1: ctr run -d (what an operator would type), one after another.
    const ctrMs: number[] = [];
    let hasCtr = true;
    for (let i = 0; i < N && hasCtr; i++) {
      const t0 = performance.now();
      try {
        await run('ctr', ['--address', daemon.address, '-n', ns, 'run', '-d', IMAGE, `ctr-${i}`, 'sleep', '3600'], { timeout: 30_000 });
      } catch (err) {
        hasCtr = false;
        out.ctr = `unavailable: ${(err as Error).message.split('\n')[0]}`;
        break;
      }
      ctrMs.push(performance.now() - t0);
    }
    // Raw baseline 2: the same containerd calls in-process (snapshot + container + task + start).
    const grpcMs: number[] = [];
    for (let i = 0; i < N; i++) {
      const id = `raw-${i}`;
      const log = path.join(dir, 'raw', `${id}.log`);
      const t0 = performance.now();
      await createContainer(client, {
        id,
        image,
        spec: buildSpec({ args: ['sleep', '3600'], env: image.config.Env ?? [], cgroupsPath: cgroupsPathFor('bench-raw', id) }),
        stdoutPath: log,
        stderrPath: log,
        runcRoot: daemon.runcRoot,
      });
      await startTask(client, id);
      grpcMs.push(performance.now() - t0);
    }
    for (const c of await client.listContainerRecords()) await deleteContainer(client, c.id);
    removeCgroup(cgroupsPathFor('bench-raw'));

    const rssBefore = process.memoryUsage().rss;
    agent = new NodeAgent({
      api: new StoreNodeApi({ store, nodeName: 'bench-node' }),
      client,
      runcRoot: daemon.runcRoot,
      network,
      volumes: new HostVolumeManager({ dataDir: nodeDir }),
      logs: new FileContainerLogs({ dataDir: dir }),
      dataDir: nodeDir,
      logger: silentLogger(),
    });
    await agent.start();

    const timePods = async (prefix: string, hostNetwork: boolean): Promise<number[]> => {
      const ms: number[] = [];
      for (let i = 0; i < N; i++) {
        const name = `${prefix}-${i}`;
        const ac = new AbortController();
        const watch = (async () => {
          for await (const ev of store.watch({ kinds: ['Pod'], signal: ac.signal })) {
            const p = ev.object as Pod;
            if (p.metadata.name === name && p.status?.phase === 'Running') return performance.now();
          }
          return NaN;
        })();
        await sleep(5);
        const t0 = performance.now();
        await store.create<Pod>({
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name, namespace: 'default' },
          spec: { nodeName: 'bench-node', hostNetwork, terminationGracePeriodSeconds: 0, containers: [{ name: 'main', image: IMAGE, imagePullPolicy: 'IfNotPresent', command: ['sleep', '3600'] }] },
        });
        const done = await Promise.race([watch, sleep(30_000, NaN, { signal: ac.signal }).catch(() => NaN)]);
        ac.abort();
        ms.push(done - t0);
      }
      return ms;
    };
    const podMs = await timePods('pod', false);
    const hostMs = await timePods('host', true);
    const rssWith = process.memoryUsage().rss;
    const busy = await startsBehindTerminations(store, client, agent);

    const fmt = (x: number): number => Math.round(x * 10) / 10;
    const base = hasCtr ? ctrMs : grpcMs;
    if (hasCtr) {
      out['ctr run p50 ms'] = fmt(percentile(ctrMs, 50));
      out['ctr run p95 ms'] = fmt(percentile(ctrMs, 95));
    }
    out['raw gRPC create+start p50 ms'] = fmt(percentile(grpcMs, 50));
    out['raw gRPC create+start p95 ms'] = fmt(percentile(grpcMs, 95));
    out['agent pod (CNI network) p50 ms'] = fmt(percentile(podMs, 50));
    out['agent pod (CNI network) p95 ms'] = fmt(percentile(podMs, 95));
    out['agent pod (hostNetwork) p50 ms'] = fmt(percentile(hostMs, 50));
    out['agent pod (hostNetwork) p95 ms'] = fmt(percentile(hostMs, 95));
    out[`ratio agent(CNI)/${hasCtr ? 'ctr' : 'raw'} p50`] = fmt(percentile(podMs, 50) / percentile(base, 50));
    out[`ratio agent(hostNetwork)/${hasCtr ? 'ctr' : 'raw'} p50 (target ≤ 1.3)`] = fmt(percentile(hostMs, 50) / percentile(base, 50));
    out['rss MB with 40 pods (bench process)'] = fmt(rssWith / 2 ** 20);
    out['rss MB growth from agent start'] = fmt((rssWith - rssBefore) / 2 ** 20);
    const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);
    const killed = busy.offsets.filter((x) => !Number.isNaN(x));
    out[`${BURST} pods started at once, all Running s (${BURST} others running), per round`] = busy.quietMs.map((x) => fmt(x / 1000)).join(' ');
    out[`${BURST} pods started at once, all Running s (while those ${BURST}, ignoring SIGTERM, terminate), per round`] = busy.busyMs.map((x) => fmt(x / 1000)).join(' ');
    out['ratio starts while terminating / without, all rounds (target ≤ 1.2)'] = Math.round((sum(busy.busyMs) / sum(busy.quietMs)) * 100) / 100;
    out[`terminated pods SIGKILLed (exit seen), of ${busy.offsets.length}`] = killed.length;
    out[`SIGKILL offset from grace end (${TERM_GRACE_S} s), p50 ms`] = killed.length ? Math.round(percentile(killed, 50)) : NaN;
    out['SIGKILL offset from grace end, max |ms| (target ≤ 1000)'] = killed.length ? Math.round(Math.max(...killed.map(Math.abs))) : NaN;
  } finally {
    await agent?.stop();
    for (const c of await client.listContainerRecords().catch(() => [])) {
      await deleteContainer(client, c.id).catch(() => undefined);
      const uid = c.labels['gantry.dev/pod-uid'];
      if (uid) removeCgroup(cgroupsPathFor(uid));
    }
    for (const uid of await network.list()) await network.tearDown(uid).catch(() => undefined);
    const volumes = new HostVolumeManager({ dataDir: nodeDir });
    for (const uid of await volumes.list().catch(() => [])) await volumes.cleanup(uid).catch(() => undefined);
    await network.cleanupNode().catch(() => undefined);
    await writeFile('/proc/sys/net/ipv4/ip_forward', ipForward).catch(() => undefined);
    await store.close();
    client.close();
    await daemon.stop();
    await rm(dir, { recursive: true, force: true, maxRetries: 3 });
  }
  return out;
}
