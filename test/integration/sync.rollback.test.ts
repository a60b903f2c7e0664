import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { startGantry, type RunningGantry } from '../../src/app.js';
import { silentLogger } from '../../src/log.js';
import type { Deployment } from '../../src/model/types.js';
import { rollback } from '../../src/sync/rollback.js';
import { runCli } from '../helpers/cli.js';
import { waitFor } from '../helpers/e2e.js';
import { commitFiles, git, makeRepo, publishRepo, startGitHttpServer, tempDir } from '../helpers/git-http-server.js';
import { deploymentYaml } from '../helpers/manifests.js';

const web = (image: string, replicas = 2) => deploymentYaml({ replicas }).replace('gantry.local/busybox:1.35', image);
const ROLLER = { GIT_AUTHOR_NAME: 'Carol Ops', GIT_AUTHOR_EMAIL: 'carol@example.com', GIT_COMMITTER_NAME: 'Carol Ops', GIT_COMMITTER_EMAIL: 'carol@example.com' };

/** Runs `fn` with the roller's Git identity in this process's environment (rollback runs git from here). */
async function asRoller<T>(fn: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(ROLLER).map((k) => [k, process.env[k]]));
  Object.assign(process.env, ROLLER);
  try {
    return await fn();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

describe('gantry rollback: a revert commit on the watched branch', function () {
  this.timeout(120_000);
  let tmp: { dir: string; cleanup(): Promise<void> };
  let repo: string;
  beforeEach(async () => {
    tmp = await tempDir('gantry-rollback-');
    repo = join(tmp.dir, 'repo');
    await makeRepo(repo, { 'web.yaml': web('gantry.local/busybox:1.35') }, 'web: busybox 1.35');
  });
  afterEach(async () => tmp.cleanup());

  it('reverts the revision in force, and the watched-ref pickup deploys the previous image', async () => {
    const dataDir = join(tmp.dir, 'data');
    const gantry: RunningGantry = await startGantry({
      config: { dataDir, repo, ref: 'main', intervalMs: 0, listen: '127.0.0.1:0' },
      logger: silentLogger(),
      components: { sync: true, api: true, audit: true },
    });
    try {
      assert.equal((await gantry.sync!.trigger('start')).outcome, 'applied');
      gantry.startPolling(); // watches the repository's refs from here on
      const image = async () => (await gantry.store.get<Deployment>({ kind: 'Deployment', namespace: 'default', name: 'web' }))?.spec.template.spec.containers[0]?.image;
      await waitFor('the first image', async () => (await image()) === 'gantry.local/busybox:1.35');
      const bad = await commitFiles(repo, { 'web.yaml': web('gantry.local/busybox:1.36') }, 'web: busybox 1.36');
      await waitFor('the new image', async () => (await image()) === 'gantry.local/busybox:1.36');

      const res = await runCli(['rollback', '--data-dir', dataDir], { env: ROLLER });
      assert.equal(res.code, 0, res.stdout + res.stderr);
      assert.match(res.stdout, new RegExp(`^reverted ${bad.slice(0, 7)} \\("web: busybox 1\\.36"\\) with commit \\w{7} on main`));
      assert.equal(await git(repo, ['log', '-1', '--format=%s|%an']), 'Revert "web: busybox 1.36"|Carol Ops');
      await waitFor('the previous image back', async () => (await image()) === 'gantry.local/busybox:1.35');
      await gantry.recorder!.flush();
      const history = await gantry.recorder!.history({ object: 'Deployment/default/web', limit: 1 });
      assert.equal(history[0]!.desiredAuthor, 'Carol Ops <carol@example.com>');
    } finally {
      await gantry.stop();
    }
  });

  it('refuses a revert that conflicts with later commits, and leaves the repository as it was', async () => {
    const middle = await commitFiles(repo, { 'web.yaml': web('gantry.local/busybox:1.35', 3) }, 'web: three replicas');
    const head = await commitFiles(repo, { 'web.yaml': web('gantry.local/busybox:1.35', 4) }, 'web: four replicas');
    await assert.rejects(asRoller(() => rollback({ repo, branch: 'main', revision: middle })), (err: Error) =>
      /cannot roll back \w{7}: reverting it conflicts with later commits in web\.yaml; nothing was changed/.test(err.message));
    assert.equal(await git(repo, ['rev-parse', 'HEAD']), head);
    assert.equal(await git(repo, ['status', '--porcelain']), '');
  });

  it('reverts on a branch not checked out (a bare repository) through a temporary worktree', async () => {
    const bad = await commitFiles(repo, { 'web.yaml': web('gantry.local/busybox:1.36') }, 'web: busybox 1.36');
    const bare = join(tmp.dir, 'deploy.git');
    await git(tmp.dir, ['clone', '-q', '--bare', repo, bare]);
    const result = await asRoller(() => rollback({ repo: bare, revision: bad }));
    assert.ok(result.done);
    assert.equal(await git(bare, ['log', '-1', '--format=%s', 'main']), 'Revert "web: busybox 1.36"');
    assert.equal(await git(bare, ['worktree', 'list', '--porcelain']).then((l) => l.split('\n').filter((x) => x.startsWith('worktree ')).length), 1, 'no worktree left behind');
  });

  it('pushes the revert to an http(s) remote with credentials, and prints the git commands without them', async () => {
    const root = join(tmp.dir, 'srv');
    await mkdir(root);
    const bad = await commitFiles(repo, { 'web.yaml': web('gantry.local/busybox:1.36') }, 'web: busybox 1.36');
    await publishRepo(repo, root, 'deploy');
    const server = await startGitHttpServer({ root, auth: { username: 'ci', password: 'pw' } });
    try {
      const url = `${server.url}/deploy.git`;
      const printed = await rollback({ repo: url, branch: 'main', revision: bad });
      assert.equal(printed.done, false);
      assert.ok(!printed.done && /no credentials to push/.test(printed.why));
      assert.deepEqual(!printed.done && printed.commands, [`git clone --branch main ${url} gantry-rollback && cd gantry-rollback`, `git revert --no-edit ${bad}`, 'git push origin main']);

      const pushed = await asRoller(() => rollback({ repo: url, branch: 'main', revision: bad.slice(0, 8), auth: { username: 'ci', password: 'pw' } }));
      assert.ok(pushed.done);
      assert.equal(await git(join(root, 'deploy.git'), ['log', '-1', '--format=%s', 'main']), 'Revert "web: busybox 1.36"');
    } finally {
      await server.close();
    }
  });
});
