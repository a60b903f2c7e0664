/**
 * The service proxy's kernel rules, computed from Services and Endpoints (pure): the
 * `iptables-restore` input that makes every cluster IP and node port lead to a ready endpoint,
 * as kube-proxy's iptables mode does.
 *
 * nat table, every chain named `<prefix>-…` (the prefix is per node network, so two gantries on
 * one machine never touch each other's rules):
 * - `<p>-SVC` (jumped to from PREROUTING and OUTPUT): one rule per cluster IP and port, to that
 *   port's chain; last, traffic to a local address goes to `<p>-NP` (node ports).
 * - `<p>-S<hash>` per Service port: traffic not from the pod network is marked for masquerade
 *   (the host reaching a cluster IP; replies must come back through this node); with
 *   `sessionAffinity: ClientIP` a client seen recently goes to its endpoint again (`-m recent`);
 *   then one endpoint at random: rule i of n matches with probability 1/(n-i).
 * - `<p>-E<hash>` per endpoint: a pod reaching itself through its Service (hairpin) is marked
 *   for masquerade, then DNAT to the endpoint's address and port.
 *   `internalTrafficPolicy: Local` picks among this node's endpoints only (none: drop).
 * - `<p>-NP`: node port → the port's chain (`externalTrafficPolicy: Local`: a chain of this
 *   node's endpoints only, masquerading only traffic from this node, dropping when there is none).
 * - `<p>-MM` marks (0x4000), `<p>-PR` (jumped to from POSTROUTING, first) masquerades marked
 *   packets.
 *
 * filter table: `<p>-F` (from FORWARD and OUTPUT, new connections) rejects connections to a
 * Service port without ready endpoints, so clients fail at once instead of timing out.
 *
 * Every chain is declared in the restore input (which empties it) and chains of the prefix that
 * are no longer wanted are deleted in the same input: one `iptables-restore --noflush` per table
 * replaces the rules atomically, with no moment where a Service does not route.
 */
import type { Endpoints, Service } from '../../model/types.js';
import { chainHash, restoreInput } from './netfilter.js';

/** The mark bit that asks for masquerade (kube-proxy's). */
export const MASQ_MARK = '0x4000';

/** One address and port behind a Service port. */
export interface ProxyEndpoint {
  ip: string;
  port: number;
  /** The endpoint's node, when known (for externalTrafficPolicy Local). */
  nodeName?: string;
}

/** One Service port as the proxy programs it. */
export interface ProxyServicePort {
  /** `<namespace>/<name>:<port name or number>`, for comments and hashing. */
  id: string;
  clusterIp: string;
  port: number;
  protocol: 'TCP' | 'UDP';
  nodePort?: number;
  endpoints: ProxyEndpoint[];
  affinitySeconds?: number;
  externalLocal?: boolean;
  /** internalTrafficPolicy Local: the cluster IP leads only to this node's endpoints. */
  internalLocal?: boolean;
}

/** What {@link renderRules} needs besides the Service ports. */
export interface RuleOptions {
  /** Chain name prefix, ≤ 9 characters (chain names must stay within 28). */
  prefix: string;
  /** The pod network of this node (traffic from elsewhere to a cluster IP is masqueraded). */
  podCidr: string;
  nodeName: string;
}

/** The restore input of both tables, and the chains each declares. */
export interface RenderedRules {
  nat: string;
  filter: string;
  natChains: string[];
  filterChains: string[];
}

/** The chain names the proxy uses in nat and filter for a prefix. */
export function topChains(prefix: string): { services: string; nodePorts: string; postrouting: string; markMasq: string; reject: string } {
  return { services: `${prefix}-SVC`, nodePorts: `${prefix}-NP`, postrouting: `${prefix}-PR`, markMasq: `${prefix}-MM`, reject: `${prefix}-F` };
}

/** Service ports to program, from Services and their Endpoints (only ready addresses). */
export function servicePorts(services: readonly Service[], endpoints: readonly Endpoints[]): ProxyServicePort[] {
  const eps = new Map(endpoints.map((e) => [`${e.metadata.namespace}/${e.metadata.name}`, e]));
  const out: ProxyServicePort[] = [];
  for (const svc of services) {
    const ip = svc.spec.clusterIP;
    if (!ip || ip === 'None' || svc.spec.type === 'ExternalName') continue;
    const key = `${svc.metadata.namespace}/${svc.metadata.name}`;
    const ep = eps.get(key);
    const spec = svc.spec;
    for (const sp of svc.spec.ports ?? []) {
      const protocol = sp.protocol ?? 'TCP';
      if (protocol !== 'TCP' && protocol !== 'UDP') continue;
      const endpointsOf: ProxyEndpoint[] = [];
      for (const subset of ep?.subsets ?? []) {
        const port = (subset.ports ?? []).find((p) => (p.name ?? '') === (sp.name ?? '') && (p.protocol ?? 'TCP') === protocol);
        if (!port) continue;
        for (const a of subset.addresses ?? []) endpointsOf.push({ ip: a.ip, port: port.port, ...(a.nodeName ? { nodeName: a.nodeName } : {}) });
      }
      endpointsOf.sort((a, b) => (a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : a.port - b.port));
      const nodePort = (svc.spec.type === 'NodePort' || svc.spec.type === 'LoadBalancer') && sp.nodePort ? sp.nodePort : undefined;
      out.push({
        id: `${key}:${sp.name || sp.port}`,
        clusterIp: ip,
        port: sp.port,
        protocol,
        ...(nodePort ? { nodePort } : {}),
        endpoints: endpointsOf,
        ...(svc.spec.sessionAffinity === 'ClientIP' ? { affinitySeconds: spec.sessionAffinityConfig?.clientIP?.timeoutSeconds ?? 10800 } : {}),
        ...(spec.externalTrafficPolicy === 'Local' ? { externalLocal: true } : {}),
        ...(spec.internalTrafficPolicy === 'Local' ? { internalLocal: true } : {}),
      });
    }
  }
  return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

function comment(text: string): string[] {
  // iptables-restore reads double-quoted words; a Service id has no quotes.
  return ['-m', 'comment', '--comment', `"${text}"`];
}

/**
 * The restore input for these Service ports. `existing` lists the chains of the prefix present
 * in the kernel now (from `iptables-save`); those no longer wanted are deleted.
 */
export function renderRules(ports: readonly ProxyServicePort[], opts: RuleOptions, existing: { nat: readonly string[]; filter: readonly string[] } = { nat: [], filter: [] }): RenderedRules {
  const top = topChains(opts.prefix);
  const natChains = [top.services, top.nodePorts, top.postrouting, top.markMasq];
  const nat: string[][] = [];
  const filter: string[][] = [];
  const masq = ['-j', top.markMasq];

  nat.push(['-A', top.postrouting, '-m', 'mark', '!', '--mark', `${MASQ_MARK}/${MASQ_MARK}`, '-j', 'RETURN']);
  // Clear the bit so a packet that goes through another gantry's chain is not masqueraded twice.
  nat.push(['-A', top.postrouting, '-j', 'MARK', '--xor-mark', MASQ_MARK]);
  nat.push(['-A', top.postrouting, '-j', 'MASQUERADE', '--random-fully']);
  nat.push(['-A', top.markMasq, '-j', 'MARK', '--or-mark', MASQ_MARK]);

  const proto = (p: ProxyServicePort): string[] => ['-p', p.protocol.toLowerCase(), '-m', p.protocol.toLowerCase()];
  const nodePortRules: string[][] = [];
  for (const p of ports) {
    const h = chainHash(p.id);
    if (p.endpoints.length === 0) {
      filter.push(['-A', top.reject, '-d', `${p.clusterIp}/32`, ...proto(p), '--dport', String(p.port), ...comment(`${p.id} has no endpoints`), '-j', 'REJECT']);
      if (p.nodePort) filter.push(['-A', top.reject, '-m', 'addrtype', '--dst-type', 'LOCAL', ...proto(p), '--dport', String(p.nodePort), ...comment(`${p.id} node port has no endpoints`), '-j', 'REJECT']);
      continue;
    }
    const svcChain = `${opts.prefix}-S${h}`;
    natChains.push(svcChain);
    nat.push(['-A', top.services, '-d', `${p.clusterIp}/32`, ...proto(p), '--dport', String(p.port), ...comment(`${p.id} cluster IP`), '-j', svcChain]);
    nat.push(['-A', svcChain, '!', '-s', opts.podCidr, ...masq]);
    const epChains = p.endpoints.map((e) => `${opts.prefix}-E${chainHash(`${p.id}>${e.ip}:${e.port}`)}`);
    p.endpoints.forEach((e, i) => {
      const chain = epChains[i]!;
      natChains.push(chain);
      nat.push(['-A', chain, '-s', `${e.ip}/32`, ...masq]);
      const remember = p.affinitySeconds ? ['-m', 'recent', '--name', chain, '--set', '--rsource'] : [];
      nat.push(['-A', chain, ...proto(p), ...remember, '-j', 'DNAT', '--to-destination', `${e.ip}:${e.port}`]);
    });
    const pick = (chain: string, chains: string[]): void => {
      if (p.affinitySeconds) {
        for (const c of chains) nat.push(['-A', chain, '-m', 'recent', '--name', c, '--rcheck', '--seconds', String(p.affinitySeconds), '--reap', '--rsource', '-j', c]);
      }
      chains.forEach((c, i) => {
        const left = chains.length - i;
        nat.push(left > 1 ? ['-A', chain, '-m', 'statistic', '--mode', 'random', '--probability', (1 / left).toFixed(10), '-j', c] : ['-A', chain, '-j', c]);
      });
    };
    const local = epChains.filter((_, i) => p.endpoints[i]!.nodeName === opts.nodeName);
    if (!p.internalLocal) pick(svcChain, epChains);
    else if (local.length > 0) pick(svcChain, local);
    else nat.push(['-A', svcChain, ...comment(`${p.id} has no endpoint on this node`), '-j', 'DROP']);
    if (!p.nodePort) continue;
    if (!p.externalLocal) {
      nodePortRules.push(['-A', top.nodePorts, ...proto(p), '--dport', String(p.nodePort), ...comment(`${p.id} node port`), ...masq]);
      nodePortRules.push(['-A', top.nodePorts, ...proto(p), '--dport', String(p.nodePort), ...comment(`${p.id} node port`), '-j', svcChain]);
      continue;
    }
    const localChain = `${opts.prefix}-L${h}`;
    natChains.push(localChain);
    nodePortRules.push(['-A', top.nodePorts, ...proto(p), '--dport', String(p.nodePort), ...comment(`${p.id} node port (local endpoints)`), '-j', localChain]);
    // Traffic from this node itself keeps working as for Cluster, masqueraded.
    nat.push(['-A', localChain, '-m', 'addrtype', '--src-type', 'LOCAL', ...masq]);
    if (local.length === 0) nat.push(['-A', localChain, ...comment(`${p.id} has no endpoint on this node`), '-j', 'DROP']);
    else pick(localChain, local);
  }
  nat.push(...nodePortRules);
  // Node ports: traffic to this node's own addresses, loopback excepted (it cannot be DNATed
  // to a pod without route_localnet, which gantry does not turn on).
  nat.push(['-A', top.services, '!', '-d', '127.0.0.0/8', '-m', 'addrtype', '--dst-type', 'LOCAL', '-j', top.nodePorts]);

  const filterChains = [top.reject];
  return {
    nat: restoreInput('nat', natChains, nat, existing.nat),
    filter: restoreInput('filter', filterChains, filter, existing.filter),
    natChains,
    filterChains,
  };
}
