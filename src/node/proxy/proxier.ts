/**
 * The service proxy (kube-proxy's job on a node): keeps the kernel's rules equal to what the
 * Services and Endpoints call for, level-triggered. Any change of the view asks for a sync; a
 * sync computes the whole rule set ({@link renderRules}) and, when it differs from what was
 * last applied, replaces the proxy's chains with one `iptables-restore --noflush` per table,
 * atomically. Syncs never overlap: changes during a sync cause exactly one more.
 *
 * Stopping leaves the rules in place, so Services keep routing across a gantry restart; the
 * next start replaces them with equal ones. {@link removeProxyRules} (`gantry down`) takes them
 * away.
 */
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import type { Logger } from '../../log.js';
import { execTool, mustExec } from '../network/exec.js';
import { parseIptables } from '../network/iptables.js';
import { renderRules, servicePorts, topChains, type ProxyServicePort } from './rules.js';
import type { ServiceView } from './source.js';

/** The chain prefix of a node network (7 characters). */
export function proxyPrefix(networkName: string): string {
  return `GS${createHash('sha256').update(networkName).digest('hex').slice(0, 5)}`;
}

/** Options of {@link ServiceProxy}. */
export interface ServiceProxyOptions {
  view: ServiceView;
  /** The node network's name (names the chains, see {@link proxyPrefix}). */
  networkName: string;
  podCidr: string;
  nodeName: string;
  logger: Logger;
  /** Ports served on this node itself (the cluster DNS), programmed like Service ports. */
  extraPorts?: () => ProxyServicePort[];
}

/** The jumps into the proxy's chains: table, built-in chain, match. */
function jumps(prefix: string): [table: string, chain: string, args: string[]][] {
  const top = topChains(prefix);
  const c = ['-m', 'comment', '--comment', `gantry services ${prefix}`];
  return [
    ['nat', 'PREROUTING', [...c, '-j', top.services]],
    ['nat', 'OUTPUT', [...c, '-j', top.services]],
    ['nat', 'POSTROUTING', [...c, '-j', top.postrouting]],
    ['filter', 'FORWARD', ['-m', 'conntrack', '--ctstate', 'NEW', ...c, '-j', top.reject]],
    ['filter', 'OUTPUT', ['-m', 'conntrack', '--ctstate', 'NEW', ...c, '-j', top.reject]],
  ];
}

/** The proxy's chains present in the kernel now, per table. */
async function existingChains(prefix: string): Promise<{ nat: string[]; filter: string[] }> {
  const read = async (table: string) => [...parseIptables(await mustExec('iptables', ['-w', '-t', table, '-S'])).chains].filter((c) => c.startsWith(`${prefix}-`));
  return { nat: await read('nat'), filter: await read('filter') };
}

/**
 * Replies from a pod to a client on the same bridge are bridged, not routed: only with
 * `bridge-nf-call-iptables` do they pass conntrack and get their source turned back into the
 * cluster IP. kube-proxy needs the same.
 */
async function ensureBridgeNetfilter(log: Logger): Promise<void> {
  const file = '/proc/sys/net/bridge/bridge-nf-call-iptables';
  const now = await readFile(file, 'utf8').catch(() => undefined);
  if (now === undefined) {
    log.warn('net.bridge.bridge-nf-call-iptables is missing (br_netfilter not loaded): a pod reaching a Service whose endpoint shares its bridge gets no reply');
    return;
  }
  if (now.trim() !== '1') await writeFile(file, '1');
}

/** The service proxy of one node. */
export class ServiceProxy {
  readonly prefix: string;
  private readonly opts: ServiceProxyOptions;
  private readonly log: Logger;
  private running?: Promise<void>;
  private again = false;
  private stopped = false;
  private applied = { nat: '', filter: '' };
  private chains: { nat: string[]; filter: string[] } = { nat: [], filter: [] };
  private jumpsReady = false;
  private syncs = 0;
  private readonly waiters: (() => void)[] = [];

  constructor(opts: ServiceProxyOptions) {
    this.opts = opts;
    this.prefix = proxyPrefix(opts.networkName);
    this.log = opts.logger;
  }

  /** Programs the rules once, then follows the view. */
  async start(): Promise<void> {
    await ensureBridgeNetfilter(this.log);
    this.chains = await existingChains(this.prefix);
    this.opts.view.onChange(() => this.requestSync());
    const done = this.synced();
    this.requestSync();
    await done;
  }

  /** Stops following; the rules stay. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.running?.catch(() => undefined);
  }

  /** Resolves after the next sync that starts after this call has finished (call, then request). */
  synced(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** How many times rules were written (for tests and benches). */
  get syncCount(): number {
    return this.syncs;
  }

  /** Asks for a sync; coalesces with one that is running. */
  requestSync(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.runSyncs().finally(() => (this.running = undefined));
  }

  private async runSyncs(): Promise<void> {
    do {
      this.again = false;
      const waiting = this.waiters.splice(0);
      try {
        await this.sync();
      } catch (err) {
        this.log.error({ err }, 'service rules not applied; retrying in 1 s');
        setTimeout(() => this.requestSync(), 1000).unref();
      }
      for (const w of waiting) w();
    } while (this.again && !this.stopped);
  }

  private async sync(): Promise<void> {
    const ports = [...servicePorts(this.opts.view.services(), this.opts.view.endpoints()), ...(this.opts.extraPorts?.() ?? [])];
    const rules = renderRules(ports, { prefix: this.prefix, podCidr: this.opts.podCidr, nodeName: this.opts.nodeName }, this.chains);
    for (const table of ['nat', 'filter'] as const) {
      if (rules[table] === this.applied[table]) continue;
      const r = await execTool('iptables-restore', ['-w', '--noflush'], { input: rules[table] });
      if (r.code !== 0) throw new Error(`iptables-restore (${table}) failed: ${r.stderr.trim()}`);
      this.applied[table] = rules[table];
      this.chains[table] = table === 'nat' ? rules.natChains : rules.filterChains;
      this.syncs++;
    }
    // Chains first, then the jumps into them (a jump needs its chain).
    if (!this.jumpsReady) {
      for (const [table, chain, args] of jumps(this.prefix)) {
        if ((await execTool('iptables', ['-w', '-t', table, '-C', chain, ...args])).code !== 0) await mustExec('iptables', ['-w', '-t', table, '-I', chain, '1', ...args]);
      }
      this.jumpsReady = true;
    }
  }
}

/** Removes a node network's proxy rules: the jumps, then the chains (`gantry down`). */
export async function removeProxyRules(networkName: string): Promise<void> {
  const prefix = proxyPrefix(networkName);
  for (const [table, chain, args] of jumps(prefix)) {
    while ((await execTool('iptables', ['-w', '-t', table, '-D', chain, ...args])).code === 0);
  }
  const chains = await existingChains(prefix);
  for (const table of ['nat', 'filter'] as const) {
    for (const c of chains[table]) await execTool('iptables', ['-w', '-t', table, '-F', c]);
    for (const c of chains[table]) await execTool('iptables', ['-w', '-t', table, '-X', c]);
  }
}
