import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { isGantryError } from '../../src/errors.js';
import { Metrics } from '../../src/metrics/index.js';
import { DirSource } from '../../src/sync/dir-source.js';
import { GitSource } from '../../src/sync/git-source.js';
import { loadManifests } from '../../src/sync/loader.js';
import type { SourceFile } from '../../src/sync/types.js';
import {
  commitFiles,
  git,
  makeRepo,
  publishRepo,
  pushFiles,
  startGitHttpServer,
  tempDir,
  writeFiles,
  TEST_IDENTITY,
  type GitHttpServer,
} from '../helpers/git-http-server.js';
import { scrape, valueOf } from '../helpers/prometheus.js';

const text = (f: SourceFile | undefined): string | undefined => (f?.content ? Buffer.from(f.content).toString('utf8') : undefined);
const byPath = (files: SourceFile[]): Map<string, SourceFile> => new Map(files.map((f) => [f.path, f]));

const cm = (name: string, value = '1'): string =>
  `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\ndata:\n  v: "${value}"\n`;

describe('GitSource over smart HTTP (git http-backend)', function () {
  this.timeout(60_000);
  let tmp: { dir: string; cleanup(): Promise<void> };
  let server: GitHttpServer;
  let work: string;
  let repoUrl: string;
  let firstCommit: string;
  let cacheN = 0;
  const auth = { username: 'deployer', password: 's3cret' };
  const cacheDir = (): string => path.join(tmp.dir, `cache-${cacheN++}`);

  before(async () => {
    tmp = await tempDir('gantry-gitsrc-');
    const root = path.join(tmp.dir, 'root');
    await mkdir(root);
    work = path.join(tmp.dir, 'work');
    firstCommit = await makeRepo(work, {
      'deploy/web.yaml': cm('web'),
      'deploy/nested/db.yml': cm('db'),
      'deploy/extra.json': '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"j"}}',
      'deploy/README.md': '# not a manifest',
      'deploy/escape.yaml': 'symlink:../../outside.yaml',
      'top.yaml': cm('top'),
    });
    await git(work, ['tag', '-a', 'v1.0', '-m', 'release 1.0']);
    await git(work, ['branch', 'dev']);
    await publishRepo(work, root, 'app');
    server = await startGitHttpServer({ root, auth });
    repoUrl = `${server.url}/app.git`;
  });

  after(async () => {
    await server?.close();
    await tmp?.cleanup();
  });

  it('clones over http with basic auth and resolves the default branch with author and message', async () => {
    const src = new GitSource({ url: repoUrl, cacheDir: cacheDir(), auth });
    const rev = await src.resolve();
    assert.equal(rev.commit, firstCommit);
    assert.equal(rev.ref, 'main');
    assert.equal(rev.author?.name, TEST_IDENTITY.name);
    assert.equal(rev.author?.email, TEST_IDENTITY.email);
    assert.equal(rev.message?.trim(), 'initial');
  });

  it('files() returns manifests and symlinks with blob ids, skipping other files', async () => {
    const src = new GitSource({ url: repoUrl, cacheDir: cacheDir(), auth });
    const rev = await src.resolve();
    const files = byPath(await src.files(rev.commit));
    assert.deepEqual([...files.keys()].sort(), ['deploy/escape.yaml', 'deploy/extra.json', 'deploy/nested/db.yml', 'deploy/web.yaml', 'top.yaml']);
    assert.equal(text(files.get('deploy/web.yaml')), cm('web'));
    assert.equal(files.get('deploy/escape.yaml')?.symlinkTarget, '../../outside.yaml');
    assert.equal(files.get('deploy/escape.yaml')?.content, undefined);
    const blobId = await git(work, ['rev-parse', `${firstCommit}:deploy/web.yaml`]);
    assert.equal(files.get('deploy/web.yaml')?.oid, blobId);
  });

  it('reads only the configured subdirectory, with paths relative to the repository root', async () => {
    const src = new GitSource({ url: repoUrl, cacheDir: cacheDir(), auth, path: 'deploy/nested' });
    const rev = await src.resolve();
    const files = await src.files(rev.commit);
    assert.deepEqual(files.map((f) => f.path), ['deploy/nested/db.yml']);
  });

  it('readPaths() reads any path of the same commit outside the subdirectory: files with blob ids, directories, symlinks, absent paths', async () => {
    const src = new GitSource({ url: repoUrl, cacheDir: cacheDir(), auth, path: 'deploy/nested' });
    const rev = await src.resolve();
    const got = await src.readPaths(rev.commit, ['top.yaml', 'deploy', 'deploy/escape.yaml', 'deploy/escape.yaml/x', 'nope.yaml', 'top.yaml/x']);
    const top = got.get('top.yaml');
    assert.equal(top?.kind === 'file' && text(top.file), cm('top'));
    assert.equal(top?.kind === 'file' && top.file.oid, await git(work, ['rev-parse', `${firstCommit}:top.yaml`]));
    assert.deepEqual(got.get('deploy'), { kind: 'directory' });
    const link = got.get('deploy/escape.yaml');
    assert.equal(link?.kind === 'file' && link.file.symlinkTarget, '../../outside.yaml');
    // A symlink on the way is reported as itself, never followed.
    const through = got.get('deploy/escape.yaml/x');
    assert.deepEqual(through?.kind === 'file' && [through.through, through.file.path], [true, 'deploy/escape.yaml']);
    assert.deepEqual([got.get('nope.yaml'), got.get('top.yaml/x')], [{ kind: 'missing' }, { kind: 'missing' }]);
  });

  it('refuses a subdirectory that does not exist instead of returning no manifests', async () => {
    const src = new GitSource({ url: repoUrl, cacheDir: cacheDir(), auth, path: 'deploi' });
    const rev = await src.resolve();
    await assert.rejects(src.files(rev.commit), (err) => isGantryError(err, 'NotFound') && /deploi/.test(err.message));
  });

  it('reports a wrong password as AuthFailed without leaking credentials', async () => {
    const src = new GitSource({ url: repoUrl, cacheDir: cacheDir(), auth: { username: 'deployer', password: 'wrong' } });
    await assert.rejects(src.resolve(), (err) => {
      assert.ok(isGantryError(err, 'AuthFailed'), String(err));
      assert.match(err.message, new RegExp(repoUrl.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
      assert.doesNotMatch(err.message, /wrong/);
      return true;
    });
  });

  it('takes credentials from the URL but never shows them', async () => {
    const u = new URL(repoUrl);
    u.username = auth.username;
    u.password = auth.password;
    const src = new GitSource({ url: u.toString(), cacheDir: cacheDir() });
    assert.equal((await src.resolve()).commit, firstCommit);
    assert.doesNotMatch(src.displayUrl, /s3cret/);
  });

  it('authenticates with a token, as GitHub and GitLab accept it', async () => {
    const tokenServer = await startGitHttpServer({ root: path.join(tmp.dir, 'root'), auth: { token: 'ghp_test' } });
    try {
      const url = `${tokenServer.url}/app.git`;
      const good = new GitSource({ url, cacheDir: cacheDir(), auth: { token: 'ghp_test' }, ref: 'v1.0' });
      assert.equal((await good.resolve()).commit, firstCommit);
      const bad = new GitSource({ url, cacheDir: cacheDir(), auth: { token: 'ghp_wrong' } });
      await assert.rejects(bad.resolve(), (err) => isGantryError(err, 'AuthFailed'));
    } finally {
      await tokenServer.close();
    }
  });

  it('reports an unreachable server as SourceUnavailable naming the URL', async () => {
    const src = new GitSource({ url: 'http://127.0.0.1:9/none.git', cacheDir: cacheDir() });
    await assert.rejects(src.resolve(), (err) => isGantryError(err, 'SourceUnavailable') && err.message.includes('http://127.0.0.1:9/none.git'));
  });

  it('times every fetch and counts the failed ones by error code (gantry_git_fetch_*)', async () => {
    const metrics = new Metrics();
    const good = new GitSource({ url: repoUrl, cacheDir: cacheDir(), auth, metrics: metrics.sync });
    await good.resolve();
    await good.resolve();
    const denied = new GitSource({ url: repoUrl, cacheDir: cacheDir(), auth: { username: 'deployer', password: 'wrong' }, metrics: metrics.sync });
    await assert.rejects(denied.resolve(), (err) => isGantryError(err, 'AuthFailed'));
    const gone = new GitSource({ url: 'http://127.0.0.1:9/none.git', cacheDir: cacheDir(), metrics: metrics.sync });
    await assert.rejects(gone.resolve(), (err) => isGantryError(err, 'SourceUnavailable'));
    const m = await scrape(metrics);
    assert.equal(valueOf(m, 'gantry_git_fetch_duration_seconds_count'), 4);
    assert.ok(valueOf(m, 'gantry_git_fetch_duration_seconds_sum')! < 30, 'seconds, not milliseconds');
    assert.equal(valueOf(m, 'gantry_git_fetch_failures_total', { code: 'AuthFailed' }), 1);
    assert.equal(valueOf(m, 'gantry_git_fetch_failures_total', { code: 'SourceUnavailable' }), 1);
    assert.equal(valueOf(m, 'gantry_git_fetch_failures_total'), 2);
  });

  it('follows a branch: a pushed commit is seen by the next resolve()', async () => {
    const src = new GitSource({ url: repoUrl, cacheDir: cacheDir(), auth, ref: 'main', path: 'deploy' });
    const before = await src.resolve();
    assert.equal(before.commit, firstCommit);
    const pushed = await pushFiles(work, { 'deploy/web.yaml': cm('web', '2'), 'deploy/new.yaml': cm('new') }, 'scale web');
    const after = await src.resolve();
    assert.equal(after.commit, pushed);
    assert.equal(after.message?.trim(), 'scale web');
    const files = byPath(await src.files(after.commit));
    assert.equal(text(files.get('deploy/web.yaml')), cm('web', '2'));
    assert.ok(files.has('deploy/new.yaml'));
    // The older revision is still readable from the same clone.
    assert.equal(text(byPath(await src.files(before.commit)).get('deploy/web.yaml')), cm('web'));
  });

  it('pins an annotated tag to its commit', async () => {
    const src = new GitSource({ url: repoUrl, cacheDir: cacheDir(), auth, ref: 'v1.0' });
    const rev = await src.resolve();
    assert.equal(rev.commit, firstCommit);
    assert.equal(rev.ref, 'v1.0');
  });

  it('pins an abbreviated commit id', async () => {
    const src = new GitSource({ url: repoUrl, cacheDir: cacheDir(), auth });
    const rev = await src.resolve(firstCommit.slice(0, 8));
    assert.equal(rev.commit, firstCommit);
  });

  it('reports an unknown branch as RefNotFound listing the branches', async () => {
    const src = new GitSource({ url: repoUrl, cacheDir: cacheDir(), auth });
    await assert.rejects(src.resolve('mian'), (err) => {
      assert.ok(isGantryError(err, 'RefNotFound'), String(err));
      assert.match(err.message, /'mian' not found in http:\/\/127\.0\.0\.1:\d+\/app\.git; branches: dev, main/);
      assert.match(err.message, /tags: v1\.0/);
      return true;
    });
  });

  it('lists branches and tags', async () => {
    const src = new GitSource({ url: repoUrl, cacheDir: cacheDir(), auth });
    await src.resolve();
    assert.deepEqual(await src.listRefs(), { branches: ['dev', 'main'], tags: ['v1.0'] });
  });
});

describe('GitSource over a local path', function () {
  this.timeout(30_000);
  let tmp: { dir: string; cleanup(): Promise<void> };
  let work: string;
  let first: string;

  before(async () => {
    tmp = await tempDir('gantry-gitlocal-');
    work = path.join(tmp.dir, 'work');
    first = await makeRepo(work, { 'apps/web.yaml': cm('web') });
    await git(work, ['tag', 'light']);
  });

  after(async () => {
    await tmp?.cleanup();
  });

  it('reads a work tree in place and sees new commits without cloning', async () => {
    const src = new GitSource({ url: work, cacheDir: path.join(tmp.dir, 'unused') });
    const rev = await src.resolve();
    assert.equal(rev.commit, first);
    assert.equal(rev.ref, 'main');
    const second = await commitFiles(work, { 'apps/web.yaml': cm('web', '3') }, 'bump');
    const after = await src.resolve();
    assert.equal(after.commit, second);
    assert.equal(text(byPath(await src.files(after.commit)).get('apps/web.yaml')), cm('web', '3'));
  });

  it('reads a bare repository and resolves a lightweight tag', async () => {
    const bare = path.join(tmp.dir, 'bare.git');
    await git(tmp.dir, ['clone', '-q', '--bare', work, bare]);
    const src = new GitSource({ url: bare, cacheDir: path.join(tmp.dir, 'unused2'), ref: 'light' });
    assert.equal((await src.resolve()).commit, first);
  });

  it('reads deltified objects of a repacked repository exactly as git does', async () => {
    const dir = path.join(tmp.dir, 'packed');
    const many: Record<string, string> = {};
    for (let i = 0; i < 40; i++) many[`d${i % 4}/cm-${i}.yaml`] = cm(`cm-${i}`, 'x'.repeat(400) + i);
    await makeRepo(dir, many);
    const edits: Record<string, string> = {};
    for (let i = 0; i < 40; i += 3) edits[`d${i % 4}/cm-${i}.yaml`] = cm(`cm-${i}`, 'y'.repeat(400) + i);
    const head = await commitFiles(dir, edits, 'edit');
    await git(dir, ['gc', '-q', '--aggressive']);
    const src = new GitSource({ url: dir, cacheDir: path.join(tmp.dir, 'unused4') });
    const rev = await src.resolve();
    assert.equal(rev.commit, head);
    const files = await src.files(rev.commit);
    assert.equal(files.length, 40);
    for (const f of files) assert.equal(text(f), await git(dir, ['show', `HEAD:${f.path}`]).then((s) => `${s}\n`), f.path);
  });

  it('refuses a directory that is not a repository', async () => {
    const src = new GitSource({ url: path.join(tmp.dir, 'nothing'), cacheDir: path.join(tmp.dir, 'unused3') });
    await assert.rejects(src.resolve(), (err) => isGantryError(err, 'SourceUnavailable') && /not a Git repository/.test(err.message));
  });
});

describe('DirSource over a working copy', function () {
  let tmp: { dir: string; cleanup(): Promise<void> };

  before(async () => {
    tmp = await tempDir('gantry-dirsrc-');
    await makeRepo(tmp.dir, {
      'apps/web.yaml': cm('web'),
      'apps/deep/db.json': '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"db"}}',
      'apps/notes.txt': 'ignored',
      'node_modules/pkg/x.yaml': cm('vendored'),
      'apps/passwd.yaml': 'symlink:/etc/passwd',
      'apps/same.yaml': 'symlink:web.yaml',
    });
    // An uncommitted edit is what a working copy is for.
    await writeFiles(tmp.dir, { 'apps/web.yaml': cm('web', 'edited') });
  });

  after(async () => {
    await tmp?.cleanup();
  });

  it('resolves to the working-tree pseudo revision', async () => {
    assert.deepEqual(await new DirSource({ root: tmp.dir }).resolve(), { commit: 'working-tree', ref: tmp.dir });
  });

  it('walks manifests recursively, skips .git and node_modules, and reports symlinks unfollowed', async () => {
    const files = byPath(await new DirSource({ root: tmp.dir }).files());
    assert.deepEqual([...files.keys()].sort(), ['apps/deep/db.json', 'apps/passwd.yaml', 'apps/same.yaml', 'apps/web.yaml']);
    assert.equal(text(files.get('apps/web.yaml')), cm('web', 'edited'));
    assert.equal(files.get('apps/passwd.yaml')?.symlinkTarget, '/etc/passwd');
    assert.equal(files.get('apps/passwd.yaml')?.content, undefined);
  });

  it('gives files the blob id Git would, so unchanged content is recognised across sources', async () => {
    const files = byPath(await new DirSource({ root: tmp.dir }).files());
    const gitId = await git(tmp.dir, ['hash-object', 'apps/deep/db.json']);
    assert.equal(files.get('apps/deep/db.json')?.oid, gitId);
  });

  it('feeds the loader, which refuses the escaping symlink', async () => {
    const { objects, issues } = loadManifests(await new DirSource({ root: tmp.dir }).files());
    assert.deepEqual(objects.map((o) => o.object.metadata.name).sort(), ['db', 'web']);
    assert.deepEqual(issues.map((i) => i.file), ['apps/passwd.yaml']);
  });

  it('with a path, walks only that directory, paths relative to the root', async () => {
    const src = new DirSource({ root: tmp.dir, path: 'apps/deep' });
    assert.deepEqual((await src.files()).map((f) => f.path), ['apps/deep/db.json']);
    assert.equal((await src.resolve()).ref, path.join(tmp.dir, 'apps', 'deep'));
  });

  it('around() a directory inside a Git work tree takes the work tree as the root', async () => {
    const src = DirSource.around(path.join(tmp.dir, 'apps', 'deep'));
    assert.deepEqual((await src.files()).map((f) => f.path), ['apps/deep/db.json']);
    const got = await src.readPaths('working-tree', ['apps/web.yaml']);
    const web = got.get('apps/web.yaml');
    assert.equal(web?.kind === 'file' && text(web.file), cm('web', 'edited'));
  });

  it('readPaths() reads paths under the root only, reports symlinks unfollowed and never enters .git', async () => {
    const src = new DirSource({ root: tmp.dir, path: 'apps/deep' });
    const got = await src.readPaths('working-tree', ['apps', 'apps/passwd.yaml', 'apps/same.yaml/x', '.git/config', '../etc/passwd', 'apps/none.yaml']);
    assert.deepEqual(got.get('apps'), { kind: 'directory' });
    const link = got.get('apps/passwd.yaml');
    assert.equal(link?.kind === 'file' && link.file.symlinkTarget, '/etc/passwd');
    const through = got.get('apps/same.yaml/x');
    assert.deepEqual(through?.kind === 'file' && [through.through, through.file.path], [true, 'apps/same.yaml']);
    for (const p of ['.git/config', '../etc/passwd', 'apps/none.yaml']) assert.deepEqual(got.get(p), { kind: 'missing' }, p);
  });

  it('reports a missing directory as NotFound', async () => {
    await assert.rejects(new DirSource({ root: path.join(tmp.dir, 'nope') }).resolve(), (err) => isGantryError(err, 'NotFound'));
  });
});
