import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { openRecorder, type GitRecorder } from '../../src/audit/recorder.js';
import { isGantryError } from '../../src/errors.js';
import type { KubeObject } from '../../src/model/types.js';
import type { WatchEvent } from '../../src/store/types.js';
import { git, startGitHttpServer, tempDir, type GitHttpServer } from '../helpers/git-http-server.js';

function deployment(replicas: number, image = 'web:1.0', rv = 1): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: 'default', resourceVersion: String(rv) },
    spec: { replicas, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image }] } } },
    status: { readyReplicas: replicas },
  };
}

function secret(password: string, token: string): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'db', namespace: 'default' },
    type: 'Opaque',
    data: { password: Buffer.from(password).toString('base64') },
    stringData: { token },
  };
}

const namespace: KubeObject = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-a' } };
const sha256 = (s: string) => `sha256:${createHash('sha256').update(s).digest('hex')}`;
const hmac = (key: Buffer, s: string) => `hmac-sha256:${createHmac('sha256', key).update(s).digest('hex')}`;

/** Reads the repository with the git command, independently of the recorder. */
async function gitIn(gitdir: string, args: string[]): Promise<string> {
  return git(path.dirname(gitdir), ['--git-dir', gitdir, ...args]);
}

describe('GitRecorder (real Git repository)', function () {
  this.timeout(60_000);
  let tmp: { dir: string; cleanup(): Promise<void> };
  let gitdir: string;
  const open: GitRecorder[] = [];

  beforeEach(async () => {
    tmp = await tempDir('gantry-audit-');
    gitdir = path.join(tmp.dir, 'history.git');
  });
  afterEach(async () => {
    for (const r of open.splice(0)) await r.close().catch(() => undefined);
    await tmp.cleanup();
  });

  async function recorder(opts: Parameters<typeof openRecorder>[1] = {}): Promise<GitRecorder> {
    const r = await openRecorder(gitdir, opts);
    open.push(r);
    return r;
  }

  it('gives each history entry the object\'s recorded file before and after its change', async () => {
    const r = await recorder();
    r.recordChange({ type: 'ADDED', object: deployment(2), revision: 1, origin: { actor: 'sync' } });
    r.recordChange({ type: 'ADDED', object: namespace, revision: 2, origin: { actor: 'cli' } });
    r.recordChange({ type: 'MODIFIED', object: deployment(3, 'web:1.0', 3), prevObject: deployment(2), revision: 3, origin: { actor: 'sync' } });
    r.recordChange({ type: 'DELETED', object: deployment(3, 'web:1.0', 3), prevObject: deployment(3, 'web:1.0', 3), revision: 4, origin: { actor: 'sync' } });
    await r.flush();
    const [deleted, scaled, created] = await r.history({ object: 'Deployment/default/web' });
    const gone = await r.objectChange(deleted!);
    assert.match(gone.before!, /replicas: 3/);
    assert.equal(gone.after, undefined);
    const change = await r.objectChange(scaled!);
    assert.match(change.before!, /replicas: 2/);
    assert.match(change.after!, /replicas: 3/);
    const made = await r.objectChange(created!);
    assert.equal(made.before, undefined);
    assert.match(made.after!, /replicas: 2/);
    // An entry about no object (a sync record) has no file to show.
    assert.deepEqual(await r.objectChange({ commit: scaled!.commit }), {});
  });

  it('commits each change with the object file, a message in words and trailers', async () => {
    const r = await recorder();
    r.recordChange({ type: 'ADDED', object: deployment(2), revision: 7, origin: { actor: 'sync', desiredRevision: 'a'.repeat(40) } });
    r.recordChange({ type: 'MODIFIED', object: deployment(3, 'web:1.0', 8), prevObject: deployment(2), revision: 8, origin: { actor: 'sync', desiredRevision: 'b'.repeat(40), reason: 'scale web' } });
    r.recordChange({ type: 'ADDED', object: namespace, revision: 9, origin: { actor: 'cli' } });
    await r.flush();

    const log = await gitIn(gitdir, ['log', '--format=%s%n%(trailers:only,unfold)--', 'status']);
    const entries = log.split('--').map((s) => s.trim()).filter(Boolean);
    assert.equal(entries.length, 3);
    assert.equal(entries[0], 'Namespace team-a created\nGantry-Actor: cli\nGantry-Store-Revision: 9\nGantry-Object: Namespace/team-a');
    assert.equal(entries[1], `Deployment default/web: replicas 2 → 3; readyReplicas 2 → 3\nGantry-Actor: sync\nGantry-Desired-Revision: ${'b'.repeat(40)}\nGantry-Store-Revision: 8\nGantry-Object: Deployment/default/web\nGantry-Reason: scale web`);
    assert.match(entries[2]!, /^Deployment default\/web created\nGantry-Actor: sync\n/);

    const file = await gitIn(gitdir, ['show', 'status:default/deployment/web.yaml']);
    assert.match(file, /^apiVersion: apps\/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: default\n/);
    assert.match(file, /replicas: 3/);
    assert.match(file, /status:\n  readyReplicas: 3/);
    assert.equal(await gitIn(gitdir, ['ls-tree', '-r', '--name-only', 'status']), '_cluster/namespace/team-a.yaml\ndefault/deployment/web.yaml');
    await gitIn(gitdir, ['fsck', '--strict', '--no-progress']);
  });

  it('makes the actor each commit\'s author and records who wrote the desired revision', async () => {
    const r = await recorder();
    const desired = { actor: 'sync', desiredRevision: 'a'.repeat(40), desiredAuthor: 'Alice Smith <alice@example.com>', desiredCommitter: 'Bob Jones <bob@example.com>' };
    r.recordChange({ type: 'ADDED', object: deployment(2), revision: 1, origin: desired });
    r.recordChange({ type: 'MODIFIED', object: deployment(2, 'web:1.0', 2), prevObject: deployment(2), revision: 2, origin: { actor: 'controller/deployment' } });
    r.recordChange({ type: 'ADDED', object: namespace, revision: 3, origin: { actor: 'node/vm' } });
    r.recordSync({
      revision: { commit: 'a'.repeat(40), ref: 'main', author: { name: 'Alice Smith', email: 'alice@example.com', timestamp: 1 }, committer: { name: 'Bob Jones', email: 'bob@example.com', timestamp: 2 } },
      outcome: 'applied', summary: { created: 1, updated: 0, pruned: 0, unchanged: 0 }, at: '2026-03-01T10:00:00Z',
    });
    await r.flush();
    assert.equal(await gitIn(gitdir, ['log', '--format=%an|%cn', 'status']), 'sync|gantry\nnode/vm|gantry\ncontroller/deployment|gantry\nsync|gantry');
    const trailers = await gitIn(gitdir, ['log', '--format=%(trailers:key=Gantry-Desired-Author,valueonly,separator=)|%(trailers:key=Gantry-Desired-Committer,valueonly,separator=)', 'status']);
    assert.equal(trailers.split('\n')[0], 'Alice Smith <alice@example.com>|Bob Jones <bob@example.com>');
    assert.equal(trailers.split('\n')[3], 'Alice Smith <alice@example.com>|Bob Jones <bob@example.com>');
    const history = await r.history();
    assert.deepEqual(history.map((h) => [h.actor, h.desiredAuthor]), [
      ['sync', 'Alice Smith <alice@example.com>'], ['node/vm', undefined], ['controller/deployment', undefined], ['sync', 'Alice Smith <alice@example.com>'],
    ]);
  });

  it('keeps every summary line within 72 characters, the details in the body', async () => {
    const r = await recorder();
    const before = deployment(2, 'registry.example.com/platform/team-web-frontend:1.2.3');
    const after = { ...deployment(5, 'registry.example.com/platform/team-web-frontend:1.2.4', 2), metadata: { ...before.metadata, labels: { tier: 'front', team: 'web' }, resourceVersion: '2' } };
    r.recordChange({ type: 'ADDED', object: before, revision: 1, origin: { actor: 'sync' } });
    r.recordChange({ type: 'MODIFIED', object: after, prevObject: before, revision: 2, origin: { actor: 'sync' } });
    r.recordSync({ revision: { commit: 'c'.repeat(40), ref: 'main' }, outcome: 'failed', error: `store unavailable: ${'etcd endpoint 10.0.0.5:2379 timed out; '.repeat(3)}`, at: '2026-03-01T10:00:00Z' });
    await r.flush();
    const subjects = (await gitIn(gitdir, ['log', '--format=%s', 'status'])).split('\n');
    for (const s of subjects) assert.ok(s.length <= 72, `"${s}" is ${s.length} characters`);
    const body = await gitIn(gitdir, ['log', '-1', '--skip=1', '--format=%b', 'status']);
    assert.match(body, /registry\.example\.com\/platform\/team-web-frontend:1\.2\.4/);
    assert.match(body, /replicas 2 → 5/);
  });

  it('removes the file of a deleted object', async () => {
    const r = await recorder();
    r.recordChange({ type: 'ADDED', object: deployment(2), revision: 1 });
    r.recordChange({ type: 'ADDED', object: namespace, revision: 2 });
    r.recordChange({ type: 'DELETED', object: deployment(2), prevObject: deployment(2), revision: 3, origin: { actor: 'sync' } });
    await r.flush();
    assert.equal(await gitIn(gitdir, ['ls-tree', '-r', '--name-only', 'status']), '_cluster/namespace/team-a.yaml');
    assert.equal(await gitIn(gitdir, ['log', '-1', '--format=%s', 'status']), 'Deployment default/web deleted');
    // The default/ directory vanished with its last file.
    assert.equal(await gitIn(gitdir, ['ls-tree', '--name-only', 'status']), '_cluster');
  });

  it('writes Secret values only as keyed digests (HMAC-SHA256 with the data dir\'s key), in files and messages', async () => {
    const r = await recorder();
    r.recordChange({ type: 'ADDED', object: secret('hunter2', 'tok-123'), revision: 1 });
    r.recordChange({ type: 'MODIFIED', object: secret('correct-horse', 'tok-456'), prevObject: secret('hunter2', 'tok-123'), revision: 2 });
    await r.flush();
    const file = await gitIn(gitdir, ['show', 'status:default/secret/db.yaml']);
    const key = Buffer.from((await readFile(path.join(tmp.dir, 'history.key'), 'utf8')).trim(), 'hex');
    assert.match(file, new RegExp(`password: ${hmac(key, 'correct-horse')}`));
    assert.match(file, new RegExp(`token: ${hmac(key, 'tok-456')}`));
    assert.ok(!file.includes(sha256('correct-horse').slice('sha256:'.length)), 'not the plain sha256 of the value');
    const everything = await gitIn(gitdir, ['log', '-p', '--format=%B', 'status']);
    for (const value of ['hunter2', 'correct-horse', 'tok-123', 'tok-456', Buffer.from('hunter2').toString('base64'), Buffer.from('correct-horse').toString('base64')]) {
      assert.ok(!everything.includes(value), `history shows ${value}`);
    }
    assert.match(everything, /Secret default\/db: data.password changed; stringData.token changed/);
  });

  it('keeps its digest key in history.key beside the repository (mode 0600), so a digest is stable across restarts', async () => {
    const first = await recorder();
    first.recordChange({ type: 'ADDED', object: secret('hunter2', 'tok-1'), revision: 1 });
    await first.close();
    const keyFile = path.join(tmp.dir, 'history.key');
    assert.equal((await stat(keyFile)).mode & 0o777, 0o600);
    const before = await gitIn(gitdir, ['show', 'status:default/secret/db.yaml']);
    const second = await recorder();
    second.recordChange({ type: 'DELETED', object: secret('hunter2', 'tok-1'), revision: 2 });
    second.recordChange({ type: 'ADDED', object: secret('hunter2', 'tok-1'), revision: 3 });
    await second.flush();
    assert.equal(await gitIn(gitdir, ['show', 'status:default/secret/db.yaml']), before);
    assert.ok(!before.includes(sha256('hunter2')), 'not the plain sha256');
  });

  it('records sync attempts, applied and rejected, with _sync/last.yaml', async () => {
    const r = await recorder();
    const revision = { commit: 'abc1234def5678abc1234def5678abc1234def56', ref: 'main' };
    r.recordSync({ revision, outcome: 'applied', summary: { created: 2, updated: 1, pruned: 0, unchanged: 4 }, at: '2026-03-01T10:00:00Z' });
    r.recordSync({
      revision: { ...revision, commit: 'def5678abc1234def5678abc1234def5678abc12' },
      outcome: 'rejected',
      issues: [{ file: 'deploy/web.yaml', line: 12, object: 'Deployment/default/web', field: 'spec.replicas', message: 'must be an integer' }],
      at: '2026-03-01T10:05:00Z',
    });
    await r.flush();
    const subjects = await gitIn(gitdir, ['log', '--format=%s|%aI|%(trailers:key=Gantry-Actor,valueonly,separator=)', 'status']);
    assert.equal(subjects, [
      'sync def5678: rejected, 1 problem (deploy/web.yaml line 12)|2026-03-01T10:05:00+00:00|sync',
      'sync abc1234: applied (2 created, 1 updated, 0 pruned)|2026-03-01T10:00:00+00:00|sync',
    ].join('\n'));
    const last = await gitIn(gitdir, ['show', 'status:_sync/last.yaml']);
    assert.match(last, /outcome: rejected/);
    assert.match(last, /line: 12/);
  });

  it('continues the same chain after a reopen', async () => {
    const first = await recorder();
    first.recordChange({ type: 'ADDED', object: deployment(2), revision: 1 });
    first.recordChange({ type: 'ADDED', object: namespace, revision: 2 });
    await first.close();
    const headBefore = await gitIn(gitdir, ['rev-parse', 'status']);

    const second = await recorder();
    second.recordChange({ type: 'MODIFIED', object: deployment(4, 'web:1.0', 3), prevObject: deployment(2), revision: 3 });
    await second.close();

    assert.equal(await gitIn(gitdir, ['rev-list', '--count', 'status']), '3');
    assert.equal(await gitIn(gitdir, ['rev-parse', 'status~1']), headBefore);
    assert.equal(await gitIn(gitdir, ['ls-tree', '-r', '--name-only', 'status']), '_cluster/namespace/team-a.yaml\ndefault/deployment/web.yaml');
    assert.equal(await gitIn(gitdir, ['log', '-1', '--format=%s', 'status']), 'Deployment default/web: replicas 2 → 4; readyReplicas 2 → 4');
  });

  it('history() lists newest first, filtered by object and by time', async () => {
    let now = Date.parse('2026-05-01T12:00:00Z');
    const r = await recorder({ clock: () => now });
    r.recordChange({ type: 'ADDED', object: deployment(1), revision: 1, origin: { actor: 'sync', desiredRevision: 'c'.repeat(40) } });
    now += 60_000;
    r.recordChange({ type: 'ADDED', object: namespace, revision: 2, origin: { actor: 'cli' } });
    now += 60_000;
    r.recordChange({ type: 'MODIFIED', object: deployment(5, 'web:2.0', 3), prevObject: deployment(1), revision: 3, origin: { actor: 'controller/deployment' } });
    await r.flush();

    const all = await r.history();
    assert.deepEqual(all.map((e) => e.summary), [
      'Deployment default/web: replicas 1 → 5; and 2 more',
      'Namespace team-a created',
      'Deployment default/web created',
    ]);
    assert.equal(all[0]!.body, '- replicas 1 → 5\n- image web:1.0 → web:2.0 (container web)\n- readyReplicas 1 → 5');
    assert.equal(all[2]!.desiredRevision, 'c'.repeat(40));
    assert.equal(all[0]!.actor, 'controller/deployment');
    assert.equal(all[0]!.at, '2026-05-01T12:02:00.000Z');

    const web = await r.objectHistory('Deployment/default/web');
    assert.deepEqual(web.map((e) => e.actor), ['controller/deployment', 'sync']);
    const recent = await r.history({ since: new Date('2026-05-01T12:01:00Z') });
    assert.deepEqual(recent.map((e) => e.object), ['Deployment/default/web', 'Namespace/team-a']);
    assert.equal((await r.history({ limit: 1 })).length, 1);
  });

  it('recordChange() returns at once and queues while the writer is busy', async () => {
    const r = await recorder({ batchSize: 50 });
    const events: WatchEvent[] = [];
    for (let i = 1; i <= 600; i++) {
      events.push({ type: 'MODIFIED', object: deployment(i + 1, 'web:1.0', i + 1), prevObject: deployment(i, 'web:1.0', i), revision: i + 1 });
    }
    for (const e of events.slice(0, 300)) r.recordChange(e);
    // Nothing can have been written synchronously: every call only queued.
    assert.deepEqual({ queued: r.stats().queued, committed: r.stats().committed }, { queued: 300, committed: 0 });
    // Let the writer start its first batch, then keep enqueuing while it works.
    await new Promise((resolve) => setImmediate(resolve));
    for (const e of events.slice(300)) r.recordChange(e);
    assert.ok(r.stats().queued > 300, `queued ${r.stats().queued}`);
    await r.flush();
    assert.deepEqual({ queued: r.stats().queued, committed: r.stats().committed }, { queued: 0, committed: 600 });
    assert.equal(await gitIn(gitdir, ['rev-list', '--count', 'status']), '600');
    assert.match(await gitIn(gitdir, ['show', 'status:default/deployment/web.yaml']), /replicas: 601/);
  });

  it('resumes a store transaction cut by a restart without repeating what was recorded', async () => {
    const cm = (name: string): KubeObject => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'default' }, data: {} });
    const first = await recorder();
    assert.equal(await first.lastStoreRevision(), 0);
    first.recordChange({ type: 'ADDED', object: cm('a'), revision: 4 });
    // Revision 5 is one transaction of three objects; only two were recorded before the restart.
    first.recordChange({ type: 'ADDED', object: cm('b'), revision: 5 });
    first.recordChange({ type: 'ADDED', object: cm('c'), revision: 5 });
    await first.close();

    const second = await recorder();
    const from = await second.lastStoreRevision();
    assert.equal(from, 4);
    // The feed watches from 4 and gets all of revision 5 again.
    for (const name of ['b', 'c', 'd']) second.recordChange({ type: 'ADDED', object: cm(name), revision: 5 });
    second.recordChange({ type: 'MODIFIED', object: cm('b'), prevObject: cm('b'), revision: 6 });
    await second.flush();
    assert.equal(await gitIn(gitdir, ['log', '--format=%(trailers:key=Gantry-Object,valueonly,separator=)', 'status']),
      ['ConfigMap/default/b', 'ConfigMap/default/d', 'ConfigMap/default/c', 'ConfigMap/default/b', 'ConfigMap/default/a'].join('\n'));
    assert.equal(await second.lastStoreRevision(), 5);
  });

  it('opens read-only for queries while another recorder writes', async () => {
    await assert.rejects(openRecorder(path.join(tmp.dir, 'missing.git'), { readonly: true }), (err: unknown) => isGantryError(err, 'NotFound'));
    const writer = await recorder();
    writer.recordChange({ type: 'ADDED', object: namespace, revision: 1 });
    await writer.flush();
    const reader = await openRecorder(gitdir, { readonly: true });
    open.push(reader);
    assert.equal((await reader.history()).length, 1);
    writer.recordChange({ type: 'ADDED', object: deployment(1), revision: 2 });
    await writer.flush();
    assert.deepEqual((await reader.history()).map((e) => e.object), ['Deployment/default/web', 'Namespace/team-a']);
    assert.equal(await reader.lastStoreRevision(), 1);
    assert.throws(() => reader.recordChange({ type: 'ADDED', object: namespace, revision: 3 }), (err: unknown) => isGantryError(err, 'InvalidArgument'));
  });

  it('leaves out the changes the filter rejects', async () => {
    const r = await recorder({ filter: (e) => e.object.kind !== 'Namespace' });
    r.recordChange({ type: 'ADDED', object: namespace, revision: 1 });
    r.recordChange({ type: 'ADDED', object: deployment(1), revision: 2 });
    await r.flush();
    assert.equal(await gitIn(gitdir, ['log', '--format=%s', 'status']), 'Deployment default/web created');
    assert.equal(r.stats().skipped, 1);
  });

  it('compact() merges the packs and history still reads', async () => {
    const r = await recorder({ batchSize: 5, compactEvery: 0 });
    for (let i = 1; i <= 40; i++) {
      r.recordChange({ type: 'MODIFIED', object: deployment(i + 1, 'web:1.0', i + 1), prevObject: deployment(i, 'web:1.0', i), revision: i });
      if (i % 5 === 0) await r.flush();
    }
    await r.flush();
    const packsBefore = (await gitIn(gitdir, ['count-objects', '-v'])).match(/^packs: (\d+)$/m)?.[1];
    assert.ok(Number(packsBefore) >= 8, `packs before: ${packsBefore}`);
    await r.compact();
    const packsAfter = (await gitIn(gitdir, ['count-objects', '-v'])).match(/^packs: (\d+)$/m)?.[1];
    assert.ok(Number(packsAfter) < Number(packsBefore), `packs after: ${packsAfter}`);
    r.recordChange({ type: 'ADDED', object: namespace, revision: 41 });
    await r.flush();
    assert.equal((await r.history({ limit: 1000 })).length, 41);
    await gitIn(gitdir, ['fsck', '--strict', '--no-progress']);
  });

  it('refuses to push to the branch gantry watches', async () => {
    await assert.rejects(
      openRecorder(gitdir, { watchedBranch: 'main', push: { url: 'http://127.0.0.1:1/repo.git', remoteBranch: 'main' } }),
      (err: unknown) => isGantryError(err, 'InvalidArgument') && /watches/.test(err.message),
    );
    await assert.rejects(
      openRecorder(gitdir, { branch: 'main', watchedBranch: 'refs/heads/main', push: { url: 'http://127.0.0.1:1/repo.git' } }),
      (err: unknown) => isGantryError(err, 'InvalidArgument'),
    );
  });

  describe('push over smart HTTP', () => {
    let server: GitHttpServer | undefined;
    afterEach(async () => {
      await server?.close();
      server = undefined;
    });

    it('pushes the status branch to the remote with credentials', async () => {
      const root = path.join(tmp.dir, 'remote');
      await git(tmp.dir, ['init', '-q', '--bare', root + '/audit.git']);
      await git(root, ['--git-dir', root + '/audit.git', 'config', 'http.receivepack', 'true']);
      server = await startGitHttpServer({ root, auth: { username: 'gantry', password: 's3cret' } });
      const r = await recorder({
        watchedBranch: 'main',
        push: { url: `${server.url}/audit.git`, auth: { username: 'gantry', password: 's3cret' }, remoteBranch: 'gantry/status', intervalMs: 3_600_000 },
      });
      r.recordChange({ type: 'ADDED', object: deployment(2), revision: 1, origin: { actor: 'sync' } });
      r.recordChange({ type: 'ADDED', object: namespace, revision: 2 });
      await r.flush();
      await r.push();
      const local = await gitIn(gitdir, ['rev-parse', 'status']);
      assert.equal(await git(root, ['--git-dir', root + '/audit.git', 'rev-parse', 'refs/heads/gantry/status']), local);
      // close() pushes what came after.
      r.recordChange({ type: 'DELETED', object: namespace, prevObject: namespace, revision: 3 });
      await r.close();
      assert.equal(
        await git(root, ['--git-dir', root + '/audit.git', 'log', '-1', '--format=%s', 'refs/heads/gantry/status']),
        'Namespace team-a deleted',
      );
    });

    it('reports a push with wrong credentials as an error naming the remote', async () => {
      const root = path.join(tmp.dir, 'remote');
      await git(tmp.dir, ['init', '-q', '--bare', root + '/audit.git']);
      server = await startGitHttpServer({ root, auth: { username: 'gantry', password: 's3cret' } });
      const r = await recorder({ push: { url: `${server.url}/audit.git`, auth: { username: 'gantry', password: 'wrong' }, intervalMs: 3_600_000 } });
      r.recordChange({ type: 'ADDED', object: namespace, revision: 1 });
      await r.flush();
      await assert.rejects(r.push(), (err: unknown) => isGantryError(err) && err.message.includes(`${server!.url}/audit.git`));
    });
  });
});
