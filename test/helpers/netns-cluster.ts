/**
 * Three (or more) "machines" on one host, for cluster tests and benches: a host bridge of the
 * cluster's own (`gnc<rand>`, 10.<x>.<y>.1/24), one network namespace per node with a veth to that
 * bridge and an address of its own, and in each namespace a `gantry agent` child process (the CLI
 * from source) with its own data dir and private containerd, talking HTTPS with an agent token to
 * a `gantry server` listening on the bridge's address (in this process, started by the caller).
 *
 * {@link NetnsCluster.destroy} undoes everything, also after a failure half-way: the agents (by
 * pid), then in each namespace `gantry down` (its containers, pod networks and containerd), the
 * namespaces, the bridge and the FORWARD rule.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execTool, mustExec } from '../../src/node/network/exec.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const CLI = path.join(here, 'cli-entry.ts');
const REPO = path.resolve(here, '../..');

/** One node of the cluster: its namespace, address and agent process. */
export interface NetnsNode {
  name: string;
  netns: string;
  /** The node's address on the cluster bridge (its InternalIP). */
  ip: string;
  dataDir: string;
  /** The agent child process (undefined once stopped or killed). */
  agent?: ChildProcess;
  /** What the agent printed on stderr. */
  stderr: string;
}

/** The machines: bridge, namespaces, agents. */
export interface NetnsCluster {
  id: string;
  bridge: string;
  /** The host's address on the bridge: the server listens here. */
  hostIP: string;
  nodes: NetnsNode[];
  /** Starts node `i`'s agent against `server` with `token` (resolves once its process runs). */
  startAgent(i: number, opts: AgentStart): Promise<NetnsNode>;
  /** Runs a command in node `i`'s namespace. */
  exec(i: number, args: string[]): Promise<{ code: number; stdout: string; stderr: string }>;
  /** Removes everything this cluster made (idempotent). */
  destroy(): Promise<void>;
}

/** How an agent is started. */
export interface AgentStart {
  server: string;
  token: string;
  /** PEM file of the server's CA. */
  caFile: string;
  imagesDir?: string;
  serviceCidr?: string;
  clusterCidr?: string;
  extraArgs?: string[];
}

/** Options of {@link createNetnsCluster}. */
export interface NetnsClusterOptions {
  /** Where the nodes' data dirs go. */
  root: string;
  nodes?: number;
}

/**
 * Creates the bridge and the namespaces (no agents yet: {@link NetnsCluster.startAgent}). On a
 * failure half-way, what was made is removed before the error is thrown.
 */
export async function createNetnsCluster(opts: NetnsClusterOptions): Promise<NetnsCluster> {
  const id = randomBytes(3).toString('hex');
  const bridge = `gnc${id}`;
  const subnet = await freeSubnet();
  const hostIP = `${subnet}.1`;
  const nodes: NetnsNode[] = Array.from({ length: opts.nodes ?? 3 }, (_, i) => ({
    name: `gnc${id}-n${i}`,
    netns: `gnc${id}-n${i}`,
    ip: `${subnet}.${10 + i}`,
    dataDir: path.join(opts.root, `node-${i}`),
    stderr: '',
  }));
  const forward = ['FORWARD', '-i', bridge, '-o', bridge, '-m', 'comment', '--comment', `netns cluster ${bridge}`, '-j', 'ACCEPT'];
  let destroyed = false;
  const cluster: NetnsCluster = {
    id,
    bridge,
    hostIP,
    nodes,
    async startAgent(i, a) {
      const n = nodes[i]!;
      await mkdir(n.dataDir, { recursive: true });
      // nsenter, not `ip netns exec`: that remounts /sys, hiding the cgroup mount runc needs.
      const args = [
        `--net=/run/netns/${n.netns}`, process.execPath, '--import', 'tsx', CLI, 'agent',
        '--server', a.server, '--token', a.token, '--certificate-authority', a.caFile,
        '--node-name', n.name, '--data-dir', n.dataDir,
        ...(a.imagesDir ? ['--images-dir', a.imagesDir] : []),
        ...(a.serviceCidr ? ['--service-cidr', a.serviceCidr] : []),
        ...(a.clusterCidr ? ['--cluster-cidr', a.clusterCidr] : []),
        ...(a.extraArgs ?? []),
      ];
      n.stderr = '';
      // nsenter execs the command after entering the namespace: the pid is the agent's.
      const child = spawn('nsenter', args, { cwd: REPO, stdio: ['ignore', 'ignore', 'pipe'] });
      child.stderr!.on('data', (d: Buffer) => (n.stderr += d.toString()));
      child.once('exit', () => {
        if (n.agent === child) n.agent = undefined;
      });
      n.agent = child;
      return n;
    },
    exec(i, args) {
      return execTool('nsenter', [`--net=/run/netns/${nodes[i]!.netns}`, ...args]);
    },
    async destroy() {
      if (destroyed) return;
      destroyed = true;
      await Promise.all(nodes.map(async (n) => {
        const child = n.agent;
        if (child && child.exitCode === null && child.signalCode === null) {
          const gone = new Promise((r) => child.once('exit', r));
          child.kill('SIGKILL');
          await gone;
        }
        n.agent = undefined;
      }));
      // Containers, pod networks and the private containerd of each node: `gantry down` in its namespace.
      await Promise.all(nodes.map(async (n) => {
        if ((await execTool('ip', ['netns', 'pids', n.netns])).code !== 0) return;
        const down = spawn('nsenter', [`--net=/run/netns/${n.netns}`, process.execPath, '--import', 'tsx', CLI, 'down', '--data-dir', n.dataDir], { cwd: REPO, stdio: 'ignore' });
        await new Promise((r) => down.once('exit', r));
        // Whatever still runs in the namespace (a shim `down` missed) goes by pid.
        const pids = (await execTool('ip', ['netns', 'pids', n.netns])).stdout.split(/\s+/).filter((p) => /^\d+$/.test(p));
        for (const pid of pids) {
          try {
            process.kill(Number(pid), 'SIGKILL');
          } catch {
            // already gone
          }
        }
        await execTool('ip', ['netns', 'delete', n.netns]);
      }));
      await execTool('ip', ['link', 'delete', bridge]);
      await execTool('iptables', ['-w', '-D', ...forward]);
    },
  };
  try {
    await mustExec('ip', ['link', 'add', bridge, 'type', 'bridge']);
    await mustExec('ip', ['addr', 'add', `${hostIP}/24`, 'dev', bridge]);
    await mustExec('ip', ['link', 'set', bridge, 'up']);
    // The host may filter bridged frames (br_netfilter): the cluster's own bridge forwards freely.
    await mustExec('iptables', ['-w', '-I', ...forward]);
    for (const [i, n] of nodes.entries()) {
      const veth = `${bridge}v${i}`;
      await mustExec('ip', ['netns', 'add', n.netns]);
      await mustExec('ip', ['link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', n.netns]);
      await mustExec('ip', ['link', 'set', veth, 'master', bridge, 'up']);
      const inNs = (args: string[]) => mustExec('ip', ['netns', 'exec', n.netns, ...args]);
      await inNs(['ip', 'link', 'set', 'lo', 'up']);
      await inNs(['ip', 'addr', 'add', `${n.ip}/24`, 'dev', 'eth0']);
      await inNs(['ip', 'link', 'set', 'eth0', 'up']);
      await inNs(['ip', 'route', 'add', 'default', 'via', hostIP]);
      await mkdir(n.dataDir, { recursive: true });
    }
  } catch (err) {
    await cluster.destroy();
    throw err;
  }
  return cluster;
}

/** Writes the CA so agents can name it with --certificate-authority. */
export async function writeCa(root: string, ca: string): Promise<string> {
  const file = path.join(root, 'server-ca.pem');
  await writeFile(file, ca);
  return file;
}

/** A 10.x.y /24 no route of this host covers yet. */
async function freeSubnet(): Promise<string> {
  const routes = (await mustExec('ip', ['-4', 'route', 'show'])).split('\n').map((l) => l.split(' ')[0] ?? '');
  for (let tries = 0; tries < 50; tries++) {
    const b = randomBytes(2);
    const subnet = `10.${200 + (b[0]! % 40)}.${b[1]!}`;
    if (!routes.some((r) => r.startsWith(`${subnet}.`))) return subnet;
  }
  throw new Error('no free 10.x.y.0/24 for the netns cluster bridge');
}
