import assert from 'node:assert/strict';
import { diffFiles } from '../../web/src/lib/diff.js';

describe('web dashboard diffs (an audit-trail change as hunks)', () => {
  const before = ['kind: Deployment', 'metadata:', '  name: web', 'spec:', '  replicas: 2', '  a: 1', '  b: 2', '  c: 3', '  d: 4', '  e: 5', '  image: v1', ''].join('\n');
  const after = before.replace('replicas: 2', 'replicas: 3').replace('image: v1', 'image: v2');

  it('shows changed lines with three lines of context and both sides\' line numbers', () => {
    const d = diffFiles(before, after);
    assert.equal(d.added, 2);
    assert.equal(d.removed, 2);
    const lines = d.hunks.flatMap((h) => h.lines);
    const del = lines.find((l) => l.sign === '-' && l.text.includes('replicas'))!;
    const add = lines.find((l) => l.sign === '+' && l.text.includes('replicas'))!;
    assert.deepEqual([del.text, del.oldNo, del.newNo], ['  replicas: 2', 5, undefined]);
    assert.deepEqual([add.text, add.oldNo, add.newNo], ['  replicas: 3', undefined, 5]);
    assert.ok(lines.some((l) => l.sign === ' ' && l.text === 'spec:' && l.oldNo === 4 && l.newNo === 4));
  });

  it('splits far-apart changes into hunks headed as git heads them', () => {
    const long = (v: string) => ['x: 0', ...Array.from({ length: 20 }, (_, i) => `k${i}: ${i}`), `y: ${v}`, ''].join('\n');
    const d = diffFiles(long('1').replace('x: 0', 'x: 1'), long('2'));
    assert.equal(d.hunks.length, 2);
    assert.match(d.hunks[0]!.header, /^@@ -1,4 \+1,4 @@$/);
  });

  it('shows a creation as every line added, and a deletion as every line removed', () => {
    assert.deepEqual([diffFiles(undefined, 'a: 1\nb: 2\n').added, diffFiles(undefined, 'a: 1\nb: 2\n').removed], [2, 0]);
    assert.deepEqual([diffFiles('a: 1\n', undefined).added, diffFiles('a: 1\n', undefined).removed], [0, 1]);
  });

  it('has no hunk when the file did not change', () => {
    assert.equal(diffFiles('a: 1\n', 'a: 1\n').hunks.length, 0);
  });
});
