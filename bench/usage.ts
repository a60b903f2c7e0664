/**
 * The cost of collecting resource usage on a node running 100 pods: one collection round is
 * what the node agent does every `--metric-resolution` (15 s by default) — containerd's
 * Tasks.Metrics for every task of the namespace (containerd asks each task's shim, which reads
 * its cgroup), decoding the cgroup statistics and building the report — plus the node's own
 * /proc reading. Figures per round, over 30 rounds, one after another:
 *
 * - wall time (p50, p95);
 * - CPU time of this process (the agent's share: the gRPC call, decoding, the report), of the
 *   containerd daemon, and of the 100 shims (read from /proc/<pid>/stat);
 * - for comparison, reading the same figures from the cgroup files directly (cpuacct.usage,
 *   memory.usage_in_bytes and memory.stat on cgroup v1; cpu.stat, memory.current and memory.stat
 *   on v2): what gantry would save by skipping containerd;
 * - the control plane's side: recording one report of 100 pods and computing their PodMetrics.
 *
 * The containers run `sleep 3600` straight under containerd (no pod network: it plays no part in
 * reading usage). Needs root, containerd and runc; otherwise it reports why it skipped.
 * Everything runs against a private containerd in a temp dir and is removed at the end.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { UsageStore } from '../src/metrics-server/usage-store.js';
import type { Pod } from '../src/model/types.js';
import { readNodeUsage } from '../src/node/agent/node-usage.js';
import { collectUsage, type RunningContainer } from '../src/node/agent/usage.js';
import { ContainerdClient } from '../src/node/containerd/client.js';
import { startPrivateContainerd } from '../src/node/containerd/daemon.js';
import { createContainer, deleteContainer, startTask } from '../src/node/containerd/run.js';
import { buildSpec, cgroupsPathFor, cgroupVersion, removeCgroup } from '../src/node/containerd/spec.js';
import { buildBusyboxImage } from '../src/node/images/busybox-image.js';
import { getImage } from '../src/node/images/image-store.js';
import { importImages } from '../src/node/images/import.js';
import { percentile } from './stats.js';

const PODS = 100;
const ROUNDS = 30;
const IMAGE = 'gantry.local/busybox:latest';
/** Clock ticks per second of /proc/<pid>/stat (USER_HZ). */
const HZ = 100;

function whyNot(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root';
  for (const bin of ['/usr/bin/containerd', '/usr/sbin/runc']) {
    if (!existsSync(bin) && !existsSync(bin.replace('/usr/sbin/', '/usr/bin/'))) return `${bin} missing`;
  }
  return undefined;
}

/** utime + stime of a process, in ms (0 when it is gone). */
async function cpuMsOf(pid: number): Promise<number> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / HZ;
  } catch {
    return 0;
  }
}

/** Pids whose command line mentions `needle` (the shims of one containerd name its socket). */
async function pidsWith(needle: string): Promise<number[]> {
  const out: number[] = [];
  for (const d of await readdir('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const cmd = await readFile(`/proc/${d}/cmdline`, 'utf8').catch(() => '');
    if (cmd.includes(needle) && cmd.includes('containerd-shim')) out.push(Number(d));
  }
  return out;
}

/** The usage of one container straight from its cgroup files (the alternative to Tasks.Metrics). */
async function readCgroupFiles(cgroupsPath: string, v2: boolean): Promise<number> {
  if (v2) {
    const dir = path.join('/sys/fs/cgroup', cgroupsPath);
    const [cpu, mem, stat] = await Promise.all([readFile(`${dir}/cpu.stat`, 'utf8'), readFile(`${dir}/memory.current`, 'utf8'), readFile(`${dir}/memory.stat`, 'utf8')]);
    return Number(/usage_usec (\d+)/.exec(cpu)?.[1] ?? 0) + Number(mem) + stat.length;
  }
  const [cpu, mem, stat] = await Promise.all([
    readFile(path.join('/sys/fs/cgroup/cpuacct', cgroupsPath, 'cpuacct.usage'), 'utf8'),
    readFile(path.join('/sys/fs/cgroup/memory', cgroupsPath, 'memory.usage_in_bytes'), 'utf8'),
    readFile(path.join('/sys/fs/cgroup/memory', cgroupsPath, 'memory.stat'), 'utf8'),
  ]);
  return Number(cpu) + Number(mem) + Number(/total_inactive_file (\d+)/.exec(stat)?.[1] ?? 0);
}

/** Metrics collection benchmark; see the module comment. */
export async function benchUsage(): Promise<Record<string, number | string>> {
  const why = whyNot();
  if (why) return { skipped: why };
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gantry-bench-metrics-'));
  const daemon = await startPrivateContainerd({ dataDir: path.join(dir, 'containerd') });
  const client = await ContainerdClient.connect({ address: daemon.address, namespace: 'gantry-bench' });
  const parent = `bench-metrics-${process.pid}`;
  const out: Record<string, number | string> = {};
  try {
    const layout = path.join(dir, 'images', 'busybox');
    await mkdir(layout, { recursive: true });
    await buildBusyboxImage({ outDir: layout, name: IMAGE });
    await importImages(client, path.join(dir, 'images'));
    const image = (await getImage(client, IMAGE))!;

    const containers: RunningContainer[] = [];
    const started = new Date().toISOString();
    for (let i = 0; i < PODS; i++) {
      const id = `pod-${i}-main-0`;
      const log = path.join(dir, 'logs', `${id}.log`);
      await createContainer(client, { id, image, spec: buildSpec({ args: ['sleep', '3600'], env: image.config.Env ?? [], cgroupsPath: cgroupsPathFor(parent, id) }), stdoutPath: log, stderrPath: log, runcRoot: daemon.runcRoot });
      await startTask(client, id);
      containers.push({ id, podUid: `uid-${i}`, namespace: 'default', podName: `pod-${i}`, container: 'main', startedAt: started });
    }
    const shims = await pidsWith(daemon.address);
    const containerdPid = daemon.pid;
    const round = () => collectUsage({ client, containers, node: () => readNodeUsage(), periodMs: 15_000 });
    await round(); // warm: protos loaded, connection up

    const wall: number[] = [];
    const cpu0 = process.cpuUsage();
    const cd0 = await cpuMsOf(containerdPid);
    const shims0 = (await Promise.all(shims.map(cpuMsOf))).reduce((a, b) => a + b, 0);
    let last = await round();
    for (let r = 0; r < ROUNDS; r++) {
      const t0 = performance.now();
      last = await round();
      wall.push(performance.now() - t0);
    }
    const cpu = process.cpuUsage(cpu0);
    const cd = (await cpuMsOf(containerdPid)) - cd0;
    const shimCpu = (await Promise.all(shims.map(cpuMsOf))).reduce((a, b) => a + b, 0) - shims0;
    out['pods (one container each)'] = PODS;
    out['pods in a report'] = last.pods.length;
    out['round wall p50 ms'] = Math.round(percentile(wall, 50) * 10) / 10;
    out['round wall p95 ms'] = Math.round(percentile(wall, 95) * 10) / 10;
    out['agent CPU per round ms'] = Math.round(((cpu.user + cpu.system) / 1000 / ROUNDS) * 10) / 10;
    out['containerd CPU per round ms'] = Math.round((cd / ROUNDS) * 10) / 10;
    out[`shims CPU per round ms (${shims.length} shims)`] = Math.round((shimCpu / ROUNDS) * 10) / 10;
    out['agent CPU per minute at 15 s resolution ms'] = Math.round(((cpu.user + cpu.system) / 1000 / ROUNDS) * 4);

    // The alternative: the same figures read from the cgroup files, no containerd in the way.
    const v2 = cgroupVersion() === 2;
    const fileWall: number[] = [];
    const fcpu0 = process.cpuUsage();
    for (let r = 0; r < ROUNDS; r++) {
      const t0 = performance.now();
      await Promise.all(containers.map((c) => readCgroupFiles(cgroupsPathFor(parent, c.id), v2)));
      fileWall.push(performance.now() - t0);
    }
    const fcpu = process.cpuUsage(fcpu0);
    out['cgroup files directly: round wall p50 ms'] = Math.round(percentile(fileWall, 50) * 10) / 10;
    out['cgroup files directly: CPU per round ms'] = Math.round(((fcpu.user + fcpu.system) / 1000 / ROUNDS) * 10) / 10;

    // The control plane: record reports of 100 pods, then compute each pod's metrics.
    const usage = new UsageStore();
    const pods: Pod[] = last.pods.map((p) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name: p.name, namespace: 'default', uid: p.uid }, spec: { nodeName: 'n1', containers: [] } }));
    const shifted = (ms: number) => ({ ...last, node: { ...last.node, timestamp: last.node.timestamp + ms }, pods: last.pods.map((p) => ({ ...p, containers: p.containers.map((c) => ({ ...c, timestamp: c.timestamp + ms, cpuNanos: c.cpuNanos + ms * 1000 })) })) });
    const rec0 = performance.now();
    for (let r = 0; r < ROUNDS; r++) usage.record('n1', shifted(r * 15_000));
    out['control plane: record a report of 100 pods µs'] = Math.round(((performance.now() - rec0) / ROUNDS) * 1000);
    const read0 = performance.now();
    let served = 0;
    for (let r = 0; r < ROUNDS; r++) for (const p of pods) if (usage.podMetrics(p)) served++;
    out['control plane: PodMetrics of 100 pods µs'] = Math.round(((performance.now() - read0) / ROUNDS) * 1000);
    out['pods served'] = served / ROUNDS;
  } finally {
    for (const c of await client.listContainerRecords().catch(() => [])) await deleteContainer(client, c.id).catch(() => undefined);
    for (let i = 0; i < PODS; i++) removeCgroup(cgroupsPathFor(parent, `pod-${i}-main-0`));
    removeCgroup(cgroupsPathFor(parent));
    client.close();
    await daemon.stop();
    await rm(dir, { recursive: true, force: true, maxRetries: 3 });
  }
  return out;
}
