import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { sourcePath } from '../../src/diff/plan.js';
import { objectKey } from '../../src/model/keys.js';
import type { KubeObject } from '../../src/model/types.js';
import { contentHash, wrappedBase64 } from '../../src/sync/kustomize/generators.js';
import { loadRevision } from '../../src/sync/load-revision.js';
import { ManifestCache, loadManifests, type ManifestValidator } from '../../src/sync/loader.js';
import { formatIssue } from '../../src/sync/loop.js';
import type { Source, SourceFile, SourcePathEntry } from '../../src/sync/types.js';
import { validateObject } from '../../src/sync/validate.js';

type Files = Record<string, string>;
const load = (files: Files) =>
  loadManifests(Object.entries(files).map(([path, text]): SourceFile => ({ path, content: Buffer.from(text) })), { validate: validateObject });
const byKey = (files: Files): Map<string, KubeObject> => {
  const { objects, issues } = load(files);
  assert.deepEqual(issues.map(formatIssue), []);
  return new Map(objects.map((o) => [objectKey(o.object), o.object]));
};
const at = (obj: unknown, path: string): unknown => path.split('.').reduce<unknown>((v, k) => (v as Record<string, unknown> | undefined)?.[/^\d+$/.test(k) ? Number(k) : k as never], obj);

const deployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: web
          image: nginx:1.25
          envFrom:
            - configMapRef: {name: settings}
      volumes:
        - name: settings
          configMap: {name: settings}
`;
const service = `apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports: [{port: 80}]
`;

describe('Kustomize rendering', () => {
  const cases: Array<{ name: string; files: Files; check: (objs: Map<string, KubeObject>) => void }> = [
    {
      name: 'namespace sets every namespaced object\'s namespace',
      files: { 'app/kustomization.yaml': 'namespace: shop\nresources: [deploy.yaml]\n', 'app/deploy.yaml': deployment },
      check: (o) => assert.ok(o.has('Deployment/shop/web')),
    },
    {
      name: 'namePrefix and nameSuffix rename objects and the references to them',
      files: {
        'app/kustomization.yaml': 'namePrefix: p-\nnameSuffix: -s\nresources: [deploy.yaml, cm.yaml]\n',
        'app/deploy.yaml': deployment,
        'app/cm.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {a: "1"}\n',
      },
      check: (o) => {
        const d = o.get('Deployment/default/p-web-s');
        assert.equal(at(d, 'spec.template.spec.volumes.0.configMap.name'), 'p-settings-s');
        assert.equal(at(d, 'spec.template.spec.containers.0.envFrom.0.configMapRef.name'), 'p-settings-s');
      },
    },
    {
      name: 'commonLabels reach labels, pod templates and selectors (a Service without a selector gets one)',
      files: { 'app/kustomization.yaml': 'commonLabels: {team: a}\nresources: [deploy.yaml, svc.yaml]\n', 'app/deploy.yaml': deployment, 'app/svc.yaml': service },
      check: (o) => {
        const d = o.get('Deployment/default/web');
        assert.deepEqual(at(d, 'spec.selector.matchLabels'), { app: 'web', team: 'a' });
        assert.deepEqual(at(d, 'spec.template.metadata.labels'), { app: 'web', team: 'a' });
        assert.deepEqual(at(o.get('Service/default/web'), 'spec.selector'), { app: 'web', team: 'a' });
      },
    },
    {
      name: 'labels without includeSelectors leave selectors alone; includeTemplates reaches pod templates',
      files: {
        'app/kustomization.yaml': 'labels:\n- pairs: {env: prod}\n  includeTemplates: true\nresources: [deploy.yaml]\n',
        'app/deploy.yaml': deployment,
      },
      check: (o) => {
        const d = o.get('Deployment/default/web');
        assert.deepEqual(at(d, 'spec.selector.matchLabels'), { app: 'web' });
        assert.deepEqual(at(d, 'spec.template.metadata.labels'), { app: 'web', env: 'prod' });
        assert.deepEqual(at(d, 'metadata.labels'), { env: 'prod' });
      },
    },
    {
      name: 'commonAnnotations reach objects and pod templates',
      files: { 'app/kustomization.yaml': 'commonAnnotations: {owner: me}\nresources: [deploy.yaml]\n', 'app/deploy.yaml': deployment },
      check: (o) => assert.deepEqual(at(o.get('Deployment/default/web'), 'spec.template.metadata.annotations'), { owner: 'me' }),
    },
    {
      name: 'images set a new name, tag or digest on matching containers',
      files: { 'app/kustomization.yaml': 'images:\n- {name: nginx, newName: reg.example/nginx, newTag: "1.27"}\nresources: [deploy.yaml]\n', 'app/deploy.yaml': deployment },
      check: (o) => assert.equal(at(o.get('Deployment/default/web'), 'spec.template.spec.containers.0.image'), 'reg.example/nginx:1.27'),
    },
    {
      name: 'replicas sets the count of the named workload',
      files: { 'app/kustomization.yaml': 'replicas:\n- {name: web, count: 4}\nresources: [deploy.yaml]\n', 'app/deploy.yaml': deployment },
      check: (o) => assert.equal(at(o.get('Deployment/default/web'), 'spec.replicas'), 4),
    },
    {
      name: 'a strategic merge patch merges containers by name',
      files: {
        'app/kustomization.yaml': 'resources: [deploy.yaml]\npatches:\n- path: more.yaml\n',
        'app/deploy.yaml': deployment,
        'app/more.yaml': 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  template:\n    spec:\n      containers:\n      - name: web\n        args: [--fast]\n',
      },
      check: (o) => {
        const c = at(o.get('Deployment/default/web'), 'spec.template.spec.containers.0');
        assert.deepEqual([at(c, 'image'), at(c, 'args')], ['nginx:1.25', ['--fast']]);
      },
    },
    {
      name: 'a JSON 6902 patch applies to the objects its target selects',
      files: {
        'app/kustomization.yaml': 'resources: [deploy.yaml]\npatchesJson6902:\n- target: {group: apps, version: v1, kind: Deployment, name: web}\n  patch: |-\n    - {op: replace, path: /spec/template/spec/containers/0/image, value: "busybox"}\n',
        'app/deploy.yaml': deployment,
      },
      check: (o) => assert.equal(at(o.get('Deployment/default/web'), 'spec.template.spec.containers.0.image'), 'busybox'),
    },
    {
      name: 'configMapGenerator adds a content hash to the name and to the references',
      files: { 'app/kustomization.yaml': 'resources: [deploy.yaml]\nconfigMapGenerator:\n- name: settings\n  literals: [FOO=Bar]\n', 'app/deploy.yaml': deployment },
      check: (o) => {
        assert.ok(o.has('ConfigMap/default/settings-42cfbf598f'), [...o.keys()].join(', '));
        assert.equal(at(o.get('Deployment/default/web'), 'spec.template.spec.volumes.0.configMap.name'), 'settings-42cfbf598f');
      },
    },
    {
      name: 'generatorOptions labels, annotations and disableNameSuffixHash apply to generated objects',
      files: { 'app/kustomization.yaml': 'generatorOptions: {disableNameSuffixHash: true, labels: {g: "1"}, annotations: {note: x}}\nsecretGenerator:\n- name: s\n  literals: [k=v]\n' },
      check: (o) => {
        const s = o.get('Secret/default/s');
        assert.deepEqual([at(s, 'metadata.labels'), at(s, 'metadata.annotations'), at(s, 'data.k')], [{ g: '1' }, { note: 'x' }, 'dg==']);
      },
    },
    {
      name: 'an overlay generator with behavior merge adds keys to the base\'s ConfigMap',
      files: {
        'base/kustomization.yaml': 'configMapGenerator:\n- name: c\n  literals: [a=1, b=2]\n',
        'prod/kustomization.yaml': 'resources: [../base]\nconfigMapGenerator:\n- name: c\n  behavior: merge\n  literals: [b=3]\n',
      },
      check: (o) => {
        const cm = [...o.values()].find((x) => x.kind === 'ConfigMap');
        assert.deepEqual(at(cm, 'data'), { a: '1', b: '3' });
      },
    },
  ];
  for (const c of cases) it(c.name, () => c.check(byKey(c.files)));

  it('remembers the kustomization and the file each object came from, for plan and the audit trail', () => {
    const { objects } = load({ 'overlays/prod/kustomization.yaml': 'resources: [../../base]\nnamePrefix: prod-\n', 'base/kustomization.yaml': 'resources: [deploy.yaml]\n', 'base/deploy.yaml': deployment });
    assert.equal(objects.length, 1);
    assert.equal(sourcePath(objects[0]!.source), 'overlays/prod/kustomization.yaml → base/deploy.yaml:1');
  });

  it('renders only the overlays, not the base they share, and never the raw files below a kustomization', () => {
    const keys = [...byKey({
      'base/kustomization.yaml': 'resources: [deploy.yaml]\n',
      'base/deploy.yaml': deployment,
      'dev/kustomization.yaml': 'resources: [../base]\nnamespace: dev\n',
      'prod/kustomization.yaml': 'resources: [../base]\nnamespace: prod\n',
      'plain/svc.yaml': service,
    }).keys()].sort();
    assert.deepEqual(keys, ['Deployment/dev/web', 'Deployment/prod/web', 'Service/default/web']);
  });

  const errors: Array<{ name: string; files: Files; want: RegExp }> = [
    { name: 'an unsupported field, naming the file and the field', files: { 'k/kustomization.yaml': 'resources: []\nreplacements: []\n' }, want: /^k\/kustomization\.yaml line 2: replacements: not supported/ },
    { name: 'an unknown field', files: { 'k/kustomization.yaml': 'resourcez: []\n' }, want: /resourcez: unknown kustomization field/ },
    { name: 'a remote resource (there is no network)', files: { 'k/kustomization.yaml': 'resources:\n- https://github.com/org/repo//base?ref=v1\n' }, want: /resources\[0\]: .* is a remote resource/ },
    { name: 'a missing resource', files: { 'k/kustomization.yaml': 'resources: [nope.yaml]\n' }, want: /resources\[0\]: k\/nope\.yaml not found/ },
    { name: 'a resource out of the repository', files: { 'k/kustomization.yaml': 'resources: [../../x]\n' }, want: /^k\/kustomization\.yaml line 1: resources\[0\]: \.\.\/\.\.\/x leads out of the repository/ },
    { name: 'a generator file outside the kustomization\'s directory', files: { 'k/kustomization.yaml': 'configMapGenerator:\n- name: c\n  files: [../secret.txt]\n', 'secret.txt': 'x' }, want: /outside the kustomization's directory/ },
    { name: 'a patch that matches nothing', files: { 'k/kustomization.yaml': 'patches:\n- patch: |-\n    apiVersion: v1\n    kind: Service\n    metadata: {name: ghost}\n' }, want: /no object matches the patch for Service\/ghost/ },
    { name: 'an unquoted numeric image tag', files: { 'k/kustomization.yaml': 'images:\n- {name: nginx, newTag: 1.20}\n' }, want: /images\[0\]\.newTag: must be a string: quote it/ },
    {
      name: 'a rendered object gantry rejects, naming the kustomization and the file',
      files: { 'k/kustomization.yaml': 'resources: [../base]\n', 'base/kustomization.yaml': 'resources: [d.yaml]\n', 'base/d.yaml': deployment.replace('image: nginx:1.25', 'image: ""') },
      want: /^k\/kustomization\.yaml → base\/d\.yaml line 1: Deployment\/default\/web: .*image/,
    },
  ];
  for (const e of errors) {
    it(`refuses ${e.name}`, () => {
      const { issues } = load(e.files);
      assert.ok(issues.some((i) => e.want.test(formatIssue(i))), issues.map(formatIssue).join('\n') || '(no issues)');
    });
  }

  it('computes hash suffixes and base64 exactly as Kustomize does', () => {
    assert.equal(contentHash({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'example-configmap-2' }, data: { FOO: 'Bar' } } as unknown as KubeObject), '42cfbf598f');
    assert.equal(contentHash({ apiVersion: 'v1', kind: 'Secret', type: 'Opaque', metadata: { name: 's' }, data: { A: 'MQ==' } } as unknown as KubeObject), '526mcbf5c2');
    assert.equal(wrappedBase64(Buffer.from('a'.repeat(60))).split('\n').map((l) => l.length).join(','), '70,10,0');
  });
});

/** A source over an in-memory repository, synced at `subdir`, that notes every path it is asked for. */
function memorySource(repo: Record<string, string | { link: string }>, subdir: string): Source & { asked: string[] } {
  const oid = (text: string): string => createHash('sha1').update(text).digest('hex');
  const entry = (p: string, text: string | { link: string }): SourceFile =>
    typeof text === 'string' ? { path: p, content: Buffer.from(text), oid: oid(text) } : { path: p, symlinkTarget: text.link, oid: oid(text.link) };
  const asked: string[] = [];
  return {
    asked,
    resolve: async () => ({ commit: 'c0ffee', ref: 'main' }),
    files: async () => Object.entries(repo).filter(([p]) => p.startsWith(`${subdir}/`)).map(([p, t]) => entry(p, t)),
    readPaths: async (_commit, paths) => {
      asked.push(...paths);
      const out = new Map<string, SourcePathEntry>();
      for (const p of paths) {
        const parts = p.split('/');
        let found: SourcePathEntry = { kind: 'missing' };
        for (let i = 1; i <= parts.length; i++) {
          const prefix = parts.slice(0, i).join('/');
          const text = repo[prefix];
          if (text !== undefined) {
            const last = i === parts.length;
            if (typeof text !== 'string') found = { kind: 'file', file: entry(prefix, text), ...(last ? {} : { through: true }) };
            else if (last) found = { kind: 'file', file: entry(prefix, text) };
            break;
          }
          if (i === parts.length && Object.keys(repo).some((k) => k.startsWith(`${p}/`))) found = { kind: 'directory' };
        }
        out.set(p, found);
      }
      return out;
    },
  };
}

describe('Kustomize bases outside the synced directory', () => {
  const layout = {
    'base/kustomization.yaml': 'resources: [deployment.yaml]\npatches:\n- path: slim.yaml\nconfigMapGenerator:\n- name: settings\n  envs: [settings.env]\n',
    'base/deployment.yaml': deployment,
    'base/slim.yaml': 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: 2\n',
    'base/settings.env': 'MODE=fast\n',
    'base/unused.yaml': service,
    'other/cm.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: stray}\n',
    'overlays/prod/kustomization.yaml': 'namePrefix: prod-\nresources: [../../base, svc.yaml]\n',
    'overlays/prod/svc.yaml': service,
  };

  it('renders an overlay whose base lies outside --path, naming files from the repository root, and reads nothing it does not reach', async () => {
    const source = memorySource(layout, 'overlays/prod');
    const { objects, issues } = await loadRevision(source, 'c0ffee', { validate: validateObject });
    assert.deepEqual(issues.map(formatIssue), []);
    const byName = new Map(objects.map((o) => [objectKey(o.object), o]));
    const keys = [...byName.keys()].sort();
    assert.match(keys[0]!, /^ConfigMap\/default\/prod-settings-[a-z0-9]{10}$/, 'the base\'s generator read its env file from outside --path');
    assert.deepEqual(keys.slice(1), ['Deployment/default/prod-web', 'Service/default/prod-web']);
    const web = byName.get('Deployment/default/prod-web')!;
    assert.equal(sourcePath(web.source), 'overlays/prod/kustomization.yaml → base/deployment.yaml:1');
    assert.equal(at(web.object, 'spec.replicas'), 2, 'the base\'s own patch, read from outside --path, applied');
    assert.equal(sourcePath(byName.get('Service/default/prod-web')!.source), 'overlays/prod/kustomization.yaml → overlays/prod/svc.yaml:1');
    assert.ok(!source.asked.some((p) => p.startsWith('other/') || p === 'base/unused.yaml'), source.asked.join(', '));
  });

  it('follows a base of a base, each outside --path', async () => {
    const { objects, issues } = await loadRevision(memorySource({
      'lib/web/kustomization.yaml': 'resources: [deploy.yaml]\n',
      'lib/web/deploy.yaml': deployment,
      'base/kustomization.yaml': 'resources: [../lib/web]\ncommonLabels: {tier: front}\n',
      'apps/prod/kustomization.yaml': 'resources: [../../base]\nnamespace: prod\n',
    }, 'apps/prod'), 'c0ffee');
    assert.deepEqual(issues.map(formatIssue), []);
    assert.deepEqual(objects.map((o) => [objectKey(o.object), o.object.metadata.labels, sourcePath(o.source)]), [
      ['Deployment/prod/web', { tier: 'front' }, 'apps/prod/kustomization.yaml → lib/web/deploy.yaml:1'],
    ]);
  });

  const refused: Array<{ name: string; repo: Record<string, string | { link: string }>; want: RegExp }> = [
    {
      name: 'a resource whose ../ leads out of the repository',
      repo: { 'overlays/prod/kustomization.yaml': 'resources:\n- ../../../elsewhere\n' },
      want: /^overlays\/prod\/kustomization\.yaml line 2: resources\[0\]: \.\.\/\.\.\/\.\.\/elsewhere leads out of the repository/,
    },
    {
      name: 'a base that is a symlink leading out of the repository',
      repo: { 'overlays/prod/kustomization.yaml': 'resources: [../../base]\n', base: { link: '../../etc' } },
      want: /^overlays\/prod\/kustomization\.yaml line 1: resources\[0\]: base is a symlink leading out of the repository \(to \.\.\/\.\.\/etc\)/,
    },
    {
      name: 'a base reached through a symlinked directory leading out',
      repo: { 'overlays/prod/kustomization.yaml': 'resources: [../../shared/base]\n', shared: { link: '/srv/shared' } },
      want: /resources\[0\]: shared\/base \(through shared\) is a symlink leading out of the repository/,
    },
    {
      name: 'a resource file outside the kustomization\'s directory (Kustomize\'s load restriction)',
      repo: { 'overlays/prod/kustomization.yaml': 'resources: [../../other/cm.yaml]\n', 'other/cm.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n' },
      want: /resources\[0\]: other\/cm\.yaml is a file outside the kustomization's directory overlays\/prod/,
    },
    {
      name: 'a base\'s patch that is a symlink out of the repository, naming the base\'s file and field',
      repo: {
        'overlays/prod/kustomization.yaml': 'resources: [../../base]\n',
        'base/kustomization.yaml': 'patches:\n- path: p.yaml\n',
        'base/p.yaml': { link: '../../../etc/patch.yaml' },
      },
      want: /^overlays\/prod\/kustomization\.yaml → base\/kustomization\.yaml line 2: patches\[0\]\.path: base\/p\.yaml is a symlink leading out of the repository/,
    },
    {
      name: 'a base inside the repository reached through a symlink (its target must be named)',
      repo: { 'overlays/prod/kustomization.yaml': 'resources: [../../base]\n', base: { link: 'lib/base' }, 'lib/base/kustomization.yaml': 'resources: []\n' },
      want: /resources\[0\]: base is a symlink \(to lib\/base\); name its target instead/,
    },
    {
      name: 'a base directory with two kustomization files',
      repo: { 'overlays/prod/kustomization.yaml': 'resources: [../../base]\n', 'base/kustomization.yaml': 'resources: []\n', 'base/kustomization.yml': 'resources: []\n' },
      want: /resources\[0\]: directory base has more than one kustomization file \(kustomization\.yaml, kustomization\.yml\)/,
    },
    {
      name: 'a base directory without a kustomization',
      repo: { 'overlays/prod/kustomization.yaml': 'resources: [../../base]\n', 'base/cm.yaml': 'x: 1\n' },
      want: /resources\[0\]: directory base has no kustomization file/,
    },
  ];
  for (const r of refused) {
    it(`refuses ${r.name}`, async () => {
      const { issues } = await loadRevision(memorySource(r.repo, 'overlays/prod'), 'c0ffee');
      assert.ok(issues.some((i) => r.want.test(formatIssue(i))), issues.map(formatIssue).join('\n') || '(no issues)');
    });
  }
});

describe('Kustomize render reuse across loads', () => {
  const repo = {
    'base/kustomization.yaml': 'resources: [deployment.yaml]\n',
    'base/deployment.yaml': deployment,
    'overlays/prod/kustomization.yaml': 'resources: [../../base]\nnamespace: prod\n',
    'overlays/prod/notes.yaml': 'not read by the kustomization\n',
  };
  const counting = (): { validate: ManifestValidator; calls: () => number } => {
    let calls = 0;
    return { validate: (obj, ctx) => (calls++, validateObject(obj, ctx)), calls: () => calls };
  };

  it('reuses the render and its validation while every file it read is unchanged', async () => {
    const cache = new ManifestCache();
    const v = counting();
    const first = await loadRevision(memorySource(repo, 'overlays/prod'), 'c0ffee', { validate: v.validate, cache });
    const calls = v.calls();
    const again = await loadRevision(memorySource({ ...repo, 'overlays/prod/notes.yaml': 'edited, still not read\n' }, 'overlays/prod'), 'c0ffee', { validate: v.validate, cache });
    assert.equal(again.objects[0]!.object, first.objects[0]!.object, 'the same rendered object');
    assert.equal(v.calls(), calls, 'not validated again');
  });

  it('renders again when a file the render read changes, even outside --path, or when a file it found absent appears', async () => {
    const cache = new ManifestCache();
    await loadRevision(memorySource(repo, 'overlays/prod'), 'c0ffee', { cache });
    const changed = await loadRevision(memorySource({ ...repo, 'base/deployment.yaml': deployment.replace('nginx:1.25', 'nginx:1.27') }, 'overlays/prod'), 'c0ffee', { cache });
    assert.equal(at(changed.objects[0]!.object, 'spec.template.spec.containers.0.image'), 'nginx:1.27');
    // A second kustomization file beside the first: the render looked for it, found none, and must notice.
    const both = await loadRevision(memorySource({ ...repo, 'overlays/prod/kustomization.yml': 'resources: []\n' }, 'overlays/prod'), 'c0ffee', { cache });
    assert.ok(both.issues.some((i) => /more than one kustomization file/.test(i.message)), both.issues.map(formatIssue).join('\n'));
  });

  it('is off with reuseRenders: false (every load renders)', async () => {
    const cache = new ManifestCache({ reuseRenders: false });
    const a = await loadRevision(memorySource(repo, 'overlays/prod'), 'c0ffee', { cache });
    const b = await loadRevision(memorySource(repo, 'overlays/prod'), 'c0ffee', { cache });
    assert.notEqual(a.objects[0]!.object, b.objects[0]!.object);
    assert.deepEqual(a.objects[0]!.object, b.objects[0]!.object);
  });
});

describe('kustomization files read as Kustomize reads them (YAML 1.1)', () => {
  const cases: Array<{ name: string; kustomization: string; want: RegExp }> = [
    { name: 'an unquoted yes as a commonLabels value', kustomization: 'commonLabels: {x: yes}\n', want: /^k\/kustomization\.yaml line 1: commonLabels\["x"\]: must be a string, not the boolean true.*quote/ },
    { name: 'an unquoted on as a labels pair', kustomization: 'labels:\n- pairs: {x: on}\n', want: /labels\[0\]\.pairs\["x"\]: must be a string, not the boolean true/ },
    { name: 'an unquoted number as a commonAnnotations value', kustomization: 'commonAnnotations: {rev: 12}\n', want: /commonAnnotations\["rev"\]: must be a string, not the number 12: quote it \("12"\)/ },
    { name: 'an unquoted no as the namespace', kustomization: 'namespace: no\n', want: /namespace: must be a string, not the boolean false/ },
    { name: 'a key that YAML 1.1 reads as a boolean', kustomization: 'commonLabels: {n: x}\n', want: /commonLabels\["false"\]: the key is the boolean false in YAML 1\.1/ },
  ];
  for (const c of cases) {
    it(`refuses ${c.name}, naming the file and field`, () => {
      const { issues } = load({ 'k/kustomization.yaml': c.kustomization });
      assert.ok(issues.some((i) => c.want.test(formatIssue(i))), issues.map(formatIssue).join('\n') || '(no issues)');
    });
  }

  it('accepts the quoted values, and reads the files it renders as YAML 1.2 (yes stays a string there)', () => {
    const o = byKey({
      'k/kustomization.yaml': 'commonLabels: {x: "yes"}\nresources: [cm.yaml]\n',
      'k/cm.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {flag: yes}\n',
    });
    const cm = o.get('ConfigMap/default/c');
    assert.deepEqual([at(cm, 'metadata.labels.x'), at(cm, 'data.flag')], ['yes', 'yes']);
  });
});
