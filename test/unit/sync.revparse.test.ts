import assert from 'node:assert/strict';
import { isGantryError } from '../../src/errors.js';
import { parseRevision, resolveRevision, type RevisionReader } from '../../src/sync/revparse.js';

/**
 * History (ids are 40 hex digits):  a <- b <- c <- m (merge of c and f) ; a <- e <- f
 * refs: HEAD -> m, main -> m, feature -> f, origin/main -> c, tag v1 (annotated) -> b.
 */
const id = (ch: string): string => ch.repeat(40);
const parents: Record<string, string[]> = {
  [id('a')]: [], [id('b')]: [id('a')], [id('c')]: [id('b')], [id('e')]: [id('a')], [id('f')]: [id('e')],
  [id('d')]: [id('c'), id('f')],
};
const refs: Record<string, string> = {
  HEAD: id('d'), 'refs/heads/main': id('d'), 'refs/heads/feature': id('f'), 'refs/remotes/origin/main': id('c'),
  'refs/tags/v1': id('9'),
};
const tags: Record<string, string> = { [id('9')]: id('b') };
const reader: RevisionReader = {
  ref: async (n) => refs[n],
  expand: async (prefix) => {
    const hits = [...Object.keys(parents), ...Object.keys(tags)].filter((o) => o.startsWith(prefix));
    if (hits.length > 1) throw new Error('ambiguous');
    return hits[0];
  },
  peel: async (oid) => tags[oid] ?? oid,
  parents: async (c) => parents[c] ?? [],
};

describe('revision syntax (revparse)', () => {
  it('parses suffix chains into steps', () => {
    assert.deepEqual(parseRevision('main~2^2^'), { base: 'main', steps: [{ op: '~', n: 2 }, { op: '^', n: 2 }, { op: '^', n: 1 }] });
    assert.deepEqual(parseRevision('HEAD~'), { base: 'HEAD', steps: [{ op: '~', n: 1 }] });
    assert.deepEqual(parseRevision('v1^{commit}'), { base: 'v1', steps: [] });
  });

  it('resolves HEAD~N, name^, ^2 of a merge, remote-tracking names, tags and short ids', async () => {
    assert.equal(await resolveRevision(reader, 'HEAD'), id('d'));
    assert.equal(await resolveRevision(reader, 'HEAD~1'), id('c'));
    assert.equal(await resolveRevision(reader, 'main~3'), id('a'));
    assert.equal(await resolveRevision(reader, 'main^'), id('c'));
    assert.equal(await resolveRevision(reader, 'main^2'), id('f'));
    assert.equal(await resolveRevision(reader, 'main^2~1'), id('e'));
    assert.equal(await resolveRevision(reader, 'origin/main'), id('c'));
    assert.equal(await resolveRevision(reader, 'origin/main^'), id('b'));
    assert.equal(await resolveRevision(reader, 'v1'), id('b'), 'annotated tag peeled to its commit');
    assert.equal(await resolveRevision(reader, 'v1~1'), id('a'));
    assert.equal(await resolveRevision(reader, 'ffff'), id('f'));
    assert.equal(await resolveRevision(reader, 'FFFFFFF^'), id('e'));
    assert.equal(await resolveRevision(reader, 'refs/heads/feature'), id('f'));
  });

  it('names the revision when it walks past the root or names nothing', async () => {
    await assert.rejects(resolveRevision(reader, 'main~9'), (e) => isGantryError(e, 'RefNotFound') && /main~9.*has no parent/.test(e.message));
    await assert.rejects(resolveRevision(reader, 'feature^2'), (e) => isGantryError(e, 'RefNotFound') && /only 1 parent/.test(e.message));
    await assert.rejects(resolveRevision(reader, 'nope~1'), (e) => isGantryError(e, 'RefNotFound') && /'nope' is not a branch/.test(e.message));
  });

  it('rejects syntax outside the supported subset with InvalidArgument', () => {
    for (const bad of ['~1', 'main@{1}', 'main:web.yaml', 'a..b', '']) {
      assert.throws(() => parseRevision(bad), (e) => isGantryError(e, 'InvalidArgument'), bad);
    }
  });
});
