/**
 * Local-commit pickup: how long after `git commit` in a local repository the committed object
 * is in the store, with a 10-minute poll interval (so only the ref watch can explain a fast
 * pickup). A repo of 1,000 generated manifests plus one ConfigMap added per commit.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { built } from './build.js';
import { percentile } from './stats.js';
import { generateManifests } from './sync.js';

const COMMITS = 15;

/** Runs the benchmark and returns its figures (milliseconds). */
export async function benchLocalCommit(): Promise<Record<string, number | string>> {
  const { silentLogger } = await built<typeof import('../src/log.js')>('log.js');
  const { openSqliteStore } = await built<typeof import('../src/store/sqlite.js')>('store/sqlite.js');
  const { GitSource } = await built<typeof import('../src/sync/git-source.js')>('sync/git-source.js');
  const { SyncLoop } = await built<typeof import('../src/sync/loop.js')>('sync/loop.js');
  const root = mkdtempSync(join(tmpdir(), 'gantry-bench-local-commit-'));
  const ac = new AbortController();
  try {
    const repo = join(root, 'repo');
    mkdirSync(repo);
    generateManifests(repo, 1000);
    const git = (...args: string[]): void => {
      execFileSync('git', ['-c', 'user.name=bench', '-c', 'user.email=bench@localhost', '-c', 'commit.gpgsign=false', ...args], { cwd: repo, stdio: 'ignore' });
    };
    git('init', '-q', '-b', 'main');
    git('add', '.');
    git('commit', '-q', '-m', 'generated');
    const store = openSqliteStore(join(root, 'state.db'));
    const loop = new SyncLoop({
      source: new GitSource({ url: repo, cacheDir: join(root, 'cache') }),
      store,
      logger: silentLogger(),
      ref: 'main',
      intervalMs: 600_000,
      describe: { repo: 'bench' },
    });
    const first = await loop.syncOnce('bench');
    if (first.outcome !== 'applied') throw new Error(`first pass: ${first.outcome} ${first.error ?? ''}`);
    loop.start(ac.signal, { immediate: false });
    // Let the watchers settle before the first measured commit.
    await new Promise((r) => setTimeout(r, 200));
    const took: number[] = [];
    for (let i = 0; i < COMMITS; i++) {
      const name = `pickup-${i}`;
      writeFileSync(join(repo, `${name}.yaml`), `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\ndata: {i: "${i}"}\n`);
      git('add', '.');
      git('commit', '-q', '-m', name);
      const committed = process.hrtime.bigint();
      const deadline = Date.now() + 30_000;
      while (!(await store.get({ kind: 'ConfigMap', namespace: 'default', name }))) {
        if (Date.now() > deadline) throw new Error(`${name} not in the store after 30 s`);
        await new Promise((r) => setTimeout(r, 2));
      }
      took.push(Number(process.hrtime.bigint() - committed) / 1e6);
    }
    ac.abort();
    await loop.idle();
    await store.close();
    const at = (p: number): number => Math.round(percentile(took, p) * 10) / 10;
    return {
      commits: COMMITS,
      'commit → object in store, p50': at(50),
      'commit → object in store, max': at(100),
      'commit → object in store target': '≤ 1000',
      'poll interval': '600000 (watch only)',
    };
  } finally {
    ac.abort();
    rmSync(root, { recursive: true, force: true });
  }
}
