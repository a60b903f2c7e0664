/**
 * The Service address allocator: what Kubernetes' API server does when a Service is created,
 * done here as a controller because Services come from the repo through the store.
 *
 * - `spec.clusterIP` (and `clusterIPs`) for every Service but ExternalName and headless
 *   (`clusterIP: None`), from the service CIDR (default 10.96.0.0/16). The network and
 *   broadcast addresses, the first host (only the `kubernetes` Service in `default` has it, as on
 *   Kubernetes) and the tenth (the cluster DNS address, `clusterDnsIp`) are never handed out.
 * - `ports[].nodePort` for NodePort and LoadBalancer Services, from 30000–32767.
 *
 * An address asked for in the manifest is honoured when it is in range and free; otherwise the
 * Service gets none and the reconcile fails as stalled with an error naming the field, until
 * the repo changes. A free address is chosen by hashing the Service's namespace/name into the
 * range and probing onwards, so a Service gets the same address again if the store is ever
 * rebuilt. Allocation runs one Service at a time, against the cache plus the addresses this
 * allocator has written but the cache may not show yet, so two Services never get one address.
 * The store keeps what was allocated: a restart changes nothing.
 *
 * gantry's service network is IPv4 only: every Service is single-stack IPv4. One that asks for
 * `ipFamilyPolicy: PreferDualStack` gets an Event saying so when its address is allocated
 * (RequireDualStack never gets here: validation refuses it).
 */
import { createHash } from 'node:crypto';
import { GantryError, isGantryError } from '../errors.js';
import { cidrContains, cidrSize, DEFAULT_SERVICE_CIDR, ipToNumber, isIpv4, numberToIp, parseCidr, type Ipv4Cidr } from '../model/cidr.js';
import { parseKey } from '../model/keys.js';
import type { Service } from '../model/types.js';
import type { CacheReader } from './cache.js';
import { copy } from './objects.js';
import type { Controller, ReconcileContext } from './runtime.js';

/** The key of the `kubernetes` Service, the one Service with the CIDR's first host. */
const API_SERVICE_KEY = 'Service/default/kubernetes';

/** The NodePort range, as the API server's default. */
export const NODE_PORT_MIN = 30000;
export const NODE_PORT_MAX = 32767;

/** Options of {@link ServiceIpAllocator}. */
export interface ServiceIpAllocatorOptions {
  /** Default {@link DEFAULT_SERVICE_CIDR}. */
  serviceCidr?: string;
}

/** True when the Service should have a cluster IP. */
function wantsClusterIp(svc: Service): boolean {
  return svc.spec.type !== 'ExternalName' && svc.spec.clusterIP !== 'None';
}

function wantsNodePorts(svc: Service): boolean {
  return svc.spec.type === 'NodePort' || svc.spec.type === 'LoadBalancer';
}

/** Allocates cluster IPs and node ports. */
export class ServiceIpAllocator implements Controller {
  readonly name = 'service-ip';
  readonly kinds = ['Service'] as const;
  private readonly cidr: Ipv4Cidr;
  private readonly cidrText: string;
  /** Reserved: network, first host (kubernetes), tenth (DNS), broadcast. */
  private readonly reserved: Set<number>;
  /** What this allocator wrote, by Service key, until the cache shows it. */
  private readonly written = new Map<string, { ip?: string; nodePorts: number[] }>();
  /** Allocation runs one Service at a time. */
  private chain: Promise<unknown> = Promise.resolve();

  constructor(opts: ServiceIpAllocatorOptions = {}) {
    this.cidrText = opts.serviceCidr ?? DEFAULT_SERVICE_CIDR;
    this.cidr = parseCidr(this.cidrText, 'service CIDR');
    const last = this.cidr.network + cidrSize(this.cidr) - 1;
    this.reserved = new Set([this.cidr.network, this.cidr.network + 1, this.cidr.network + 10, last]);
  }

  reconcile(key: string, ctx: ReconcileContext): Promise<void> {
    const run = this.chain.then(() => this.allocate(key, ctx));
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async allocate(key: string, ctx: ReconcileContext): Promise<void> {
    const svc = ctx.cache.get<Service>(parseKey(key));
    if (!svc) {
      this.written.delete(key);
      return;
    }
    const pending = this.written.get(key);
    if (pending && (pending.ip === undefined || svc.spec.clusterIP === pending.ip)) this.written.delete(key);
    const object = `Service/${svc.metadata.namespace}/${svc.metadata.name}`;
    const next = copy(svc);
    let changed = false;

    if (wantsClusterIp(svc)) {
      const asked = svc.spec.clusterIP;
      if (asked) {
        this.checkAsked(asked, key, ctx.cache, object);
        if (!sameList(svc.spec.clusterIPs, [asked])) {
          next.spec.clusterIPs = [asked];
          changed = true;
        }
      } else {
        const ip = this.freeIp(key, ctx.cache);
        next.spec.clusterIP = ip;
        next.spec.clusterIPs = [ip];
        changed = true;
      }
    } else if (svc.spec.clusterIP === 'None' && !sameList(svc.spec.clusterIPs, ['None'])) {
      next.spec.clusterIPs = ['None'];
      changed = true;
    }

    const nodePorts: number[] = [];
    if (wantsNodePorts(svc)) {
      const used = this.usedNodePorts(key, ctx.cache);
      (next.spec.ports ?? []).forEach((port, i) => {
        if (port.nodePort !== undefined) {
          const field = `spec.ports[${i}].nodePort`;
          if (port.nodePort < NODE_PORT_MIN || port.nodePort > NODE_PORT_MAX) {
            throw new GantryError('InvalidArgument', `cannot use nodePort ${port.nodePort} for ${object}: it is outside the node port range ${NODE_PORT_MIN}-${NODE_PORT_MAX}`, { object, field });
          }
          const owner = used.get(port.nodePort);
          if (owner) throw new GantryError('InvalidArgument', `cannot use nodePort ${port.nodePort} for ${object}: ${owner} has it`, { object, field });
          used.set(port.nodePort, object);
          nodePorts.push(port.nodePort);
          return;
        }
        const p = this.freeNodePort(`${key}#${i}`, used);
        used.set(p, object);
        port.nodePort = p;
        nodePorts.push(p);
        changed = true;
      });
    }
    if (!changed) return;
    this.written.set(key, { ip: next.spec.clusterIP && next.spec.clusterIP !== 'None' ? next.spec.clusterIP : undefined, nodePorts });
    try {
      await ctx.store.update(next, { origin: { ...ctx.origin, reason: `addresses of Service ${svc.metadata.name}` } });
      if (svc.spec.ipFamilyPolicy === 'PreferDualStack' && !svc.spec.clusterIP && next.spec.clusterIP && next.spec.clusterIP !== 'None') {
        ctx.events.emit(svc, 'Normal', 'SingleStack', `ipFamilyPolicy PreferDualStack: gantry's service network is IPv4 only, so the Service is single-stack IPv4 (${next.spec.clusterIP})`);
      }
    } catch (err) {
      this.written.delete(key);
      // Changed meanwhile: its event queues the Service again.
      if (isGantryError(err, 'Conflict') || isGantryError(err, 'NotFound')) return;
      throw err;
    }
  }

  /** Every cluster IP in use, by address, with its Service's key (this one's excluded). */
  private usedIps(self: string, cache: CacheReader): Map<string, string> {
    const used = new Map<string, string>();
    for (const s of cache.list<Service>('Service')) {
      const k = `Service/${s.metadata.namespace}/${s.metadata.name}`;
      if (k !== self && s.spec.clusterIP && s.spec.clusterIP !== 'None') used.set(s.spec.clusterIP, k);
    }
    for (const [k, w] of this.written) if (k !== self && w.ip) used.set(w.ip, k);
    return used;
  }

  private checkAsked(asked: string, key: string, cache: CacheReader, object: string): void {
    const field = 'spec.clusterIP';
    if (!isIpv4(asked)) throw new GantryError('InvalidArgument', `cannot use clusterIP "${asked}" for ${object}: it is not an IPv4 address or "None"`, { object, field });
    const api = key === API_SERVICE_KEY && ipToNumber(asked) === this.cidr.network + 1;
    if (!cidrContains(this.cidr, asked) || (this.reserved.has(ipToNumber(asked)) && !api)) {
      throw new GantryError('InvalidArgument', `cannot use clusterIP ${asked} for ${object}: it is outside the service CIDR ${this.cidrText} or reserved`, { object, field });
    }
    const owner = this.usedIps(key, cache).get(asked);
    if (owner) throw new GantryError('InvalidArgument', `cannot use clusterIP ${asked} for ${object}: ${owner} has it`, { object, field });
  }

  private freeIp(key: string, cache: CacheReader): string {
    const used = this.usedIps(key, cache);
    const size = cidrSize(this.cidr);
    const start = hash(key) % size;
    for (let i = 0; i < size; i++) {
      const n = this.cidr.network + ((start + i) % size);
      if (this.reserved.has(n)) continue;
      const ip = numberToIp(n);
      if (!used.has(ip)) return ip;
    }
    throw new GantryError('Unschedulable', `cannot give ${key} a cluster IP: every address of the service CIDR ${this.cidrText} is in use`, { retryAfterMs: 30_000 });
  }

  private usedNodePorts(self: string, cache: CacheReader): Map<number, string> {
    const used = new Map<number, string>();
    for (const s of cache.list<Service>('Service')) {
      const k = `Service/${s.metadata.namespace}/${s.metadata.name}`;
      if (k === self || !wantsNodePorts(s)) continue;
      for (const p of s.spec.ports ?? []) if (p.nodePort !== undefined) used.set(p.nodePort, k);
    }
    for (const [k, w] of this.written) if (k !== self) for (const p of w.nodePorts) used.set(p, k);
    return used;
  }

  private freeNodePort(seed: string, used: Map<number, string>): number {
    const size = NODE_PORT_MAX - NODE_PORT_MIN + 1;
    const start = hash(seed) % size;
    for (let i = 0; i < size; i++) {
      const p = NODE_PORT_MIN + ((start + i) % size);
      if (!used.has(p)) return p;
    }
    throw new GantryError('Unschedulable', `cannot give ${seed.split('#')[0]} a node port: all of ${NODE_PORT_MIN}-${NODE_PORT_MAX} are in use`, { retryAfterMs: 30_000 });
  }
}

function hash(text: string): number {
  return createHash('sha256').update(text).digest().readUInt32BE(0);
}

function sameList(a: readonly string[] | undefined, b: readonly string[]): boolean {
  return !!a && a.length === b.length && a.every((x, i) => x === b[i]);
}
