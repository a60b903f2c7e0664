/**
 * Who may call what: every route needs a bearer token except `/healthz`, the push webhook
 * (which has its own HMAC) and the web dashboard's static files. An admin token may do everything the API offers; a read-only token
 * reads everything but Secrets, and may not exec into pods, forward their ports or trigger a
 * sync — the same line Kubernetes' built-in `view` role draws. An agent token acts for one node,
 * as the Node authorizer limits a kubelet. A service account's token (a JWT, ./sa-tokens.ts) is
 * authorized by RBAC (./rbac.ts) against the cluster's Roles and bindings, with Kubernetes'
 * words when it is refused.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { resolveKind } from '../../model/kinds.js';
import { isDashboardPath } from '../dashboard.js';
import { isGantryError } from '../../errors.js';
import { serviceAccountGroups } from '../../model/serviceaccount.js';
import { sendStatus } from '../kube.js';
import { authorize, forbiddenMessage } from './rbac.js';
import type { RbacCache } from './rbac-cache.js';
import { requestInfo } from './request-info.js';
import { looksLikeJwt, type ServiceAccountTokens } from './sa-tokens.js';
import type { Identity, TokenFile } from './tokens.js';

/** Paths anyone may call. */
export const PUBLIC_PATHS: ReadonlySet<string> = new Set(['/healthz', '/livez', '/readyz', '/apis/gantry.dev/v1/webhook']);

/** What a request touches, as an authorizer sees it. */
export interface RequestAttributes {
  verb: string;
  /** Kubernetes resource (plural), or gantry's kind for its own routes; '' for non-resource paths. */
  resource: string;
  subresource: string;
  namespace: string;
  group: string;
  /** `?dryRun=All`: a write that changes nothing (kubectl diff, apply --dry-run=server). */
  dryRun?: boolean;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the guard: who is calling (absent on public paths and servers without auth). */
    identity?: Identity;
  }
}

/** Subresources that act inside a pod, which a read-only token may not use. */
const ACTING_SUBRESOURCES = new Set(['exec', 'attach', 'portforward', 'proxy']);

/**
 * Reads a Kubernetes request path: `/api/v1/namespaces/ns/pods/name/log` → pods, log, ns.
 * Watches and lists (`?watch=true`, no name) get the verbs kubectl's RBAC errors name.
 */
export function requestAttributes(method: string, url: string): RequestAttributes {
  const [pathPart, query = ''] = url.split('?', 2) as [string, string?];
  const parts = pathPart.split('/').filter(Boolean).map(decodeURIComponent);
  const out: RequestAttributes = { verb: method.toLowerCase(), resource: '', subresource: '', namespace: '', group: '' };
  let rest: string[];
  if (parts[0] === 'api' && parts.length >= 2) rest = parts.slice(2);
  else if (parts[0] === 'apis' && parts.length >= 3) {
    out.group = parts[1]!;
    rest = parts.slice(3);
  } else return out;
  if (out.group === 'gantry.dev') return gantryAttributes(method, rest, query, out);
  if (rest[0] === 'namespaces' && rest.length >= 3) {
    out.namespace = rest[1]!;
    rest = rest.slice(2);
  }
  out.resource = rest[0] ?? '';
  const named = rest.length >= 2;
  out.subresource = rest[2] ?? '';
  const watching = /(^|&)watch=(true|1)(&|$)/.test(query);
  if (/(^|&)dryRun=All(&|$)/.test(query)) out.dryRun = true;
  const verbs: Record<string, string> = { GET: named ? 'get' : watching ? 'watch' : 'list', POST: 'create', PUT: 'update', PATCH: 'patch', DELETE: 'delete' };
  out.verb = verbs[method] ?? out.verb;
  return out;
}

/** gantry's own routes: `objects/<Kind>/…` and `watch?kinds=…` name the kind they read. */
function gantryAttributes(method: string, rest: string[], query: string, out: RequestAttributes): RequestAttributes {
  out.verb = method === 'GET' ? 'get' : 'create';
  // gantry's routes take kinds in any spelling kubectl accepts (Secret, secrets, …): normalise to the kind.
  const kindName = (t: string): string => resolveKind(t)?.kind ?? t;
  if (rest[0] === 'objects') out.resource = kindName(rest[1] ?? '');
  else if (rest[0] === 'watch') {
    const kinds = new URLSearchParams(query).get('kinds');
    out.resource = kinds ? kinds.split(',').map(kindName).join(',') : '';
    out.verb = 'watch';
  } else if (rest[0] === 'blame') {
    // Blame reads one object: it is that object's kind that a read-only token may or may not read.
    const object = new URLSearchParams(query).get('object') ?? '';
    out.resource = kindName(object.split('/')[0] ?? '');
  } else out.resource = rest[0] ?? '';
  return out;
}

/** Whether a read-only identity may make this request. */
export function readOnlyAllows(a: RequestAttributes): boolean {
  if (a.group === 'gantry.dev') {
    if (a.verb === 'create') return false;
    return !a.resource.split(',').includes('Secret');
  }
  if (a.resource === 'secrets') return false;
  if (ACTING_SUBRESOURCES.has(a.subresource)) return false;
  // A dry run changes nothing, so a reviewer may `kubectl diff` a change against the cluster.
  if (a.dryRun && !a.subresource) return true;
  return ['get', 'list', 'watch'].includes(a.verb) || a.verb === 'options' || a.verb === 'head';
}

/**
 * What every node reads beside its own pods: the Services view (kube-proxy's and the cluster
 * DNS's), with the pods, namespaces and policies the NetworkPolicy enforcer needs, and the Nodes
 * (their pod CIDRs and addresses: the routes to other nodes' pods). No Secrets.
 */
export const AGENT_VIEW_KINDS: readonly string[] = ['Service', 'Endpoints', 'EndpointSlice', 'Pod', 'Namespace', 'NetworkPolicy', 'Node'];

/**
 * Whether an agent token for `node` may make this request: its node's agent routes
 * (`/apis/gantry.dev/v1/nodes/<node>/agent/…`, where the handlers check each pod and reference),
 * and reads of the view kinds.
 */
export function agentAllows(node: string | undefined, method: string, url: string): boolean {
  if (!node) return false;
  const pathOnly = url.split('?', 1)[0]!;
  if (pathOnly.startsWith(`/apis/gantry.dev/v1/nodes/${encodeURIComponent(node)}/agent/`)) return true;
  if (method !== 'GET') return false;
  if (pathOnly === '/apis/gantry.dev/v1/status') return true;
  const a = requestAttributes(method, url);
  if (a.group !== 'gantry.dev' || !a.resource) return false;
  const wanted = a.resource.split(',');
  return wanted.every((k) => AGENT_VIEW_KINDS.includes(k)) && (pathOnly.startsWith('/apis/gantry.dev/v1/objects/') || pathOnly === '/apis/gantry.dev/v1/watch');
}

/** The Status a refused request of a gantry token gets, worded as the API server words it. */
function tokenForbiddenMessage(who: Identity, a: RequestAttributes): string {
  const what = a.resource ? `resource "${a.resource}${a.subresource ? `/${a.subresource}` : ''}" in API group "${a.group}"${a.namespace ? ` in the namespace "${a.namespace}"` : ''}` : 'this path';
  return `${a.resource || 'request'} is forbidden: User "${who.name}" (role ${who.role}) cannot ${a.verb} ${what}`;
}

/** The bearer token of a request: the Authorization header, as kubectl and client libraries send it. */
export function bearerToken(req: FastifyRequest): string | undefined {
  const h = req.headers.authorization;
  if (!h) return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
  return m?.[1];
}

/** Service-account tokens and the RBAC they are authorized by. */
export interface ServiceAccountAuth {
  tokens: ServiceAccountTokens;
  rbac: RbacCache;
}

/**
 * The identity of a service account's token, or the reason it is refused.
 */
export async function authenticateServiceAccount(auth: ServiceAccountAuth, secret: string): Promise<Identity | string> {
  try {
    const sa = await auth.tokens.verify(secret, auth.rbac);
    return { name: sa.user, role: 'service-account', groups: serviceAccountGroups(sa.namespace), uid: sa.uid, ...(sa.pod ? { pod: sa.pod } : {}) };
  } catch (err) {
    if (isGantryError(err, 'AuthFailed')) return err.message;
    throw err;
  }
}

/** Installs the guard on every route of `app`; service-account tokens are accepted with `opts.serviceAccounts`. */
export function installGuard(app: FastifyInstance, tokens: TokenFile, opts: { serviceAccounts?: ServiceAccountAuth } = {}): void {
  const sa = opts.serviceAccounts;
  app.addHook('onRequest', async (req, reply) => {
    const pathOnly = req.url.split('?', 1)[0]!;
    if (PUBLIC_PATHS.has(pathOnly)) return;
    // The dashboard's files (and `/`, which sends a browser there) hold no data: the page signs in
    // with a token and calls the API with it like any client.
    if ((req.method === 'GET' || req.method === 'HEAD') && (pathOnly === '/' || isDashboardPath(pathOnly))) return;
    const secret = bearerToken(req);
    let who = secret ? tokens.authenticate(secret) : undefined;
    if (!who && secret && sa && looksLikeJwt(secret)) {
      const found = await authenticateServiceAccount(sa, secret);
      if (typeof found === 'string') return sendStatus(reply, 401, 'Unauthorized', `Unauthorized: ${found}`);
      who = found;
    }
    if (!who) return sendStatus(reply, 401, 'Unauthorized', secret ? 'Unauthorized: the token is not one this server knows (revoked, or from another data directory)' : 'Unauthorized: a bearer token is required (see <data-dir>/kubeconfig, or gantry token create)');
    req.identity = who;
    if (who.role === 'admin') return;
    if (who.role === 'service-account') {
      const info = requestInfo(req.method, req.url);
      const decision = authorize(sa!.rbac, { name: who.name, groups: who.groups ?? [] }, info);
      if (decision.allowed) return;
      const details = info.resourceRequest ? { ...(info.name ? { name: info.name } : {}), group: info.apiGroup, kind: info.resource } : undefined;
      return sendStatus(reply, 403, 'Forbidden', forbiddenMessage(who.name, info, decision.reason), details);
    }
    const a = requestAttributes(req.method, req.url);
    const allowed = who.role === 'agent' ? agentAllows(who.node, req.method, req.url) : readOnlyAllows(a);
    if (!allowed) return sendStatus(reply, 403, 'Forbidden', tokenForbiddenMessage(who, a));
  });
}
