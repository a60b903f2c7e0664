/**
 * Removing the NAT rules the CNI bridge (`ipMasq`) and portmap plugins leave behind.
 *
 * What the plugins create (containernetworking-plugins 1.1, `iptables -t nat -S`):
 * - bridge with ipMasq, per pod: chain `CNI-<hash>` and a POSTROUTING jump to it, both with the
 *   comment `name: "<network>" id: "<container id>"`; removed by the plugin's DEL. gantry now
 *   masquerades per network instead ({@link ensureMasquerade}); pods set up by an older gantry
 *   may still have these.
 * - portmap, per pod: chain `CNI-DN-<hash>` and a jump from `CNI-HOSTPORT-DNAT` commented
 *   `dnat name: "<network>" id: "<container id>"`; removed by DEL.
 * - portmap, shared by every network on the host: chains `CNI-HOSTPORT-DNAT`,
 *   `CNI-HOSTPORT-SETMARK`, `CNI-HOSTPORT-MASQ` and jumps to them from PREROUTING, OUTPUT and
 *   POSTROUTING; never removed by the plugin.
 */
import { createHash } from 'node:crypto';
import { execTool, mustExec } from './exec.js';

/** Splits one line of `iptables -S` output into arguments (double quotes with `\"` escapes). */
export function splitRule(line: string): string[] {
  const args: string[] = [];
  let cur = '';
  let inQuote = false;
  let has = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (inQuote) {
      if (c === '\\' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (c === '"') inQuote = false;
      else cur += c;
    } else if (c === '"') {
      inQuote = true;
      has = true;
    } else if (c === ' ') {
      if (has || cur) args.push(cur);
      cur = '';
      has = false;
    } else {
      cur += c;
    }
  }
  if (has || cur) args.push(cur);
  return args;
}

/** A rule from `iptables -S`: its chain and the arguments after `-A <chain>`. */
export interface IptRule {
  chain: string;
  args: string[];
}

/** Chains and rules of one table. */
export interface IptTable {
  chains: Set<string>;
  rules: IptRule[];
}

/** Parses `iptables -t <table> -S` output. */
export function parseIptables(text: string): IptTable {
  const chains = new Set<string>();
  const rules: IptRule[] = [];
  for (const line of text.split('\n')) {
    const a = splitRule(line.trim());
    if (a[0] === '-N' && a[1]) chains.add(a[1]);
    else if (a[0] === '-A' && a[1]) rules.push({ chain: a[1], args: a.slice(2) });
  }
  return { chains, rules };
}

/** The value after `flag` in a rule's arguments. */
function argAfter(args: string[], flag: string): string | undefined {
  const i = args.indexOf(flag);
  return i >= 0 ? args[i + 1] : undefined;
}

/**
 * True when a rule carries a CNI comment for `network` (bridge ipMasq or portmap dnat), and for
 * container `containerId` when given.
 */
export function isNetworkRule(rule: IptRule, network: string, containerId?: string): boolean {
  const comment = argAfter(rule.args, '--comment');
  if (!comment) return false;
  const id = containerId === undefined ? '' : `id: "${containerId}"`;
  return (comment.startsWith(`name: "${network}" ${id}`) || comment.startsWith(`dnat name: "${network}" ${id}`)) && (!id || comment.endsWith(id));
}

const SHARED_HOSTPORT_CHAINS = ['CNI-HOSTPORT-DNAT', 'CNI-HOSTPORT-SETMARK', 'CNI-HOSTPORT-MASQ'];

/** The commands that remove the NAT rules and chains one pod (CNI container id) has in `network`. */
export function podCleanupCommands(table: IptTable, network: string, containerId: string): string[][] {
  return perPodCommands(table, (r) => isNetworkRule(r, network, containerId));
}

function perPodCommands(table: IptTable, match: (r: IptRule) => boolean): string[][] {
  const cmds: string[][] = [];
  const perPodChains = new Set<string>();
  for (const rule of table.rules) {
    if (!match(rule)) continue;
    cmds.push(['-t', 'nat', '-D', rule.chain, ...rule.args]);
    const target = argAfter(rule.args, '-j');
    if (target && target.startsWith('CNI-') && !SHARED_HOSTPORT_CHAINS.includes(target)) perPodChains.add(target);
  }
  for (const chain of perPodChains) {
    if (table.chains.has(chain)) cmds.push(['-t', 'nat', '-F', chain], ['-t', 'nat', '-X', chain]);
  }
  return cmds;
}

/** The iptables commands (argument lists, `-t nat` included) that remove `network`'s leftovers. */
export function cleanupCommands(table: IptTable, network: string): string[][] {
  const cmds = perPodCommands(table, (r) => isNetworkRule(r, network));
  // The shared hostport chains go only when no network (ours or anyone's) maps a port any more.
  const ourDnat = new Set(table.rules.filter((r) => r.chain === 'CNI-HOSTPORT-DNAT' && isNetworkRule(r, network)));
  const othersUseHostPorts = table.rules.some((r) => r.chain === 'CNI-HOSTPORT-DNAT' && !ourDnat.has(r));
  if (table.chains.has('CNI-HOSTPORT-DNAT') && !othersUseHostPorts) {
    for (const rule of table.rules) {
      const target = argAfter(rule.args, '-j');
      if (target && SHARED_HOSTPORT_CHAINS.includes(target) && !SHARED_HOSTPORT_CHAINS.includes(rule.chain)) {
        cmds.push(['-t', 'nat', '-D', rule.chain, ...rule.args]);
      }
    }
    for (const chain of SHARED_HOSTPORT_CHAINS) {
      if (table.chains.has(chain)) cmds.push(['-t', 'nat', '-F', chain], ['-t', 'nat', '-X', chain]);
    }
  }
  return cmds;
}

/** The nat chain holding a network's node-wide masquerade rules (≤ 28 characters, as iptables allows). */
export function masqueradeChain(network: string): string {
  return `CNI-GANTRY-${createHash('sha256').update(network).digest('hex').slice(0, 12)}`;
}

/**
 * Makes sure traffic from the pod CIDR to anywhere else (multicast aside) is masqueraded, with
 * one chain per network instead of the bridge plugin's chain per pod (`ipMasq`), which cost
 * every pod start ~15 ms and every teardown ~40 ms of iptables runs. The rules carry the
 * network's CNI-style comment, so {@link cleanupNetworkRules} removes them with the rest.
 * Traffic to `clusterCidr` (the pods of other nodes, reached by a route through their node) is
 * not masqueraded either: a pod sees the real address of a pod that calls it from another node.
 */
export async function ensureMasquerade(network: string, podCidr: string, clusterCidr?: string): Promise<void> {
  const chain = masqueradeChain(network);
  const comment = ['-m', 'comment', '--comment', `name: "${network}" id: "node-masquerade"`];
  const jump = ['POSTROUTING', '-s', podCidr, ...comment, '-j', chain];
  const exempt = [podCidr, ...(clusterCidr && clusterCidr !== podCidr ? [clusterCidr] : [])];
  const accept = (cidr: string): string[] => [chain, '-d', cidr, ...comment, '-j', 'ACCEPT'];
  const present = async (rule: string[]): Promise<boolean> => (await execTool('iptables', ['-w', '-t', 'nat', '-C', ...rule])).code === 0;
  // An earlier run's chain counts only if it exempts the same networks.
  if ((await present(jump)) && (await Promise.all(exempt.map((c) => present(accept(c))))).every(Boolean)) return;
  await execTool('iptables', ['-w', '-t', 'nat', '-D', ...jump]);
  // The chain may be left from an earlier run: start it over.
  await execTool('iptables', ['-w', '-t', 'nat', '-N', chain]);
  await mustExec('iptables', ['-w', '-t', 'nat', '-F', chain]);
  for (const cidr of exempt) await mustExec('iptables', ['-w', '-t', 'nat', '-A', ...accept(cidr)]);
  await mustExec('iptables', ['-w', '-t', 'nat', '-A', chain, '!', '-d', '224.0.0.0/4', ...comment, '-j', 'MASQUERADE']);
  await mustExec('iptables', ['-w', '-t', 'nat', '-A', ...jump]);
}

/** Reads the nat table. */
export async function readNatTable(): Promise<IptTable> {
  return parseIptables(await mustExec('iptables', ['-w', '-t', 'nat', '-S']));
}

/** Runs iptables commands in order. @returns the ones that failed, with iptables' reason. */
async function runAll(cmds: string[][]): Promise<string[]> {
  const failed: string[] = [];
  for (const cmd of cmds) {
    const r = await execTool('iptables', ['-w', ...cmd]);
    if (r.code !== 0) failed.push(`iptables ${cmd.join(' ')}: ${r.stderr.trim()}`);
  }
  return failed;
}

/** Removes one pod's NAT rules and chains (what bridge DEL leaves when the namespace is already gone). */
export async function cleanupPodRules(network: string, containerId: string): Promise<string[]> {
  return runAll(podCleanupCommands(await readNatTable(), network, containerId));
}

/**
 * Removes `network`'s per-pod NAT chains and rules, and the shared CNI-HOSTPORT chains when no
 * network uses them any more. @returns the commands that failed (e.g. a rule removed meanwhile).
 */
export async function cleanupNetworkRules(network: string): Promise<string[]> {
  return runAll(cleanupCommands(await readNatTable(), network));
}
