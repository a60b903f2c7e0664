import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { join } from 'node:path';
import { startGantry, type RunningGantry } from '../../src/app.js';
import { WEBHOOK_PATH } from '../../src/api/server.js';
import { apiRequest, type ApiResponse } from '../helpers/api-client.js';
import { silentLogger } from '../../src/log.js';
import type { ConfigMap, Deployment } from '../../src/model/types.js';
import type { SyncObject } from '../../src/sync/status.js';
import {
  makeRepo, publishRepo, pushFiles, startGitHttpServer, tempDir, type GitHttpServer,
} from '../helpers/git-http-server.js';
import { deploymentYaml, secretYaml } from '../helpers/manifests.js';

const configMap = (name: string, value: string) => `apiVersion: v1
kind: ConfigMap
metadata:
  name: ${name}
data:
  greeting: ${value}
`;

const deployment = (replicas: number | string) => deploymentYaml({ replicas, command: ['httpd', '-f', '-p', '8080'] });

const secret = secretYaml('hunter2-very-secret');

/** Polls `check` until it returns a value or the deadline passes. */
async function eventually<T>(check: () => Promise<T | undefined>, what: string, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('GitOps core end to end: Git over smart HTTP → sync → store → audit', function () {
  this.timeout(60_000);
  let tmp: { dir: string; cleanup(): Promise<void> };
  let server: GitHttpServer;
  let work: string;
  let gantry: RunningGantry | undefined;
  const secretKey = 'webhook-test-secret';

  beforeEach(async () => {
    tmp = await tempDir('gantry-gitops-');
    work = join(tmp.dir, 'work');
    await makeRepo(work, { 'app/site.yaml': configMap('site', 'hello'), 'app/web.yaml': deployment(2), 'app/db-secret.yaml': secret });
    const root = join(tmp.dir, 'srv');
    await import('node:fs/promises').then((fs) => fs.mkdir(root));
    await publishRepo(work, root, 'deploy');
    server = await startGitHttpServer({ root, auth: { username: 'ci', password: 'pw' } });
    gantry = await startGantry({
      config: {
        dataDir: join(tmp.dir, 'data'),
        repo: `${server.url}/deploy.git`,
        ref: 'main',
        path: 'app',
        auth: { username: 'ci', password: 'pw' },
        intervalMs: 0, // webhook only: proves the webhook is what triggers the sync
        listen: '127.0.0.1:0',
        webhookSecret: secretKey,
      },
      logger: silentLogger(),
      components: { sync: true, api: true, audit: true },
    });
  });

  afterEach(async () => {
    await gantry?.stop();
    gantry = undefined;
    await server.close();
    await tmp.cleanup();
  });

  async function githubPush(body: object, opts: { sign?: 'good' | 'forged' | 'none' } = {}): Promise<ApiResponse> {
    const raw = JSON.stringify(body);
    const headers: Record<string, string> = { 'content-type': 'application/json', 'x-github-event': 'push' };
    const mac = createHmac('sha256', opts.sign === 'forged' ? 'wrong-secret' : secretKey).update(raw).digest('hex');
    if (opts.sign !== 'none') headers['x-hub-signature-256'] = `sha256=${mac}`;
    return apiRequest({ apiUrl: gantry!.apiUrl!, ...(gantry!.ca ? { ca: gantry!.ca } : {}) }, WEBHOOK_PATH, { method: 'POST', headers, body: raw });
  }

  async function replicas(): Promise<number | undefined> {
    const d = await gantry!.store.get<Deployment>({ kind: 'Deployment', namespace: 'default', name: 'web' });
    return d?.spec.replicas;
  }

  it('applies the first revision, marks objects as managed, and records it in the audit trail', async () => {
    const first = await gantry!.sync!.trigger('test');
    assert.equal(first.outcome, 'applied', first.error);
    const cm = await gantry!.store.get<ConfigMap>({ kind: 'ConfigMap', namespace: 'default', name: 'site' });
    assert.equal(cm!.data!.greeting, 'hello');
    assert.equal(cm!.metadata.annotations?.['gantry.dev/managed-by'], 'gantry');
    assert.equal(await replicas(), 2);
    await gantry!.recorder!.flush();
    const history = await gantry!.recorder!.history({ object: 'Deployment/default/web' });
    assert.ok(history.length >= 1, 'the Deployment has an audit entry');
    assert.equal(history[0]!.actor, 'sync');
    assert.equal(history[0]!.desiredRevision, first.revision!.commit);
  });

  it('a signed GitHub push webhook triggers a sync of the pushed commit', async () => {
    await gantry!.sync!.trigger('test');
    const commit = await pushFiles(work, { 'app/web.yaml': deployment(3) }, 'web: 3 replicas');
    const res = await githubPush({ ref: 'refs/heads/main', after: commit });
    assert.equal(res.status, 202);
    await eventually(async () => ((await replicas()) === 3 ? true : undefined), 'replicas 3');
    const sync = await gantry!.store.get<SyncObject>({ kind: 'Sync', name: 'default' });
    assert.equal(sync!.status!.lastAppliedRevision, commit);
  });

  it('refuses a forged or unsigned webhook with 401 and syncs nothing', async () => {
    await gantry!.sync!.trigger('test');
    await pushFiles(work, { 'app/web.yaml': deployment(5) }, 'web: 5 replicas');
    assert.equal((await githubPush({ ref: 'refs/heads/main' }, { sign: 'forged' })).status, 401);
    assert.equal((await githubPush({ ref: 'refs/heads/main' }, { sign: 'none' })).status, 401);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(await replicas(), 2);
  });

  it('ignores a push to another branch', async () => {
    await gantry!.sync!.trigger('test');
    const res = await githubPush({ ref: 'refs/heads/feature', after: 'abc' });
    assert.equal(res.status, 202);
    assert.match(res.json<{ message: string }>().message, /ignored: following main/);
  });

  it('rejects a bad revision whole: nothing from it lands and the last good revision stays in force', async () => {
    const good = await gantry!.sync!.trigger('test');
    await pushFiles(work, {
      'app/site.yaml': configMap('site', 'changed-in-bad-commit'),
      'app/web.yaml': deployment('"three"'),
    }, 'broken: replicas is a string');
    const bad = await gantry!.sync!.trigger('test');
    assert.equal(bad.outcome, 'rejected');
    const issue = bad.issues!.find((i) => i.object === 'Deployment/default/web');
    assert.ok(issue, 'the issue names the object');
    assert.equal(issue.file, 'app/web.yaml', 'named from the repository root, as in the repository');
    assert.equal(issue.field, 'spec.replicas');
    // The valid ConfigMap change in the same commit was not applied either.
    const cm = await gantry!.store.get<ConfigMap>({ kind: 'ConfigMap', namespace: 'default', name: 'site' });
    assert.equal(cm!.data!.greeting, 'hello');
    assert.equal(await replicas(), 2);
    const sync = await gantry!.store.get<SyncObject>({ kind: 'Sync', name: 'default' });
    assert.equal(sync!.status!.lastAppliedRevision, good.revision!.commit);
    assert.equal(sync!.status!.lastAttemptedRevision, bad.revision!.commit);
    assert.equal(sync!.status!.conditions!.find((c) => c.type === 'Ready')!.reason, 'ValidationFailed');
    await gantry!.recorder!.flush();
    const history = await gantry!.recorder!.history({ limit: 5 });
    assert.ok(history.some((h) => /rejected/.test(h.summary) && h.desiredRevision === bad.revision!.commit),
      'the rejection is in the audit history');
  });

  it('prunes an object whose manifest was deleted, and re-syncing an applied revision changes nothing', async () => {
    await gantry!.sync!.trigger('test');
    await pushFiles(work, { 'app/site.yaml': null }, 'drop the site ConfigMap');
    const out = await gantry!.sync!.trigger('test');
    assert.equal(out.outcome, 'applied');
    assert.deepEqual(out.plan!.prune.map((e) => e.key), ['ConfigMap/default/site']);
    assert.equal(await gantry!.store.get({ kind: 'ConfigMap', namespace: 'default', name: 'site' }), undefined);
    const again = await gantry!.sync!.trigger('test');
    assert.equal(again.outcome, 'unchanged');
  });

  it('puts back a managed object deleted behind its back (level-triggered)', async () => {
    await gantry!.sync!.trigger('test');
    await gantry!.store.delete({ kind: 'Deployment', namespace: 'default', name: 'web' }, { origin: { actor: 'cli' } });
    const out = await gantry!.sync!.trigger('test');
    assert.deepEqual(out.plan!.create.map((e) => e.key), ['Deployment/default/web']);
    assert.equal(await replicas(), 2);
  });

  it('never writes a Secret value into the audit history', async () => {
    await gantry!.sync!.trigger('test');
    await gantry!.recorder!.flush();
    const { execFileSync } = await import('node:child_process');
    const dump = execFileSync('git', ['--git-dir', join(tmp.dir, 'data', 'history.git'), 'log', '-p', '--all'], { encoding: 'utf8', maxBuffer: 1 << 26 });
    assert.ok(dump.includes('Secret/default/db') || dump.includes('default/secret/db.yaml'), 'the Secret is recorded');
    assert.ok(!dump.includes('hunter2-very-secret'), 'the plain value never appears');
    assert.ok(!dump.includes(Buffer.from('hunter2-very-secret').toString('base64')), 'nor its base64');
  });
});
