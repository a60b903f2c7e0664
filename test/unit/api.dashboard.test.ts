import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { PlanResponse } from '../../src/api/plan-types.js';
import { TokenFile } from '../../src/api/auth/tokens.js';
import { createApiServer } from '../../src/api/server.js';
import { silentLogger } from '../../src/log.js';
import type { KubeObject } from '../../src/model/types.js';
import { GitSource } from '../../src/sync/git-source.js';
import { MemoryStore } from '../fakes/memory-store.js';
import { makeRepo, tempDir } from '../helpers/git-http-server.js';

const SECRET_VALUE = 'hunter2-unit';

const secret: KubeObject = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db', namespace: 'default' }, type: 'Opaque', data: { password: Buffer.from(SECRET_VALUE).toString('base64') } };

describe('API server: the web dashboard\'s files and routes', () => {
  let tmp: { dir: string; cleanup(): Promise<void> };
  let dashboardDir: string;
  let tokens: TokenFile;
  let admin: string;
  let readOnly: string;
  const store = new MemoryStore();
  let app: ReturnType<typeof createApiServer>;

  before(async () => {
    tmp = await tempDir('gantry-dash-');
    dashboardDir = path.join(tmp.dir, 'dashboard');
    await mkdir(path.join(dashboardDir, 'assets'), { recursive: true });
    await writeFile(path.join(dashboardDir, 'index.html'), '<!doctype html><title>gantry</title><div id="app"></div>');
    await writeFile(path.join(dashboardDir, 'assets', 'index-abc123.js'), 'console.log(1)');
    tokens = new TokenFile(path.join(tmp.dir, 'tokens.json'));
    admin = await tokens.create('admin', 'admin');
    readOnly = await tokens.create('viewer', 'read-only');
    await store.create(secret);
    app = createApiServer({ store, logger: silentLogger(), tokens, dashboardDir });
  });
  after(async () => {
    await app.close();
    await tmp.cleanup();
  });

  it('serves the page at /dashboard/ without a token, under a CSP that allows only its own origin', async () => {
    const res = await app.inject({ method: 'GET', url: '/dashboard/' });
    assert.equal(res.statusCode, 200);
    assert.match(res.body, /<div id="app">/);
    assert.match(String(res.headers['content-security-policy']), /default-src 'none'; script-src 'self'/);
    assert.match(String(res.headers['content-security-policy']), /connect-src 'self'/);
    assert.equal(res.headers['cache-control'], 'no-cache');
    const asset = await app.inject({ method: 'GET', url: '/dashboard/assets/index-abc123.js' });
    assert.equal(asset.statusCode, 200);
    assert.match(String(asset.headers['cache-control']), /immutable/);
  });

  it('sends a browser opening the server\'s address to the dashboard, and answers an API client with 404', async () => {
    const browser = await app.inject({ method: 'GET', url: '/', headers: { accept: 'text/html,application/xhtml+xml' } });
    assert.equal(browser.statusCode, 302);
    assert.equal(browser.headers.location, '/dashboard/');
    const client = await app.inject({ method: 'GET', url: '/', headers: { accept: 'application/json' } });
    assert.equal(client.statusCode, 404);
  });

  it('still asks every data route for a token, and never serves a file outside the dashboard', async () => {
    assert.equal((await app.inject({ method: 'GET', url: '/apis/gantry.dev/v1/objects/Secret' })).statusCode, 401);
    for (const url of ['/dashboard/../tokens.json', '/dashboard/%2e%2e/tokens.json', '/dashboard/..%2ftokens.json']) {
      const res = await app.inject({ method: 'GET', url });
      assert.ok([401, 403, 404].includes(res.statusCode), `${url}: ${res.statusCode}`);
      assert.ok(!res.body.includes('viewer'), `${url} served the token file`);
    }
  });

  it('hides Secret values from objects?redact=true (keys kept), and shows them to an admin who does not ask', async () => {
    const auth = { authorization: `Bearer ${admin}` };
    const hidden = await app.inject({ method: 'GET', url: '/apis/gantry.dev/v1/objects/Secret/default/db?redact=true', headers: auth });
    assert.deepEqual(hidden.json<KubeObject>().data, { password: '(hidden)' });
    const list = await app.inject({ method: 'GET', url: '/apis/gantry.dev/v1/objects/Secret?redact=true', headers: auth });
    assert.ok(!list.body.includes(Buffer.from(SECRET_VALUE).toString('base64')));
    const plain = await app.inject({ method: 'GET', url: '/apis/gantry.dev/v1/objects/Secret/default/db', headers: auth });
    assert.equal(plain.json<KubeObject>().data && (plain.json<KubeObject>().data as Record<string, string>).password, Buffer.from(SECRET_VALUE).toString('base64'));
    const bad = await app.inject({ method: 'GET', url: '/apis/gantry.dev/v1/objects/Secret?redact=maybe', headers: auth });
    assert.equal(bad.statusCode, 400);
    assert.match(bad.json<{ message: string }>().message, /redact: "maybe" is not true or false/);
  });

  it('hides Secret values from a watch with redact=true', async () => {
    await app.listen({ host: '127.0.0.1', port: 0 });
    const port = (app.server.address() as { port: number }).port;
    const ac = new AbortController();
    const res = await fetch(`http://127.0.0.1:${port}/apis/gantry.dev/v1/watch?fromRevision=0&redact=true`, { headers: { authorization: `Bearer ${admin}` }, signal: ac.signal });
    const reader = res.body!.getReader();
    let text = '';
    await store.update({ ...(await store.get({ kind: 'Secret', namespace: 'default', name: 'db' }))!, data: { password: Buffer.from(`${SECRET_VALUE}-2`).toString('base64') } });
    while (!text.includes('"MODIFIED"')) text += Buffer.from((await reader.read()).value!).toString('utf8');
    ac.abort();
    assert.match(text, /"password":"\(hidden\)"/);
    assert.ok(!text.includes(Buffer.from(SECRET_VALUE).toString('base64')) && !text.includes(Buffer.from(`${SECRET_VALUE}-2`).toString('base64')));
  });

  it('lets a read-only token in to the page, and keeps Secrets from it as before', async () => {
    const res = await app.inject({ method: 'GET', url: '/apis/gantry.dev/v1/objects/Secret?redact=true', headers: { authorization: `Bearer ${readOnly}` } });
    assert.equal(res.statusCode, 403);
  });

  it('answers 503 saying how to build the dashboard when this installation has no built files', async () => {
    const bare = createApiServer({ store: new MemoryStore(), logger: silentLogger() });
    const res = await bare.inject({ method: 'GET', url: '/dashboard/' });
    assert.equal(res.statusCode, 503);
    assert.match(res.body, /npm run build/);
    await bare.close();
  });
});

describe('API server: the plan route (what a ref would change against the live state)', () => {
  let tmp: { dir: string; cleanup(): Promise<void> };
  let app: ReturnType<typeof createApiServer>;
  const store = new MemoryStore();
  const deployment = (replicas: number) => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: ${replicas}
  selector:
    matchLabels: { app: web }
  template:
    metadata:
      labels: { app: web }
    spec:
      containers:
        - name: web
          image: busybox
`;

  before(async () => {
    tmp = await tempDir('gantry-plan-route-');
    const work = path.join(tmp.dir, 'repo');
    await makeRepo(work, {
      'web/deployment.yaml': deployment(2),
      'web/secret.yaml': `apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: ${SECRET_VALUE}\n`,
    });
    const { git } = await import('../helpers/git-http-server.js');
    await git(work, ['checkout', '-q', '-b', 'broken']);
    await writeFile(path.join(work, 'web', 'deployment.yaml'), deployment(2).replace('image: busybox', 'image: ""\n          bogus: 1'));
    await git(work, ['commit', '-q', '-am', 'broken']);
    // Valid manifests that break a quota they declare: two Pods where one is allowed.
    await git(work, ['checkout', '-q', '-b', 'overquota', 'main']);
    const pod = (name: string) => `apiVersion: v1\nkind: Pod\nmetadata:\n  name: ${name}\nspec:\n  containers:\n    - name: main\n      image: busybox\n`;
    await writeFile(path.join(work, 'web', 'quota.yaml'), 'apiVersion: v1\nkind: ResourceQuota\nmetadata:\n  name: few\nspec:\n  hard:\n    pods: "1"\n');
    await writeFile(path.join(work, 'web', 'pods.yaml'), `${pod('one')}---\n${pod('two')}`);
    await git(work, ['add', '-A']);
    await git(work, ['commit', '-q', '-m', 'over quota']);
    await git(work, ['checkout', '-q', 'main']);
    const source = new GitSource({ url: work, cacheDir: path.join(tmp.dir, 'cache'), ref: 'main' });
    app = createApiServer({ store, logger: silentLogger(), source });
  });
  after(async () => {
    await app.close();
    await tmp.cleanup();
  });

  it('plans the followed ref: every object to create, line for line as gantry plan prints it, no Secret value', async () => {
    const res = await app.inject({ method: 'GET', url: '/apis/gantry.dev/v1/plan' });
    assert.equal(res.statusCode, 200);
    const plan = res.json<PlanResponse>();
    assert.ok(plan.valid);
    assert.equal(plan.desired.ref, 'main');
    assert.deepEqual(plan.summary, { create: 2, update: 0, prune: 0, unchanged: 0 });
    assert.equal(plan.changes, true);
    assert.deepEqual(plan.entries.map((e) => e.header), ['+ create Secret default/db (web/secret.yaml:1)', '+ create Deployment default/web (web/deployment.yaml:1)']);
    assert.match(plan.text, /^\+ create Secret default\/db/m);
    assert.match(plan.text, /Plan: 2 to create, 0 to update, 0 to prune, 0 unchanged\./);
    assert.ok(!res.body.includes(SECRET_VALUE) && !res.body.includes(Buffer.from(SECRET_VALUE).toString('base64')));
  });

  it('names a ref that does not exist with 404 and the branches there are', async () => {
    const res = await app.inject({ method: 'GET', url: '/apis/gantry.dev/v1/plan?ref=nope' });
    assert.equal(res.statusCode, 404);
    assert.equal(res.json<{ code: string }>().code, 'RefNotFound');
    assert.match(res.json<{ message: string }>().message, /'nope' not found.*branches: broken, main/);
  });

  it('lists an invalid revision\'s problems by file and field instead of a plan', async () => {
    const plan = (await app.inject({ method: 'GET', url: '/apis/gantry.dev/v1/plan?ref=broken' })).json<PlanResponse>();
    assert.equal(plan.valid, false);
    if (plan.valid) return;
    assert.equal(plan.desired.ref, 'broken');
    assert.ok(plan.issues.some((i) => i.file === 'web/deployment.yaml' && /bogus/.test(`${i.field} ${i.message}`)), JSON.stringify(plan.issues));
  });

  it('shows a revision that admission would reject (over a quota it declares) as invalid, naming the object and the quota', async () => {
    const plan = (await app.inject({ method: 'GET', url: '/apis/gantry.dev/v1/plan?ref=overquota' })).json<PlanResponse>();
    assert.equal(plan.valid, false, JSON.stringify(plan));
    if (plan.valid) return;
    assert.ok(plan.issues.some((i) => i.file === 'web/pods.yaml' && i.object === 'Pod/default/two' && /exceeded quota: few/.test(i.message)), JSON.stringify(plan.issues));
  });

  it('answers 404 on a server that follows no repository', async () => {
    const bare = createApiServer({ store: new MemoryStore(), logger: silentLogger() });
    const res = await bare.inject({ method: 'GET', url: '/apis/gantry.dev/v1/plan' });
    assert.equal(res.statusCode, 404);
    assert.match(res.json<{ message: string }>().message, /follows no repository/);
    await bare.close();
  });
});
