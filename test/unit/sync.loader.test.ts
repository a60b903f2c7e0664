import assert from 'node:assert/strict';
import { ManifestCache, loadManifests, type ManifestValidator } from '../../src/sync/loader.js';
import type { ManifestIssue, SourceFile } from '../../src/sync/types.js';

const file = (path: string, text: string, oid?: string): SourceFile => ({ path, content: Buffer.from(text), oid });
const messages = (issues: ManifestIssue[]): string => issues.map((i) => `${i.file}:${i.line ?? '-'} ${i.message}`).join('\n');

const deployment = `# the web tier
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  replicas: 2
  template:
    spec:
      containers:
        - name: web
          image: nginx
        - name: sidecar
          image: ""
`;

describe('loadManifests()', () => {
  it('loads every document of a multi-document file with the line where each starts', () => {
    const text = `apiVersion: v1
kind: ConfigMap
metadata:
  name: a
---
# empty documents are skipped
---

apiVersion: v1
kind: ConfigMap
metadata: {name: b}
`;
    const { objects, issues } = loadManifests([file('cm.yaml', text)]);
    assert.deepEqual(issues, []);
    assert.deepEqual(
      objects.map((o) => [o.object.metadata.name, o.source]),
      [
        ['a', { file: 'cm.yaml', line: 1, document: 0 }],
        ['b', { file: 'cm.yaml', line: 9, document: 2 }],
      ],
    );
  });

  it('loads JSON files and expands a List in JSON and in YAML', () => {
    const json = JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'j1' } }] });
    const yamlList = `apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: ConfigMap
    metadata:
      name: y1
  - apiVersion: v1
    kind: Secret
    metadata:
      name: y2
`;
    const single = '{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}';
    const { objects, issues } = loadManifests([file('a.json', json), file('b.yml', yamlList), file('c.json', single)]);
    assert.deepEqual(issues, []);
    assert.deepEqual(
      objects.map((o) => `${o.object.kind}/${o.object.metadata.name}@${o.source.file}:${o.source.line}`),
      ['ConfigMap/j1@a.json:1', 'ConfigMap/y1@b.yml:4', 'Secret/y2@b.yml:8', 'Namespace/shop@c.json:1'],
    );
  });

  it('expands a typed list (ServiceList, RoleBindingList) as kubectl does, and reads a nodePort of 0 as unset', () => {
    const text = `apiVersion: v1
kind: ServiceList
items:
- apiVersion: v1
  kind: Service
  metadata: {name: a}
  spec: {type: NodePort, ports: [{port: 80, nodePort: 0}]}
- apiVersion: v1
  kind: Service
  metadata: {name: b}
  spec: {type: NodePort, ports: [{port: 80, nodePort: 30080}]}
`;
    const { objects, issues } = loadManifests([file('svc.yaml', text)]);
    assert.deepEqual(issues, []);
    assert.deepEqual(objects.map((o) => [o.object.metadata.name, o.source.line]), [['a', 4], ['b', 8]]);
    assert.deepEqual((objects[0]!.object.spec as { ports: object[] }).ports, [{ port: 80 }]);
    assert.deepEqual((objects[1]!.object.spec as { ports: object[] }).ports, [{ port: 80, nodePort: 30080 }]);
  });

  it('resolves scalars as Kubernetes does (octal modes, merge keys)', () => {
    const text = `apiVersion: v1
kind: ConfigMap
metadata:
  name: m
  labels: &l {app: m}
  annotations:
    <<: *l
spec:
  defaultMode: 0644
`;
    const { objects, issues } = loadManifests([file('m.yaml', text)]);
    assert.deepEqual(issues, []);
    const obj = objects[0]?.object as unknown as { spec: { defaultMode: number }; metadata: { annotations: Record<string, string> } };
    assert.equal(obj.spec.defaultMode, 0o644);
    assert.deepEqual(obj.metadata.annotations, { app: 'm' });
  });

  it('reports a duplicate key with its file and line', () => {
    const text = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  name: b\n';
    const { objects, issues } = loadManifests([file('dup.yaml', text)]);
    assert.equal(objects.length, 0);
    assert.equal(issues.length, 1);
    assert.equal(issues[0]?.file, 'dup.yaml');
    assert.equal(issues[0]?.line, 5);
    assert.match(issues[0]?.message ?? '', /duplicate key "name"/);
  });

  it('reports a syntax error with its line', () => {
    const { issues } = loadManifests([file('bad.yaml', 'apiVersion: v1\nkind: [ConfigMap\nmetadata: {}\n')]);
    assert.equal(issues.length, 1, messages(issues));
    assert.equal(issues[0]?.file, 'bad.yaml');
    assert.ok((issues[0]?.line ?? 0) >= 2, messages(issues));
  });

  it('reports the same object declared in two places, naming both', () => {
    const a = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n';
    const b = 'apiVersion: v1\nkind: Service\nmetadata:\n  name: svc\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  namespace: default\n';
    const { issues } = loadManifests([file('b.yaml', b), file('a.yaml', a)]);
    assert.equal(issues.length, 1, messages(issues));
    assert.equal(issues[0]?.object, 'ConfigMap/default/x');
    assert.match(issues[0]?.message ?? '', /a\.yaml line 1 and b\.yaml line 6/);
  });

  it('reports a document that is not a manifest, naming the file and line', () => {
    const text = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ok\n---\nkind: ConfigMap\nmetadata: {}\n---\n- just\n- a list\n';
    const { objects, issues } = loadManifests([file('m.yaml', text)]);
    assert.equal(objects.length, 1);
    assert.deepEqual(
      issues.map((i) => [i.line, i.message]),
      [
        [6, 'not a manifest: apiVersion, metadata.name missing or not a string'],
        [9, 'document 3 is not a mapping (found a sequence)'],
      ],
    );
  });

  const limitCases: Array<{ name: string; files: SourceFile[]; limits?: Parameters<typeof loadManifests>[1] extends infer O ? O extends { limits?: infer L } ? L : never : never; match: RegExp }> = [
    { name: 'a file over the size limit', files: [file('big.yaml', `a: "${'x'.repeat(2000)}"\n`)], limits: { maxFileBytes: 1000 }, match: /too large: 2006 bytes, the limit is 1000/ },
    { name: 'too many documents', files: [file('many.yaml', 'a: 1\n---\n'.repeat(5))], limits: { maxDocuments: 3 }, match: /too many documents: more than 3/ },
    { name: 'too many aliases', files: [file('al.yaml', `x: &a 1\nl: [${Array(10).fill('*a').join(', ')}]\n`)], limits: { maxAliases: 5 }, match: /too many aliases: more than 5/ },
    { name: 'an unsafe tag', files: [file('fn.yaml', 'a: !!js/function "function () {}"\n')], match: /unknown scalar tag/ },
    { name: 'a file that is not UTF-8', files: [{ path: 'bin.yaml', content: new Uint8Array([0xff, 0xfe, 0x00, 0x41]) }], match: /not valid UTF-8/ },
  ];
  for (const c of limitCases) {
    it(`refuses ${c.name}`, () => {
      const { objects, issues } = loadManifests(c.files, { limits: c.limits });
      assert.equal(objects.length, 0);
      assert.equal(issues.length, 1, messages(issues));
      assert.match(issues[0]?.message ?? '', c.match);
    });
  }

  it('refuses a billion-laughs document (few aliases, huge expansion)', () => {
    const lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
    for (let i = 1; i <= 9; i++) lines.push(`a${i}: &a${i} [${Array(9).fill(`*a${i - 1}`).join(',')}]`);
    const text = `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: lol\ndata:\n${lines.map((l) => `  ${l}`).join('\n')}\n`;
    const { objects, issues } = loadManifests([file('lol.yaml', text)]);
    assert.equal(objects.length, 0);
    assert.equal(issues.length, 1, messages(issues));
    assert.match(issues[0]?.message ?? '', /alias bomb/);
    assert.equal(issues[0]?.line, 1);
  });

  it('refuses a symlink leading out of the repository and ignores one inside it', () => {
    const files: SourceFile[] = [
      { path: 'deploy/escape.yaml', symlinkTarget: '../../etc/passwd' },
      { path: 'abs.yaml', symlinkTarget: '/etc/passwd' },
      { path: 'deploy/alias.yaml', symlinkTarget: '../base/cm.yaml' },
      file('base/cm.yaml', 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n'),
    ];
    const { objects, issues } = loadManifests(files);
    assert.deepEqual(objects.map((o) => o.source.file), ['base/cm.yaml']);
    assert.deepEqual(
      issues.map((i) => i.message),
      [
        'abs.yaml is a symlink leading out of the repository (to /etc/passwd); refused',
        'deploy/escape.yaml is a symlink leading out of the repository (to ../../etc/passwd); refused',
      ],
    );
  });

  it('maps a validator issue on a field to the line of that field', () => {
    const validate: ManifestValidator = (obj) =>
      obj.kind === 'Deployment'
        ? [
            { field: 'spec.template.spec.containers[1].image', message: 'image is empty' },
            { field: 'spec.selector', message: 'selector is required' },
            { message: 'no field' },
          ]
        : [];
    const { issues } = loadManifests([file('web.yaml', deployment)], { validate });
    assert.deepEqual(
      issues.map((i) => [i.file, i.line, i.object, i.message]),
      [
        ['web.yaml', 15, 'Deployment/shop/web', 'image is empty'],
        // A missing field points at its nearest existing parent.
        ['web.yaml', 7, 'Deployment/shop/web', 'selector is required'],
        ['web.yaml', 2, 'Deployment/shop/web', 'no field'],
      ],
    );
  });

  it('maps validator fields inside a List item and a later document', () => {
    const text = `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: first}\n---\napiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: c\n    labels:\n      "app.kubernetes.io/name": bad value\n`;
    const validate: ManifestValidator = (obj) => (obj.metadata.name === 'c' ? [{ field: 'metadata.labels["app.kubernetes.io/name"]', message: 'bad label' }] : []);
    const { issues } = loadManifests([file('l.yaml', text)], { validate });
    assert.deepEqual(issues.map((i) => i.line), [13]);
  });

  it('starts an anchored List item at its anchor and a tagged document at its content', () => {
    const text = `--- !!map\napiVersion: v1\nkind: List\nitems:\n- &first\n  apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: a}\n-   apiVersion: v1\n    kind: ConfigMap\n    metadata: {name: b}\n`;
    const validate: ManifestValidator = (obj) => (obj.metadata.name === 'b' ? [{ field: 'metadata.name', message: 'bad name' }] : []);
    const { objects, issues } = loadManifests([file('l.yaml', text)], { validate });
    assert.deepEqual(objects.map((o) => [o.object.metadata.name, o.source.line]), [['a', 5], ['b', 9]]);
    assert.deepEqual(issues.map((i) => [i.line, i.message]), [[11, 'bad name']]);
  });

  it('maps a field under a YAML 1.1 key (on, 0644) to its line', () => {
    const text = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: k\nspec:\n  on:\n    0644: x\n';
    const validate: ManifestValidator = () => [{ field: 'spec.true.420', message: 'odd' }];
    const { issues } = loadManifests([file('k.yaml', text)], { validate });
    assert.deepEqual(issues.map((i) => i.line), [7]);
  });

  it('reuses parsed and validated results for unchanged content through a ManifestCache', () => {
    const cache = new ManifestCache();
    let calls = 0;
    const validate: ManifestValidator = () => {
      calls++;
      return [];
    };
    const files = [file('web.yaml', deployment, 'oid-1')];
    const first = loadManifests(files, { cache, validate });
    const second = loadManifests(files, { cache, validate });
    assert.equal(calls, 1);
    assert.equal(second.objects[0]?.object, first.objects[0]?.object);
    // Same content under another name is still reported under its own name.
    const moved = loadManifests([file('moved.yaml', deployment, 'oid-1')], { cache, validate });
    assert.equal(moved.objects[0]?.source.file, 'moved.yaml');
    assert.equal(calls, 1);
  });

  it('bounds a ManifestCache by entry count', () => {
    const cache = new ManifestCache({ maxEntries: 2 });
    for (let i = 0; i < 5; i++) loadManifests([file(`f${i}.yaml`, `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c${i}}\n`, `oid-${i}`)], { cache });
    assert.equal(cache.size, 2);
  });
});
