import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startGantry, type RunningGantry } from '../../src/app.js';
import { silentLogger } from '../../src/log.js';
import type { ConfigMap } from '../../src/model/types.js';
import { commitFiles, git, makeRepo, tempDir } from '../helpers/git-http-server.js';

const configMap = (name: string, value: string): string => `apiVersion: v1
kind: ConfigMap
metadata:
  name: ${name}
data: {value: "${value}"}
`;

/** Polls `get` until it returns something, or fails after `ms`. */
async function eventually<T>(get: () => Promise<T | undefined>, ms: number, what: string): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await get();
    if (v !== undefined) return v;
    if (Date.now() > deadline) assert.fail(`${what} did not happen within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('sync from a local repository: commits are picked up without waiting for the poll', function () {
  this.timeout(60_000);
  let tmp: { dir: string; cleanup(): Promise<void> };
  let repo: string;
  let gantry: RunningGantry | undefined;

  beforeEach(async () => {
    tmp = await tempDir('gantry-local-watch-');
    repo = join(tmp.dir, 'repo');
    await makeRepo(repo, { 'first.yaml': configMap('first', 'one') });
    gantry = await startGantry({
      config: { dataDir: join(tmp.dir, 'data'), repo, ref: 'main', intervalMs: 600_000, listen: '127.0.0.1:0' },
      logger: silentLogger(),
      components: { sync: true, api: false, audit: false },
    });
    // As `gantry up` does: the first pass, then polling (and watching) from there.
    assert.equal((await gantry.sync!.trigger('start')).outcome, 'applied');
    gantry.startPolling();
  });

  afterEach(async () => {
    await gantry?.stop();
    gantry = undefined;
    await tmp.cleanup();
  });

  const get = (name: string) => () => gantry!.store.get<ConfigMap>({ kind: 'ConfigMap', namespace: 'default', name }).then((o) => o ?? undefined);

  it('deploys a new commit on the followed branch with a 10-minute poll interval', async () => {
    await commitFiles(repo, { 'second.yaml': configMap('second', 'two') }, 'add second');
    const cm = await eventually(get('second'), 10_000, 'deploying the new commit');
    assert.equal(cm.data?.value, 'two');
    // And the next one too: the watch keeps going after a pass.
    await commitFiles(repo, { 'second.yaml': configMap('second', 'three') }, 'change second');
    await eventually(() => get('second')().then((o) => (o?.data?.value === 'three' ? o : undefined)), 10_000, 'deploying the second commit');
  });

  it('follows the branch when it is moved by a reset to a commit made on another branch', async () => {
    await git(repo, ['checkout', '-q', '-b', 'other']);
    await commitFiles(repo, { 'elsewhere.yaml': configMap('elsewhere', 'x') }, 'on another branch');
    await git(repo, ['checkout', '-q', 'main']);
    await git(repo, ['reset', '-q', '--hard', 'other']);
    await eventually(get('elsewhere'), 10_000, 'deploying main after it was reset');
  });
});
