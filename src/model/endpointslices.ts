/**
 * EndpointSlices and Endpoints, one in terms of the other (pure).
 *
 * gantry keeps Endpoints as its record of a Service's addresses (its endpoints controller writes
 * them for Services with a selector; a repo declares them by hand for Services without one) and
 * mirrors each into EndpointSlices, as Kubernetes' EndpointSlice and EndpointSliceMirroring
 * controllers do, so clients that read slices (kubectl describe service, kube-proxy-style
 * tools) see the same endpoints. Slices a repo declares itself, labelled with the Service's name,
 * add their endpoints to the Service: the service proxy, the cluster DNS and the ingress route to
 * the union of a Service's Endpoints and its hand-declared slices.
 */
import { isManaged } from './annotations.js';
import type { EndpointAddress, EndpointPort, Endpoints, EndpointSlice, EndpointSubset, SliceEndpoint, SlicePort, StringMap } from './types.js';

/** The label that ties a slice to its Service. */
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
/** The label naming the controller that manages a slice. */
export const MANAGED_BY_LABEL = 'endpointslice.kubernetes.io/managed-by';
/** Slices of Services with a selector, as Kubernetes' EndpointSlice controller marks them. */
export const SLICE_CONTROLLER = 'endpointslice-controller.k8s.io';
/** Slices mirrored from hand-made Endpoints, as Kubernetes' mirroring controller marks them. */
export const SLICE_MIRROR = 'endpointslicemirroring-controller.k8s.io';
/** Endpoints with this label set to "true" are not mirrored (Kubernetes' opt-out). */
export const SKIP_MIRROR_LABEL = 'endpointslice.kubernetes.io/skip-mirror';
/** Kubernetes' label on the slices (and Endpoints) of headless Services. */
export const HEADLESS_LABEL = 'service.kubernetes.io/headless';

/**
 * True for a slice gantry's controllers mirror from Endpoints (and so already counted there): one
 * of theirs by its managed-by label, and not applied from the repo (a slice copied from another
 * cluster may carry the label).
 */
export function isMirroredSlice(slice: EndpointSlice): boolean {
  const by = slice.metadata.labels?.[MANAGED_BY_LABEL];
  return (by === SLICE_CONTROLLER || by === SLICE_MIRROR) && !isManaged(slice.metadata);
}

/** The Service a slice belongs to, or undefined when it names none. */
export function sliceService(slice: EndpointSlice): string | undefined {
  return slice.metadata.labels?.[SERVICE_NAME_LABEL] || undefined;
}

/** A slice's content, without metadata: what one subset of Endpoints becomes. */
export interface SliceContent {
  addressType: 'IPv4';
  ports: SlicePort[];
  endpoints: SliceEndpoint[];
}

function toSliceEndpoint(a: EndpointAddress, ready: boolean, withServing: boolean): SliceEndpoint {
  return {
    addresses: [a.ip],
    conditions: withServing ? { ready, serving: ready, terminating: false } : { ready },
    ...(a.hostname ? { hostname: a.hostname } : {}),
    ...(a.nodeName ? { nodeName: a.nodeName } : {}),
    ...(a.targetRef ? { targetRef: { ...a.targetRef } } : {}),
  };
}

function toSlicePort(p: EndpointPort): SlicePort {
  return { name: p.name ?? '', port: p.port, protocol: p.protocol ?? 'TCP', ...(p.appProtocol ? { appProtocol: p.appProtocol } : {}) };
}

/**
 * The slices (contents) of an Endpoints object: one per subset, its ready addresses ready and the
 * others not; `controller` slices (a selector Service's) also say serving and terminating, as
 * Kubernetes' EndpointSlice controller writes them.
 */
export function slicesOfEndpoints(ep: Endpoints, opts: { controller: boolean }): SliceContent[] {
  return (ep.subsets ?? []).map((ss) => ({
    addressType: 'IPv4' as const,
    ports: (ss.ports ?? []).map(toSlicePort),
    endpoints: [
      ...(ss.addresses ?? []).map((a) => toSliceEndpoint(a, true, opts.controller)),
      ...(ss.notReadyAddresses ?? []).map((a) => toSliceEndpoint(a, false, opts.controller)),
    ],
  })).filter((s) => s.endpoints.length > 0);
}

/**
 * Endpoints subsets equivalent to these slices (IPv4 ones; others are skipped as a single-stack
 * IPv4 kube-proxy skips them): each slice's endpoints with each of its ports; an endpoint without
 * `ready: false` is ready, as Kubernetes reads a missing condition.
 */
export function subsetsOfSlices(slices: readonly EndpointSlice[]): EndpointSubset[] {
  const out: EndpointSubset[] = [];
  for (const s of slices) {
    if (s.addressType !== 'IPv4') continue;
    const ports: EndpointPort[] = (s.ports ?? [])
      .filter((p) => p.port !== undefined)
      .map((p) => ({ ...(p.name ? { name: p.name } : {}), port: p.port!, protocol: p.protocol ?? 'TCP' }));
    const ready: EndpointAddress[] = [];
    const notReady: EndpointAddress[] = [];
    for (const e of s.endpoints ?? []) {
      for (const ip of e.addresses) {
        const a: EndpointAddress = {
          ip,
          ...(e.hostname ? { hostname: e.hostname } : {}),
          ...(e.nodeName ? { nodeName: e.nodeName } : {}),
          ...(e.targetRef?.name ? { targetRef: { kind: e.targetRef.kind ?? 'Pod', name: e.targetRef.name, ...(e.targetRef.namespace ? { namespace: e.targetRef.namespace } : {}), ...(e.targetRef.uid ? { uid: e.targetRef.uid } : {}) } } : {}),
        };
        (e.conditions?.ready === false ? notReady : ready).push(a);
      }
    }
    if (ready.length === 0 && notReady.length === 0) continue;
    out.push({ ...(ready.length ? { addresses: ready } : {}), ...(notReady.length ? { notReadyAddresses: notReady } : {}), ...(ports.length ? { ports } : {}) });
  }
  return out;
}

/**
 * A Service's endpoints as the data path uses them: its Endpoints' subsets plus those of the
 * slices declared for it by hand (mirrors are skipped: they repeat the Endpoints). Undefined when
 * it has neither.
 */
export function serviceEndpoints(ep: Endpoints | undefined, slices: readonly EndpointSlice[], ref: { namespace: string; name: string }): Endpoints | undefined {
  const own = slices.filter((s) => !isMirroredSlice(s));
  if (own.length === 0) return ep;
  const subsets = [...(ep?.subsets ?? []), ...subsetsOfSlices(own)];
  return { apiVersion: 'v1', kind: 'Endpoints', metadata: ep?.metadata ?? { name: ref.name, namespace: ref.namespace }, subsets };
}

/** The labels of a mirrored slice: the source's, then the slice's own marks. */
export function sliceLabels(base: StringMap | undefined, opts: { service: string; managedBy: string; headless: boolean }): StringMap {
  const labels: StringMap = { ...(base ?? {}) };
  delete labels[SKIP_MIRROR_LABEL];
  labels[SERVICE_NAME_LABEL] = opts.service;
  labels[MANAGED_BY_LABEL] = opts.managedBy;
  if (opts.headless) labels[HEADLESS_LABEL] = '';
  else delete labels[HEADLESS_LABEL];
  return labels;
}
