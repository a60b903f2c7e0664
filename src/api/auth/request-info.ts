/**
 * What a request asks for, read from its method and URL the way the API server's RequestInfo
 * factory reads it: a resource request (`/api/v1/…`, `/apis/<group>/<version>/…`) names an API
 * group, a resource, maybe a subresource, a namespace and a name, and a verb (get, list, watch,
 * create, update, patch, delete, deletecollection); anything else (`/api`, `/apis/apps/v1`,
 * `/version`, `/openapi/v2`) is a non-resource request whose verb is the lower-cased method.
 */

/** The attributes an authorizer decides on (Kubernetes' authorizer.Attributes). */
export interface RequestInfo {
  /** False for discovery and other non-resource paths. */
  resourceRequest: boolean;
  /** The URL path, without the query. */
  path: string;
  verb: string;
  apiGroup: string;
  apiVersion: string;
  namespace: string;
  resource: string;
  subresource: string;
  name: string;
}

/** Subresources that act on a pod whatever the method: exec and friends are `create`, as on Kubernetes with WebSockets. */
const CONNECT_SUBRESOURCES = new Set(['exec', 'attach', 'portforward']);

/** Reads a request's method and URL (path and query). */
export function requestInfo(method: string, url: string): RequestInfo {
  const [rawPath, query = ''] = url.split('?', 2) as [string, string?];
  const path = rawPath.length > 1 ? rawPath.replace(/\/+$/, '') : rawPath;
  const out: RequestInfo = { resourceRequest: false, path, verb: method.toLowerCase(), apiGroup: '', apiVersion: '', namespace: '', resource: '', subresource: '', name: '' };
  let parts: string[];
  try {
    parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  } catch {
    return out;
  }
  let rest: string[];
  if (parts[0] === 'api' && parts.length >= 3) {
    out.apiVersion = parts[1]!;
    rest = parts.slice(2);
  } else if (parts[0] === 'apis' && parts.length >= 4) {
    out.apiGroup = parts[1]!;
    out.apiVersion = parts[2]!;
    rest = parts.slice(3);
  } else {
    return out;
  }
  out.resourceRequest = true;
  if (rest[0] === 'namespaces' && rest.length > 1) {
    out.namespace = rest[1]!;
    // `/namespaces/<ns>` is the Namespace itself, in its own namespace (as Kubernetes reads it).
    if (rest.length > 2 && rest[2] !== 'status' && rest[2] !== 'finalize') rest = rest.slice(2);
  }
  out.resource = rest[0] ?? '';
  out.name = rest[1] ?? '';
  out.subresource = rest[2] ?? '';
  const params = new URLSearchParams(query);
  const watching = params.get('watch') === 'true' || params.get('watch') === '1';
  if (!out.name) {
    // A list or watch of one name (`kubectl get pod x -w`) is about that name.
    const named = /(?:^|,)metadata\.name==?([^,]+)/.exec(params.get('fieldSelector') ?? '');
    if (named) out.name = named[1]!;
  }
  const collection = rest.length === 1;
  switch (method.toUpperCase()) {
    case 'GET':
    case 'HEAD':
      out.verb = collection ? (watching ? 'watch' : 'list') : 'get';
      break;
    case 'POST':
      out.verb = 'create';
      break;
    case 'PUT':
      out.verb = 'update';
      break;
    case 'PATCH':
      out.verb = 'patch';
      break;
    case 'DELETE':
      out.verb = collection ? 'deletecollection' : 'delete';
      break;
    default:
      out.verb = method.toLowerCase();
  }
  if (CONNECT_SUBRESOURCES.has(out.subresource)) out.verb = 'create';
  return out;
}
