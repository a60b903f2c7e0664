import assert from 'node:assert/strict';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';
import { commitFiles, git, makeRepo, tempDir } from '../helpers/git-http-server.js';
import { deploymentYaml } from '../helpers/manifests.js';

/** `web` reading ConfigMap `app-config` through envFrom and a volume. */
const web = `${deploymentYaml({ replicas: 2 })}          envFrom: [{configMapRef: {name: app-config}}]
          volumeMounts: [{name: cfg, mountPath: /etc/app}]
      volumes: [{name: cfg, configMap: {name: app-config}}]
`;
const config = (level: string): string => `apiVersion: v1
kind: ConfigMap
metadata:
  name: app-config
data:
  LOG_LEVEL: ${level}
`;
/** Written with a field equal to its default: a create must show it as written. */
const service = `apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  sessionAffinity: None
  ports: [{port: 80, targetPort: 8080}]
`;
const landed = `apiVersion: v1
kind: ConfigMap
metadata:
  name: landed-later
data: {a: b}
`;

describe('gantry plan on a pull-request checkout (no store)', function () {
  this.timeout(120_000);
  let tmp: { dir: string; cleanup(): Promise<void> };
  let repo: string;
  let noStore: string;
  let base: string;
  let pr: string;

  before(async () => {
    tmp = await tempDir('gantry-plan-ci-');
    repo = join(tmp.dir, 'repo');
    noStore = join(tmp.dir, 'no-data-dir');
    base = await makeRepo(repo, { 'web.yaml': web, 'cfg.yaml': config('info') });
    await git(repo, ['checkout', '-q', '-b', 'pr']);
    await commitFiles(repo, { 'cfg.yaml': config('debug') }, 'debug logging');
    pr = await commitFiles(repo, { 'svc.yaml': service }, 'expose web');
    // The target branch moves on after the PR branched: its new object is not the PR's doing.
    await git(repo, ['checkout', '-q', 'main']);
    const later = await commitFiles(repo, { 'later.yaml': landed }, 'land something else');
    await git(repo, ['update-ref', 'refs/remotes/origin/main', later]);
    await git(repo, ['checkout', '-q', 'pr']);
  });
  after(async () => tmp.cleanup());

  it('compares with the merge base of origin/main, names both sides, shows the create as written and the rolled workload', async () => {
    const res = await runCli(['plan', 'HEAD', '--repo', repo, '--format', 'markdown', '--data-dir', noStore]);
    assert.equal(res.code, 2, res.stdout + res.stderr);
    assert.ok(res.stdout.includes(`### gantry plan: \`origin/main@${base.slice(0, 7)} (merge base)\` → \`HEAD@${pr.slice(0, 7)}\``), res.stdout);
    // The ConfigMap, and the Deployment whose config hash it changes: the one write that rolls it.
    assert.match(res.stdout, /\*\*Plan: 1 to create, 2 to update, 0 to prune, 0 unchanged\.\*\*/);
    assert.ok(!res.stdout.includes('landed-later'), 'what landed on main after the branch point is not shown as pruned');
    assert.match(res.stdout, /^\+ +sessionAffinity: None$/m, 'the create shows the manifest as written');
    assert.match(res.stdout, /~ rolls Deployment default\/web \(its pod template uses this ConfigMap\)/);
    assert.ok(!/live/i.test(res.stdout), 'nothing live was read');
  });

  it('accepts revision syntax and short ids on both sides', async () => {
    const res = await runCli(['plan', 'HEAD~1', '--against', 'pr~2', '--repo', repo, '--data-dir', noStore]);
    assert.equal(res.code, 2, res.stdout + res.stderr);
    assert.match(res.stdout, new RegExp(`^Plan for HEAD~1@\\w{7} against pr~2@${base.slice(0, 7)} \\(merge base\\)`));
    assert.match(res.stdout, /2 to update/);
    assert.match(res.stdout, /~ update Deployment default\/web[^\n]*\n-   spec\.template\.metadata\.annotations\["gantry\.dev\/config-hash"\]/);
    assert.doesNotMatch(res.stdout, /Service default\/web/);
    const short = await runCli(['plan', pr.slice(0, 8), '--against', base.slice(0, 8), '--repo', repo, '--data-dir', noStore]);
    assert.equal(short.code, 2, short.stdout + short.stderr);
    assert.match(short.stdout, /1 to create, 2 to update/);
  });

  it('says what it compared when nothing changes, never "the live state"', async () => {
    const res = await runCli(['plan', 'pr~2', '--repo', repo, '--data-dir', noStore]);
    assert.equal(res.code, 0, res.stdout + res.stderr);
    assert.match(res.stdout, new RegExp(`No changes: pr~2@${base.slice(0, 7)} declares the same objects as origin/main@${base.slice(0, 7)} \\(merge base\\)`));
    assert.doesNotMatch(res.stdout, /live/);
  });

  it('falls back to main without origin/main', async () => {
    await git(repo, ['update-ref', '-d', 'refs/remotes/origin/main']);
    try {
      const res = await runCli(['plan', 'HEAD', '--repo', repo, '--format', 'markdown', '--data-dir', noStore]);
      assert.equal(res.code, 2, res.stdout + res.stderr);
      assert.ok(res.stdout.includes(`\`main@${base.slice(0, 7)} (merge base)\` → \`HEAD@${pr.slice(0, 7)}\``), res.stdout);
    } finally {
      await git(repo, ['update-ref', 'refs/remotes/origin/main', 'main']);
    }
  });

  it('lists invalid manifests in Markdown for a PR comment and exits 1', async () => {
    await git(repo, ['checkout', '-q', '-b', 'broken']);
    try {
      await commitFiles(repo, { 'web.yaml': web.replace('replicas: 2', 'replicas: "many"') }, 'break it');
      const res = await runCli(['plan', 'HEAD', '--repo', repo, '--format', 'markdown', '--data-dir', noStore]);
      assert.equal(res.code, 1, res.stdout + res.stderr);
      assert.match(res.stdout, /^### gantry plan: `HEAD` is invalid/);
      assert.match(res.stdout, /^- `web\.yaml:6` `Deployment\/default\/web`.*spec\.replicas/m);
    } finally {
      await git(repo, ['checkout', '-q', 'pr']);
    }
  });

  it('refuses, as the sync would, a revision that admission rejects: a Pod naming a ServiceAccount the repo does not declare', async () => {
    await git(repo, ['checkout', '-q', '-b', 'no-account']);
    try {
      const pod = 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: tool\nspec:\n  serviceAccountName: builder\n  containers:\n    - name: main\n      image: busybox\n';
      await commitFiles(repo, { 'tool.yaml': pod }, 'a pod with its own account');
      const res = await runCli(['plan', 'HEAD', '--repo', repo, '--format', 'markdown', '--data-dir', noStore]);
      assert.equal(res.code, 1, res.stdout + res.stderr);
      assert.match(res.stdout, /^### gantry plan: `HEAD@[0-9a-f]{7} against origin\/main@[0-9a-f]{7} \(merge base\)` is invalid/);
      assert.match(res.stdout, /^- `tool\.yaml:1` `Pod\/default\/tool`.*serviceaccount "builder" not found/m);
      // Declared beside it, the account makes the same Pod a plain create.
      await commitFiles(repo, { 'account.yaml': 'apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: builder\n' }, 'its account');
      const ok = await runCli(['plan', 'HEAD', '--repo', repo, '--data-dir', noStore]);
      assert.equal(ok.code, 2, ok.stdout + ok.stderr);
      assert.match(ok.stdout, /^\+ create Pod default\/tool/m);
      // As written: admission's additions (the token volume, the account's defaults) are not shown.
      assert.doesNotMatch(ok.stdout, /kube-api-access/);
    } finally {
      await git(repo, ['checkout', '-q', 'pr']);
    }
  });
});
