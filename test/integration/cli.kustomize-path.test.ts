/**
 * `gantry validate PATH` and `gantry plan --path` of an overlay whose base lies outside it: the
 * same rendering a sync of that path does, from a Git work tree (uncommitted edits included).
 * Called in process: the CLI's wiring is covered by cli.gitops.test.ts.
 */
import assert from 'node:assert/strict';
import { cp } from 'node:fs/promises';
import { join } from 'node:path';
import { runPlan, runValidate } from '../../src/cli/commands/plan.js';
import { makeRepo, tempDir, writeFiles } from '../helpers/git-http-server.js';

const files = {
  'base/kustomization.yaml': 'resources: [deployment.yaml]\n',
  'base/deployment.yaml': `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: web
          image: busybox
`,
  'overlays/prod/kustomization.yaml': 'namePrefix: prod-\nresources: [../../base]\n',
  'other/broken.yaml': 'this: is not a manifest\n',
};

describe('gantry validate and plan of an overlay whose base lies outside the path', function () {
  this.timeout(60_000);
  let tmp: { dir: string; cleanup(): Promise<void> };
  let repo: string;

  before(async () => {
    tmp = await tempDir('gantry-cli-kpath-');
    repo = join(tmp.dir, 'repo');
    await makeRepo(repo, files);
  });
  after(async () => tmp?.cleanup());

  it('validate reads the base from the work tree around PATH and nothing else outside it', async () => {
    const res = await runValidate(join(repo, 'overlays', 'prod'));
    assert.equal(res.exitCode, 0, res.output);
    assert.equal(res.output, '1 object in 1 file valid');
  });

  it('validate outside a Git work tree takes PATH as the root and refuses the base above it, naming file and field', async () => {
    const plain = join(tmp.dir, 'plain');
    await cp(repo, plain, { recursive: true, filter: (src) => !src.includes('.git') });
    const res = await runValidate(join(plain, 'overlays', 'prod'));
    assert.equal(res.exitCode, 1);
    assert.match(res.output, /^kustomization\.yaml line 2: resources\[0\]: \.\.\/\.\.\/base leads out of the repository/);
  });

  it('plan of the working tree with --path shows an uncommitted base edit as an update of the overlay\'s Deployment', async () => {
    await writeFiles(repo, { 'base/deployment.yaml': files['base/deployment.yaml'].replace('replicas: 1', 'replicas: 3') });
    const res = await runPlan(undefined, { repo, path: 'overlays/prod', against: 'main', format: 'text', dataDir: join(tmp.dir, 'data'), color: false });
    assert.equal(res.exitCode, 2, res.output);
    assert.match(res.output, /~ update Deployment default\/prod-web/);
    assert.match(res.output, /overlays\/prod\/kustomization\.yaml → base\/deployment\.yaml/);
    assert.match(res.output, /\+   spec.replicas: 3/);
  });
});
