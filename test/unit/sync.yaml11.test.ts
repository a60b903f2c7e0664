import assert from 'node:assert/strict';
import { loadManifests } from '../../src/sync/loader.js';
import type { ManifestIssue, SourceFile } from '../../src/sync/types.js';

const file = (path: string, text: string): SourceFile => ({ path, content: Buffer.from(text) });
const messages = (issues: ManifestIssue[]): string => issues.map((i) => `${i.file}:${i.line ?? '-'} ${i.message}`).join('\n');

/** Loads `value` as the plain scalar of a field (and of a flow list item) in a manifest. */
function scalar(value: string): { field: unknown; item: unknown } {
  const text = `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: s\nspec:\n  v: ${value}\n  l: [${value}]\n`;
  const { objects, issues } = loadManifests([file('s.yaml', text)]);
  assert.deepEqual(issues, [], messages(issues));
  const spec = (objects[0]?.object as unknown as { spec: { v: unknown; l: unknown[] } }).spec;
  return { field: spec.v, item: spec.l[0] };
}

// Plain scalars as sigs.k8s.io/yaml (YAML 1.1) reads them.
const scalars: Array<[string, unknown]> = [
  ...['y', 'Y', 'yes', 'Yes', 'YES', 'true', 'True', 'TRUE', 'on', 'On', 'ON'].map((s): [string, unknown] => [s, true]),
  ...['n', 'N', 'no', 'No', 'NO', 'false', 'False', 'FALSE', 'off', 'Off', 'OFF'].map((s): [string, unknown] => [s, false]),
  // Mixed case is not in YAML 1.1's list: a string.
  ['yEs', 'yEs'],
  ['tRUE', 'tRUE'],
  ['~', null],
  ['null', null],
  ['Null', null],
  ['NULL', null],
  ['0644', 0o644],
  ['0777', 0o777],
  ['-010', -8],
  ['0', 0],
  ['42', 42],
  ['+12', 12],
  ['1_000', 1000],
  ['0x1F', 31],
  ['0x_ff', 255],
  ['0b101', 5],
  ['190:20:30', 685230],
  // A leading zero followed by a non-octal digit is not a number.
  ['08', '08'],
  ['1.5', 1.5],
  ['-1.5', -1.5],
  ['.5', 0.5],
  ['1.5e+3', 1500],
  ['1_0.5', 10.5],
  ['.inf', Infinity],
  ['-.Inf', -Infinity],
  ['.NaN', NaN],
  // YAML 1.1 floats need a dot and a signed exponent.
  ['1e3', '1e3'],
  ['.', '.'],
  // No date type in a manifest: timestamps stay strings.
  ['2026-01-01', '2026-01-01'],
  ['2026-01-01T10:00:00Z', '2026-01-01T10:00:00Z'],
  ['"yes"', 'yes'],
  ["'0644'", '0644'],
  ['!!str 0644', '0644'],
  ['!!int "0644"', 0o644],
  ['v1.2.3', 'v1.2.3'],
  ['100m', '100m'],
];

describe('YAML 1.1 scalars in manifests', () => {
  for (const [text, want] of scalars) {
    it(`reads ${text} as ${typeof want === 'string' ? JSON.stringify(want) : String(want)}`, () => {
      const { field, item } = scalar(text);
      assert.deepEqual(field, want);
      assert.deepEqual(item, want);
    });
  }

  it('resolves plain mapping keys the same way (yes is the key "true")', () => {
    const text = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: k\nspec:\n  yes: a\n  0644: b\n  2026-01-01: c\n';
    const { objects, issues } = loadManifests([file('k.yaml', text)]);
    assert.deepEqual(issues, []);
    assert.deepEqual((objects[0]?.object as unknown as { spec: unknown }).spec, { true: 'a', 420: 'b', '2026-01-01': 'c' });
  });

  it('merges keys from one or several anchors, local keys winning', () => {
    const text = `apiVersion: v1
kind: ConfigMap
metadata:
  name: m
spec:
  base: &base {a: 1, b: 2}
  more: &more {c: 3}
  one:
    <<: *base
    b: 20
  both:
    <<: [*base, *more]
`;
    const { objects, issues } = loadManifests([file('m.yaml', text)]);
    assert.deepEqual(issues, [], messages(issues));
    const spec = (objects[0]?.object as unknown as { spec: Record<string, unknown> }).spec;
    assert.deepEqual(spec.one, { a: 1, b: 20 });
    assert.deepEqual(spec.both, { a: 1, b: 2, c: 3 });
  });

  it('reads JSON files with JSON scalars only', () => {
    const text = '{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "j"}, "spec": {"t": true, "n": null, "i": -12, "f": 1.5e3, "o": 0644, "y": yes}}';
    const { objects, issues } = loadManifests([file('j.json', text)]);
    assert.deepEqual(issues, []);
    assert.deepEqual((objects[0]?.object as unknown as { spec: unknown }).spec, { t: true, n: null, i: -12, f: 1500, o: '0644', y: 'yes' });
  });
});

describe('alias limits', () => {
  /** A manifest whose `data` holds `levels` anchors, each `width` aliases of the previous one. */
  function laughs(levels: number, width: number, style: 'flow' | 'block'): string {
    const lines = [`a0: &a0 {x: lol, y: lol}`];
    for (let i = 1; i <= levels; i++) {
      const refs = Array(width).fill(`*a${i - 1}`);
      lines.push(style === 'flow' ? `a${i}: &a${i} [${refs.join(', ')}]` : `a${i}: &a${i}\n${refs.map((r) => `    - ${r}`).join('\n')}`);
    }
    return `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: lol\ndata:\n${lines.map((l) => `  ${l}`).join('\n')}\n`;
  }

  const bombs: Array<{ name: string; text: string; match: RegExp }> = [
    { name: 'a billion laughs in flow sequences', text: laughs(9, 9, 'flow'), match: /beyond 100000 nodes \(refused as an alias bomb\)/ },
    { name: 'a billion laughs in block sequences', text: laughs(9, 9, 'block'), match: /beyond 100000 nodes \(refused as an alias bomb\)/ },
    { name: 'a bomb made of merge keys', text: `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: m\ndata:\n  a0: &a0 {${Array.from({ length: 50 }, (_, i) => `k${i}: [${Array(30).fill(1).join(", ")}]`).join(', ')}}\n${Array.from({ length: 90 }, (_, i) => `  m${i}: {<<: *a0}`).join('\n')}\n`, match: /alias bomb/ },
    { name: 'a node that contains itself', text: 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: r\ndata:\n  r: &r\n    self: *r\n', match: /refers to a node that contains it/ },
    { name: 'more than 100 aliases', text: `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: many\ndata:\n  a: &a x\n  l:\n${Array(101).fill('    - *a').join('\n')}\n`, match: /too many aliases: more than 100 in one document/ },
  ];
  for (const b of bombs) {
    it(`refuses ${b.name} on the line where the document starts`, () => {
      const text = `# bombs\n---\n${b.text}`;
      const { objects, issues } = loadManifests([file('bomb.yaml', text)]);
      assert.equal(objects.length, 0);
      assert.equal(issues.length, 1, messages(issues));
      assert.match(issues[0]?.message ?? '', b.match);
      assert.equal(issues[0]?.line, 3);
    });
  }

  it('accepts aliases within the limits, each alias its own document', () => {
    const doc = (name: string) => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\n  labels: &l {app: web}\ndata:\n  a: &a hello\n  l: [${Array(100).fill('*a').join(', ')}]\nspec:\n  selector: *l\n`;
    // 100 aliases per document is allowed, and the count starts again in every document.
    const text = `${doc('one').replace(Array(100).fill('*a').join(', '), Array(99).fill('*a').join(', '))}---\n${doc('two').replace(Array(100).fill('*a').join(', '), Array(99).fill('*a').join(', '))}`;
    const { objects, issues } = loadManifests([file('ok.yaml', text)]);
    assert.deepEqual(issues, [], messages(issues));
    assert.equal(objects.length, 2);
    const spec = (objects[1]?.object as unknown as { spec: { selector: unknown }; data: { l: string[] } });
    assert.deepEqual(spec.spec.selector, { app: 'web' });
    assert.equal(spec.data.l.length, 99);
  });
});
