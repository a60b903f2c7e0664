/**
 * The NetworkPolicy enforcer of one node: keeps the filter rules of {@link renderPolicyRules}
 * in step with the pods, namespaces and policies of the cluster (any change asks for a sync;
 * {@link ChainSync} writes only when the rules differ). Rules stay across a restart and go with
 * `gantry down` ({@link removePolicyRules}).
 */
import type { Logger } from '../../log.js';
import type { Namespace, NetworkPolicy, Pod } from '../../model/types.js';
import { chainPrefix, ChainSync, removeChains, type Jump } from '../proxy/netfilter.js';
import type { StoreServiceView } from '../proxy/source.js';
import { renderPolicyRules } from './rules.js';

/** The chain prefix of a node network's policy rules (7 characters). */
export function policyPrefix(networkName: string): string {
  return chainPrefix('GP', networkName);
}

function jumps(prefix: string): Jump[] {
  return [['filter', 'FORWARD', ['-m', 'comment', '--comment', `gantry network policy ${prefix}`, '-j', `${prefix}-FWD`]]];
}

/** Options of {@link PolicyEnforcer}. */
export interface PolicyEnforcerOptions {
  /** A view that follows Pod, Namespace and NetworkPolicy. */
  view: StoreServiceView;
  networkName: string;
  nodeName: string;
  logger: Logger;
}

/** Enforces NetworkPolicies for the pods of one node. */
export class PolicyEnforcer {
  readonly prefix: string;
  private readonly sync: ChainSync;
  private readonly view: StoreServiceView;

  constructor(opts: PolicyEnforcerOptions) {
    this.prefix = policyPrefix(opts.networkName);
    this.view = opts.view;
    this.sync = new ChainSync({
      prefix: this.prefix,
      tables: ['filter'],
      jumps: jumps(this.prefix),
      logger: opts.logger,
      render: (existing) => ({
        filter: renderPolicyRules(
          { pods: opts.view.list<Pod>('Pod'), namespaces: opts.view.list<Namespace>('Namespace'), policies: opts.view.list<NetworkPolicy>('NetworkPolicy'), nodeName: opts.nodeName, prefix: this.prefix },
          existing.filter ?? [],
        ),
      }),
    });
  }

  async start(): Promise<void> {
    this.view.onChange(() => this.sync.requestSync(), ['Pod', 'Namespace', 'NetworkPolicy']);
    await this.sync.start();
  }

  stop(): Promise<void> {
    return this.sync.stop();
  }
}

/** Removes a node network's policy rules (`gantry down`). */
export function removePolicyRules(networkName: string): Promise<void> {
  const prefix = policyPrefix(networkName);
  return removeChains(prefix, ['filter'], jumps(prefix));
}
