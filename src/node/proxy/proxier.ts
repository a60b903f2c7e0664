/**
 * The service proxy (kube-proxy's job on a node): keeps the kernel's rules equal to what the
 * Services and Endpoints call for. Any change of the view asks for a sync; a sync computes the
 * whole rule set ({@link renderRules}) and {@link ChainSync} replaces the proxy's chains when it
 * differs from what was last applied.
 *
 * Stopping leaves the rules in place, so Services keep routing across a gantry restart; the
 * next start replaces them with equal ones. {@link removeProxyRules} (`gantry down`) takes them
 * away.
 */
import { readFile, writeFile } from 'node:fs/promises';
import type { Logger } from '../../log.js';
import { chainPrefix, ChainSync, removeChains, type Jump } from './netfilter.js';
import { renderRules, servicePorts, topChains, type ProxyServicePort } from './rules.js';
import type { ServiceView } from './source.js';

/** The chain prefix of a node network (7 characters). */
export function proxyPrefix(networkName: string): string {
  return chainPrefix('GS', networkName);
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

const TABLES = ['nat', 'filter'] as const;

/** The jumps into the proxy's chains. */
function jumps(prefix: string): Jump[] {
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

/**
 * Replies from a pod to a client on the same bridge are bridged, not routed: only with
 * `bridge-nf-call-iptables` do they pass conntrack and get their source turned back into the
 * cluster IP (and NetworkPolicy sees pod-to-pod traffic at all). kube-proxy needs the same.
 */
export async function ensureBridgeNetfilter(log: Logger): Promise<void> {
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
  private readonly sync: ChainSync;
  private readonly opts: ServiceProxyOptions;

  constructor(opts: ServiceProxyOptions) {
    this.opts = opts;
    this.prefix = proxyPrefix(opts.networkName);
    this.sync = new ChainSync({
      prefix: this.prefix,
      tables: TABLES,
      jumps: jumps(this.prefix),
      logger: opts.logger,
      render: (existing) => {
        const ports = [...servicePorts(opts.view.services(), opts.view.endpoints()), ...(opts.extraPorts?.() ?? [])];
        const r = renderRules(ports, { prefix: this.prefix, podCidr: opts.podCidr, nodeName: opts.nodeName }, { nat: existing.nat ?? [], filter: existing.filter ?? [] });
        return { nat: { text: r.nat, chains: r.natChains }, filter: { text: r.filter, chains: r.filterChains } };
      },
    });
  }

  /** Programs the rules once, then follows the view. */
  async start(): Promise<void> {
    await ensureBridgeNetfilter(this.opts.logger);
    this.opts.view.onChange(() => this.sync.requestSync(), ['Service', 'Endpoints', 'EndpointSlice']);
    await this.sync.start();
  }

  /** Stops following; the rules stay. */
  stop(): Promise<void> {
    return this.sync.stop();
  }
}

/** Removes a node network's proxy rules: the jumps, then the chains (`gantry down`). */
export function removeProxyRules(networkName: string): Promise<void> {
  const prefix = proxyPrefix(networkName);
  return removeChains(prefix, TABLES, jumps(prefix));
}
