/**
 * The Endpoints controller: for every Service with a selector, an `Endpoints` object of the same
 * name listing the pods behind it, as Kubernetes' endpoints controller writes it:
 *
 * - pods matching the selector in the Service's namespace, with `status.podIP`, not finished and
 *   not terminating (terminating ones are kept when `publishNotReadyAddresses`);
 * - ready pods (condition Ready True) in `addresses`, others in `notReadyAddresses`
 *   (`publishNotReadyAddresses` puts every pod in `addresses`);
 * - ports resolved per pod from each Service port's `targetPort`: a number as is, a name looked
 *   up among the pod's container ports (a pod without that name lacks that port); pods with the
 *   same resolved ports share a subset, and subsets, addresses and ports are sorted (Kubernetes'
 *   RepackSubsets), so equal inputs give an equal object and no write;
 * - each address names its pod (`targetRef`), node (`nodeName`) and, when the pod's subdomain is
 *   the Service, its hostname.
 *
 * Endpoints have no ownerReference (as in Kubernetes): when a Service goes, the controller
 * deletes its Endpoints, unless the repo declares them. Services without a selector (and
 * ExternalName Services) are left alone: their Endpoints, if any, are declared by hand.
 */
import { isGantryError } from '../errors.js';
import { isManaged } from '../model/annotations.js';
import { parseKey } from '../model/keys.js';
import { matchesLabels } from '../model/selectors.js';
import type { EndpointAddress, EndpointPort, Endpoints, EndpointSubset, Pod, Service } from '../model/types.js';
import type { CacheEvent, CacheReader } from './cache.js';
import { canonicalJson } from '../model/json.js';
import { copy, sameJson } from './objects.js';
import { isPodReady } from './pods.js';
import type { Controller, ReconcileContext, Result, Watch } from './runtime.js';

/** Keeps Endpoints in step with Services and their pods. */
export class EndpointsController implements Controller {
  readonly name = 'endpoints';
  readonly kinds = ['Service'] as const;
  readonly watches: readonly Watch[] = [
    { kind: 'Pod', keys: podToServices },
    { kind: 'Endpoints', keys: (ev) => [`Service/${ev.object.metadata.namespace}/${ev.object.metadata.name}`] },
  ];

  async reconcile(key: string, ctx: ReconcileContext): Promise<Result | void> {
    const ref = parseKey(key);
    const epRef = { kind: 'Endpoints', namespace: ref.namespace, name: ref.name };
    const svc = ctx.cache.get<Service>(ref);
    const current = ctx.cache.get<Endpoints>(epRef);
    if (!svc) {
      // Endpoints declared in the repo are the repo's: pruned with their manifest, not here.
      if (current && !isManaged(current.metadata)) await deleteEndpoints(current, ctx);
      return;
    }
    // An empty selector is no selector (Kubernetes' API drops an empty map).
    if (!svc.spec.selector || Object.keys(svc.spec.selector).length === 0 || svc.spec.type === 'ExternalName') return;
    const pods = ctx.cache.list<Pod>('Pod', { namespace: svc.metadata.namespace }).filter((p) => matchesLabels(svc.spec.selector, p.metadata.labels));
    const subsets = computeSubsets(svc, pods);
    const labels = { ...(svc.metadata.labels ?? {}) };
    if (svc.spec.clusterIP === 'None') labels['service.kubernetes.io/headless'] = '';
    const origin = { ...ctx.origin, reason: `endpoints of Service ${svc.metadata.name}` };
    if (!current) {
      const ep: Endpoints = {
        apiVersion: 'v1',
        kind: 'Endpoints',
        metadata: { name: svc.metadata.name, namespace: svc.metadata.namespace, ...(Object.keys(labels).length ? { labels } : {}) },
        ...(subsets.length ? { subsets } : {}),
      };
      try {
        await ctx.store.create(ep, { origin });
      } catch (err) {
        // Created meanwhile: its event re-queues this Service.
        if (!isGantryError(err, 'AlreadyExists')) throw err;
      }
      return;
    }
    if (sameJson(current.subsets ?? [], subsets) && sameJson(current.metadata.labels ?? {}, labels)) return;
    const next = copy(current);
    if (subsets.length) next.subsets = subsets;
    else delete next.subsets;
    if (Object.keys(labels).length) next.metadata.labels = labels;
    else delete next.metadata.labels;
    await ctx.store.update(next, { origin });
  }
}

/** A pod wakes the Services (of its namespace) whose selector matches it, before or after the change. */
function podToServices(ev: CacheEvent, cache: CacheReader): Iterable<string> {
  const keys = new Set<string>();
  const ns = ev.object.metadata.namespace;
  for (const svc of cache.list<Service>('Service', { namespace: ns })) {
    if (!svc.spec.selector || Object.keys(svc.spec.selector).length === 0) continue;
    if (matchesLabels(svc.spec.selector, ev.object.metadata.labels) || (ev.prevObject && matchesLabels(svc.spec.selector, ev.prevObject.metadata.labels))) {
      keys.add(`Service/${ns}/${svc.metadata.name}`);
    }
  }
  return keys;
}

/** True when the pod belongs in the Service's Endpoints (Kubernetes' ShouldPodBeInEndpoints). */
function podInEndpoints(pod: Pod, includeTerminating: boolean): boolean {
  if (!pod.status?.podIP) return false;
  if (!includeTerminating && pod.metadata.deletionTimestamp) return false;
  const phase = pod.status.phase;
  const policy = pod.spec.restartPolicy ?? 'Always';
  if (policy === 'Never') return phase !== 'Failed' && phase !== 'Succeeded';
  if (policy === 'OnFailure') return phase !== 'Succeeded';
  return true;
}

/** The port a Service port reaches on a pod, or undefined when the pod has no such named port. */
export function resolveTargetPort(svcPort: NonNullable<Service['spec']['ports']>[number], pod: Pod): number | undefined {
  const target = svcPort.targetPort ?? svcPort.port;
  if (typeof target === 'number') return target;
  if (/^\d+$/.test(target)) return Number(target);
  const protocol = svcPort.protocol ?? 'TCP';
  for (const c of pod.spec.containers) {
    for (const p of c.ports ?? []) if (p.name === target && (p.protocol ?? 'TCP') === protocol) return p.containerPort;
  }
  return undefined;
}

/** The subsets of a Service's Endpoints for these (selected) pods. */
export function computeSubsets(svc: Service, pods: readonly Pod[]): EndpointSubset[] {
  const publishAll = svc.spec.publishNotReadyAddresses === true;
  const groups = new Map<string, { ports: EndpointPort[]; ready: EndpointAddress[]; notReady: EndpointAddress[] }>();
  const svcPorts = svc.spec.ports ?? [];
  for (const pod of pods) {
    if (!podInEndpoints(pod, publishAll)) continue;
    const ports: EndpointPort[] = [];
    for (const sp of svcPorts) {
      const port = resolveTargetPort(sp, pod);
      if (port === undefined) continue;
      ports.push({ ...(sp.name ? { name: sp.name } : {}), port, protocol: sp.protocol ?? 'TCP' });
    }
    // A Service with ports that none resolve on this pod gives it no endpoint; a headless
    // Service without ports lists addresses alone.
    if (svcPorts.length > 0 && ports.length === 0) continue;
    ports.sort(comparePorts);
    const addr: EndpointAddress = {
      ip: pod.status!.podIP!,
      ...(pod.spec.nodeName ? { nodeName: pod.spec.nodeName } : {}),
      ...(pod.spec.hostname && pod.spec.subdomain === svc.metadata.name ? { hostname: pod.spec.hostname } : {}),
      targetRef: { kind: 'Pod', namespace: pod.metadata.namespace, name: pod.metadata.name, ...(pod.metadata.uid ? { uid: pod.metadata.uid } : {}) },
    };
    const k = canonicalJson(ports);
    let g = groups.get(k);
    if (!g) groups.set(k, (g = { ports, ready: [], notReady: [] }));
    if (publishAll || isPodReady(pod)) g.ready.push(addr);
    else g.notReady.push(addr);
  }
  const subsets: EndpointSubset[] = [];
  for (const [, g] of [...groups].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    g.ready.sort(compareAddresses);
    g.notReady.sort(compareAddresses);
    subsets.push({
      ...(g.ready.length ? { addresses: g.ready } : {}),
      ...(g.notReady.length ? { notReadyAddresses: g.notReady } : {}),
      ...(g.ports.length ? { ports: g.ports } : {}),
    });
  }
  return subsets;
}

function comparePorts(a: EndpointPort, b: EndpointPort): number {
  return (a.name ?? '').localeCompare(b.name ?? '') || a.port - b.port || (a.protocol ?? '').localeCompare(b.protocol ?? '');
}

function compareAddresses(a: EndpointAddress, b: EndpointAddress): number {
  return a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : (a.targetRef?.name ?? '').localeCompare(b.targetRef?.name ?? '');
}

async function deleteEndpoints(ep: Endpoints, ctx: ReconcileContext): Promise<void> {
  try {
    await ctx.store.delete(
      { kind: 'Endpoints', namespace: ep.metadata.namespace, name: ep.metadata.name },
      { origin: { ...ctx.origin, reason: `Service ${ep.metadata.name} is gone` }, resourceVersion: ep.metadata.resourceVersion },
    );
  } catch (err) {
    if (!isGantryError(err, 'NotFound')) throw err;
  }
}
