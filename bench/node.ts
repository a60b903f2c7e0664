/**
 * Node agent figures: create → running latency of 20 pods started through the agent (a Pod
 * created in the store with `spec.nodeName` set, until the agent reports phase Running), against
 * a raw `ctr run -d` of the same image (and the same containerd create+start done in-process over
 * gRPC), each 20 times one after another; p50/p95 and the ratio (target ≤ 1.3×). Agent pods are
 * measured with their own pod network (netns + CNI bridge, work ctr does not do) and with
 * hostNetwork (the like-for-like case). RSS is process.memoryUsage().rss of this process, which
 * runs the agent in-process together with the store and the bench itself, with 40 pods running.
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

const run = promisify(execFile);
const N = 20;
const IMAGE = 'gantry.local/busybox:latest';

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
}

function whyNot(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root';
  for (const bin of ['/usr/bin/containerd', '/usr/sbin/runc', '/usr/lib/cni/bridge']) {
    if (!existsSync(bin) && !existsSync(bin.replace('/usr/sbin/', '/usr/bin/'))) return `${bin} missing`;
  }
  return undefined;
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
      store,
      nodeName: 'bench-node',
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
