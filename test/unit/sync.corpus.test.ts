/**
 * A corpus of manifests shaped like those public repositories hold (test/fixtures/corpus: the
 * Kubernetes docs' kind of single objects, `kubectl create --dry-run -o yaml` and `kubectl get -o
 * yaml` output, Helm-rendered charts, a microservices demo, monitoring stacks, databases, JSON,
 * Lists, Kustomize overlays, YAML written every which way), loaded and validated as `gantry
 * validate` loads them: each file on its own, each Kustomize tree as one unit. At least 95% must
 * be accepted; every rejected one is listed with its first issue. Accepted units must declare
 * every object their documents hold (nothing dropped on the way) and plan as creations.
 *
 * test/fixtures/corpus-invalid holds manifests that must be refused — Kubernetes refuses them too,
 * or gantry cannot honour what they ask — each with the field and message it must be refused
 * with (`# expect: <field> :: <message fragment>` on its first line), so the acceptance above
 * cannot pass because validation stopped looking.
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadAll } from 'js-yaml';
import { makePlan } from '../../src/diff/plan.js';
import { loadManifests, type LoadResult } from '../../src/sync/loader.js';
import type { ManifestIssue, SourceFile } from '../../src/sync/types.js';
import { validateObject } from '../../src/sync/validate.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const CORPUS = path.join(here, '../fixtures/corpus');
const INVALID = path.join(here, '../fixtures/corpus-invalid');
/** The share of corpus units that must be accepted. */
const TARGET = 0.95;

/** One thing `gantry validate` would be pointed at: a manifest file, or a Kustomize tree. */
interface Unit {
  name: string;
  files: SourceFile[];
  kustomize: boolean;
}

function walk(dir: string, root: string, out: string[] = []): string[] {
  for (const entry of readdirSync(dir).sort()) {
    const full = path.join(dir, entry);
    if (statSync(full).isDirectory()) walk(full, root, out);
    else out.push(path.relative(root, full).split(path.sep).join('/'));
  }
  return out;
}

const isManifest = (p: string): boolean => /\.(ya?ml|json)$/i.test(p);

/** Each manifest file is a unit, except under `kustomize/<tree>/`, where a tree is one. */
function corpusUnits(root: string): Unit[] {
  const byUnit = new Map<string, Unit>();
  for (const rel of walk(root, root)) {
    const tree = /^kustomize\/([^/]+)\//.exec(rel);
    if (!tree && !isManifest(rel)) continue;
    const name = tree ? `kustomize/${tree[1]}` : rel;
    let unit = byUnit.get(name);
    if (!unit) byUnit.set(name, (unit = { name, files: [], kustomize: Boolean(tree) }));
    unit.files.push({ path: rel, content: readFileSync(path.join(root, rel)) });
  }
  return [...byUnit.values()];
}

const load = (unit: Unit): LoadResult => loadManifests(unit.files, { validate: validateObject });

const describeIssue = (i: ManifestIssue): string => `${i.file}${i.line ? `:${i.line}` : ''}${i.object ? ` ${i.object}` : ''}${i.field ? ` ${i.field}` : ''}: ${i.message}`;

/**
 * How many objects a plain manifest file declares, counted apart from gantry's loader: documents
 * with a kind, a List's (or a typed `…List`'s) items each.
 */
function declaredObjects(file: SourceFile): number {
  let n = 0;
  for (const doc of loadAll(Buffer.from(file.content!).toString('utf8').replace(/^\uFEFF/, '')) as unknown[]) {
    if (!doc || typeof doc !== 'object') continue;
    const d = doc as { kind?: unknown; items?: unknown };
    if (typeof d.kind === 'string' && d.kind.endsWith('List') && Array.isArray(d.items)) n += d.items.length;
    else if (typeof d.kind === 'string') n++;
  }
  return n;
}

describe('the corpus of real-world-shaped manifests', () => {
  const units = corpusUnits(CORPUS);
  const results = units.map((unit) => ({ unit, result: load(unit) }));
  const accepted = results.filter((r) => r.result.issues.length === 0);
  const rejected = results.filter((r) => r.result.issues.length > 0);

  it('holds at least 200 manifest files', () => {
    const files = units.reduce((n, u) => n + u.files.filter((f) => isManifest(f.path)).length, 0);
    assert.ok(files >= 200, `only ${files} manifest files`);
  });

  it(`is accepted at ${TARGET * 100}% or more, every rejected unit listed with its first issue`, () => {
    const rate = accepted.length / units.length;
    // Kind refusals list every supported kind: the first 160 characters say enough here.
    const lines = rejected.map((r) => `  ${r.unit.name}: ${describeIssue(r.result.issues[0]!).slice(0, 160)}`);
    console.log(`      corpus: ${accepted.length} of ${units.length} units accepted (${(rate * 100).toFixed(1)}%)${lines.length ? `; rejected:\n${lines.join('\n')}` : ''}`);
    assert.ok(rate >= TARGET, `acceptance ${(rate * 100).toFixed(1)}% is under ${TARGET * 100}%:\n${lines.join('\n')}`);
  });

  it('declares every object of an accepted file, and plans them all as creations without the status they carry', () => {
    const short: string[] = [];
    for (const { unit, result } of accepted) {
      assert.ok(result.objects.length > 0, `${unit.name} was accepted with no object in it`);
      if (!unit.kustomize) {
        const want = unit.files.reduce((n, f) => n + declaredObjects(f), 0);
        if (result.objects.length !== want) short.push(`${unit.name}: ${result.objects.length} objects loaded, ${want} declared`);
      }
      const plan = makePlan({ revision: { commit: '0'.repeat(40), ref: 'main' }, objects: result.objects }, []);
      assert.equal(plan.create.length, result.objects.length, `${unit.name}: not every object plans as a creation`);
      for (const entry of plan.create) {
        // Only the defaults the API server gives a new claim or volume (phase Pending) may be there.
        const status = JSON.stringify(entry.desired?.status ?? {});
        assert.ok(status === '{}' || status === '{"phase":"Pending"}', `${unit.name}: ${entry.key} would be created with status ${status}`);
      }
    }
    assert.deepEqual(short, []);
  });
});

describe('manifests that must be refused (corpus-invalid)', () => {
  const units = corpusUnits(INVALID);

  it('holds cases', () => assert.ok(units.length >= 10, `only ${units.length} cases`));

  for (const unit of units) {
    it(`refuses ${unit.name} with the expected field and message`, () => {
      const text = Buffer.from(unit.files[0]!.content!).toString('utf8');
      const expect = /^# expect: (\S*) :: (.+)$/m.exec(text);
      assert.ok(expect, `${unit.name} has no "# expect: <field> :: <message>" line`);
      const [, field, fragment] = expect;
      const { issues } = load(unit);
      assert.ok(issues.length > 0, `${unit.name} was accepted`);
      const first = issues[0]!;
      assert.equal(first.field ?? '', field === '-' ? '' : field, describeIssue(first));
      assert.ok(first.message.includes(fragment!.trim()), `message "${first.message}" lacks "${fragment!.trim()}"`);
      assert.equal(first.file, unit.files[0]!.path, 'the issue names the file');
    });
  }
});
