/**
 * The ingress routing table (pure): which Service port and endpoints an HTTP request goes to,
 * by the networking.k8s.io/v1 Ingress rules gantry serves (IngressClass `gantry`, also the
 * default for Ingresses that name no class).
 *
 * Matching follows the Ingress specification:
 * - host: exact match first, then a wildcard `*.example.com` matching exactly one more label,
 *   then the rules without host; the first of these that exists decides;
 * - paths: an `Exact` path must equal the request path; a `Prefix` path matches element-wise
 *   (`/foo` matches `/foo`, `/foo/` and `/foo/bar`, never `/foobar`), and
 *   `ImplementationSpecific` is treated as `Prefix`. Exact wins over Prefix, then the longest
 *   path; among equals the Ingress first by namespace/name (Kubernetes leaves it open).
 * - no rule matches: the `defaultBackend` of the first Ingress (by namespace/name) that has
 *   one; else 404.
 */
import type { Endpoints, Ingress, IngressBackend, IngressClass, Service } from '../model/types.js';

/** The IngressClass name gantry's controller serves. */
export const INGRESS_CLASS = 'gantry';

/** Where a matched request goes. */
export interface RouteTarget {
  /** `<namespace>/<ingress>`, for logs and headers. */
  ingress: string;
  namespace: string;
  service: string;
  /** Ready `ip:port` addresses; empty: the backend has none (503). */
  addresses: string[];
}

interface PathRule {
  kind: 'Exact' | 'Prefix';
  path: string;
  target: RouteTarget;
  order: string;
}

interface HostRules {
  paths: PathRule[];
}

/** A compiled routing table. */
export interface RouteTable {
  exact: Map<string, HostRules>;
  wildcard: Map<string, HostRules>;
  any: HostRules;
  defaultBackend?: RouteTarget;
  /** Host → TLS Secret (`namespace/name`) for HTTPS, exact hosts and `*.` wildcards. */
  tls: Map<string, { namespace: string; secret: string }>;
}

/** Lookups the table needs. */
export interface RouteSource {
  ingresses(): Ingress[];
  /** IngressClasses of the cluster (none: gantry's is the only one). */
  classes?(): IngressClass[];
  service(namespace: string, name: string): Service | undefined;
  endpointsOf(namespace: string, name: string): Endpoints | undefined;
}

/** The controller name gantry's IngressClass carries (`spec.controller`). */
export const INGRESS_CONTROLLER = 'gantry.dev/ingress';

const DEFAULT_CLASS_ANNOTATION = 'ingressclass.kubernetes.io/is-default-class';

/**
 * True when gantry serves this Ingress: its class is `gantry` or an IngressClass whose
 * controller is gantry's; without a class, when no IngressClass of another controller is
 * marked the default (gantry's class is the default unless the repo says otherwise).
 */
export function servedByGantry(ing: Ingress, classes: readonly IngressClass[] = []): boolean {
  const cls = ing.spec.ingressClassName ?? ing.metadata.annotations?.['kubernetes.io/ingress.class'];
  const ours = (c: IngressClass) => c.spec?.controller === INGRESS_CONTROLLER;
  if (cls === undefined) return !classes.some((c) => c.metadata.annotations?.[DEFAULT_CLASS_ANNOTATION] === 'true' && !ours(c));
  if (cls === INGRESS_CLASS) return !classes.some((c) => c.metadata.name === cls && !ours(c) && c.spec?.controller !== undefined);
  return classes.some((c) => c.metadata.name === cls && ours(c));
}

/** The ready addresses of a backend's Service port. */
function resolve(src: RouteSource, ing: Ingress, backend: IngressBackend): RouteTarget | undefined {
  if (!backend.service) return undefined;
  const namespace = ing.metadata.namespace ?? 'default';
  const svc = src.service(namespace, backend.service.name);
  const target: RouteTarget = { ingress: `${namespace}/${ing.metadata.name}`, namespace, service: backend.service.name, addresses: [] };
  if (!svc) return target;
  const { number, name } = backend.service.port;
  const port = (svc.spec.ports ?? []).find((p) => (name ? p.name === name : p.port === number));
  if (!port) return target;
  for (const subset of src.endpointsOf(namespace, svc.metadata.name)?.subsets ?? []) {
    const ep = (subset.ports ?? []).find((p) => (p.name ?? '') === (port.name ?? '') && (p.protocol ?? 'TCP') === 'TCP');
    if (!ep) continue;
    for (const a of subset.addresses ?? []) target.addresses.push(`${a.ip}:${ep.port}`);
  }
  target.addresses.sort();
  return target;
}

/** Builds the table from the Ingresses gantry serves. */
export function buildRoutes(src: RouteSource): RouteTable {
  const table: RouteTable = { exact: new Map(), wildcard: new Map(), any: { paths: [] }, tls: new Map() };
  const classes = src.classes?.() ?? [];
  const ingresses = src.ingresses().filter((i) => servedByGantry(i, classes)).sort((a, b) => order(a).localeCompare(order(b)));
  for (const ing of ingresses) {
    const namespace = ing.metadata.namespace ?? 'default';
    if (!table.defaultBackend && ing.spec.defaultBackend) table.defaultBackend = resolve(src, ing, ing.spec.defaultBackend);
    for (const t of ing.spec.tls ?? []) {
      if (!t.secretName) continue;
      for (const h of t.hosts ?? []) if (!table.tls.has(h.toLowerCase())) table.tls.set(h.toLowerCase(), { namespace, secret: t.secretName });
    }
    for (const rule of ing.spec.rules ?? []) {
      const host = rule.host?.toLowerCase();
      let rules: HostRules;
      if (!host) rules = table.any;
      else {
        const map = host.startsWith('*.') ? table.wildcard : table.exact;
        const k = host.startsWith('*.') ? host.slice(2) : host;
        rules = map.get(k) ?? { paths: [] };
        map.set(k, rules);
      }
      for (const p of rule.http?.paths ?? []) {
        const target = resolve(src, ing, p.backend);
        if (!target) continue;
        rules.paths.push({ kind: p.pathType === 'Exact' ? 'Exact' : 'Prefix', path: p.path || '/', target, order: order(ing) });
      }
    }
  }
  for (const rules of [table.any, ...table.exact.values(), ...table.wildcard.values()]) {
    rules.paths.sort((a, b) => (a.kind === b.kind ? 0 : a.kind === 'Exact' ? -1 : 1) || b.path.length - a.path.length || a.order.localeCompare(b.order));
  }
  return table;
}

function order(ing: Ingress): string {
  return `${ing.metadata.namespace ?? 'default'}/${ing.metadata.name}`;
}

/** True when a Prefix path matches element-wise. */
function prefixMatches(prefix: string, path: string): boolean {
  const p = prefix.length > 1 ? prefix.replace(/\/+$/, '') : prefix;
  if (p === '/') return true;
  return path === p || path.startsWith(`${p}/`);
}

function match(rules: HostRules | undefined, path: string): RouteTarget | undefined {
  for (const r of rules?.paths ?? []) {
    if (r.kind === 'Exact' ? r.path === path : prefixMatches(r.path, path)) return r.target;
  }
  return undefined;
}

/** The target of a request for `host` (without port) and `path` (without query). */
export function route(table: RouteTable, host: string, path: string): RouteTarget | undefined {
  const h = host.toLowerCase();
  const dot = h.indexOf('.');
  // The most specific host that has rules decides; a path it lacks goes to the default backend.
  const rules = table.exact.get(h) ?? (dot > 0 ? table.wildcard.get(h.slice(dot + 1)) : undefined) ?? table.any;
  return match(rules, path) ?? table.defaultBackend;
}

/** The TLS Secret for a host (SNI), exact first, then a `*.` wildcard. */
export function tlsSecretFor(table: RouteTable, host: string): { namespace: string; secret: string } | undefined {
  const h = host.toLowerCase();
  const dot = h.indexOf('.');
  return table.tls.get(h) ?? (dot > 0 ? table.tls.get(`*.${h.slice(dot + 1)}`) : undefined);
}
