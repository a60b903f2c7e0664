/**
 * The node pod-CIDR allocator, after Kubernetes' node IPAM range allocator: every Node without
 * `spec.podCIDR` gets a free block (default /24) out of the cluster CIDR (default
 * {@link DEFAULT_CLUSTER_CIDR}), written to `spec.podCIDR` and `spec.podCIDRs`. Agents build
 * their pod bridge from it, and route to other nodes' pods by it.
 *
 * - A Node that already has a podCIDR (an agent started with `--pod-cidr`, or one allocated
 *   before a restart) keeps it; inside the cluster CIDR it is marked used.
 * - The lowest free block is chosen, so the first node of a cluster gets the cluster CIDR's
 *   first /24 (10.244.0.0/24, the single-node default of `gantry up`).
 * - A deleted Node frees its block: used blocks are computed from the Nodes in the cache (plus
 *   what this allocator has written that the cache may not show yet).
 * - When every block is taken the Node gets a Warning Event `CIDRNotAvailable` and a log line,
 *   and is retried every 30 s.
 *
 * Allocation runs one Node at a time so two Nodes never get one block.
 */
import { GantryError, isGantryError } from '../errors.js';
import { cidrContains, cidrSize, ipToNumber, numberToIp, parseCidr, type Ipv4Cidr } from '../model/cidr.js';
import { parseKey } from '../model/keys.js';
import type { Node } from '../model/types.js';
import type { CacheReader } from './cache.js';
import { copy } from './objects.js';
import type { Controller, ReconcileContext, Result } from './runtime.js';

/** The cluster's pod network when none is configured (Kubernetes' and flannel's usual choice). */
export const DEFAULT_CLUSTER_CIDR = '10.244.0.0/16';
/** Prefix length of each node's block (kube-controller-manager's `--node-cidr-mask-size`). */
export const DEFAULT_NODE_CIDR_MASK_SIZE = 24;
/** How long a Node waits before it is tried again when the cluster CIDR is full. */
export const CIDR_FULL_RETRY_MS = 30_000;

/** Options of {@link NodeIpamController}. */
export interface NodeIpamOptions {
  /** Default {@link DEFAULT_CLUSTER_CIDR}. */
  clusterCidr?: string;
  /** Default {@link DEFAULT_NODE_CIDR_MASK_SIZE}. */
  nodeCidrMaskSize?: number;
}

/** Gives Nodes pod CIDRs out of the cluster CIDR. */
export class NodeIpamController implements Controller {
  readonly name = 'node-ipam';
  readonly kinds = ['Node'] as const;
  private readonly cidr: Ipv4Cidr;
  private readonly cidrText: string;
  private readonly maskSize: number;
  /** Blocks written, by Node name, until the cache shows them. */
  private readonly written = new Map<string, string>();
  private chain: Promise<unknown> = Promise.resolve();

  constructor(opts: NodeIpamOptions = {}) {
    this.cidrText = opts.clusterCidr ?? DEFAULT_CLUSTER_CIDR;
    this.cidr = parseCidr(this.cidrText, 'cluster CIDR');
    this.maskSize = opts.nodeCidrMaskSize ?? DEFAULT_NODE_CIDR_MASK_SIZE;
    if (!Number.isInteger(this.maskSize) || this.maskSize < this.cidr.prefix || this.maskSize > 30) {
      throw new GantryError('InvalidArgument', `node CIDR mask size /${this.maskSize} does not fit the cluster CIDR ${this.cidrText}: it must be between /${this.cidr.prefix} and /30`);
    }
  }

  reconcile(key: string, ctx: ReconcileContext): Promise<Result | void> {
    const run = this.chain.then(() => this.allocate(key, ctx));
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async allocate(key: string, ctx: ReconcileContext): Promise<Result | void> {
    const name = parseKey(key).name;
    const node = ctx.cache.get<Node>({ kind: 'Node', name });
    if (!node) {
      this.written.delete(name);
      return;
    }
    if (node.spec.podCIDR) {
      this.written.delete(name);
      return;
    }
    if (this.written.has(name)) return; // the cache has not caught up with our write yet
    const block = this.freeBlock(name, ctx.cache);
    if (!block) {
      const message = `cannot give Node ${name} a pod CIDR: every /${this.maskSize} of the cluster CIDR ${this.cidrText} is in use (delete a node or start gantry with a larger --cluster-cidr)`;
      ctx.log.warn({ node: name, clusterCidr: this.cidrText }, message);
      ctx.events.emit(node, 'Warning', 'CIDRNotAvailable', message);
      return { requeueAfter: CIDR_FULL_RETRY_MS };
    }
    const next = copy(node);
    next.spec.podCIDR = block;
    next.spec.podCIDRs = [block];
    this.written.set(name, block);
    try {
      await ctx.store.update(next, { origin: { ...ctx.origin, reason: `pod CIDR ${block} for Node ${name}` } });
      ctx.events.emit(node, 'Normal', 'CIDRAssigned', `Assigned pod CIDR ${block}`);
    } catch (err) {
      this.written.delete(name);
      // Changed or deleted meanwhile: its event queues the Node again.
      if (isGantryError(err, 'Conflict') || isGantryError(err, 'NotFound')) return;
      throw err;
    }
  }

  /** The lowest block no other Node has, or undefined when the cluster CIDR is full. */
  private freeBlock(self: string, cache: CacheReader): string | undefined {
    const used = new Set<number>();
    const mark = (text: string | undefined): void => {
      if (!text) return;
      const ip = text.split('/')[0]!;
      if (cidrContains(this.cidr, ip)) used.add(blockIndex(this.cidr, ip, this.maskSize));
    };
    for (const n of cache.list<Node>('Node')) if (n.metadata.name !== self) for (const c of n.spec.podCIDRs ?? [n.spec.podCIDR]) mark(c);
    for (const [n, c] of this.written) if (n !== self) mark(c);
    const blockSize = 2 ** (32 - this.maskSize);
    const count = cidrSize(this.cidr) / blockSize;
    for (let i = 0; i < count; i++) if (!used.has(i)) return `${numberToIp(this.cidr.network + i * blockSize)}/${this.maskSize}`;
    return undefined;
  }
}

function blockIndex(cidr: Ipv4Cidr, ip: string, maskSize: number): number {
  return Math.floor((ipToNumber(ip) - cidr.network) / 2 ** (32 - maskSize));
}
