import assert from 'node:assert/strict';
import { makePlan, markDesired } from '../../src/diff/plan.js';
import { readablePath, renderPlan, type JsonPlan } from '../../src/diff/render.js';
import type { Plan } from '../../src/diff/types.js';
import type { KubeObject } from '../../src/model/types.js';
import type { DesiredObject } from '../../src/sync/types.js';

const SECRET = 'hunter2-TOPSECRET-9c1f';
const OTHER_SECRET = 'correct-horse-battery-77';
const forms = (s: string) => [s, Buffer.from(s).toString('base64')];

const src = (file: string, line = 1) => ({ file, line, document: 0 });
const deploy = (replicas: number): KubeObject => ({
  apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: 'default' },
  spec: { replicas, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'nginx:1.25' }] } } },
});
const secret = (name: string, values: Record<string, string>): KubeObject => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: 'default' }, stringData: values });

function stored(d: DesiredObject): KubeObject {
  const obj = structuredClone(markDesired(d));
  obj.metadata.resourceVersion = '7';
  obj.metadata.annotations = { ...obj.metadata.annotations, 'kubectl.kubernetes.io/last-applied-configuration': JSON.stringify(d.object) };
  return obj;
}

/** A plan with one of everything, and Secrets in every position. */
function mixedPlan(): Plan {
  const oldWeb = { object: deploy(2), source: src('deploy/web.yaml') };
  const oldDb = { object: secret('db', { password: OTHER_SECRET, user: 'app' }), source: src('deploy/db.yaml') };
  const gone = { object: secret('gone', { token: SECRET }), source: src('deploy/gone.yaml') };
  const desired: DesiredObject[] = [
    { object: deploy(3), source: src('deploy/web.yaml') },
    { object: secret('db', { password: SECRET, apikey: SECRET }), source: src('deploy/db.yaml') },
    { object: secret('api', { key: SECRET }), source: src('deploy/api.yaml', 4) },
    { object: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg', namespace: 'default' }, data: { a: 'b' } }, source: src('deploy/cfg.yaml') },
  ];
  return makePlan({ objects: desired }, [stored(oldWeb), stored(oldDb), stored(gone)], { revision: '0123456789abcdef0123' });
}

describe('diff/render', () => {
  describe('text', () => {
    const text = renderPlan(mixedPlan(), { format: 'text' });

    const wants: [string, string][] = [
      ['a header per created object with its source', '+ create Secret default/api (deploy/api.yaml:4)'],
      ['a header per updated object', '~ update Deployment default/web (deploy/web.yaml:1)'],
      ['a header per pruned object with where it was declared', '- prune Secret default/gone (was deploy/gone.yaml:1)'],
      ['the old value of a changed field with its path', '-   spec.replicas: 2'],
      ['the new value of a changed field with its path', '+   spec.replicas: 3'],
      ['a create body as YAML', '+   kind: ConfigMap'],
      ['a changed Secret key without its value', '~   data.password: (changed)'],
      ['an added Secret key without its value', '~   data.apikey: (added)'],
      ['a removed Secret key', '~   data.user: (removed)'],
      ['the summary', 'Plan: 2 to create, 2 to update, 1 to prune, 0 unchanged.'],
    ];
    for (const [what, line] of wants) {
      it(`shows ${what}`, () => assert.ok(text.split('\n').includes(line), `missing line ${JSON.stringify(line)} in:\n${text}`));
    }

    it('lists creates and updates in apply order, then prunes', () => {
      const headers = text.split('\n').filter((l) => /^[+~-] (create|update|prune) /.test(l));
      assert.deepEqual(headers.map((h) => h.split(' ').slice(1, 4).join(' ')), [
        'create ConfigMap default/cfg', 'create Secret default/api', 'update Secret default/db', 'update Deployment default/web', 'prune Secret default/gone',
      ]);
    });

    it('has no colour codes unless asked, and has them when asked', () => {
      assert.ok(!text.includes('\u001b['));
      assert.ok(renderPlan(mixedPlan(), { format: 'text', color: true }).includes('\u001b['));
    });

    it('says so when nothing changes', () => {
      const d = { object: deploy(2), source: src('deploy/web.yaml') };
      const out = renderPlan(makePlan({ objects: [d] }, [stored(d)]), { format: 'text' });
      assert.match(out, /No changes/);
      assert.match(out, /Plan: 0 to create, 0 to update, 0 to prune, 1 unchanged\./);
    });
  });

  describe('markdown', () => {
    const md = renderPlan(mixedPlan(), { format: 'markdown' });
    it('has a summary table row per change', () => {
      assert.ok(md.includes('| Action | Kind | Object | Source |'));
      assert.ok(md.includes('| update | `Deployment` | `default/web` | `deploy/web.yaml:1` |'), md);
      assert.ok(md.includes('| prune | `Secret` | `default/gone` | `deploy/gone.yaml:1` |'), md);
    });
    it('puts each change in a diff block', () => {
      assert.match(md, /```diff\n- spec\.replicas: 2\n\+ spec\.replicas: 3\n```/);
    });
    it('folds long bodies into <details>', () => {
      const data = Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`key${i}`, `value ${i}`]));
      const big = makePlan({ objects: [{ object: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'big' }, data }, source: src('big.yaml') }] }, []);
      const out = renderPlan(big, { format: 'markdown' });
      assert.match(out, /<details><summary>\+ create ConfigMap default\/big \(big\.yaml:1\) \(\d+ lines\)<\/summary>/);
      assert.match(out, /<\/details>/);
    });
    it('keeps a body holding a code fence inside its diff block', () => {
      const readme: KubeObject = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'docs', namespace: 'default' }, data: { 'README.md': 'Run:\n```\nmake\n```\n' } };
      const out = renderPlan(makePlan({ objects: [{ object: readme, source: src('docs.yaml') }] }, []), { format: 'markdown' });
      assert.match(out, /````diff\n[\s\S]*```\n[\s\S]*\n````\n/);
    });
    it('shows the summary and revision', () => {
      assert.match(md, /gantry plan for `0123456789ab`/);
      assert.match(md, /\*\*Plan: 2 to create, 2 to update, 1 to prune, 0 unchanged\.\*\*/);
    });
  });

  describe('json', () => {
    const doc = JSON.parse(renderPlan(mixedPlan(), { format: 'json' })) as JsonPlan;
    it('has the revision, the summary and one change per object', () => {
      assert.equal(doc.revision, '0123456789abcdef0123');
      assert.deepEqual(doc.summary, { create: 2, update: 2, prune: 1, unchanged: 0 });
      assert.deepEqual(doc.changes.map((c) => `${c.action} ${c.key} ${c.source}`), [
        'create ConfigMap/default/cfg deploy/cfg.yaml:1',
        'create Secret/default/api deploy/api.yaml:4',
        'update Secret/default/db deploy/db.yaml:1',
        'update Deployment/default/web deploy/web.yaml:1',
        'prune Secret/default/gone deploy/gone.yaml:1',
      ]);
    });
    it('carries the patch of an update', () => {
      const web = doc.changes.find((c) => c.key === 'Deployment/default/web');
      assert.deepEqual(web?.patch, [{ op: 'replace', path: '/spec/replicas', value: 3 }]);
      assert.deepEqual(doc.changes.find((c) => c.key === 'Secret/default/db')?.patch?.map((op) => op.path).sort(), ['/data/apikey', '/data/password', '/data/user']);
    });
  });

  describe('Secret values never appear', () => {
    for (const format of ['text', 'markdown', 'json'] as const) {
      it(`in the ${format} rendering (create, update and prune bodies and patches)`, () => {
        for (const color of [false, true]) {
          const out = renderPlan(mixedPlan(), { format, color });
          for (const s of [...forms(SECRET), ...forms(OTHER_SECRET)]) assert.ok(!out.includes(s), `${format} shows ${s}`);
          assert.ok(out.includes('password'), 'the key is still named');
        }
      });
    }
    it('even when a Secret gains its whole data map', () => {
      const d = { object: { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'x', namespace: 'default' } } as KubeObject, source: src('s.yaml') };
      const plan = makePlan({ objects: [{ ...d, object: secret('x', { password: SECRET }) }] }, [stored(d)]);
      for (const format of ['text', 'markdown', 'json'] as const) {
        const out = renderPlan(plan, { format });
        for (const s of forms(SECRET)) assert.ok(!out.includes(s), `${format} shows ${s}`);
      }
      assert.ok(renderPlan(plan, { format: 'text' }).includes('data.password: (added)'));
    });
  });

  const paths: [string, unknown, string][] = [
    ['/spec/template/spec/containers/0/image', { spec: { template: { spec: { containers: [{}] } } } }, 'spec.template.spec.containers[0].image'],
    ['/metadata/annotations/gantry.dev~1managed-by', undefined, 'metadata.annotations["gantry.dev/managed-by"]'],
    ['/data/8080', { data: { 8080: 'x' } }, 'data["8080"]'],
  ];
  for (const [pointer, root, want] of paths) {
    it(`reads ${pointer} as ${want}`, () => assert.equal(readablePath(pointer, root), want));
  }
});

describe('diff/render of a changed multi-line text', () => {
  it('shows a line diff with context, like git diff shows a file', () => {
    const text = (changed: boolean) => Array.from({ length: 20 }, (_, i) => (changed && i === 10 ? 'line 10 CHANGED' : `line ${i}`)).join('\n');
    const cm = (t: string): KubeObject => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'site', namespace: 'default' }, data: { 'index.html': t } });
    const s = src('site.yaml');
    const plan = makePlan({ objects: [{ object: cm(text(true)), source: s }] }, [markDesired({ object: cm(text(false)), source: s })]);
    const lines = renderPlan(plan, { format: 'text' }).split('\n');
    const at = lines.indexOf('~   data["index.html"]: (text)');
    assert.ok(at >= 0, lines.join('\n'));
    assert.deepEqual(lines.slice(at + 1, at + 10), [
      '      …', '      line 7', '      line 8', '      line 9', '-     line 10', '+     line 10 CHANGED', '      line 11', '      line 12', '      line 13',
    ]);
    assert.ok(!lines.includes('      line 2'), 'far context is elided');
  });
});

describe('diff/compact', () => {
  it('a create body leaves out values that only repeat Kubernetes defaults and keeps the rest', async () => {
    const { compactForDisplay } = await import('../../src/diff/compact.js');
    const job: KubeObject = { apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'q', namespace: 'default' }, spec: { parallelism: 3, backoffLimit: 6, template: { spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'busybox', imagePullPolicy: 'Always', terminationMessagePath: '/tmp/msg' }] } } } };
    const c = compactForDisplay(job) as any;
    assert.equal(c.metadata.namespace, undefined);
    assert.equal(c.spec.backoffLimit, undefined);
    assert.equal(c.spec.parallelism, 3);
    assert.equal(c.spec.completions, undefined);
    assert.equal(c.spec.template.spec.restartPolicy, 'Never');
    assert.equal(c.spec.template.spec.containers[0].imagePullPolicy, undefined, 'Always is the default for an untagged image');
    assert.equal(c.spec.template.spec.containers[0].terminationMessagePath, '/tmp/msg');
    assert.equal(c.spec.template.spec.dnsPolicy, undefined);
  });
});

describe('diff/render of a ref-against-ref plan', () => {
  const sides = { desired: 'HEAD@def5678', against: 'main@abc1234 (merge base)' };
  it('names both sides in the Markdown header and never claims a live state was read', () => {
    const same = makePlan({ objects: [{ object: deploy(2), source: src('web.yaml') }] }, [stored({ object: deploy(2), source: src('web.yaml') })]);
    const md = renderPlan(same, { format: 'markdown', sides });
    assert.match(md, /^### gantry plan: `main@abc1234 \(merge base\)` → `HEAD@def5678`$/m);
    assert.match(md, /No changes: `HEAD@def5678` declares the same objects as `main@abc1234 \(merge base\)`\./);
    assert.doesNotMatch(md, /live/);
    assert.doesNotMatch(renderPlan(same, { format: 'text', sides }), /live/);
    assert.match(renderPlan(same, { format: 'markdown' }), /live state/, 'against the store it does say live');
  });

  it('shows a create as declared, with the defaults the author did not write left out and those written kept', () => {
    const written = deploy(1);
    (written.spec as any).revisionHistoryLimit = 10; // equal to the default, but written
    const plan = makePlan({ objects: [{ object: written, source: src('web.yaml') }] }, []);
    const text = renderPlan(plan, { format: 'text', sides });
    assert.match(text, /revisionHistoryLimit: 10/);
    assert.doesNotMatch(text, /progressDeadlineSeconds|imagePullPolicy|terminationMessagePath/);
  });
});
