/**
 * Cluster DNS answers (pure), following the Kubernetes DNS specification for Services:
 *
 * - `<svc>.<ns>.svc.<domain>` A: the cluster IP; for a headless Service the ready endpoint
 *   addresses; an ExternalName Service answers with a CNAME to its `externalName`.
 * - `<hostname>.<svc>.<ns>.svc.<domain>` A: the endpoint of a headless Service that carries
 *   that hostname (StatefulSet pods: hostname = pod name, subdomain = Service).
 * - `_<port>._<proto>.<svc>.<ns>.svc.<domain>` SRV for each named port: the Service's name as
 *   target, or one record per endpoint (its hostname, else its dashed address) when headless.
 * - a name of the cluster domain that is none of these: NXDOMAIN; a name that exists asked for
 *   another type (AAAA: gantry's service network is IPv4): an empty NOERROR answer.
 *
 * Names outside the cluster domain are not answered here ({@link lookup} returns `forward`).
 */
import type { Endpoints, Service } from '../../model/types.js';
import type { ServiceView } from '../proxy/source.js';

/** TTL of every answer, as CoreDNS' kubernetes plugin default. */
export const CLUSTER_TTL = 5;

/** One answer record. */
export type DnsAnswer =
  | { type: 'A'; name: string; ttl: number; data: string }
  | { type: 'CNAME'; name: string; ttl: number; data: string }
  | { type: 'SRV'; name: string; ttl: number; data: { priority: number; weight: number; port: number; target: string } };

/** What {@link lookup} found. */
export type LookupResult = { rcode: 'NOERROR' | 'NXDOMAIN'; answers: DnsAnswer[] } | { forward: true };

function readyAddresses(ep: Endpoints | undefined): { ip: string; hostname?: string }[] {
  const seen = new Map<string, { ip: string; hostname?: string }>();
  for (const s of ep?.subsets ?? []) for (const a of s.addresses ?? []) if (!seen.has(a.ip)) seen.set(a.ip, a);
  return [...seen.values()].sort((a, b) => (a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : 0));
}

const isHeadless = (svc: Service): boolean => svc.spec.clusterIP === 'None';

/** Answers `qtype` for `qname` (lower-case, no trailing dot) from the view. */
export function lookup(view: ServiceView, qname: string, qtype: string, domain = 'cluster.local'): LookupResult {
  const name = qname.toLowerCase().replace(/\.$/, '');
  if (name !== domain && !name.endsWith(`.${domain}`)) return { forward: true };
  const labels = name === domain ? [] : name.slice(0, -domain.length - 1).split('.');
  const nx: LookupResult = { rcode: 'NXDOMAIN', answers: [] };
  const empty: LookupResult = { rcode: 'NOERROR', answers: [] };
  // [..., svc, ns, 'svc']
  if (labels.length === 0) return empty;
  if (labels[labels.length - 1] !== 'svc') return nx;
  const rest = labels.slice(0, -1);
  if (rest.length === 1) return empty; // <ns>.svc.<domain>
  if (rest.length === 0) return empty; // svc.<domain>
  const ns = rest[rest.length - 1]!;
  const svcName = rest[rest.length - 2]!;
  const svc = view.service(ns, svcName);
  if (!svc) return nx;
  const svcFqdn = `${svcName}.${ns}.svc.${domain}`;
  const ep = view.endpointsOf(ns, svcName);
  const prefix = rest.slice(0, -2);

  if (prefix.length === 0) {
    if (svc.spec.type === 'ExternalName') {
      if (!svc.spec.externalName) return empty;
      return { rcode: 'NOERROR', answers: [{ type: 'CNAME', name, ttl: CLUSTER_TTL, data: svc.spec.externalName.replace(/\.$/, '') }] };
    }
    if (qtype !== 'A' && qtype !== 'ANY') return empty;
    if (isHeadless(svc)) return { rcode: 'NOERROR', answers: readyAddresses(ep).map((a) => ({ type: 'A' as const, name, ttl: CLUSTER_TTL, data: a.ip })) };
    return svc.spec.clusterIP ? { rcode: 'NOERROR', answers: [{ type: 'A', name, ttl: CLUSTER_TTL, data: svc.spec.clusterIP }] } : empty;
  }

  if (prefix.length === 1 && isHeadless(svc)) {
    // <hostname>.<svc>.<ns>.svc: an endpoint's hostname, or its dashed address.
    const hit = readyAddresses(ep).filter((a) => a.hostname === prefix[0] || a.ip.replace(/\./g, '-') === prefix[0]);
    if (hit.length === 0) return nx;
    if (qtype !== 'A' && qtype !== 'ANY') return empty;
    return { rcode: 'NOERROR', answers: hit.map((a) => ({ type: 'A' as const, name, ttl: CLUSTER_TTL, data: a.ip })) };
  }

  if (prefix.length === 2 && prefix[0]!.startsWith('_') && prefix[1]!.startsWith('_')) {
    const portName = prefix[0]!.slice(1);
    const proto = prefix[1]!.slice(1).toUpperCase();
    const port = (svc.spec.ports ?? []).find((p) => p.name === portName && (p.protocol ?? 'TCP') === proto);
    if (!port) return nx;
    if (qtype !== 'SRV' && qtype !== 'ANY') return empty;
    if (!isHeadless(svc)) {
      return { rcode: 'NOERROR', answers: [{ type: 'SRV', name, ttl: CLUSTER_TTL, data: { priority: 0, weight: 100, port: port.port, target: svcFqdn } }] };
    }
    const answers: DnsAnswer[] = [];
    for (const s of ep?.subsets ?? []) {
      const p = (s.ports ?? []).find((x) => x.name === portName && (x.protocol ?? 'TCP') === proto);
      if (!p) continue;
      const addrs = s.addresses ?? [];
      for (const a of addrs) {
        const host = a.hostname ?? a.ip.replace(/\./g, '-');
        answers.push({ type: 'SRV', name, ttl: CLUSTER_TTL, data: { priority: 0, weight: Math.max(1, Math.floor(100 / addrs.length)), port: p.port, target: `${host}.${svcFqdn}` } });
      }
    }
    return { rcode: 'NOERROR', answers };
  }
  return nx;
}
