import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';
import { commitFiles, git, makeRepo, tempDir, writeFiles } from '../helpers/git-http-server.js';
import { deploymentYaml, secretYaml } from '../helpers/manifests.js';

const deployment = (replicas: number | string) => deploymentYaml({ replicas });
const service = `apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8080}]
`;
const secret = secretYaml;

describe('gantry CLI: validate, plan, sync --once, status, get, history', function () {
  this.timeout(120_000);
  let tmp: { dir: string; cleanup(): Promise<void> };
  let repo: string;
  let dataDir: string;

  before(async () => {
    tmp = await tempDir('gantry-cli-');
    repo = join(tmp.dir, 'repo');
    dataDir = join(tmp.dir, 'data');
    await makeRepo(repo, { 'web.yaml': deployment(2), 'svc.yaml': service, 'secret.yaml': secret('first-secret-value') });
    await git(repo, ['checkout', '-q', '-b', 'feature']);
    await commitFiles(repo, { 'web.yaml': deployment(4), 'secret.yaml': secret('second-secret-value') }, 'scale web to 4, rotate db password');
    await git(repo, ['checkout', '-q', 'main']);
  });
  after(async () => tmp.cleanup());

  it('validate exits 0 on a valid tree and 1 naming file, line, object and field on an invalid one', async () => {
    const ok = await runCli(['validate', repo]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /3 objects in 3 files valid/);
    const bad = join(tmp.dir, 'bad');
    await writeFiles(bad, {
      'web.yaml': deployment(2).replace('          image: gantry.local/busybox:1.35\n', '          image: gantry.local/busybox:1.35\n          resizePolicy: []\n'),
    });
    const res = await runCli(['validate', bad]);
    assert.equal(res.code, 1);
    assert.match(res.stdout, /web\.yaml line \d+: Deployment\/default\/web: .*spec\.template\.spec\.containers\[0\]\.resizePolicy is not supported/);
  });

  it('plan of a branch against main shows the update, hides secret values, and exits 2', async () => {
    const res = await runCli(['plan', 'feature', '--repo', repo, '--against', 'main', '--data-dir', dataDir]);
    assert.equal(res.code, 2, res.stderr);
    assert.match(res.stdout, /Deployment default\/web/);
    assert.match(res.stdout, /replicas/);
    assert.match(res.stdout, /Secret default\/db/);
    for (const v of ['first-secret-value', 'second-secret-value']) {
      assert.ok(!res.stdout.includes(v), `plan must not show ${v}`);
      assert.ok(!res.stdout.includes(Buffer.from(v).toString('base64')), `plan must not show base64 of ${v}`);
    }
  });

  it('plan in markdown and json formats, and exit 0 when nothing changes', async () => {
    const md = await runCli(['plan', 'feature', '--repo', repo, '--against', 'main', '--format', 'markdown', '--data-dir', dataDir]);
    assert.equal(md.code, 2);
    assert.match(md.stdout, /```diff/);
    const json = await runCli(['plan', 'feature', '--repo', repo, '--against', 'main', '--format', 'json', '--data-dir', dataDir]);
    const parsed = JSON.parse(json.stdout) as { summary: { update: number } };
    assert.equal(parsed.summary.update, 2);
    const same = await runCli(['plan', 'main', '--repo', repo, '--against', 'main', '--data-dir', dataDir]);
    assert.equal(same.code, 0, same.stdout + same.stderr);
  });

  it('sync --once applies a revision; status, get and history show it', async () => {
    const sync = await runCli(['sync', '--once', '--repo', repo, '--ref', 'main', '--data-dir', dataDir]);
    assert.equal(sync.code, 0, sync.stdout + sync.stderr);
    assert.match(sync.stdout, /3 created/);

    // Applied, but no controller runs here: synced, and the Deployment's pods are not there (exit 3).
    const status = await runCli(['status', '--data-dir', dataDir]);
    assert.equal(status.code, 3, status.stdout);
    assert.match(status.stdout, /Sync: +Synced/);
    assert.match(status.stdout, /Health: +Progressing/);
    assert.match(status.stdout, /Deployment default\/web +Progressing/);
    assert.match(status.stdout, /1 Deployment/);

    const get = await runCli(['get', 'deploy', '--data-dir', dataDir]);
    assert.equal(get.code, 0);
    assert.match(get.stdout, /^NAME\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+AGE/m);
    assert.match(get.stdout, /^web\s+0\/2/m);

    const yaml = await runCli(['get', 'deployment', 'web', '-o', 'yaml', '--data-dir', dataDir]);
    assert.match(yaml.stdout, /replicas: 2/);

    const missing = await runCli(['get', 'deployment', 'nope', '--data-dir', dataDir]);
    assert.equal(missing.code, 1);
    assert.match(missing.stdout, /not found/);

    const history = await runCli(['history', 'deployment/web', '--data-dir', dataDir]);
    assert.equal(history.code, 0, history.stderr);
    assert.match(history.stdout, /sync/);
    assert.match(history.stdout, /Deployment default\/web/);
  });

  it('plan --live against the store after a sync shows only what the branch changes', async () => {
    const res = await runCli(['plan', 'feature', '--repo', repo, '--live', '--data-dir', dataDir]);
    assert.equal(res.code, 2, res.stderr);
    assert.match(res.stdout, /1 to create|0 to create/);
    assert.match(res.stdout, /2 to update/);
  });

  it('sync --once of a bad revision exits 1 and status reports the problem while the old revision stays', async () => {
    await commitFiles(repo, { 'web.yaml': deployment('"many"') }, 'break it');
    const sync = await runCli(['sync', '--once', '--repo', repo, '--ref', 'main', '--data-dir', dataDir]);
    assert.equal(sync.code, 1);
    assert.match(sync.stdout, /rejected/);
    assert.match(sync.stdout, /web\.yaml.*spec\.replicas/);
    const status = await runCli(['status', '--data-dir', dataDir]);
    assert.equal(status.code, 2, 'a rejected revision needs a person: exit 2');
    assert.match(status.stdout, /Sync: +Rejected/);
    assert.match(status.stdout, /rejected/);
    assert.match(status.stdout, /spec\.replicas/);
    const get = await runCli(['get', 'deployment', 'web', '-o', 'json', '--data-dir', dataDir]);
    assert.equal((JSON.parse(get.stdout) as { spec: { replicas: number } }).spec.replicas, 2);
  });

  it('history refuses a --limit that is not a number instead of showing an empty history', async () => {
    const res = await runCli(['history', '--limit', 'ten', '--data-dir', dataDir]);
    assert.equal(res.code, 1);
    assert.match(res.stderr, /InvalidArgument.*--limit: "ten"/);
  });

  it('sync exits 1 naming the address when its API port is taken, instead of hanging on what it started', async () => {
    const squatter = createServer();
    squatter.listen(0, '127.0.0.1');
    await once(squatter, 'listening');
    const { port } = squatter.address() as AddressInfo;
    try {
      const res = await runCli(['sync', '--repo', repo, '--interval', '0', '--listen', `127.0.0.1:${port}`, '--data-dir', join(tmp.dir, 'busy-port')]);
      assert.equal(res.code, 1);
      assert.match(res.stderr, new RegExp(`EADDRINUSE.*127\\.0\\.0\\.1:${port}`));
    } finally {
      squatter.close();
    }
  });
});
