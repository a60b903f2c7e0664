import assert from 'node:assert/strict';
import { sourcePath } from '../../src/diff/plan.js';
import { objectKey } from '../../src/model/keys.js';
import type { KubeObject } from '../../src/model/types.js';
import { contentHash, wrappedBase64 } from '../../src/sync/kustomize/generators.js';
import { loadManifests } from '../../src/sync/loader.js';
import { formatIssue } from '../../src/sync/loop.js';
import type { SourceFile } from '../../src/sync/types.js';
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
