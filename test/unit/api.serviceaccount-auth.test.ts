/**
 * The API with service-account tokens (in-memory store, real HTTP routing through fastify's
 * inject): authentication of a pod's token, RBAC in front of every route, writes still 405 when
 * allowed, access reviews in JSON and in Kubernetes' protobuf, and TokenRequest.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import protobuf from 'protobufjs';
import { ServiceAccountTokens } from '../../src/api/auth/sa-tokens.js';
import { TokenFile } from '../../src/api/auth/tokens.js';
import { createApiServer } from '../../src/api/server.js';
import { silentLogger } from '../../src/log.js';
import { BOOTSTRAP_CLUSTER_ROLE_BINDINGS, BOOTSTRAP_CLUSTER_ROLES } from '../../src/model/bootstrap-policy.js';
import type { ClusterRole, Pod, RoleBinding, ServiceAccount } from '../../src/model/types.js';
import { aggregateRules } from '../../src/controllers/rbac.js';
import { MemoryStore } from '../fakes/memory-store.js';

/** Kubernetes' protobuf envelope around a message `build` writes. */
function kubeProtobuf(apiVersion: string, kind: string, build: (w: protobuf.Writer) => void): Buffer {
  const inner = protobuf.Writer.create();
  build(inner);
  const raw = inner.finish();
  const w = protobuf.Writer.create();
  w.uint32((1 << 3) | 2).fork().uint32((1 << 3) | 2).string(apiVersion).uint32((2 << 3) | 2).string(kind).ldelim();
  w.uint32((2 << 3) | 2).bytes(raw);
  return Buffer.concat([Buffer.from([0x6b, 0x38, 0x73, 0x00]), Buffer.from(w.finish())]);
}

describe('the API with service account tokens', () => {
  let dir = '';
  let store: MemoryStore;
  let app: ReturnType<typeof createApiServer>;
  let sat: ServiceAccountTokens;
  let admin = '';
  let editor = '';
  let viewer = '';

  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'gantry-sa-api-'));
    store = new MemoryStore();
    const roles = BOOTSTRAP_CLUSTER_ROLES.map((r) => structuredClone(r));
    for (const name of ['view', 'edit', 'admin']) roles.find((r) => r.metadata.name === name)!.rules = aggregateRules(roles.find((r) => r.metadata.name === name)!, roles);
    for (const o of [...roles, ...BOOTSTRAP_CLUSTER_ROLE_BINDINGS]) await store.create(structuredClone(o) as ClusterRole);
    sat = await ServiceAccountTokens.open(dir);
    const tokens = new TokenFile(path.join(dir, 'tokens.json'));
    admin = await tokens.create('admin', 'admin');
    const pod = await store.create<Pod>({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web-1', namespace: 'shop' }, spec: { containers: [{ name: 'c', image: 'busybox' }] } });
    const tokenFor = async (name: string, role: string): Promise<string> => {
      const sa = await store.create<ServiceAccount>({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name, namespace: 'shop' } });
      await store.create<RoleBinding>({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name, namespace: 'shop' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role }, subjects: [{ kind: 'ServiceAccount', name }] });
      return (await sat.issue({ namespace: 'shop', serviceAccount: { name, uid: sa.metadata.uid! }, pod: { name: 'web-1', uid: pod.metadata.uid! }, expirationSeconds: 3600 })).token;
    };
    editor = await tokenFor('editor', 'edit');
    viewer = await tokenFor('viewer', 'view');
    app = createApiServer({ store, logger: silentLogger(), tokens, serviceAccounts: sat });
    await app.ready();
  });
  afterEach(async () => {
    await app.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  const call = (token: string, method: 'GET' | 'POST' | 'DELETE' | 'PATCH', url: string, body?: unknown, contentType?: string) =>
    app.inject({ method, url, headers: { authorization: `Bearer ${token}`, ...(contentType ? { 'content-type': contentType } : {}) }, ...(body !== undefined ? { payload: body as string } : {}) });

  it('lets a viewer read pods and discover the API, and refuses Secrets with Kubernetes\' Status', async () => {
    assert.equal((await call(viewer, 'GET', '/api/v1/namespaces/shop/pods')).statusCode, 200);
    assert.equal((await call(viewer, 'GET', '/apis')).statusCode, 200);
    const res = await call(viewer, 'GET', '/api/v1/namespaces/shop/secrets/db');
    assert.equal(res.statusCode, 403);
    assert.deepEqual(res.json(), {
      kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', reason: 'Forbidden', code: 403,
      message: 'secrets "db" is forbidden: User "system:serviceaccount:shop:viewer" cannot get resource "secrets" in API group "" in the namespace "shop"',
      details: { name: 'db', group: '', kind: 'secrets' },
    });
  });

  it('still answers a write 405 when RBAC allows it, 403 when it does not, and runs an allowed dry run', async () => {
    assert.equal((await call(editor, 'DELETE', '/api/v1/namespaces/shop/pods/web-1')).statusCode, 405);
    assert.equal((await call(viewer, 'DELETE', '/api/v1/namespaces/shop/pods/web-1')).statusCode, 403);
    const cm = JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x', namespace: 'shop' }, data: { a: 'b' } });
    assert.equal((await call(editor, 'POST', '/api/v1/namespaces/shop/configmaps?dryRun=All', cm, 'application/json')).statusCode, 201);
    assert.equal((await call(viewer, 'POST', '/api/v1/namespaces/shop/configmaps?dryRun=All', cm, 'application/json')).statusCode, 403);
  });

  it('keeps gantry\'s own routes from service accounts that are not cluster-admin', async () => {
    const res = await call(editor, 'GET', '/apis/gantry.dev/v1/objects/Pod');
    assert.equal(res.statusCode, 403);
    assert.match(res.json<{ message: string }>().message, /cannot get resource "objects" in API group "gantry.dev" at the cluster scope/);
  });

  it('refuses a token whose pod is gone, and one that is not a token of this cluster', async () => {
    await store.delete({ kind: 'Pod', namespace: 'shop', name: 'web-1' });
    const res = await call(viewer, 'GET', '/api/v1/namespaces/shop/pods');
    assert.equal(res.statusCode, 401);
    assert.match(res.json<{ message: string }>().message, /bound to pod shop\/web-1, which is gone/);
    assert.equal((await call('aaa.bbb.ccc', 'GET', '/api/v1/namespaces/shop/pods')).statusCode, 401);
  });

  it('answers SelfSubjectAccessReviews in JSON and in protobuf, for a pod\'s token and the admin token', async () => {
    const review = (verb: string, resource: string) => JSON.stringify({ apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec: { resourceAttributes: { namespace: 'shop', verb, resource } } });
    const allowed = async (token: string, body: string | Buffer, type: string) => {
      const res = await call(token, 'POST', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', body, type);
      assert.equal(res.statusCode, 201, res.body);
      return res.json<{ status: { allowed: boolean; reason?: string } }>().status;
    };
    assert.deepEqual(await allowed(viewer, review('list', 'pods'), 'application/json'), { allowed: true, reason: 'RBAC: allowed by RoleBinding "viewer/shop" of ClusterRole "view" to ServiceAccount "viewer/shop"' });
    assert.equal((await allowed(viewer, review('list', 'secrets'), 'application/json')).allowed, false);
    assert.equal((await allowed(admin, review('delete', 'secrets'), 'application/json')).allowed, true);
    const pb = kubeProtobuf('authorization.k8s.io/v1', 'SelfSubjectAccessReview', (w) => {
      w.uint32((2 << 3) | 2).fork().uint32((1 << 3) | 2).fork()
        .uint32((1 << 3) | 2).string('shop').uint32((2 << 3) | 2).string('get').uint32((5 << 3) | 2).string('pods').uint32((6 << 3) | 2).string('log')
        .ldelim().ldelim();
    });
    assert.equal((await allowed(viewer, pb, 'application/vnd.kubernetes.protobuf')).allowed, true);
  });

  it('issues a token by TokenRequest to who may create serviceaccounts/token, at least ten minutes long', async () => {
    const body = JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 1200 } });
    const res = await call(editor, 'POST', '/api/v1/namespaces/shop/serviceaccounts/viewer/token', body, 'application/json');
    assert.equal(res.statusCode, 201, res.body);
    const token = res.json<{ status: { token: string } }>().status.token;
    assert.equal((await call(token, 'GET', '/api/v1/namespaces/shop/pods')).statusCode, 200);
    assert.equal((await call(viewer, 'POST', '/api/v1/namespaces/shop/serviceaccounts/viewer/token', body, 'application/json')).statusCode, 403);
    const short = JSON.stringify({ spec: { expirationSeconds: 60 } });
    assert.equal((await call(admin, 'POST', '/api/v1/namespaces/shop/serviceaccounts/viewer/token', short, 'application/json')).statusCode, 422);
    assert.equal((await call(admin, 'POST', '/api/v1/namespaces/shop/serviceaccounts/nobody/token', body, 'application/json')).statusCode, 404);
  });

  it('publishes the issuer and its key for other systems', async () => {
    const conf = (await call(viewer, 'GET', '/.well-known/openid-configuration')).json<{ issuer: string; jwks_uri: string }>();
    assert.equal(conf.issuer, 'https://kubernetes.default.svc.cluster.local');
    const jwks = (await call(admin, 'GET', '/openid/v1/jwks')).json<{ keys: { kid: string }[] }>();
    assert.equal(jwks.keys[0]!.kid, sat.keyId);
  });
});
