import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startGantry, type RunningGantry } from '../../src/app.js';
import type { BlameLine } from '../../src/audit/blame.js';
import { silentLogger } from '../../src/log.js';
import type { Deployment } from '../../src/model/types.js';
import { runCli } from '../helpers/cli.js';
import { waitFor } from '../helpers/e2e.js';
import { git, makeRepo, tempDir, writeFiles } from '../helpers/git-http-server.js';
import { deploymentYaml } from '../helpers/manifests.js';

const ALICE = ['-c', 'user.name=Alice Smith', '-c', 'user.email=alice@example.com'];
const BOB = ['-c', 'user.name=Bob Jones', '-c', 'user.email=bob@example.com'];

/** Commits `files` in `repo` as `who`; returns the commit id. */
async function commitAs(repo: string, who: string[], files: Record<string, string | null>, message: string): Promise<string> {
  await writeFiles(repo, files);
  await git(repo, ['add', '-A']);
  await git(repo, [...who, 'commit', '-q', '-m', message]);
  return git(repo, ['rev-parse', 'HEAD']);
}

describe('audit trail that says who: history and blame over a real repository and store', function () {
  this.timeout(120_000);
  let tmp: { dir: string; cleanup(): Promise<void> };
  let repo: string;
  let dataDir: string;
  let gantry: RunningGantry | undefined;
  let first: string;
  let second: string;

  before(async () => {
    tmp = await tempDir('gantry-audit-who-');
    repo = join(tmp.dir, 'repo');
    dataDir = join(tmp.dir, 'data');
    await makeRepo(repo, { 'README.md': 'deploy repo\n' });
    first = await commitAs(repo, ALICE, { 'web.yaml': deploymentYaml({ replicas: 2 }) }, 'web: two replicas');
    gantry = await startGantry({
      config: { dataDir, repo, ref: 'main', intervalMs: 0, listen: '127.0.0.1:0' },
      logger: silentLogger(),
      components: { sync: true, api: true, audit: true, controllers: true },
    });
    assert.equal((await gantry.sync!.trigger('test')).outcome, 'applied');
    second = await commitAs(repo, BOB, { 'web.yaml': deploymentYaml({ replicas: 2 }).replace('busybox:1.35', 'busybox:1.36') }, 'web: busybox 1.36');
    assert.equal((await gantry.sync!.trigger('test')).outcome, 'applied');
    // The Deployment controller has seen the new template once its status names generation 2.
    await waitFor('the Deployment controller to observe generation 2', async () => {
      const d = await gantry!.store.get<Deployment>({ kind: 'Deployment', namespace: 'default', name: 'web' });
      return d?.status?.observedGeneration === 2;
    });
    await new Promise((r) => setTimeout(r, 300));
    await gantry.recorder!.flush();
  });
  after(async () => {
    await gantry?.stop();
    await tmp.cleanup();
  });

  it('history shows who pushed each change beside the actor, and every status commit is authored by its actor', async () => {
    const res = await runCli(['history', 'deployment/web', '--data-dir', dataDir]);
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, new RegExp(`sync \\(Bob Jones\\)\\s+${second.slice(0, 7)}  Deployment default/web: image`));
    assert.match(res.stdout, new RegExp(`sync \\(Alice Smith\\)\\s+${first.slice(0, 7)}  Deployment default/web created`));
    assert.match(res.stdout, /controller\/deployment\s+Deployment default\/web: /);
    const authors = await git(tmp.dir, ['--git-dir', join(dataDir, 'history.git'), 'log', '--format=%an', 'status']);
    assert.ok(authors.split('\n').includes('controller/deployment'));
    assert.ok(authors.split('\n').includes('sync'));
    const trailers = await git(tmp.dir, ['--git-dir', join(dataDir, 'history.git'), 'log', '--format=%s|%(trailers:key=Gantry-Desired-Author,valueonly,separator=)', 'status']);
    assert.ok(trailers.includes(`sync ${second.slice(0, 7)}: applied (0 created, 1 updated, 0 pruned)|Bob Jones <bob@example.com>`), trailers);
  });

  it('blame attributes each field of a Deployment to the commit and author that set it, and status to the controller', async () => {
    const res = await runCli(['blame', 'deployment/web', '--data-dir', dataDir]);
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, new RegExp(`^${first.slice(0, 7)} \\(Alice Smith\\s+\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d\\) spec\\.replicas: 2$`, 'm'));
    assert.match(res.stdout, new RegExp(`^${second.slice(0, 7)} \\(Bob Jones\\s+.*\\) spec\\.template\\.spec\\.containers\\[0\\]\\.image: gantry\\.local/busybox:1\\.36$`, 'm'));
    assert.match(res.stdout, /^\w{7} \(controller\/deployment\s+.*\) status\.observedGeneration: 2$/m);
    assert.match(res.stdout, /metadata\.annotations\["gantry\.dev\/managed-by"\]: gantry$/m);
  });

  it('blame through the API (--kubeconfig) answers the same, as JSON', async () => {
    const res = await runCli(['blame', 'deployment/web', '--kubeconfig', gantry!.kubeconfig!, '-o', 'json']);
    assert.equal(res.code, 0, res.stderr);
    const lines = JSON.parse(res.stdout) as BlameLine[];
    const at = (p: string) => lines.find((l) => l.path === p);
    assert.equal(at('spec.replicas')?.desiredRevision, first);
    assert.equal(at('spec.replicas')?.desiredAuthor, 'Alice Smith <alice@example.com>');
    assert.equal(at('spec.template.spec.containers[0].image')?.desiredRevision, second);
    assert.equal(at('spec.template.spec.containers[0].image')?.desiredAuthor, 'Bob Jones <bob@example.com>');
    assert.equal(at('status.observedGeneration')?.actor, 'controller/deployment');
  });

  it('blame of an object that never existed is a clear error', async () => {
    const res = await runCli(['blame', 'deployment/nope', '--data-dir', dataDir]);
    assert.equal(res.code, 1);
    assert.match(res.stderr, /Deployment\/default\/nope has no recorded history and is not live/);
  });

  it('a restart whose first pass changes nothing adds no sync commit', async () => {
    await gantry!.stop();
    const before = await git(tmp.dir, ['--git-dir', join(dataDir, 'history.git'), 'rev-list', '--count', '--grep=^sync ', 'status']);
    gantry = await startGantry({
      config: { dataDir, repo, ref: 'main', intervalMs: 0, listen: '127.0.0.1:0' },
      logger: silentLogger(),
      components: { sync: true, api: true, audit: true },
    });
    assert.equal((await gantry.sync!.trigger('start')).outcome, 'unchanged');
    await gantry.recorder!.flush();
    const afterCount = await git(tmp.dir, ['--git-dir', join(dataDir, 'history.git'), 'rev-list', '--count', '--grep=^sync ', 'status']);
    assert.equal(afterCount, before);
  });
});
