/**
 * What the API's authorizer reads, kept in memory: the RBAC objects and ServiceAccounts of the
 * cluster, followed by one store watch (the controllers' informer-like {@link Cache}), so a
 * request costs no store read for its authorization. Pods a token is bound to are read from the
 * store itself: a deleted pod must refuse its token at once, whatever the watch's lag.
 */
import { Cache } from '../../controllers/cache.js';
import type { Logger } from '../../log.js';
import type { ClusterRole, ClusterRoleBinding, Pod, Role, RoleBinding, ServiceAccount } from '../../model/types.js';
import type { Store } from '../../store/types.js';
import type { RbacPolicySource } from './rbac.js';
import type { BoundObjectLookup } from './sa-tokens.js';

/** The kinds the authorizer follows. */
export const RBAC_CACHE_KINDS = ['Role', 'ClusterRole', 'RoleBinding', 'ClusterRoleBinding', 'ServiceAccount'] as const;

/** RBAC objects and ServiceAccounts in memory, pods from the store. */
export class RbacCache implements RbacPolicySource, BoundObjectLookup {
  private readonly cache: Cache;

  constructor(private readonly store: Store, opts: { log?: Logger } = {}) {
    this.cache = new Cache(store, RBAC_CACHE_KINDS, { ...(opts.log ? { log: opts.log } : {}) });
  }

  /** Lists, then follows the store until `signal` aborts. */
  start(signal: AbortSignal): Promise<void> {
    return this.cache.start(signal);
  }

  clusterRoleBindings(): readonly ClusterRoleBinding[] {
    return this.cache.list<ClusterRoleBinding>('ClusterRoleBinding');
  }

  roleBindings(namespace: string): readonly RoleBinding[] {
    return this.cache.list<RoleBinding>('RoleBinding', { namespace });
  }

  clusterRole(name: string): ClusterRole | undefined {
    return this.cache.get<ClusterRole>({ kind: 'ClusterRole', name });
  }

  role(namespace: string, name: string): Role | undefined {
    return this.cache.get<Role>({ kind: 'Role', namespace, name });
  }

  async serviceAccount(namespace: string, name: string): Promise<ServiceAccount | undefined> {
    // An account made a moment ago may not have reached the watch yet.
    return this.cache.get<ServiceAccount>({ kind: 'ServiceAccount', namespace, name }) ?? this.store.get<ServiceAccount>({ kind: 'ServiceAccount', namespace, name });
  }

  pod(namespace: string, name: string): Promise<Pod | undefined> {
    return this.store.get<Pod>({ kind: 'Pod', namespace, name });
  }
}
