/**
 * Conformance: gantry's Kustomize renderer against the real one (`kubectl kustomize`, Kustomize
 * v5 inside kubectl) on realistic base/overlay repositories in test/fixtures/kustomize, one of
 * them synced at the overlay's path with its bases outside it. Every
 * object must come out the same: names with their hash suffixes, namespaces, labels, selectors,
 * patched fields and updated references.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { objectKey } from '../../src/model/keys.js';
import { DirSource } from '../../src/sync/dir-source.js';
import { loadRevision } from '../../src/sync/load-revision.js';
import { loadManifests } from '../../src/sync/loader.js';
import { kubectlPresent } from '../helpers/kubectl.js';

const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'kustomize');

function kubectlKustomize(dir: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('kubectl', ['kustomize', dir], { timeout: 30_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`kubectl kustomize ${dir} failed: ${stderr}`));
      else resolve(stdout);
    });
  });
}

const CASES: Array<{ repo: string; overlay: string; what: string; synced?: string }> = [
  { repo: 'shop', overlay: 'overlays/prod', what: 'namespace, prefix and suffix, labels, annotations, images, replicas, every kind of patch, generators merged and replaced' },
  { repo: 'shop', overlay: 'overlays/dev', what: 'a replaced generator without hash suffixes beside hashed ones' },
  { repo: 'blog', overlay: 'overlays/staging', what: 'labels into selectors, a TLS secret from files, Ingress, HPA, CronJob and claim references, regex targets' },
  {
    repo: 'platform', overlay: 'overlays/prod', synced: 'overlays/prod',
    what: 'synced with --path overlays/prod: a base and its base outside it, with their own generator files and patches, the overlay\'s generated Secret referenced from the base\'s Deployment; the stray manifest outside is not deployed',
  },
];

describe('Kustomize rendering conforms to kubectl kustomize', function () {
  this.timeout(60_000);

  before(function () {
    if (!kubectlPresent()) {
      console.log('    (kubectl is not on the PATH: the conformance checks are skipped)');
      this.skip();
    }
  });

  it('refuses what kubectl refuses in a kustomization file read as YAML 1.1 (unquoted yes, numbers, boolean keys), and accepts the quoted forms', async () => {
    const tmp = await mkdtemp(path.join(os.tmpdir(), 'gantry-kyaml11-'));
    try {
      const cm = 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: "1"}\n';
      const cases = [
        { line: 'commonLabels: {x: yes}', valid: false },
        { line: 'commonAnnotations: {rev: 12}', valid: false },
        { line: 'namespace: no', valid: false },
        { line: 'commonLabels: {n: x}', valid: false },
        { line: 'commonLabels: {x: "yes"}', valid: true },
      ];
      for (const [i, c] of cases.entries()) {
        const dir = path.join(tmp, `k${i}`);
        await mkdir(dir);
        await writeFile(path.join(dir, 'cm.yaml'), cm);
        await writeFile(path.join(dir, 'kustomization.yaml'), `resources: [cm.yaml]\n${c.line}\n`);
        const theirs = await kubectlKustomize(dir).then(() => true, () => false);
        const ours = await loadRevision(new DirSource({ root: dir }), DirSource.COMMIT);
        assert.equal(theirs, c.valid, `kubectl on ${c.line}`);
        assert.equal(ours.issues.length === 0, c.valid, `gantry on ${c.line}: ${ours.issues.map((x) => x.message).join('; ')}`);
        if (!c.valid) assert.ok(ours.issues.every((x) => x.file === 'kustomization.yaml' && x.field), JSON.stringify(ours.issues));
      }
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  });

  for (const c of CASES) {
    it(`renders ${c.repo}/${c.overlay} as kubectl does: ${c.what}`, async () => {
      const root = path.join(FIXTURES, c.repo);
      // Synced at a path: everything loaded must be the overlay's, base files read from outside it.
      const source = new DirSource({ root, path: c.synced });
      const loaded = await loadRevision(source, DirSource.COMMIT);
      assert.deepEqual(loaded.issues, []);
      const kustomization = `${c.overlay}/kustomization.yaml`;
      const overlays = (o: (typeof loaded.objects)[number]): boolean => o.source.kustomization === kustomization || o.source.file === kustomization;
      if (c.synced) assert.deepEqual(loaded.objects.filter((o) => !overlays(o)).map((o) => o.source.file), [], 'only the overlay\'s objects are loaded');
      const mine = loaded.objects.filter(overlays);
      const ours = new Map(mine.map((o) => [objectKey(o.object), o.object]));

      const reference = loadManifests([{ path: 'kubectl-kustomize.yaml', content: Buffer.from(await kubectlKustomize(path.join(root, c.overlay))) }]);
      assert.deepEqual(reference.issues, []);
      const theirs = new Map(reference.objects.map((o) => [objectKey(o.object), o.object]));

      assert.deepEqual([...ours.keys()].sort(), [...theirs.keys()].sort());
      for (const [key, object] of theirs) assert.deepEqual(ours.get(key), object, `${key} differs`);
    });
  }
});
