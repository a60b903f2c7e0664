/**
 * EndpointSlices for every Service's Endpoints, as Kubernetes' EndpointSlice controller (Services
 * with a selector) and EndpointSliceMirroring controller (Endpoints declared by hand for Services
 * without one) keep them: one slice per subset, named `<service>-<random>`, labelled
 * `kubernetes.io/service-name` and `endpointslice.kubernetes.io/managed-by`, owned by the Service
 * (or, mirrored, by the Endpoints), so `kubectl describe service` (which reads slices) shows the
 * endpoints. Slices follow their Endpoints and go with them or with the Service; Endpoints
 * labelled `endpointslice.kubernetes.io/skip-mirror: "true"` are not mirrored. Slices of other
 * managers (declared in the repo) are never touched.
 */
import { isGantryError } from '../errors.js';
import { canonicalJson } from '../model/json.js';
import { parseKey } from '../model/keys.js';
import {
  isMirroredSlice, SERVICE_NAME_LABEL, SKIP_MIRROR_LABEL, SLICE_CONTROLLER, SLICE_MIRROR, sliceLabels, slicesOfEndpoints, type SliceContent,
} from '../model/endpointslices.js';
import type { Endpoints, EndpointSlice, Service } from '../model/types.js';
import type { TxnOp } from '../store/types.js';
import type { CacheEvent, CacheReader } from './cache.js';
import { controllerReferenceTo } from './ownership.js';
import { randomSuffix } from '../model/generate-name.js';
import type { Controller, ReconcileContext, Watch } from './runtime.js';

const ours = isMirroredSlice;

/** Mirrors Endpoints into EndpointSlices. */
export class EndpointSliceController implements Controller {
  readonly name = 'endpointslice';
  readonly kinds = ['Endpoints'] as const;
  readonly watches: readonly Watch[] = [
    { kind: 'Service', keys: (ev) => [`Endpoints/${ev.object.metadata.namespace}/${ev.object.metadata.name}`] },
    { kind: 'EndpointSlice', keys: sliceToEndpoints },
  ];

  resyncKeys(cache: CacheReader): Iterable<string> {
    const keys = new Set(cache.list('Endpoints').map((e) => `Endpoints/${e.metadata.namespace}/${e.metadata.name}`));
    for (const s of cache.list<EndpointSlice>('EndpointSlice')) if (ours(s) && s.metadata.labels?.[SERVICE_NAME_LABEL]) keys.add(`Endpoints/${s.metadata.namespace}/${s.metadata.labels[SERVICE_NAME_LABEL]}`);
    return keys;
  }

  async reconcile(key: string, ctx: ReconcileContext): Promise<void> {
    const ref = parseKey(key);
    const ns = ref.namespace ?? 'default';
    const ep = ctx.cache.get<Endpoints>(ref);
    const svc = ctx.cache.get<Service>({ kind: 'Service', namespace: ns, name: ref.name });
    const current = ctx.cache.list<EndpointSlice>('EndpointSlice', { namespace: ns })
      .filter((s) => ours(s) && s.metadata.labels?.[SERVICE_NAME_LABEL] === ref.name);
    const selector = !!svc?.spec.selector && Object.keys(svc.spec.selector).length > 0;
    const mirror = !!ep && !!svc && svc.spec.type !== 'ExternalName' && ep.metadata.labels?.[SKIP_MIRROR_LABEL] !== 'true';
    const wanted: SliceContent[] = mirror ? slicesOfEndpoints(ep!, { controller: selector }) : [];
    const managedBy = selector ? SLICE_CONTROLLER : SLICE_MIRROR;
    const owner = selector ? svc! : ep;
    const labels = mirror ? sliceLabels(selector ? svc!.metadata.labels : ep!.metadata.labels, { service: ref.name, managedBy, headless: svc!.spec.clusterIP === 'None' }) : {};

    // Pair wanted slices with current ones by their ports, so an address change updates a slice in place.
    const byPorts = new Map<string, EndpointSlice[]>();
    for (const s of current) {
      const k = canonicalJson(s.ports ?? []);
      byPorts.set(k, [...(byPorts.get(k) ?? []), s]);
    }
    const ops: TxnOp[] = [];
    const kept = new Set<EndpointSlice>();
    for (const want of wanted) {
      const reuse = byPorts.get(canonicalJson(want.ports))?.find((s) => !kept.has(s));
      const body = { addressType: want.addressType, endpoints: want.endpoints, ports: want.ports };
      if (reuse) {
        kept.add(reuse);
        const next: EndpointSlice = { ...structuredClone(reuse), ...structuredClone(body), metadata: { ...structuredClone(reuse.metadata), labels } };
        next.metadata.ownerReferences = [controllerReferenceTo(owner!)];
        if (canonicalJson(next) !== canonicalJson(reuse)) ops.push({ op: 'update', object: next });
        continue;
      }
      ops.push({
        op: 'create',
        object: {
          apiVersion: 'discovery.k8s.io/v1',
          kind: 'EndpointSlice',
          metadata: { name: `${ref.name}-${randomSuffix()}`, namespace: ns, labels, ownerReferences: [controllerReferenceTo(owner!)] },
          ...body,
        } as EndpointSlice,
      });
    }
    for (const s of current) {
      if (!kept.has(s)) ops.push({ op: 'delete', ref: { kind: 'EndpointSlice', namespace: ns, name: s.metadata.name }, resourceVersion: s.metadata.resourceVersion });
    }
    if (ops.length === 0) return;
    try {
      await ctx.store.txn(ops, { origin: { ...ctx.origin, reason: `endpoint slices of Service ${ref.name}` } });
    } catch (err) {
      // A slice went (or a generated name was taken) meanwhile: its event brings this key back.
      if (!isGantryError(err, 'NotFound') && !isGantryError(err, 'AlreadyExists')) throw err;
    }
  }
}

/** A slice of ours wakes the Endpoints it mirrors. */
function sliceToEndpoints(ev: CacheEvent): Iterable<string> {
  const s = ev.object as EndpointSlice;
  const svc = s.metadata.labels?.[SERVICE_NAME_LABEL];
  return ours(s) && svc ? [`Endpoints/${s.metadata.namespace}/${svc}`] : [];
}
