/**
 * What a caller may do, asked of the API itself, as kubectl asks it:
 *
 * - `POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews` (`kubectl auth can-i VERB
 *   RESOURCE`): allowed or not, and why;
 * - `POST /apis/authorization.k8s.io/v1/selfsubjectrulesreviews` (`kubectl auth can-i --list`):
 *   the rules that apply in a namespace;
 * - `POST /apis/authentication.k8s.io/v1/selfsubjectreviews` (`kubectl auth whoami`).
 *
 * A service account is answered by RBAC, exactly as its requests are authorized; an admin token
 * may do anything; read-only and agent tokens by the lines ./auth/guard.ts draws.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { PolicyRule } from '../model/types.js';
import { agentAllows, readOnlyAllows, type RequestAttributes } from './auth/guard.js';
import { authorize, rulesFor, type RbacPolicySource } from './auth/rbac.js';
import type { RequestInfo } from './auth/request-info.js';
import type { Identity } from './auth/tokens.js';
import { sendStatus } from './kube.js';
import { acceptKubeProtobuf } from './protobuf.js';

/** The API groups of the reviews, for discovery. */
export const REVIEW_GROUPS: readonly { groupVersion: string; resources: { name: string; kind: string }[] }[] = [
  {
    groupVersion: 'authorization.k8s.io/v1',
    resources: [
      { name: 'selfsubjectaccessreviews', kind: 'SelfSubjectAccessReview' },
      { name: 'selfsubjectrulesreviews', kind: 'SelfSubjectRulesReview' },
    ],
  },
  { groupVersion: 'authentication.k8s.io/v1', resources: [{ name: 'selfsubjectreviews', kind: 'SelfSubjectReview' }] },
];

/** Options of {@link accessReviewApi}. */
export interface AccessReviewOptions {
  /** The RBAC objects service accounts are judged by. */
  rbac?: RbacPolicySource;
}

interface ResourceAttributes { namespace?: string; verb?: string; group?: string; version?: string; resource?: string; subresource?: string; name?: string }
interface NonResourceAttributes { path?: string; verb?: string }
type ReviewBody = { apiVersion?: string; kind?: string; metadata?: Record<string, unknown>; spec?: { resourceAttributes?: ResourceAttributes; nonResourceAttributes?: NonResourceAttributes; namespace?: string } };

/** The review routes, as a fastify plugin. */
export function accessReviewApi(opts: AccessReviewOptions): (app: FastifyInstance) => Promise<void> {
  return async (app) => registerRoutes(app, opts);
}

function registerRoutes(app: FastifyInstance, opts: AccessReviewOptions): void {
  acceptKubeProtobuf(app);
  for (const g of REVIEW_GROUPS) {
    app.get(`/apis/${g.groupVersion}`, async () => ({
      kind: 'APIResourceList',
      apiVersion: 'v1',
      groupVersion: g.groupVersion,
      resources: g.resources.map((r) => ({ name: r.name, singularName: r.kind.toLowerCase(), namespaced: false, kind: r.kind, verbs: ['create'] })),
    }));
  }

  app.post<{ Body: ReviewBody }>('/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', async (req, reply) => {
    const spec = req.body?.spec;
    const ra = spec?.resourceAttributes;
    const na = spec?.nonResourceAttributes;
    if (!ra && !na) return sendStatus(reply, 422, 'Invalid', 'SelfSubjectAccessReview.authorization.k8s.io is invalid: spec: Invalid value: exactly one of nonResourceAttributes or resourceAttributes must be specified');
    const info: RequestInfo = ra
      ? { resourceRequest: true, path: '', verb: ra.verb ?? '', apiGroup: ra.group ?? '', apiVersion: ra.version ?? '', namespace: ra.namespace ?? '', resource: ra.resource ?? '', subresource: ra.subresource ?? '', name: ra.name ?? '' }
      : { resourceRequest: false, path: na!.path ?? '', verb: na!.verb ?? '', apiGroup: '', apiVersion: '', namespace: '', resource: '', subresource: '', name: '' };
    const decision = decide(req, opts, info);
    return review(req, reply, 'SelfSubjectAccessReview', { allowed: decision.allowed, ...(decision.reason ? { reason: decision.reason } : {}) });
  });

  app.post<{ Body: ReviewBody }>('/apis/authorization.k8s.io/v1/selfsubjectrulesreviews', async (req, reply) => {
    const namespace = req.body?.spec?.namespace ?? '';
    const who = req.identity;
    let rules: PolicyRule[];
    let incomplete = false;
    let evaluationError: string | undefined;
    if (!who || who.role === 'admin') rules = [{ verbs: ['*'], apiGroups: ['*'], resources: ['*'] }, { verbs: ['*'], nonResourceURLs: ['*'] }];
    else if (who.role === 'service-account' && opts.rbac) {
      const found = rulesFor(opts.rbac, { name: who.name, groups: who.groups ?? [] }, namespace);
      rules = found.rules;
      if (found.errors.length) {
        incomplete = true;
        evaluationError = found.errors.join(', ');
      }
    } else {
      // gantry's own token roles are not made of rules: say so rather than guess a list.
      rules = [];
      incomplete = true;
      evaluationError = `the rules of a ${who.role} token are not RBAC rules; ask for one permission with kubectl auth can-i VERB RESOURCE`;
    }
    return review(req, reply, 'SelfSubjectRulesReview', {
      resourceRules: rules.filter((r) => !r.nonResourceURLs?.length).map((r) => ({ verbs: r.verbs, apiGroups: r.apiGroups ?? [], resources: r.resources ?? [], ...(r.resourceNames?.length ? { resourceNames: r.resourceNames } : {}) })),
      nonResourceRules: rules.filter((r) => r.nonResourceURLs?.length).map((r) => ({ verbs: r.verbs, nonResourceURLs: r.nonResourceURLs })),
      incomplete,
      ...(evaluationError ? { evaluationError } : {}),
    });
  });

  app.post<{ Body: ReviewBody }>('/apis/authentication.k8s.io/v1/selfsubjectreviews', async (req, reply) => {
    const who = req.identity;
    const groups = who?.groups ?? (who ? ['system:authenticated'] : []);
    return review(req, reply, 'SelfSubjectReview', { userInfo: { username: who?.name ?? 'system:anonymous', ...(who?.uid ? { uid: who.uid } : {}), groups, ...(who?.pod ? { extra: { 'authentication.kubernetes.io/pod-name': [who.pod.name], 'authentication.kubernetes.io/pod-uid': [who.pod.uid] } } : {}) } });
  });
}

/** The review answered: what was asked, with a status. */
function review(req: FastifyRequest<{ Body: ReviewBody }>, reply: FastifyReply, kind: string, status: Record<string, unknown>): FastifyReply {
  const group = kind === 'SelfSubjectReview' ? 'authentication.k8s.io/v1' : 'authorization.k8s.io/v1';
  return reply.code(201).send({ kind, apiVersion: group, metadata: { ...(req.body?.metadata ?? {}), creationTimestamp: null }, ...(req.body?.spec ? { spec: req.body.spec } : {}), status });
}

/** Whether the caller may do what `info` describes, by the rules that authorize its own requests. */
function decide(req: FastifyRequest, opts: AccessReviewOptions, info: RequestInfo): { allowed: boolean; reason?: string } {
  const who: Identity | undefined = req.identity;
  if (!who || who.role === 'admin') return { allowed: true };
  if (who.role === 'service-account') {
    if (!opts.rbac) return { allowed: false };
    return authorize(opts.rbac, { name: who.name, groups: who.groups ?? [] }, info);
  }
  if (who.role === 'agent') {
    // An agent reads its view of the cluster; everything else it does goes through its own routes.
    const a = attributesOf(info);
    return { allowed: info.resourceRequest && ['get', 'list', 'watch'].includes(info.verb) && agentAllows(who.node, 'GET', `/apis/gantry.dev/v1/objects/${encodeURIComponent(a.resource)}`) };
  }
  return { allowed: !info.resourceRequest ? ['get', 'head', 'options'].includes(info.verb) : readOnlyAllows(attributesOf(info)) };
}

function attributesOf(info: RequestInfo): RequestAttributes {
  return { verb: info.verb, resource: info.resource, subresource: info.subresource, namespace: info.namespace, group: info.apiGroup };
}
