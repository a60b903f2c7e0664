import assert from 'node:assert/strict';
import { blame, blamedFields, UNRECORDED, type ObjectVersion } from '../../src/audit/blame.js';
import type { HistoryEntry } from '../../src/audit/types.js';
import type { KubeObject } from '../../src/model/types.js';

const cm = (data: Record<string, string>, labels?: Record<string, string>): KubeObject => ({
  apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'site', namespace: 'default', resourceVersion: '9', uid: 'u', ...(labels ? { labels } : {}) }, data,
});
const entry = (commit: string, actor: string, desired?: { rev: string; author: string }): HistoryEntry => ({
  commit, at: '2026-03-01T10:00:00.000Z', actor, summary: '', ...(desired ? { desiredRevision: desired.rev, desiredAuthor: desired.author } : {}),
});
const alice = { rev: 'a'.repeat(40), author: 'Alice <alice@example.com>' };
const bob = { rev: 'b'.repeat(40), author: 'Bob <bob@example.com>' };

describe('blame()', () => {
  it('names the fields a user or controller sets, never bookkeeping, with label keys quoted when they hold dots', () => {
    assert.deepEqual([...blamedFields(cm({ greeting: 'hi' }, { 'app.kubernetes.io/name': 'web' })).keys()], ['metadata.labels["app.kubernetes.io/name"]', 'data.greeting']);
  });

  it('keeps a field on the version that first gave it its value, and moves a changed one to the change', () => {
    const versions: ObjectVersion[] = [
      { entry: entry('1', 'sync', alice), object: cm({ greeting: 'hi', farewell: 'bye' }) },
      { entry: entry('2', 'sync', bob), object: cm({ greeting: 'hello', farewell: 'bye' }) },
    ];
    const lines = blame(versions);
    assert.deepEqual(lines.map((l) => [l.path, l.value, l.desiredAuthor]), [['data.greeting', 'hello', bob.author], ['data.farewell', 'bye', alice.author]]);
  });

  it('starts afresh after a deletion, and marks live values the history does not hold yet', () => {
    const versions: ObjectVersion[] = [
      { entry: entry('1', 'sync', alice), object: cm({ greeting: 'hi' }) },
      { entry: entry('2', 'controller/garbage-collector'), object: undefined },
      { entry: entry('3', 'sync', bob), object: cm({ greeting: 'hi' }) },
    ];
    const lines = blame(versions, cm({ greeting: 'hi', extra: 'new' }));
    assert.equal(lines[0]!.desiredAuthor, bob.author);
    assert.equal(lines[0]!.statusCommit, '3');
    assert.deepEqual(lines[1], { path: 'data.extra', value: 'new', actor: UNRECORDED });
  });
});
