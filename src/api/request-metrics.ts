/**
 * API request metrics (a fastify hook): every request is counted by verb, resource and status
 * code when it ends, and timed unless it is long-running (a watch, logs, exec, attach,
 * port-forward), which is gauged while open instead, as the Kubernetes API server does.
 *
 * Labels come from the matched route, never from the raw URL, so their values are bounded
 * whatever clients send: a Kubernetes resource path is labelled by its resource (`pods`,
 * `pods/log`) only when gantry serves that resource, any other route by its pattern
 * (`/apis/gantry.dev/v1/objects/:kind/:name`), and a path no route matches as `unmatched`.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ApiMetrics, RequestLabels } from '../metrics/index.js';
import { KINDS } from '../model/kinds.js';
import { requestInfo } from './auth/request-info.js';

/** Subresources gantry serves or refuses by name; any other is labelled `unknown`. */
const SUBRESOURCES = new Set(['status', 'scale', 'log', 'exec', 'attach', 'portforward', 'proxy', 'eviction', 'binding', 'token', 'ephemeralcontainers', 'resize', 'finalize']);
/** Subresources whose requests stay open (the API server's long-running check). */
const LONG_RUNNING = new Set(['log', 'exec', 'attach', 'portforward', 'proxy']);
/** Subresources that open a stream into a pod: the CONNECT verb. */
const CONNECT = new Set(['exec', 'attach', 'portforward', 'proxy']);
const VERBS: Record<string, string> = {
  get: 'GET', list: 'LIST', watch: 'WATCH', create: 'POST', update: 'PUT', patch: 'PATCH', delete: 'DELETE', deletecollection: 'DELETECOLLECTION',
};

/** `apiVersion/plural` of every kind gantry serves. */
const SERVED = new Set(KINDS.map((k) => `${k.apiVersion}/${k.plural}`));
function isServed(groupVersion: string, plural: string): boolean {
  return SERVED.has(`${groupVersion}/${plural}`);
}

/** A request as {@link requestLabels} reads it. */
export interface RequestShape {
  method: string;
  /** Path and query, as received. */
  url: string;
  /** The matched route's pattern; undefined when no route matched. */
  route: string | undefined;
  /** The request asks for a connection upgrade (WebSocket, SPDY). */
  upgrade?: boolean;
  contentType?: string;
}

/** The labels of a request, and whether it is long-running. */
export function requestLabels(r: RequestShape): { labels: RequestLabels; longRunning: boolean } {
  const method = r.method === 'HEAD' ? 'GET' : r.method;
  if (r.route === undefined) return { labels: { verb: method, resource: 'unmatched' }, longRunning: false };
  const info = requestInfo(r.method, r.url);
  if (info.resourceRequest && info.apiGroup !== 'gantry.dev') {
    const groupVersion = info.apiGroup ? `${info.apiGroup}/${info.apiVersion}` : info.apiVersion;
    let resource: string;
    if (isServed(groupVersion, info.resource)) resource = info.resource;
    // A route of its own (an access review, TokenRequest's): its pattern holds no client text.
    else if (!r.route.includes(':resource')) return nonResource(method, r);
    else resource = 'unknown';
    const sub = info.subresource;
    if (sub) resource += `/${SUBRESOURCES.has(sub) ? sub : 'unknown'}`;
    let verb = VERBS[info.verb] ?? method;
    if (r.upgrade || CONNECT.has(sub)) verb = 'CONNECT';
    else if (verb === 'PATCH' && (r.contentType ?? '').startsWith('application/apply-patch')) verb = 'APPLY';
    return { labels: { verb, resource }, longRunning: verb === 'WATCH' || verb === 'CONNECT' || LONG_RUNNING.has(sub) };
  }
  return nonResource(method, r);
}

function nonResource(method: string, r: RequestShape): { labels: RequestLabels; longRunning: boolean } {
  const route = r.route!;
  const verb = r.upgrade ? 'CONNECT' : method === 'GET' && route.endsWith('/watch') ? 'WATCH' : method;
  return { labels: { verb, resource: route }, longRunning: verb === 'WATCH' || verb === 'CONNECT' };
}

function requestShape(req: FastifyRequest): RequestShape {
  const upgrade = req.headers.upgrade !== undefined && req.headers.upgrade !== '';
  const contentType = req.headers['content-type'];
  return { method: req.method, url: req.url, route: req.routeOptions.url, ...(upgrade ? { upgrade } : {}), ...(contentType ? { contentType } : {}) };
}

/**
 * Counts and times every request of `app` (call before its routes are registered). Measured
 * from the request's routing to the response's close, so a watch or an upgraded stream a
 * client drops is counted too.
 */
export function installRequestMetrics(app: FastifyInstance, metrics: ApiMetrics): void {
  app.addHook('onRequest', (req, reply, done) => {
    const started = performance.now();
    const { labels, longRunning } = requestLabels(requestShape(req));
    if (longRunning) metrics.open(labels, 1);
    reply.raw.once('close', () => {
      if (longRunning) metrics.open(labels, -1);
      const res = reply.raw;
      // An upgrade the handler took over answers 101 on the socket, not through this response.
      const code = labels.verb === 'CONNECT' && !res.headersSent ? 101 : res.statusCode;
      metrics.request(labels, { code, seconds: (performance.now() - started) / 1000, longRunning });
    });
    done();
  });
}
