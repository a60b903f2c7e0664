import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateManifests } from '../../bench/sync.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import { git, tempDir } from '../helpers/git-http-server.js';

const entry = join(dirname(fileURLToPath(import.meta.url)), '..', 'helpers', 'cli-entry.ts');

/** Starts `gantry sync --once` and SIGKILLs it after `afterMs`; resolves when it is gone. */
function killDuringSync(args: string[], afterMs: number): Promise<void> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', entry, ...args], { stdio: 'ignore', env: { ...process.env, GANTRY_LOG_LEVEL: 'silent' } });
    const timer = setTimeout(() => child.kill('SIGKILL'), afterMs);
    child.on('exit', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

describe('crash safety: gantry killed with SIGKILL during a sync', function () {
  this.timeout(180_000);
  const count = 2000;
  let tmp: { dir: string; cleanup(): Promise<void> };
  let repo: string;

  before(async () => {
    tmp = await tempDir('gantry-crash-');
    repo = join(tmp.dir, 'repo');
    generateManifests(repo, count);
    await git(repo, ['init', '-q', '-b', 'main']);
    await git(repo, ['add', '.']);
    await git(repo, ['commit', '-q', '-m', 'generated']);
  });
  after(async () => tmp.cleanup());

  it('leaves the store with all of a revision or none of it, and the next run converges', async () => {
    const dataDir = join(tmp.dir, 'data');
    const args = ['sync', '--once', '--repo', repo, '--ref', 'main', '--data-dir', dataDir];
    // Kill at several points of the run: during start-up, loading, planning and the apply.
    for (const afterMs of [800, 1500, 2500, 3500]) {
      await killDuringSync(args, afterMs);
      // Opening creates an empty store if the kill came before gantry made one: that is "none".
      const store = openSqliteStore(join(dataDir, 'state.db'));
      try {
        let total = 0;
        for (const kind of ['Deployment', 'Service', 'ConfigMap', 'Secret']) total += (await store.list(kind)).items.length;
        assert.ok(total === 0 || total === count, `after a kill at ${afterMs} ms the store holds ${total} of ${count} objects`);
      } finally {
        await store.close();
      }
    }
    const { runCli } = await import('../helpers/cli.js');
    const res = await runCli(args, { timeoutMs: 120_000 });
    assert.equal(res.code, 0, res.stdout + res.stderr);
    const store = openSqliteStore(join(dataDir, 'state.db'));
    try {
      let total = 0;
      for (const kind of ['Deployment', 'Service', 'ConfigMap', 'Secret']) total += (await store.list(kind)).items.length;
      assert.equal(total, count);
    } finally {
      await store.close();
    }
  });
});
