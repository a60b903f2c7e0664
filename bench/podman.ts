/**
 * Peer figure for gantry: how long Debian's podman (`podman kube play`) takes to bring up the
 * same workload as the e2e bench, a Deployment of 10 busybox `sleep 3600` pods
 * (terminationGracePeriodSeconds 0, imagePullPolicy Never). Measured from starting
 * `podman kube play <file>` until it has returned and `podman ps` shows all 10 containers
 * running (the check is part of the figure); also, for information, until `kube play` alone
 * returned. One warm-up run (it also builds podman's local pause image from catatonit), then
 * RUNS timed runs, each followed (untimed) by `podman kube down <file>`; p50 and p95, and p50 per
 * pod. Pods get a bridge network like gantry's CNI pods: a netavark network of a random
 * 10.89.x.0/24 subnet, without DNS (no aardvark-dns daemon).
 *
 * Isolation: every podman call runs with its own storage, run and tmp dirs, network config dir,
 * containers.conf and storage.conf in a temp dir (nothing of the machine's default podman storage
 * is used), inside a network namespace of its own (`nsenter --net`), so the bridge, the veths, the
 * iptables rules and ip_forward that netavark sets up never reach the host's network. The image is
 * the project's deterministic busybox OCI image, written as an oci-archive and `podman load`ed.
 * Rootful podman also writes a few fixed host paths no flag moves (the blob-info cache under
 * /var/lib/containers, netavark's IPAM db under /run/containers/networks, the cgroupfs parent
 * `libpod_parent`): those that did not exist before are removed at the end, with the temp dir,
 * the network namespace and the network.
 *
 * Needs root, podman (with netavark), catatonit, nsenter and ip; otherwise it reports why it
 * skipped. It never installs anything.
 */
import { execFile } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, rmdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildBusyboxImage } from '../src/node/images/busybox-image.js';
import { writeTar, type TarEntry } from '../src/node/images/tar.js';
import { percentile } from './stats.js';

const RUNS = 5;
const REPLICAS = 10;
const IMAGE = 'gantry.local/busybox:latest';
const DEPLOYMENT = 'podman-sleeper';
/** Bound on every child process. */
const CHILD_TIMEOUT_MS = 120_000;
/** Timed runs stop early (and report what they have) once the bench has run this long. */
const BUDGET_MS = 180_000;

function onPath(bin: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':').filter(Boolean)) {
    const p = path.join(dir, bin);
    try {
      if (statSync(p).isFile()) return p;
    } catch {
      // not in this dir
    }
  }
  return undefined;
}

/** Where podman looks for its helpers (containers.conf `helper_binaries_dir` default). */
const HELPER_DIRS = ['/usr/local/libexec/podman', '/usr/local/lib/podman', '/usr/libexec/podman', '/usr/lib/podman'];

function whyNot(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root';
  if (!onPath('podman')) return 'podman not installed (Debian: apt-get install podman catatonit)';
  if (!HELPER_DIRS.some((d) => existsSync(path.join(d, 'catatonit')))) return 'catatonit missing (Debian: apt-get install catatonit)';
  if (!HELPER_DIRS.some((d) => existsSync(path.join(d, 'netavark')))) return 'netavark missing';
  for (const bin of ['nsenter', 'ip']) if (!onPath(bin)) return `${bin} not installed`;
  return undefined;
}

interface Ran {
  stdout: string;
  stderr: string;
}

/** Runs a command (bounded); rejects with its stderr on failure. */
function exec(file: string, args: string[], env?: NodeJS.ProcessEnv): Promise<Ran> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { env, timeout: CHILD_TIMEOUT_MS, killSignal: 'SIGKILL', maxBuffer: 16 * 2 ** 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${path.basename(file)} ${args.join(' ')}: ${err.message}\n${stderr}`.trim()));
      else resolve({ stdout, stderr });
    });
  });
}

/** Hard limit of `name` (as /proc/self/limits spells it) of this process, if finite. */
function hardLimit(name: string): string | undefined {
  const m = new RegExp(`^${name}\\s+(\\S+)\\s+(\\S+)`, 'm').exec(readFileSync('/proc/self/limits', 'utf8'));
  return m && /^\d+$/.test(m[2]!) ? m[2] : undefined;
}

/**
 * The private podman: the same flags on every call, config files of its own, and run in the
 * bench's network namespace.
 */
class Podman {
  readonly flags: string[];
  readonly env: NodeJS.ProcessEnv;

  constructor(
    readonly dir: string,
    readonly netns: string,
  ) {
    this.flags = [
      '--root', path.join(dir, 'root'),
      '--runroot', path.join(dir, 'runroot'),
      '--tmpdir', path.join(dir, 'libpod-tmp'),
      '--storage-driver', 'overlay',
      '--cgroup-manager', 'cgroupfs',
      '--events-backend', 'file',
      '--network-backend', 'netavark',
      '--network-config-dir', path.join(dir, 'networks'),
    ];
    this.env = {
      PATH: process.env.PATH,
      HOME: dir,
      TMPDIR: path.join(dir, 'tmp'),
      CONTAINERS_CONF: path.join(dir, 'containers.conf'),
      CONTAINERS_STORAGE_CONF: path.join(dir, 'storage.conf'),
    };
  }

  async writeConfig(): Promise<void> {
    for (const d of ['tmp', 'libpod-tmp', 'networks']) await mkdir(path.join(this.dir, d), { recursive: true });
    // Rootful podman gives containers nofile 1048576 and nproc pid_max; without
    // CAP_SYS_RESOURCE and with lower hard limits (as in many VMs and containers) runc cannot
    // raise them and fails, so use this process's own hard limits instead. podman lowers its own
    // nproc hard limit to pid_max at start, hence the min for nproc.
    const pidMax = Number(readFileSync('/proc/sys/kernel/pid_max', 'utf8').trim());
    const nofile = hardLimit('Max open files');
    const nproc = Math.min(Number(hardLimit('Max processes') ?? Infinity), pidMax);
    const ulimits = [...(nofile ? [`"nofile=${nofile}:${nofile}"`] : []), ...(Number.isFinite(nproc) ? [`"nproc=${nproc}:${nproc}"`] : [])];
    await writeFile(
      path.join(this.dir, 'containers.conf'),
      [
        '[containers]',
        `default_ulimits = [${ulimits.join(', ')}]`,
        '[engine]',
        'cgroup_manager = "cgroupfs"',
        'events_logger = "file"',
        `tmp_dir = "${path.join(this.dir, 'libpod-tmp')}"`,
        // oci-archive untarring and the pause image build otherwise use /var/tmp.
        `image_copy_tmp_dir = "${path.join(this.dir, 'tmp')}"`,
        '[network]',
        'network_backend = "netavark"',
        `network_config_dir = "${path.join(this.dir, 'networks')}"`,
        '',
      ].join('\n'),
    );
    await writeFile(
      path.join(this.dir, 'storage.conf'),
      ['[storage]', 'driver = "overlay"', `graphroot = "${path.join(this.dir, 'root')}"`, `runroot = "${path.join(this.dir, 'runroot')}"`, ''].join('\n'),
    );
  }

  run(...args: string[]): Promise<Ran> {
    return exec('nsenter', [`--net=/run/netns/${this.netns}`, '--', 'podman', ...this.flags, ...args], this.env);
  }
}

/** The project's busybox image as an oci-archive (a tar of the OCI layout). */
async function busyboxArchive(dir: string): Promise<string> {
  const layout = path.join(dir, 'image');
  await mkdir(layout, { recursive: true });
  await buildBusyboxImage({ outDir: layout, name: IMAGE });
  const entries: TarEntry[] = [
    { name: 'blobs', type: 'dir' },
    { name: 'blobs/sha256', type: 'dir' },
    { name: 'oci-layout', type: 'file', data: await readFile(path.join(layout, 'oci-layout')) },
    { name: 'index.json', type: 'file', data: await readFile(path.join(layout, 'index.json')) },
  ];
  for (const blob of (await readdir(path.join(layout, 'blobs', 'sha256'))).sort()) {
    entries.push({ name: `blobs/sha256/${blob}`, type: 'file', data: await readFile(path.join(layout, 'blobs', 'sha256', blob)) });
  }
  const archive = path.join(dir, 'busybox-oci.tar');
  await writeFile(archive, writeTar(entries));
  return archive;
}

function deploymentYaml(): string {
  return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${DEPLOYMENT}
  labels:
    app: ${DEPLOYMENT}
spec:
  replicas: ${REPLICAS}
  selector:
    matchLabels:
      app: ${DEPLOYMENT}
  template:
    metadata:
      labels:
        app: ${DEPLOYMENT}
    spec:
      terminationGracePeriodSeconds: 0
      containers:
        - name: main
          image: ${IMAGE}
          imagePullPolicy: Never
          command: ["sleep", "3600"]
`;
}

/** Names of the Deployment's containers that podman reports running. */
async function runningContainers(podman: Podman): Promise<number> {
  const { stdout } = await podman.run('ps', '--filter', `name=^${DEPLOYMENT}-pod-[0-9]+-main$`, '--filter', 'status=running', '--format', '{{.Names}}');
  return stdout.split('\n').filter(Boolean).length;
}

/** One `kube play`: ms until it returned, and until all REPLICAS containers are running. */
async function playOnce(podman: Podman, file: string, network: string): Promise<{ returnedMs: number; runningMs: number }> {
  const t0 = performance.now();
  await podman.run('kube', 'play', '--network', network, file);
  const returnedMs = performance.now() - t0;
  const deadline = Date.now() + 60_000;
  for (;;) {
    const n = await runningContainers(podman);
    if (n === REPLICAS) return { returnedMs, runningMs: performance.now() - t0 };
    if (Date.now() > deadline) throw new Error(`${n}/${REPLICAS} podman containers running 60 s after kube play`);
    await sleep(20);
  }
}

/**
 * Host paths rootful podman writes whatever its flags say, with whether each existed before;
 * {@link removeCreated} removes those that did not.
 */
function hostPathsBefore(): Map<string, boolean> {
  const paths = ['/var/lib/containers', '/run/containers', '/etc/containers/networks', '/etc/cni/net.d/cni.lock'];
  const cgroupRoots = ['/sys/fs/cgroup', ...readdirSync('/sys/fs/cgroup').map((d) => path.join('/sys/fs/cgroup', d))];
  for (const d of cgroupRoots) if (existsSync(path.join(d, 'cgroup.procs'))) paths.push(path.join(d, 'libpod_parent'));
  return new Map(paths.map((p) => [p, existsSync(p)]));
}

/** Removes a cgroup tree bottom-up (rmdir only: cgroupfs has no files to delete). */
async function removeCgroupTree(dir: string): Promise<void> {
  for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    if (e.isDirectory()) await removeCgroupTree(path.join(dir, e.name));
  }
  await rmdir(dir).catch(() => undefined);
}

async function removeCreated(before: Map<string, boolean>): Promise<string[]> {
  const left: string[] = [];
  for (const [p, existed] of before) {
    if (existed || !existsSync(p)) continue;
    if (p.startsWith('/sys/fs/cgroup/')) await removeCgroupTree(p);
    else await rm(p, { recursive: true, force: true });
    if (existsSync(p)) left.push(p);
  }
  return left;
}

/** Mount points at or under `dir` (deepest first). */
function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4]?.replace(/\\040/g, ' '))
    .filter((m): m is string => !!m && (m === dir || m.startsWith(`${dir}/`)))
    .sort((a, b) => b.length - a.length);
}

/** Pids of processes whose command line mentions `dir` (podman's cleanup processes, conmon). */
function processesUsing(dir: string): number[] {
  const pids: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${e}/cmdline`, 'utf8').includes(dir)) pids.push(Number(e));
    } catch {
      // gone
    }
  }
  return pids;
}

/** podman benchmark; see the module comment. */
export async function benchPodman(): Promise<Record<string, number | string>> {
  const why = whyNot();
  if (why) return { skipped: why };
  const started = Date.now();
  const before = hostPathsBefore();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gantry-bench-podman-'));
  const tag = randomInt(10_000, 99_999);
  const netns = `gantry-bench-podman-${tag}`;
  const network = `gbp-${tag}`;
  const podman = new Podman(dir, netns);
  const file = path.join(dir, 'deployment.yaml');
  const out: Record<string, number | string> = {};
  let netnsAdded = false;
  try {
    await exec('ip', ['netns', 'add', netns]);
    netnsAdded = true;
    await exec('ip', ['-n', netns, 'link', 'set', 'lo', 'up']);
    await podman.writeConfig();
    out['podman version'] = (await podman.run('--version')).stdout.trim();

    const loaded = (await podman.run('load', '-i', await busyboxArchive(dir))).stdout;
    const name = /Loaded image(?:\(s\))?: (\S+)/.exec(loaded)?.[1];
    if (name !== IMAGE) await podman.run('tag', name ?? IMAGE, IMAGE);
    await podman.run('network', 'create', '--disable-dns', '--subnet', `10.89.${randomInt(1, 250)}.0/24`, network);
    await writeFile(file, deploymentYaml());

    const warm = await playOnce(podman, file, network);
    await podman.run('kube', 'down', file);
    const returned: number[] = [];
    const running: number[] = [];
    const down: number[] = [];
    for (let i = 0; i < RUNS && Date.now() - started < BUDGET_MS; i++) {
      const r = await playOnce(podman, file, network);
      returned.push(r.returnedMs);
      running.push(r.runningMs);
      const t0 = performance.now();
      await podman.run('kube', 'down', file);
      down.push(performance.now() - t0);
    }

    const ms = (x: number): number => Math.round(x);
    out[`kube play → ${REPLICAS} running p50 ms`] = ms(percentile(running, 50));
    out[`kube play → ${REPLICAS} running p95 ms`] = ms(percentile(running, 95));
    out['kube play → running per pod p50 ms'] = Math.round((percentile(running, 50) / REPLICAS) * 10) / 10;
    out['kube play returned p50 ms'] = ms(percentile(returned, 50));
    out['kube play → running runs ms'] = running.map(ms).join(' ');
    out['kube down p50 ms (untimed above)'] = ms(percentile(down, 50));
    out['warm-up run ms (builds the pause image)'] = ms(warm.runningMs);
  } finally {
    await podman.run('kube', 'down', file).catch(() => undefined);
    await podman.run('pod', 'rm', '--all', '--force', '--time', '0').catch(() => undefined);
    await podman.run('rm', '--all', '--force', '--time', '0').catch(() => undefined);
    await podman.run('network', 'rm', '--force', network).catch(() => undefined);
    await podman.run('system', 'reset', '--force').catch(() => undefined);
    // Container cleanup processes (conmon's exit command) may still run for a moment.
    for (let i = 0; i < 100 && processesUsing(dir).length > 0; i++) await sleep(100);
    const leftover = processesUsing(dir);
    for (const m of mountsUnder(dir)) await exec('umount', ['-l', m]).catch(() => undefined);
    if (netnsAdded) await exec('ip', ['netns', 'delete', netns]).catch(() => undefined);
    await rm(dir, { recursive: true, force: true, maxRetries: 3 });
    const left = await removeCreated(before);
    if (leftover.length > 0) out['leftover processes (pids)'] = leftover.join(' ');
    if (left.length > 0) out['host paths left behind'] = left.join(' ');
  }
  return out;
}
