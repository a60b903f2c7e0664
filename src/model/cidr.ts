/**
 * IPv4 CIDR arithmetic for the pod network and the service network (pure).
 */
import { GantryError } from '../errors.js';

/** A parsed IPv4 network. */
export interface Ipv4Cidr {
  /** Network address as an unsigned 32-bit number. */
  network: number;
  prefix: number;
}

/**
 * Parses `a.b.c.d/n`; the host bits must be zero. `what` names the network in errors
 * (default "pod CIDR").
 */
export function parseCidr(text: string, what = 'pod CIDR'): Ipv4Cidr {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(text.trim());
  const octets = m ? m.slice(1, 5).map(Number) : [];
  const prefix = m ? Number(m[5]) : NaN;
  if (!m || octets.some((o) => o > 255) || prefix > 30 || prefix < 8) {
    throw new GantryError('InvalidArgument', `${what} "${text}" is not an IPv4 network a.b.c.d/n with 8 ≤ n ≤ 30`);
  }
  const addr = ipToNumber(octets.join('.'));
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  if ((addr & mask) >>> 0 !== addr) {
    throw new GantryError('InvalidArgument', `${what} "${text}" has host bits set (network is ${numberToIp((addr & mask) >>> 0)}/${prefix})`);
  }
  return { network: addr, prefix };
}

/** `a.b.c.d` → number. */
export function ipToNumber(ip: string): number {
  return ip.split('.').reduce((n, o) => ((n << 8) >>> 0) + Number(o), 0) >>> 0;
}

/** number → `a.b.c.d`. */
export function numberToIp(n: number): string {
  return [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.');
}

/** True when `ip` lies inside `cidr`. */
export function cidrContains(cidr: Ipv4Cidr, ip: string): boolean {
  const mask = (0xffffffff << (32 - cidr.prefix)) >>> 0;
  return ((ipToNumber(ip) & mask) >>> 0) === cidr.network;
}

/** The bridge's gateway address host-local assigns by default: the network's first host. */
export function gatewayOf(cidr: Ipv4Cidr): string {
  return numberToIp(cidr.network + 1);
}

/** The number of addresses in the network (network and broadcast addresses included). */
export function cidrSize(cidr: Ipv4Cidr): number {
  return 2 ** (32 - cidr.prefix);
}

/** True when `text` is a dotted-quad IPv4 address. */
export function isIpv4(text: string): boolean {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  return !!m && m.slice(1).every((o) => Number(o) <= 255 && (o === '0' || !o.startsWith('0')));
}

/** The default service CIDR, as kubeadm's. */
export const DEFAULT_SERVICE_CIDR = '10.96.0.0/16';

/** The cluster DNS server's address in a service CIDR: its tenth address (kubeadm's choice). */
export function clusterDnsIp(serviceCidr: string): string {
  return numberToIp(parseCidr(serviceCidr, 'service CIDR').network + 10);
}

/** The `kubernetes` Service's address in a service CIDR: its first host, as the API server picks it. */
export function apiServiceIp(serviceCidr: string): string {
  return numberToIp(parseCidr(serviceCidr, 'service CIDR').network + 1);
}

/** The netmask of a prefix length as a number (0 for /0: a 32-bit shift would be no shift). */
function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/**
 * Parses an address block as NetworkPolicy `ipBlock` takes it: `a.b.c.d/n` with 0 ≤ n ≤ 32,
 * host bits allowed (as the API server's parser) and dropped. Undefined when it is not one.
 */
export function parseIpBlock(text: string): Ipv4Cidr | undefined {
  const m = /^(\d+\.\d+\.\d+\.\d+)\/(\d{1,2})$/.exec(text);
  if (!m || !isIpv4(m[1]!) || Number(m[2]) > 32) return undefined;
  const prefix = Number(m[2]);
  return { network: (ipToNumber(m[1]!) & maskOf(prefix)) >>> 0, prefix };
}

/** True when `inner` is a strict subset of `outer`. */
export function strictlyWithin(inner: Ipv4Cidr, outer: Ipv4Cidr): boolean {
  return inner.prefix > outer.prefix && ((inner.network & maskOf(outer.prefix)) >>> 0) === outer.network;
}
