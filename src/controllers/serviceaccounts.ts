/**
 * The service-account controller and the root-CA publisher, as Kubernetes' controller manager
 * runs them: every namespace has a ServiceAccount `default` (made again when deleted) and a
 * ConfigMap `kube-root-ca.crt` holding the API server's CA (`ca.crt`), which the token volume of
 * every pod reads.
 *
 * A namespace is one with a Namespace object, `default`, or — gantry's namespaces need no object —
 * any namespace where pods or their controllers live. Objects made here are not gantry's from the
 * repo (no managed-by mark), so a sync never prunes them; a repo may declare `default` itself
 * (to set `automountServiceAccountToken: false`, say), and then the repo's object stands.
 */
import { isGantryError } from '../errors.js';
import { objectKey, parseKey } from '../model/keys.js';
import { DEFAULT_SERVICE_ACCOUNT, ROOT_CA_CONFIGMAP } from '../model/serviceaccount.js';
import type { ConfigMap, KubeObject, Namespace, ServiceAccount } from '../model/types.js';
import type { CacheEvent, CacheReader } from './cache.js';
import { copy } from './objects.js';
import type { Controller, ReconcileContext, Watch } from './runtime.js';

/** Kinds whose objects put a namespace in use (pods, and what makes pods). */
const IN_USE_KINDS = ['Pod', 'Deployment', 'ReplicaSet', 'StatefulSet', 'DaemonSet', 'Job', 'CronJob'] as const;

/** What Kubernetes writes into the ConfigMap, word for word the promise it makes. */
const ROOT_CA_DESCRIPTION =
  'Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.';

/** Options of {@link ServiceAccountController}. */
export interface ServiceAccountControllerOptions {
  /** The API server's CA (PEM); empty when the API serves plain HTTP. */
  rootCA?: string;
}

const namespaceKey = (ns: string): string => `Namespace/${ns}`;

/** Maps a new object in a namespace to that namespace's key (its changes do not matter). */
function toNamespace(ev: CacheEvent): string[] {
  return ev.type === 'ADDED' ? [namespaceKey(ev.object.metadata.namespace || 'default')] : [];
}

/** Keeps `default` and `kube-root-ca.crt` in every namespace. */
export class ServiceAccountController implements Controller {
  readonly name = 'serviceaccount';
  readonly kinds = ['Namespace'] as const;
  readonly watches: readonly Watch[] = [
    // A deleted `default` or CA ConfigMap is made again.
    { kind: 'ServiceAccount', keys: (ev) => (ev.object.metadata.name === DEFAULT_SERVICE_ACCOUNT ? [namespaceKey(ev.object.metadata.namespace || 'default')] : []) },
    { kind: 'ConfigMap', keys: (ev) => (ev.object.metadata.name === ROOT_CA_CONFIGMAP ? [namespaceKey(ev.object.metadata.namespace || 'default')] : []) },
    ...IN_USE_KINDS.map((kind) => ({ kind, keys: toNamespace })),
  ];
  private readonly rootCA: string;

  constructor(opts: ServiceAccountControllerOptions = {}) {
    this.rootCA = opts.rootCA ?? '';
  }

  initialKeys(): Iterable<string> {
    return [namespaceKey('default')];
  }

  resyncKeys(cache: CacheReader): Iterable<string> {
    const keys = new Set([namespaceKey('default'), ...cache.list('Namespace').map((n) => objectKey(n))]);
    for (const kind of IN_USE_KINDS) for (const o of cache.list(kind)) keys.add(namespaceKey(o.metadata.namespace || 'default'));
    return keys;
  }

  async reconcile(key: string, ctx: ReconcileContext): Promise<void> {
    const namespace = parseKey(key).name;
    if (!inUse(namespace, ctx.cache)) return;
    const origin = { ...ctx.origin, reason: `namespace ${namespace}` };
    if (!ctx.cache.get({ kind: 'ServiceAccount', namespace, name: DEFAULT_SERVICE_ACCOUNT })) {
      const sa: ServiceAccount = { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: DEFAULT_SERVICE_ACCOUNT, namespace } };
      await createIfMissing(ctx, sa, origin);
    }
    const cm = ctx.cache.get<ConfigMap>({ kind: 'ConfigMap', namespace, name: ROOT_CA_CONFIGMAP });
    const data = { 'ca.crt': this.rootCA };
    if (!cm) {
      const fresh: ConfigMap = {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: ROOT_CA_CONFIGMAP, namespace, annotations: { 'kubernetes.io/description': ROOT_CA_DESCRIPTION } },
        data,
      };
      await createIfMissing(ctx, fresh, origin);
    } else if (cm.data?.['ca.crt'] !== this.rootCA || Object.keys(cm.data ?? {}).length !== 1) {
      const next = copy(cm);
      next.data = data;
      await ctx.store.update(next, { origin: { ...origin, reason: `the API's CA in namespace ${namespace}` } });
    }
  }
}

/** Whether pods may live in `namespace`: its object exists (and is not going), or something runs there. */
function inUse(namespace: string, cache: CacheReader): boolean {
  if (namespace === 'default') return true;
  const ns = cache.get<Namespace>({ kind: 'Namespace', name: namespace });
  if (ns) return !ns.metadata.deletionTimestamp;
  return IN_USE_KINDS.some((kind) => cache.list(kind, { namespace }).length > 0);
}

async function createIfMissing(ctx: ReconcileContext, obj: KubeObject, origin: { actor: string; reason?: string }): Promise<void> {
  try {
    await ctx.store.create(obj, { origin });
  } catch (err) {
    // Made meanwhile (a repo's sync, or the cache lags): its event queues the namespace again.
    if (!isGantryError(err, 'AlreadyExists')) throw err;
  }
}
