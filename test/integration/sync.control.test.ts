import assert from 'node:assert/strict';
import { stripVTControlCharacters } from 'node:util';
import { join } from 'node:path';
import { startGantry, type RunningGantry } from '../../src/app.js';
import { silentLogger } from '../../src/log.js';
import type { Deployment } from '../../src/model/types.js';
import type { SyncObject } from '../../src/sync/status.js';
import { parseSyncWindow } from '../../src/sync/windows.js';
import type { GantryConfig } from '../../src/config.js';
import { runCli } from '../helpers/cli.js';
import { runSyncNow } from '../../src/cli/commands/control.js';
import { runStatus } from '../../src/cli/commands/inspect.js';
import { waitFor } from '../helpers/e2e.js';
import { commitFiles, makeRepo, tempDir } from '../helpers/git-http-server.js';
import { deploymentYaml } from '../helpers/manifests.js';

describe('steering the sync: suspend, resume, sync --now and sync windows', function () {
  this.timeout(120_000);
  let tmp: { dir: string; cleanup(): Promise<void> };
  let repo: string;
  let dataDir: string;
  let gantry: RunningGantry | undefined;

  beforeEach(async () => {
    tmp = await tempDir('gantry-sync-control-');
    repo = join(tmp.dir, 'repo');
    dataDir = join(tmp.dir, 'data');
    await makeRepo(repo, { 'web.yaml': deploymentYaml({ replicas: 2 }) });
  });
  afterEach(async () => {
    await gantry?.stop();
    gantry = undefined;
    await tmp.cleanup();
  });

  async function start(extra: Partial<GantryConfig> = {}): Promise<RunningGantry> {
    gantry = await startGantry({
      config: { dataDir, repo, ref: 'main', intervalMs: 0, listen: '127.0.0.1:0', ...extra },
      logger: silentLogger(),
      components: { sync: true, api: true, audit: true },
    });
    gantry.startPolling(); // watches the local repository's refs: a commit is picked up at once
    return gantry;
  }
  const replicas = async () => (await gantry!.store.get<Deployment>({ kind: 'Deployment', namespace: 'default', name: 'web' }))?.spec.replicas;
  const syncStatus = async () => (await gantry!.store.get<SyncObject>({ kind: 'Sync', name: 'default' }))?.status;

  it('suspend holds back a commit (across a restart) and resume applies it', async () => {
    await start();
    assert.equal((await gantry!.sync!.trigger('test')).outcome, 'applied');
    const suspend = await runCli(['suspend', '--data-dir', dataDir]);
    assert.equal(suspend.code, 0, suspend.stderr);
    assert.match(suspend.stdout, /sync suspended by api\/\S+ at \d{4}-/);

    const commit = await commitFiles(repo, { 'web.yaml': deploymentYaml({ replicas: 3 }) }, 'web: three replicas');
    const held = await waitFor('the commit to be held back', async () => ((await syncStatus())?.heldBack?.revision === commit ? (await syncStatus())!.heldBack : undefined));
    assert.equal(held.reason, 'Suspended');
    assert.equal(await replicas(), 2);

    // The suspension is in the store: a restarted gantry applies nothing either.
    await gantry!.stop();
    await start();
    const again = await gantry!.sync!.trigger('start');
    assert.equal(again.outcome, 'held');
    assert.equal(await replicas(), 2);
    // The commands' own functions, in process (the CLI's start-up is slow on a busy machine).
    const status = { output: stripVTControlCharacters((await runStatus({ dataDir })).output) };
    assert.match(status.output, /Suspended: +yes, by api\/\S+/);
    assert.match(status.output, new RegExp(`Waiting: +Suspended since .*\\n +sync suspended by .*: revision ${commit.slice(0, 7)} not applied; gantry resume applies it`));

    const now = await runSyncNow({ dataDir });
    assert.equal(now.exitCode, 1);
    assert.match(now.output, /nothing applied: sync suspended/);

    const resume = await runCli(['resume', '--data-dir', dataDir]);
    assert.equal(resume.code, 0, resume.stderr);
    await waitFor('the held commit to be applied', async () => (await replicas()) === 3);
    assert.equal((await syncStatus())?.heldBack, undefined);
    assert.equal((await syncStatus())?.lastAppliedRevision, commit);
  });

  it('a deny window holds back a sync, says until when, and sync --now --force passes only where the window allows manual syncs', async () => {
    const now = new Date();
    const schedule = `${now.getUTCMinutes()} ${now.getUTCHours()} * * *`;
    await start({ syncWindows: [parseSyncWindow(`deny ${schedule} 2h manual`)] });
    const first = await gantry!.sync!.trigger('test');
    assert.equal(first.outcome, 'held');
    assert.equal(await replicas(), undefined, 'nothing applied inside the deny window');
    const status = await syncStatus();
    assert.equal(status?.heldBack?.reason, 'SyncWindow');
    const until = Date.parse(status!.heldBack!.until!);
    assert.ok(until > Date.now() + 60 * 60_000 && until <= Date.now() + 2 * 60 * 60_000, `until ${status!.heldBack!.until}`);
    const shown = { output: stripVTControlCharacters((await runStatus({ dataDir })).output) };
    assert.match(shown.output, /Windows: +deny .* 2h manual/);
    assert.match(shown.output, /Waiting: +SyncWindow since .*, until \d{4}-/);

    const plain = await runSyncNow({ dataDir });
    assert.equal(plain.exitCode, 1);
    assert.match(plain.output, /deny window '.*' is open; automatic syncs wait until .*; --force syncs anyway/);
    assert.equal(await replicas(), undefined);

    const forced = await runCli(['sync', '--now', '--force', '--data-dir', dataDir]);
    assert.equal(forced.code, 0, forced.stdout + forced.stderr);
    assert.match(forced.stdout, /applied/);
    assert.equal(await replicas(), 2);
  });

  it('sync --now --force cannot pass a deny window that allows no manual sync', async () => {
    const now = new Date();
    await start({ syncWindows: [parseSyncWindow(`deny ${now.getUTCMinutes()} ${now.getUTCHours()} * * * 1h`)] });
    const forced = await runSyncNow({ dataDir, force: true });
    assert.equal(forced.exitCode, 1);
    assert.match(forced.output, /--force cannot pass it: the window allows no manual sync/);
    assert.equal(await replicas(), undefined);
  });
});
