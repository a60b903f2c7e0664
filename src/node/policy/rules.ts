/**
 * NetworkPolicy enforcement rules for one node (pure): filter-table chains that let a pod of
 * this node receive (Ingress) or send (Egress) only what the policies selecting it allow, as
 * networking.k8s.io/v1 defines it:
 *
 * - a pod no policy of a type selects is not isolated for that type (everything allowed);
 * - a selected pod is isolated: a connection is allowed when any rule of any selecting policy
 *   allows it (policies are additive); replies of allowed connections always pass;
 * - a rule allows its peers (absent or empty `from`/`to`: every source or destination) on its
 *   ports (absent or empty: every port). Peers are pods by `podSelector` in the policy's
 *   namespace, by `namespaceSelector` (namespaces carry `kubernetes.io/metadata.name`), both
 *   together, or an `ipBlock` with `except`s. Ports are numbers, ranges (`endPort`) or names of
 *   container ports of the pod that receives.
 * - `policyTypes` defaults to Ingress, plus Egress when the policy has egress rules.
 *
 * Layout (prefix `<p>`, all in filter, entered from FORWARD, the path of every packet between
 * pods, also on one bridge with bridge-nf-call-iptables): `<p>-FWD` sends a packet to the
 * chain of its destination pod (`<p>-I…`) and of its source pod (`<p>-O…`). A pod chain lets
 * replies through, marks what a rule allows (ipBlocks with exceptions go through a chain of
 * their own that returns early for an exception), drops what is not marked, and clears the mark.
 * Allowed traffic returns to FORWARD: the policy only ever takes away.
 *
 * Not policed: traffic between a pod and its own node (probes, the cluster DNS, node ports on
 * the node's address), as most CNI plugins leave it.
 */
import { matchesSelector } from '../../model/selectors.js';
import type { Namespace, NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort, Pod } from '../../model/types.js';
import { chainHash, restoreInput } from '../proxy/netfilter.js';

/** The mark bit "a rule allows this packet" (kept clear of kube-proxy's 0x4000 and 0x8000). */
export const ALLOW_MARK = '0x10000';

/** What {@link renderPolicyRules} works from. */
export interface PolicyInput {
  pods: readonly Pod[];
  namespaces: readonly Namespace[];
  policies: readonly NetworkPolicy[];
  nodeName: string;
  prefix: string;
}

/** The policy types a policy applies to. */
export function policyTypes(np: NetworkPolicy): ('Ingress' | 'Egress')[] {
  return np.spec.policyTypes ?? ['Ingress', ...(np.spec.egress !== undefined ? (['Egress'] as const) : [])];
}

/** Pods that have an address on the pod network and are not finished. */
function networked(p: Pod): boolean {
  return !!p.status?.podIP && !p.spec.hostNetwork && p.status.phase !== 'Succeeded' && p.status.phase !== 'Failed';
}

type Source = { cidr: string; except?: string[]; pod?: Pod };

/** The addresses a peer stands for. */
function peerSources(peer: NetworkPolicyPeer, policyNs: string, input: PolicyInput, nsLabels: (ns: string) => Record<string, string>): Source[] {
  if (peer.ipBlock) return [{ cidr: peer.ipBlock.cidr, ...(peer.ipBlock.except?.length ? { except: peer.ipBlock.except } : {}) }];
  return input.pods
    .filter(networked)
    .filter((p) => {
      const ns = p.metadata.namespace ?? 'default';
      if (peer.namespaceSelector ? !matchesSelector(peer.namespaceSelector, nsLabels(ns)) : ns !== policyNs) return false;
      return peer.podSelector ? matchesSelector(peer.podSelector, p.metadata.labels) : true;
    })
    .map((p) => ({ cidr: `${p.status!.podIP}/32`, pod: p }));
}

/** `-p … --dport …` arguments of a policy port, for traffic to `target` (named ports), or undefined when it names no port of it. */
function portArgs(port: NetworkPolicyPort, target: Pod | undefined): string[] | undefined {
  const proto = (port.protocol ?? 'TCP').toLowerCase();
  const base = ['-p', proto, '-m', proto];
  if (port.port === undefined) return ['-p', proto];
  if (typeof port.port === 'number' || /^\d+$/.test(port.port)) {
    const n = Number(port.port);
    return [...base, '--dport', port.endPort ? `${n}:${port.endPort}` : String(n)];
  }
  const named = target?.spec.containers.flatMap((c) => c.ports ?? []).find((p) => p.name === port.port && (p.protocol ?? 'TCP').toLowerCase() === proto);
  return named ? [...base, '--dport', String(named.containerPort)] : undefined;
}

/** The filter table for this node's pods. */
export function renderPolicyRules(input: PolicyInput, existing: readonly string[] = []): { text: string; chains: string[] } {
  const fwd = `${input.prefix}-FWD`;
  const chains = [fwd];
  const rules: string[][] = [];
  const labelsOf = new Map(input.namespaces.map((n) => [n.metadata.name, n.metadata.labels ?? {}]));
  const nsLabels = (ns: string) => ({ ...(labelsOf.get(ns) ?? {}), 'kubernetes.io/metadata.name': ns });
  const mark = ['-j', 'MARK', '--or-mark', ALLOW_MARK];

  const local = input.pods.filter((p) => p.spec.nodeName === input.nodeName && networked(p)).sort((a, b) => (a.metadata.uid ?? a.metadata.name).localeCompare(b.metadata.uid ?? b.metadata.name));
  for (const pod of local) {
    const ns = pod.metadata.namespace ?? 'default';
    const selecting = input.policies
      .filter((np) => (np.metadata.namespace ?? 'default') === ns && matchesSelector(np.spec.podSelector, pod.metadata.labels))
      .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
    const ip = pod.status!.podIP!;
    for (const dir of ['Ingress', 'Egress'] as const) {
      const applying = selecting.filter((np) => policyTypes(np).includes(dir));
      if (applying.length === 0) continue;
      const chain = `${input.prefix}-${dir === 'Ingress' ? 'I' : 'O'}${chainHash(`${pod.metadata.uid ?? pod.metadata.name}`)}`;
      chains.push(chain);
      rules.push(['-A', fwd, dir === 'Ingress' ? '-d' : '-s', `${ip}/32`, '-m', 'comment', '--comment', `"${ns}/${pod.metadata.name} ${dir.toLowerCase()}"`, '-j', chain]);
      rules.push(['-A', chain, '-m', 'conntrack', '--ctstate', 'ESTABLISHED,RELATED', '-j', 'RETURN']);
      const peerFlag = dir === 'Ingress' ? '-s' : '-d';
      for (const np of applying) {
        const list = dir === 'Ingress' ? (np.spec.ingress ?? []).map((r) => ({ peers: r.from, ports: r.ports })) : (np.spec.egress ?? []).map((r) => ({ peers: r.to, ports: r.ports }));
        list.forEach((r, i) => {
          const sources: Source[] = r.peers && r.peers.length > 0 ? r.peers.flatMap((peer) => peerSources(peer, ns, input, nsLabels)) : [{ cidr: '0.0.0.0/0' }];
          for (const src of sources) {
            // The pod that receives names the port: this one for ingress, the peer for egress.
            const receiver = dir === 'Ingress' ? pod : src.pod;
            const portSets = r.ports && r.ports.length > 0 ? r.ports.map((p) => portArgs(p, receiver)).filter((a): a is string[] => a !== undefined) : [[]];
            for (const ports of portSets) {
              const match = [...(src.cidr === '0.0.0.0/0' ? [] : [peerFlag, src.cidr]), ...ports];
              if (!src.except) {
                rules.push(['-A', chain, ...match, ...mark]);
                continue;
              }
              const block = `${input.prefix}-B${chainHash(`${chain}|${np.metadata.name}|${i}|${src.cidr}|${ports.join(' ')}`)}`;
              if (!chains.includes(block)) {
                chains.push(block);
                for (const ex of src.except) rules.push(['-A', block, peerFlag, ex, '-j', 'RETURN']);
                rules.push(['-A', block, ...mark]);
              }
              rules.push(['-A', chain, ...match, '-j', block]);
            }
          }
        });
      }
      rules.push(['-A', chain, '-m', 'mark', '!', '--mark', `${ALLOW_MARK}/${ALLOW_MARK}`, '-m', 'comment', '--comment', `"${ns}/${pod.metadata.name}: no NetworkPolicy allows it"`, '-j', 'DROP']);
      rules.push(['-A', chain, '-j', 'MARK', '--and-mark', `0x${(~0x10000 >>> 0).toString(16)}`]);
    }
  }
  return { text: restoreInput('filter', chains, rules, existing), chains };
}
