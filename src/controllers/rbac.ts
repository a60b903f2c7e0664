/**
 * Two RBAC controllers, as Kubernetes runs them:
 *
 * - {@link BootstrapRbacController} keeps the bootstrap ClusterRoles and ClusterRoleBindings
 *   (src/model/bootstrap-policy.ts): made when missing, restored when changed — unless the object
 *   says `rbac.authorization.kubernetes.io/autoupdate: "false"` or the repo declares it (then the
 *   repo's version stands, as an administrator's edit does on Kubernetes).
 * - {@link ClusterRoleAggregationController} fills the rules of every ClusterRole with an
 *   `aggregationRule`: the union of the rules of the ClusterRoles its selectors match, in name
 *   order, each rule once. That is how `view`, `edit` and `admin` get their rules, and how a
 *   repo's ClusterRole labelled `rbac.authorization.k8s.io/aggregate-to-view: "true"` extends
 *   them.
 */
import { isGantryError } from '../errors.js';
import { isManaged } from '../model/annotations.js';
import { AUTOUPDATE_ANNOTATION, BOOTSTRAP_CLUSTER_ROLE_BINDINGS, BOOTSTRAP_CLUSTER_ROLES } from '../model/bootstrap-policy.js';
import { canonicalJson } from '../model/json.js';
import { objectKey, parseKey } from '../model/keys.js';
import { matchesSelector } from '../model/selectors.js';
import type { ClusterRole, ClusterRoleBinding, KubeObject, PolicyRule } from '../model/types.js';
import type { CacheReader } from './cache.js';
import { copy, sameJson } from './objects.js';
import type { Controller, ReconcileContext, Watch } from './runtime.js';

const bootstrap = new Map<string, ClusterRole | ClusterRoleBinding>(
  [...BOOTSTRAP_CLUSTER_ROLES, ...BOOTSTRAP_CLUSTER_ROLE_BINDINGS].map((o) => [objectKey(o), o]),
);

/** Keeps the bootstrap ClusterRoles and ClusterRoleBindings. */
export class BootstrapRbacController implements Controller {
  readonly name = 'rbac-bootstrap';
  readonly kinds = [] as const;
  readonly watches: readonly Watch[] = ['ClusterRole', 'ClusterRoleBinding'].map((kind) => ({ kind, keys: (ev) => (bootstrap.has(objectKey(ev.object)) ? [objectKey(ev.object)] : []) }));

  initialKeys(): Iterable<string> {
    return bootstrap.keys();
  }

  resyncKeys(): Iterable<string> {
    return bootstrap.keys();
  }

  async reconcile(key: string, ctx: ReconcileContext): Promise<void> {
    const want = bootstrap.get(key);
    if (!want) return;
    const origin = { ...ctx.origin, reason: `bootstrap policy ${want.kind} ${want.metadata.name}` };
    const live = ctx.cache.get<ClusterRole | ClusterRoleBinding>(parseKey(key));
    if (!live) {
      try {
        await ctx.store.create(copy(want), { origin });
      } catch (err) {
        if (!isGantryError(err, 'AlreadyExists')) throw err;
      }
      return;
    }
    if (live.metadata.annotations?.[AUTOUPDATE_ANNOTATION] === 'false' || isManaged(live.metadata)) return;
    const next = restored(live, want);
    if (!sameJson(next, live)) await ctx.store.update(next, { origin });
  }
}

/** `live` with the bootstrap object's labels, annotations and content (an aggregated role's rules are the aggregator's). */
function restored(live: ClusterRole | ClusterRoleBinding, want: ClusterRole | ClusterRoleBinding): KubeObject {
  const next = copy(live) as KubeObject & Partial<ClusterRole & ClusterRoleBinding>;
  next.metadata.labels = { ...next.metadata.labels, ...want.metadata.labels };
  next.metadata.annotations = { ...next.metadata.annotations, ...want.metadata.annotations };
  if (want.kind === 'ClusterRole') {
    const role = want as ClusterRole;
    if (role.aggregationRule) next.aggregationRule = copy(role.aggregationRule);
    else next.rules = copy(role.rules ?? []);
  } else {
    const b = want as ClusterRoleBinding;
    next.roleRef = copy(b.roleRef);
    next.subjects = copy(b.subjects ?? []);
  }
  return next;
}

/** Every aggregated ClusterRole's key: any ClusterRole change may change what they gather. */
function aggregatedKeys(cache: CacheReader): string[] {
  return cache.list<ClusterRole>('ClusterRole').filter((r) => r.aggregationRule).map((r) => objectKey(r));
}

/** Fills aggregated ClusterRoles' rules. */
export class ClusterRoleAggregationController implements Controller {
  readonly name = 'clusterrole-aggregation';
  readonly kinds = [] as const;
  readonly watches: readonly Watch[] = [{ kind: 'ClusterRole', keys: (_ev, cache) => aggregatedKeys(cache) }];

  resyncKeys(cache: CacheReader): Iterable<string> {
    return aggregatedKeys(cache);
  }

  async reconcile(key: string, ctx: ReconcileContext): Promise<void> {
    const role = ctx.cache.get<ClusterRole>(parseKey(key));
    if (!role?.aggregationRule) return;
    const rules = aggregateRules(role, ctx.cache.list<ClusterRole>('ClusterRole'));
    if (sameJson(role.rules ?? [], rules)) return;
    const next = copy(role);
    next.rules = rules;
    await ctx.store.update(next, { origin: { ...ctx.origin, reason: `rules of aggregated ClusterRole ${role.metadata.name}` } });
  }
}

/** The rules an aggregated ClusterRole gathers from `roles` (pure). */
export function aggregateRules(role: ClusterRole, roles: readonly ClusterRole[]): PolicyRule[] {
  const selectors = role.aggregationRule?.clusterRoleSelectors ?? [];
  const matched = roles
    .filter((r) => r.metadata.name !== role.metadata.name && selectors.some((s) => matchesSelector(s, r.metadata.labels)))
    .sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0));
  const seen = new Set<string>();
  const out: PolicyRule[] = [];
  for (const r of matched) {
    for (const rule of r.rules ?? []) {
      const k = canonicalJson(rule);
      if (seen.has(k)) continue;
      seen.add(k);
      out.push(copy(rule));
    }
  }
  return out;
}
