/**
 * The `kubernetes` Service in `default`, as the API server keeps it: cluster IP the service
 * CIDR's first host (10.96.0.1), port 443 named `https`, no selector, and Endpoints naming the
 * address pods reach the API at. Through it a pod finds the API the Kubernetes way
 * (KUBERNETES_SERVICE_HOST/PORT, `kubernetes.default.svc`), and the node's service proxy sends its
 * connections to the API.
 *
 * The address is the control plane's to know (`apiEndpoint`): with `gantry up` the API also
 * listens on the node's pod bridge, which only this node's pods reach; a server listening on a
 * network address advertises that one (`--advertise-address`). Without one the Service has no
 * endpoints and connections to it are refused at once.
 */
import { isGantryError } from '../errors.js';
import { apiServiceIp, DEFAULT_SERVICE_CIDR } from '../model/cidr.js';
import type { ObjectRef } from '../model/keys.js';
import type { Endpoints, KubeObject, Service } from '../model/types.js';
import type { Store, WriteOrigin } from '../store/types.js';
import { copy, sameJson } from './objects.js';
import type { Controller, ReconcileContext, Watch } from './runtime.js';

/** Options of {@link ApiServiceController}. */
export interface ApiServiceOptions {
  serviceCidr?: string;
  /** Where pods reach the API (an IPv4 address and the port the API listens on there). */
  apiEndpoint?: { ip: string; port: number };
}

const NAMESPACE = 'default';
const NAME = 'kubernetes';
const KEY = `Service/${NAMESPACE}/${NAME}`;
const isApi = (o: KubeObject): boolean => o.metadata.name === NAME && (o.metadata.namespace || 'default') === NAMESPACE;

/** Keeps the `kubernetes` Service and its Endpoints. */
export class ApiServiceController implements Controller {
  readonly name = 'apiservice';
  readonly kinds = [] as const;
  readonly watches: readonly Watch[] = [
    { kind: 'Service', keys: (ev) => (isApi(ev.object) ? [KEY] : []) },
    { kind: 'Endpoints', keys: (ev) => (isApi(ev.object) ? [KEY] : []) },
  ];
  private readonly ip: string;

  constructor(private readonly opts: ApiServiceOptions = {}) {
    this.ip = apiServiceIp(opts.serviceCidr ?? DEFAULT_SERVICE_CIDR);
  }

  initialKeys(): Iterable<string> {
    return [KEY];
  }

  resyncKeys(): Iterable<string> {
    return [KEY];
  }

  reconcile(_key: string, ctx: ReconcileContext): Promise<void> {
    return this.ensure(ctx.store, { read: async (ref) => ctx.cache.get(ref), origin: ctx.origin });
  }

  /**
   * Makes the Service and its Endpoints what they should be, reading them with `read` (the cache;
   * at start the store itself, so they exist before any pod does and every pod gets the
   * KUBERNETES_SERVICE_* variables).
   */
  async ensure(store: Store, opts: { read: (ref: ObjectRef) => Promise<KubeObject | undefined>; origin: WriteOrigin }): Promise<void> {
    const port = this.opts.apiEndpoint?.port ?? 443;
    const want: Service['spec'] = {
      type: 'ClusterIP',
      clusterIP: this.ip,
      clusterIPs: [this.ip],
      ports: [{ name: 'https', port: 443, protocol: 'TCP', targetPort: port }],
      sessionAffinity: 'None',
    };
    const labels = { component: 'apiserver', provider: 'kubernetes' };
    const origin = { ...opts.origin, reason: 'the API server Service' };
    const svc = (await opts.read({ kind: 'Service', namespace: NAMESPACE, name: NAME })) as Service | undefined;
    if (!svc) {
      await create(store, { apiVersion: 'v1', kind: 'Service', metadata: { name: NAME, namespace: NAMESPACE, labels }, spec: want }, origin);
    } else if (!sameJson(svc.spec, want) || !sameJson(svc.metadata.labels ?? {}, labels)) {
      const next = copy(svc);
      next.spec = want;
      next.metadata.labels = labels;
      await store.update(next, { origin });
    }
    const ep = this.opts.apiEndpoint;
    const subsets = ep ? [{ addresses: [{ ip: ep.ip }], ports: [{ name: 'https', port: ep.port, protocol: 'TCP' as const }] }] : [];
    const epLabels = { 'endpointslice.kubernetes.io/skip-mirror': 'true' };
    const current = (await opts.read({ kind: 'Endpoints', namespace: NAMESPACE, name: NAME })) as Endpoints | undefined;
    if (!current) {
      await create(store, { apiVersion: 'v1', kind: 'Endpoints', metadata: { name: NAME, namespace: NAMESPACE, labels: epLabels }, ...(subsets.length ? { subsets } : {}) }, origin);
    } else if (!sameJson(current.subsets ?? [], subsets) || !sameJson(current.metadata.labels ?? {}, epLabels)) {
      const next = copy(current);
      if (subsets.length) next.subsets = subsets;
      else delete next.subsets;
      next.metadata.labels = epLabels;
      await store.update(next, { origin });
    }
  }
}

async function create(store: Store, obj: KubeObject, origin: WriteOrigin): Promise<void> {
  try {
    await store.create(obj, { origin });
  } catch (err) {
    if (!isGantryError(err, 'AlreadyExists')) throw err;
  }
}
