import assert from 'node:assert/strict';
import { patchMetaFor } from '../../src/api/openapi.js';
import { PatchError, applyIntent, jsonPatch, mergePatch, strategicMergePatch, type PatchMeta } from '../../src/model/patch.js';

type Rec = Record<string, unknown>;

const deployMeta = patchMetaFor('Deployment')!;
const serviceMeta = patchMetaFor('Service')!;

function deployment(containers: Rec[], extra: Rec = {}): Rec {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: 'default', labels: { app: 'web', tier: 'front' }, finalizers: ['a.example/x'] },
    spec: {
      replicas: 2,
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } },
      template: { metadata: { labels: { app: 'web' } }, spec: { containers, volumes: [{ name: 'data', emptyDir: {} }] } },
      ...extra,
    },
  };
}
const main = { name: 'main', image: 'busybox:1.36', args: ['a', 'b'], env: [{ name: 'A', value: '1' }, { name: 'B', value: '2' }], ports: [{ containerPort: 80, protocol: 'TCP' }] };
const side = { name: 'side', image: 'nginx' };
const containersOf = (o: Rec): Rec[] => ((o.spec as Rec).template as { spec: { containers: Rec[] } }).spec.containers;
const podSpecPatch = (spec: Rec): Rec => ({ spec: { template: { spec } } });

describe('strategicMergePatch()', () => {
  const cases: { name: string; original: Rec; patch: Rec; check: (out: Rec) => void }[] = [
    {
      name: 'merges maps and replaces scalars, keeping what the patch does not name',
      original: deployment([main]),
      patch: { spec: { replicas: 3 }, metadata: { labels: { tier: 'back' } } },
      check: (out) => {
        assert.equal((out.spec as Rec).replicas, 3);
        assert.deepEqual((out.metadata as Rec).labels, { app: 'web', tier: 'back' });
        assert.equal(containersOf(out)[0]!.image, 'busybox:1.36');
      },
    },
    {
      name: 'deletes a key whose patch value is null',
      original: deployment([main]),
      patch: { metadata: { labels: { tier: null } }, spec: { strategy: null } },
      check: (out) => {
        assert.deepEqual((out.metadata as Rec).labels, { app: 'web' });
        assert.equal('strategy' in (out.spec as Rec), false);
      },
    },
    {
      name: 'merges containers by name: a patched one keeps its other fields, a new one is appended',
      original: deployment([main, side]),
      patch: podSpecPatch({ containers: [{ name: 'main', image: 'busybox:1.37' }, { name: 'extra', image: 'redis' }] }),
      check: (out) => {
        const cs = containersOf(out);
        assert.deepEqual(cs.map((c) => c.name), ['main', 'side', 'extra']);
        assert.equal(cs[0]!.image, 'busybox:1.37');
        assert.deepEqual(cs[0]!.args, ['a', 'b']);
        assert.equal(cs[1]!.image, 'nginx');
      },
    },
    {
      name: 'merges env by name and ports by containerPort inside a merged container',
      original: deployment([main]),
      patch: podSpecPatch({ containers: [{ name: 'main', env: [{ name: 'B', value: '3' }, { name: 'C', value: '4' }], ports: [{ containerPort: 81 }] }] }),
      check: (out) => {
        const c = containersOf(out)[0]!;
        assert.deepEqual(c.env, [{ name: 'A', value: '1' }, { name: 'B', value: '3' }, { name: 'C', value: '4' }]);
        assert.deepEqual(c.ports, [{ containerPort: 80, protocol: 'TCP' }, { containerPort: 81 }]);
      },
    },
    {
      name: 'replaces a list without a merge strategy (args) whole',
      original: deployment([main]),
      patch: podSpecPatch({ containers: [{ name: 'main', args: ['c'] }] }),
      check: (out) => assert.deepEqual(containersOf(out)[0]!.args, ['c']),
    },
    {
      name: 'removes a list element marked $patch: delete by its merge key',
      original: deployment([main, side]),
      patch: podSpecPatch({ containers: [{ name: 'side', $patch: 'delete' }] }),
      check: (out) => assert.deepEqual(containersOf(out).map((c) => c.name), ['main']),
    },
    {
      name: 'replaces a map marked $patch: replace, dropping the directive',
      original: deployment([main]),
      patch: { metadata: { labels: { $patch: 'replace', only: 'this' } } },
      check: (out) => assert.deepEqual((out.metadata as Rec).labels, { only: 'this' }),
    },
    {
      name: 'deletes a map marked $patch: delete',
      original: deployment([main]),
      patch: { metadata: { labels: { $patch: 'delete' } } },
      check: (out) => assert.equal('labels' in (out.metadata as Rec), false),
    },
    {
      name: 'replaces a merging list that holds a {$patch: replace} element',
      original: deployment([main, side]),
      patch: podSpecPatch({ containers: [{ $patch: 'replace' }, { name: 'only', image: 'x' }] }),
      check: (out) => assert.deepEqual(containersOf(out), [{ name: 'only', image: 'x' }]),
    },
    {
      name: 'orders a merged list as $setElementOrder says and strips the directive',
      original: deployment([main, side]),
      patch: podSpecPatch({ '$setElementOrder/containers': [{ name: 'side' }, { name: 'main' }], containers: [{ name: 'main', image: 'busybox:1.37' }] }),
      check: (out) => {
        assert.deepEqual(containersOf(out).map((c) => c.name), ['side', 'main']);
        assert.equal(Object.keys(((out.spec as Rec).template as { spec: Rec }).spec).some((k) => k.startsWith('$')), false);
      },
    },
    {
      name: 'keeps only the $retainKeys of a map (a strategy switched to Recreate loses rollingUpdate)',
      original: deployment([main]),
      patch: { spec: { strategy: { $retainKeys: ['type'], type: 'Recreate' } } },
      check: (out) => assert.deepEqual((out.spec as Rec).strategy, { type: 'Recreate' }),
    },
    {
      name: 'removes values named by $deleteFromPrimitiveList and unions a merging primitive list',
      original: deployment([main]),
      patch: { metadata: { '$deleteFromPrimitiveList/finalizers': ['a.example/x'], finalizers: ['b.example/y'] } },
      check: (out) => assert.deepEqual((out.metadata as Rec).finalizers, ['b.example/y']),
    },
    {
      name: 'unions finalizers without duplicating one already there',
      original: deployment([main]),
      patch: { metadata: { finalizers: ['a.example/x', 'c.example/z'] } },
      check: (out) => assert.deepEqual((out.metadata as Rec).finalizers, ['a.example/x', 'c.example/z']),
    },
    {
      name: 'merges volumes by name',
      original: deployment([main]),
      patch: podSpecPatch({ volumes: [{ name: 'cache', emptyDir: { medium: 'Memory' } }] }),
      check: (out) => assert.deepEqual(((out.spec as Rec).template as { spec: Rec }).spec.volumes, [{ name: 'data', emptyDir: {} }, { name: 'cache', emptyDir: { medium: 'Memory' } }]),
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const before = structuredClone(c.original);
      const patchBefore = structuredClone(c.patch);
      c.check(strategicMergePatch(c.original, c.patch, deployMeta));
      assert.deepEqual(c.original, before, 'the original is not modified');
      assert.deepEqual(c.patch, patchBefore, 'the patch is not modified');
    });
  }

  it('merges Service ports by port', () => {
    const svc = { apiVersion: 'v1', kind: 'Service', metadata: { name: 's' }, spec: { ports: [{ port: 80, targetPort: 8080, nodePort: 30080 }] } };
    const out = strategicMergePatch(svc, { spec: { ports: [{ port: 80, targetPort: 9090 }, { port: 443 }] } }, serviceMeta);
    assert.deepEqual((out.spec as Rec).ports, [{ port: 80, targetPort: 9090, nodePort: 30080 }, { port: 443 }]);
  });

  it('replaces every list when it knows no patch metadata', () => {
    const out = strategicMergePatch(deployment([main, side]), podSpecPatch({ containers: [{ name: 'main', image: 'x' }] }));
    assert.deepEqual(containersOf(out), [{ name: 'main', image: 'x' }]);
  });

  it('refuses a merging list element without its merge key, naming the field', () => {
    assert.throws(() => strategicMergePatch(deployment([main]), podSpecPatch({ containers: [{ image: 'x' }] }), deployMeta), (err: unknown) => {
      assert.ok(err instanceof PatchError);
      assert.match(err.message, /spec\.template\.spec\.containers\[0\].*merge key name/);
      return true;
    });
  });

  it('refuses an unknown $patch directive and a patch that is not an object', () => {
    assert.throws(() => strategicMergePatch({}, { metadata: { $patch: 'explode' } }), PatchError);
    assert.throws(() => strategicMergePatch({}, [1, 2]), PatchError);
  });

  it('takes its facts from any PatchMeta (a hand-made one here)', () => {
    const meta: PatchMeta = { field: (k) => (k === 'items' ? { mergeKey: 'id', strategies: ['merge'] } : undefined) };
    const out = strategicMergePatch({ items: [{ id: 1, v: 'a' }, { id: 2, v: 'b' }] }, { items: [{ id: 2, v: 'c' }] }, meta);
    assert.deepEqual(out.items, [{ id: 1, v: 'a' }, { id: 2, v: 'c' }]);
  });
});

describe('mergePatch() (RFC 7386)', () => {
  // The examples of RFC 7386 appendix A, a selection.
  const cases: [unknown, unknown, unknown][] = [
    [{ a: 'b' }, { a: 'c' }, { a: 'c' }],
    [{ a: 'b' }, { b: 'c' }, { a: 'b', b: 'c' }],
    [{ a: 'b' }, { a: null }, {}],
    [{ a: 'b', b: 'c' }, { a: null }, { b: 'c' }],
    [{ a: ['b'] }, { a: 'c' }, { a: 'c' }],
    [{ a: 'c' }, { a: ['b'] }, { a: ['b'] }],
    [{ a: { b: 'c' } }, { a: { b: 'd', c: null } }, { a: { b: 'd' } }],
    [{ a: [{ b: 'c' }] }, { a: [1] }, { a: [1] }],
    [['a', 'b'], ['c', 'd'], ['c', 'd']],
    [{ a: 'b' }, ['c'], ['c']],
    [{ e: null }, { a: 1 }, { e: null, a: 1 }],
    [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }],
  ];
  cases.forEach(([target, patch, want], i) => {
    it(`example ${i + 1}: ${JSON.stringify(target)} + ${JSON.stringify(patch)}`, () => {
      assert.deepEqual(mergePatch(target, patch), want);
    });
  });
});

describe('jsonPatch() (RFC 6902)', () => {
  it('applies replace, add and remove in order', () => {
    const out = jsonPatch({ spec: { replicas: 2, paused: true } }, [
      { op: 'replace', path: '/spec/replicas', value: 5 },
      { op: 'add', path: '/spec/minReadySeconds', value: 3 },
      { op: 'remove', path: '/spec/paused' },
    ]);
    assert.deepEqual(out, { spec: { replicas: 5, minReadySeconds: 3 } });
  });
  it('fails a test that does not hold and a path that is not there, leaving the input alone', () => {
    const doc = { spec: { replicas: 2 } };
    assert.throws(() => jsonPatch(doc, [{ op: 'test', path: '/spec/replicas', value: 3 }]), /the test failed/);
    assert.throws(() => jsonPatch(doc, [{ op: 'replace', path: '/spec/nothing/here', value: 1 }]), PatchError);
    assert.throws(() => jsonPatch(doc, { op: 'add' }), /list of operations/);
    assert.deepEqual(doc, { spec: { replicas: 2 } });
  });
});

describe('applyIntent() (server-side apply)', () => {
  it('merges the intent by merge keys, in the intent\'s order, keeping what only the live object has', () => {
    const live = deployment([main, side]);
    const out = applyIntent(live, podSpecPatch({ containers: [{ name: 'side', image: 'nginx:2' }, { name: 'main', image: 'busybox:1.37' }] }), deployMeta);
    assert.deepEqual(containersOf(out).map((c) => [c.name, c.image]), [['side', 'nginx:2'], ['main', 'busybox:1.37']]);
    assert.deepEqual(containersOf(out)[1]!.env, main.env);
    assert.equal((out.spec as Rec).replicas, 2);
  });
  it('reads $-keys as data, not directives', () => {
    const out = applyIntent({ metadata: { labels: { a: '1' } } }, { metadata: { labels: { $patch: 'delete' } } }, deployMeta);
    assert.deepEqual((out.metadata as Rec).labels, { a: '1', $patch: 'delete' });
  });
});
