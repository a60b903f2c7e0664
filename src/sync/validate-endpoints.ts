/**
 * Semantic checks of hand-declared endpoints and of IngressClasses, as the API server validates
 * them:
 *
 * - Endpoints: every subset has addresses (ready or not); addresses are IPv4 (gantry's pod and
 *   service networks are IPv4) and not unspecified, loopback, link-local or multicast, so a
 *   Service cannot be turned towards the node itself; hostnames are DNS labels; ports are named
 *   (DNS labels, distinct) when a subset has more than one;
 * - EndpointSlice: addresses valid for the slice's addressType (IPv4 as for Endpoints, IPv6, or
 *   DNS names for FQDN), hostnames DNS labels, distinct port names;
 * - IngressClass: a `controller` (a domain-prefixed path such as `gantry.dev/ingress`) and, for
 *   `parameters`, a namespace exactly when their scope is Namespace.
 */
import { isIpv4 } from '../model/cidr.js';
import { isIP } from 'node:net';
import { validateDns1123Label, validateDns1123Subdomain } from '../model/names.js';
import type { EndpointAddress, EndpointPort, Endpoints, EndpointSlice, IngressClass, KubeObject, SlicePort } from '../model/types.js';
import type { Problems } from './validate-problems.js';

/** Adds the problems of an Endpoints, EndpointSlice or IngressClass to `p`. */
export function endpointProblems(p: Problems, obj: KubeObject): void {
  if (obj.kind === 'Endpoints') checkEndpoints(p, obj as Endpoints);
  else if (obj.kind === 'EndpointSlice') checkSlice(p, obj as EndpointSlice);
  else if (obj.kind === 'IngressClass') checkIngressClass(p, obj as IngressClass);
}

/** Why an IPv4 address may not be an endpoint (Kubernetes' ValidateNonSpecialIP), or undefined. */
function specialIpv4(ip: string): string | undefined {
  const [a, b, c] = ip.split('.').map(Number) as [number, number, number];
  if (ip === '0.0.0.0') return 'may not be unspecified (0.0.0.0, ::)';
  if (a === 127) return 'may not be in the loopback range (127.0.0.0/8, ::1/128)';
  if (a === 169 && b === 254) return 'may not be in the link-local range (169.254.0.0/16, fe80::/10)';
  if (a === 224 && b === 0 && c === 0) return 'may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)';
  return undefined;
}

function checkIpv4(p: Problems, field: string, ip: string): void {
  if (!isIpv4(ip)) {
    p.invalid(field, ip, isIP(ip) === 6 ? "must be a valid IPv4 address: gantry's pod and service networks are IPv4" : 'must be a valid IP address, (e.g. 10.9.8.7)');
    return;
  }
  const special = specialIpv4(ip);
  if (special) p.invalid(field, ip, special);
}

function checkEndpoints(p: Problems, ep: Endpoints): void {
  ep.subsets?.forEach((ss, i) => {
    const at = `subsets[${i}]`;
    if (!ss.addresses?.length && !ss.notReadyAddresses?.length) p.required(at, 'must specify `addresses` or `notReadyAddresses`');
    const address = (a: EndpointAddress, field: string): void => {
      checkIpv4(p, `${field}.ip`, a.ip);
      if (a.hostname) {
        const bad = validateDns1123Label(a.hostname);
        if (bad) p.invalid(`${field}.hostname`, a.hostname, bad);
      }
      if (a.nodeName) {
        const bad = validateDns1123Subdomain(a.nodeName);
        if (bad) p.invalid(`${field}.nodeName`, a.nodeName, bad);
      }
    };
    ss.addresses?.forEach((a, j) => address(a, `${at}.addresses[${j}]`));
    ss.notReadyAddresses?.forEach((a, j) => address(a, `${at}.notReadyAddresses[${j}]`));
    checkPorts(p, `${at}.ports`, ss.ports ?? [], true);
  });
}

/** Port names: DNS labels, distinct; required when there are several (Endpoints only). */
function checkPorts(p: Problems, at: string, ports: readonly (EndpointPort | SlicePort)[], requireNames: boolean): void {
  const names = new Set<string>();
  ports.forEach((port, i) => {
    const field = `${at}[${i}].name`;
    if (!port.name) {
      if (requireNames && ports.length > 1) p.required(field, 'port names are required when there is more than one port');
      else if (names.has('')) p.duplicate(field, '');
      names.add('');
      return;
    }
    const bad = validateDns1123Label(port.name);
    if (bad) p.invalid(field, port.name, bad);
    else if (names.has(port.name)) p.duplicate(field, port.name);
    names.add(port.name);
  });
}

function checkSlice(p: Problems, slice: EndpointSlice): void {
  slice.endpoints?.forEach((e, i) => {
    const at = `endpoints[${i}]`;
    e.addresses.forEach((a, j) => {
      const field = `${at}.addresses[${j}]`;
      if (slice.addressType === 'IPv4') checkIpv4(p, field, a);
      else if (slice.addressType === 'IPv6') {
        if (isIP(a) !== 6) p.invalid(field, a, 'must be a valid IPv6 address');
      } else {
        const bad = validateDns1123Subdomain(a);
        if (bad) p.invalid(field, a, bad);
      }
    });
    if (e.hostname) {
      const bad = validateDns1123Label(e.hostname);
      if (bad) p.invalid(`${at}.hostname`, e.hostname, bad);
    }
    if (e.nodeName) {
      const bad = validateDns1123Subdomain(e.nodeName);
      if (bad) p.invalid(`${at}.nodeName`, e.nodeName, bad);
    }
  });
  checkPorts(p, 'ports', slice.ports ?? [], false);
}

/** Kubernetes' IsDomainPrefixedPath: `example.com/anything`. */
const domainPrefixedPath = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/[\x21-\x7e]+$/;

function checkIngressClass(p: Problems, ic: IngressClass): void {
  const controller = ic.spec?.controller;
  if (!controller) p.required('spec.controller', 'the controller that serves Ingresses of this class (gantry\'s own is gantry.dev/ingress)');
  else if (controller.length > 250) p.invalid('spec.controller', controller, 'must be no more than 250 characters');
  else if (!domainPrefixedPath.test(controller)) p.invalid('spec.controller', controller, 'must be a domain-prefixed path (such as "acme.io/foo")');
  const params = ic.spec?.parameters;
  if (!params) return;
  const scope = params.scope ?? 'Cluster';
  if (scope === 'Namespace' && !params.namespace) p.required('spec.parameters.namespace', "`parameters.scope` is set to 'Namespace'");
  if (scope === 'Cluster' && params.namespace) p.forbidden('spec.parameters.namespace', "`parameters.scope` is set to 'Cluster'");
  if (params.apiGroup) {
    const bad = validateDns1123Subdomain(params.apiGroup);
    if (bad) p.invalid('spec.parameters.apiGroup', params.apiGroup, bad);
  }
}
