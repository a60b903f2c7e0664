import assert from 'node:assert/strict';
import { join } from 'node:path';
import { watchRefs } from '../../src/sync/ref-watch.js';
import { commitFiles, git, makeRepo, tempDir } from '../helpers/git-http-server.js';

describe('watchRefs: a local repository\'s ref changes', function () {
  this.timeout(30_000);
  let tmp: { dir: string; cleanup(): Promise<void> };
  let repo: string;
  const ac = new AbortController();
  let changes = 0;

  before(async () => {
    tmp = await tempDir('gantry-ref-watch-');
    repo = join(tmp.dir, 'repo');
    await makeRepo(repo, { 'a.yaml': 'a: 1\n' });
    assert.equal(await watchRefs({ gitdir: join(repo, '.git'), signal: ac.signal, onChange: () => changes++ }), true);
  });
  after(async () => {
    ac.abort();
    await tmp.cleanup();
  });

  /** Runs `change` and waits until at least one more debounced change is reported. */
  async function seen(change: () => Promise<unknown>): Promise<void> {
    const before = changes;
    await change();
    const deadline = Date.now() + 5_000;
    while (changes === before) {
      if (Date.now() > deadline) assert.fail('no change reported within 5 s');
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  it('reports commits, one after another (git renames a new ref file over the old each time)', async () => {
    for (let i = 0; i < 3; i++) await seen(() => commitFiles(repo, { 'a.yaml': `a: ${i + 2}\n` }, `commit ${i}`));
  });

  it('reports a branch in a directory created after the watch began, and commits on it', async () => {
    await seen(() => git(repo, ['branch', 'team/feature']));
    await git(repo, ['checkout', '-q', 'team/feature']);
    await seen(() => commitFiles(repo, { 'b.yaml': 'b: 1\n' }, 'on team/feature'));
  });

  it('reports packed refs and tags', async () => {
    await seen(() => git(repo, ['tag', 'v1']));
    await seen(() => git(repo, ['pack-refs', '--all']));
  });

  it('stops reporting once aborted', async () => {
    ac.abort();
    const before = changes;
    await commitFiles(repo, { 'a.yaml': 'a: 99\n' }, 'after abort');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(changes, before);
  });
});
