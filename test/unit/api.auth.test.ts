import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { isLoopbackHost, prepareApiSecurity, writeAdminKubeconfig } from '../../src/api/auth/index.js';
import { requestAttributes, readOnlyAllows } from '../../src/api/auth/guard.js';
import { readKubeconfig } from '../../src/api/auth/kubeconfig.js';
import { ensureServingPki, pkiPaths } from '../../src/api/auth/pki.js';
import { TokenFile } from '../../src/api/auth/tokens.js';
import { createApiServer } from '../../src/api/server.js';
import { silentLogger } from '../../src/log.js';
import { MemoryStore } from '../fakes/memory-store.js';

describe('API authentication', () => {
  let dir = '';
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'gantry-auth-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  describe('token file', () => {
    it('keeps only hashes, authenticates secrets by role, and forgets revoked ones', async () => {
      const tokens = new TokenFile(path.join(dir, 'tokens.json'));
      const admin = await tokens.create('admin', 'admin');
      const ro = await tokens.create('ci', 'read-only');
      const text = await readFile(tokens.file, 'utf8');
      assert.ok(!text.includes(admin) && !text.includes(ro), 'the file must not hold a secret');
      assert.equal((await stat(tokens.file)).mode & 0o777, 0o600);
      assert.deepEqual(tokens.authenticate(admin), { name: 'admin', role: 'admin' });
      assert.deepEqual(tokens.authenticate(ro), { name: 'ci', role: 'read-only' });
      assert.equal(tokens.authenticate(`${ro}x`), undefined);
      assert.equal(await tokens.revoke('ci'), true);
      assert.equal(tokens.authenticate(ro), undefined);
      assert.equal(await tokens.revoke('ci'), false);
    });

    it('refuses a taken name, a bad name and an unknown role with the field named', async () => {
      const tokens = new TokenFile(path.join(dir, 'tokens.json'));
      await tokens.create('ci', 'read-only');
      await assert.rejects(tokens.create('ci', 'admin'), /token named "ci" exists already/);
      await assert.rejects(tokens.create('Bad_Name', 'admin'), (e: Error & { field?: string }) => /token name "Bad_Name"/.test(e.message));
      await assert.rejects(tokens.create('x', 'root' as 'admin'), /token role "root": must be one of admin, read-only/);
    });

    it('sees a token another process made, without a restart', async () => {
      const server = new TokenFile(path.join(dir, 'tokens.json'));
      assert.equal(server.authenticate('anything'), undefined);
      const secret = await new TokenFile(server.file).create('later', 'read-only');
      // The server rereads a changed file at most once a second.
      await new Promise((r) => setTimeout(r, 1100));
      assert.deepEqual(server.authenticate(secret), { name: 'later', role: 'read-only' });
    });

    it('names the file and the entry when the file is broken', async () => {
      const file = path.join(dir, 'tokens.json');
      await writeFile(file, '{"tokens":[{"name":"x"}]}');
      await assert.rejects(new TokenFile(file).list(), /tokens\.json: tokens\[0\] needs a name, a sha256 and a role/);
    });
  });

  describe('certificates', () => {
    it('makes a CA and a serving certificate for loopback, the host name and extra names, and keeps them', async () => {
      const first = await ensureServingPki(dir, ['localhost', '127.0.0.1', '::1', 'gantry.example']);
      const cert = new X509Certificate(first.cert);
      assert.ok(cert.checkIssued(new X509Certificate(first.ca)));
      assert.ok(cert.checkHost('gantry.example'));
      assert.ok(cert.checkIP('127.0.0.1'));
      assert.equal((await stat(pkiPaths(dir).caKey)).mode & 0o777, 0o600);
      const again = await ensureServingPki(dir, ['localhost', '127.0.0.1']);
      assert.equal(again.cert, first.cert, 'a certificate that covers the names is kept');
      const wider = await ensureServingPki(dir, ['localhost', '10.1.2.3']);
      assert.notEqual(wider.cert, first.cert, 'a new name makes a new serving certificate');
      assert.equal(wider.ca, first.ca, 'the CA stays, so kubeconfigs keep working');
      assert.ok(new X509Certificate(wider.cert).checkIP('10.1.2.3'));
    });
  });

  describe('start-up', () => {
    it('refuses plain HTTP on a non-loopback address and allows it on loopback', async () => {
      await assert.rejects(prepareApiSecurity({ dataDir: dir, listenHost: '0.0.0.0', insecureHttp: true }), /--insecure-http: the API would listen on 0\.0\.0\.0 in plain HTTP/);
      const sec = await prepareApiSecurity({ dataDir: dir, listenHost: '127.0.0.1', insecureHttp: true });
      assert.equal(sec.tls, undefined);
      assert.ok(isLoopbackHost('127.0.0.1') && isLoopbackHost('::1') && !isLoopbackHost('10.0.0.1'));
    });

    it('keeps the admin token across restarts through the kubeconfig, and replaces a lost one', async () => {
      const first = await prepareApiSecurity({ dataDir: dir, listenHost: '127.0.0.1' });
      const file = await writeAdminKubeconfig(dir, first, 'https://127.0.0.1:7480');
      const kc = await readKubeconfig(file);
      assert.equal(kc.token, first.adminToken);
      assert.equal(kc.ca, first.tls!.ca);
      assert.equal(kc.server, 'https://127.0.0.1:7480');
      const second = await prepareApiSecurity({ dataDir: dir, listenHost: '127.0.0.1' });
      assert.equal(second.adminToken, first.adminToken);
      await rm(file);
      const third = await prepareApiSecurity({ dataDir: dir, listenHost: '127.0.0.1' });
      assert.notEqual(third.adminToken, first.adminToken);
      assert.equal(third.tokens.authenticate(first.adminToken), undefined, 'the lost token no longer works');
    });
  });

  describe('guard', () => {
    it('reads the resource, verb and namespace of Kubernetes and gantry paths', () => {
      assert.deepEqual(requestAttributes('GET', '/api/v1/namespaces/ns/secrets?watch=true'), { verb: 'watch', resource: 'secrets', subresource: '', namespace: 'ns', group: '' });
      assert.deepEqual(requestAttributes('POST', '/api/v1/namespaces/ns/pods/web/exec?command=sh'), { verb: 'create', resource: 'pods', subresource: 'exec', namespace: 'ns', group: '' });
      assert.deepEqual(requestAttributes('GET', '/apis/apps/v1/deployments'), { verb: 'list', resource: 'deployments', subresource: '', namespace: '', group: 'apps' });
      assert.equal(requestAttributes('GET', '/apis/gantry.dev/v1/objects/secrets/ns/x').resource, 'Secret');
      assert.equal(requestAttributes('GET', '/apis/gantry.dev/v1/watch?kinds=Pod,secret').resource, 'Pod,Secret');
      assert.equal(readOnlyAllows(requestAttributes('GET', '/api/v1/namespaces/ns/pods/web/log')), true);
      assert.equal(readOnlyAllows(requestAttributes('GET', '/api/v1/namespaces/ns/pods/web/exec')), false);
      assert.equal(readOnlyAllows(requestAttributes('GET', '/api/v1/namespaces/ns/pods/web/portforward')), false);
      assert.equal(readOnlyAllows(requestAttributes('PATCH', '/apis/apps/v1/namespaces/ns/deployments/web?dryRun=All&fieldManager=kubectl')), true, 'kubectl diff');
      assert.equal(readOnlyAllows(requestAttributes('PATCH', '/apis/apps/v1/namespaces/ns/deployments/web')), false);
      assert.equal(readOnlyAllows(requestAttributes('PATCH', '/api/v1/namespaces/ns/secrets/s?dryRun=All')), false);
    });

    it('lets a read-only token blame what it may read, but not a Secret, and not suspend, resume or sync', () => {
      assert.equal(readOnlyAllows(requestAttributes('GET', '/apis/gantry.dev/v1/blame?object=Deployment%2Fdefault%2Fweb')), true);
      assert.equal(readOnlyAllows(requestAttributes('GET', '/apis/gantry.dev/v1/blame?object=Secret%2Fdefault%2Fdb')), false);
      for (const action of ['suspend', 'resume', 'sync']) assert.equal(readOnlyAllows(requestAttributes('POST', `/apis/gantry.dev/v1/${action}`)), false, action);
    });

    it('answers 401 without a valid token, 403 for a read-only token on Secrets, exec and sync, and serves the rest', async () => {
      const tokens = new TokenFile(path.join(dir, 'tokens.json'));
      const admin = await tokens.create('admin', 'admin');
      const ro = await tokens.create('ci', 'read-only');
      const store = new MemoryStore();
      await store.create({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 's', namespace: 'default' }, data: { k: 'dmFsdWU=' } });
      const app = createApiServer({ store, logger: silentLogger(), tokens });
      const call = async (url: string, token?: string, method: 'GET' | 'POST' = 'GET') => {
        const res = await app.inject({ method, url, headers: token ? { authorization: `Bearer ${token}` } : {} });
        return { status: res.statusCode, body: res.json() as { reason?: string; message?: string } };
      };
      try {
        assert.equal((await call('/healthz')).status, 200);
        const none = await call('/api/v1/pods');
        assert.equal(none.status, 401);
        assert.equal(none.body.reason, 'Unauthorized');
        assert.equal((await call('/api/v1/pods', 'wrong')).status, 401);
        assert.equal((await call('/metrics')).status, 401);
        // The webhook keeps its own check (HMAC): no token needed to reach it.
        assert.equal((await call('/apis/gantry.dev/v1/webhook', undefined, 'POST')).status, 401);
        assert.equal((await app.inject({ method: 'POST', url: '/apis/gantry.dev/v1/webhook' })).json<{ code: string }>().code, 'AuthFailed');
        assert.equal((await call('/api/v1/namespaces/default/secrets/s', admin)).status, 200);
        assert.equal((await call('/api/v1/pods', ro)).status, 200);
        const secret = await call('/api/v1/namespaces/default/secrets/s', ro);
        assert.equal(secret.status, 403);
        assert.match(secret.body.message!, /User "ci" \(role read-only\) cannot get resource "secrets" in API group "" in the namespace "default"/);
        assert.equal((await call('/api/v1/secrets', ro)).status, 403);
        assert.equal((await call('/apis/gantry.dev/v1/objects/Secret', ro)).status, 403);
        assert.equal((await call('/apis/gantry.dev/v1/watch?kinds=Pod,Secret', ro)).status, 403);
        assert.equal((await call('/apis/gantry.dev/v1/sync', ro, 'POST')).status, 403);
        assert.equal((await call('/api/v1/namespaces/default/pods/web/exec?command=sh', ro)).status, 403);
        assert.equal((await call('/apis/gantry.dev/v1/objects/ConfigMap', ro)).status, 200);
      } finally {
        await app.close();
      }
    });
  });
});
