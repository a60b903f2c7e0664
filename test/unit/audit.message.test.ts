import assert from 'node:assert/strict';
import { formatMessage, parseMessage, summarizeSync, toHistoryEntry } from '../../src/audit/message.js';
import type { SyncRecord } from '../../src/audit/types.js';

describe('audit messages', () => {
  it('formatMessage() and parseMessage() round-trip summary, body and trailers', () => {
    const msg = formatMessage('Deployment default/web: replicas 2 → 3', '- replicas 2 → 3\n- image changed', [
      ['Gantry-Actor', 'sync'],
      ['Gantry-Desired-Revision', undefined],
      ['Gantry-Store-Revision', 12],
      ['Gantry-Reason', 'two\nlines'],
    ]);
    assert.equal(msg, 'Deployment default/web: replicas 2 → 3\n\n- replicas 2 → 3\n- image changed\n\nGantry-Actor: sync\nGantry-Store-Revision: 12\nGantry-Reason: two lines\n');
    const parsed = parseMessage(msg);
    assert.equal(parsed.summary, 'Deployment default/web: replicas 2 → 3');
    assert.equal(parsed.body, '- replicas 2 → 3\n- image changed');
    assert.deepEqual([...parsed.trailers], [['Gantry-Actor', 'sync'], ['Gantry-Store-Revision', '12'], ['Gantry-Reason', 'two lines']]);
  });

  it('toHistoryEntry() reads actor, desired revision and object from trailers', () => {
    const entry = toHistoryEntry('f'.repeat(40), 1767225600, 'Pod default/p: phase Pending → Running\n\nGantry-Actor: node/n1\nGantry-Desired-Revision: abc\nGantry-Object: Pod/default/p\n');
    assert.deepEqual(entry, {
      commit: 'f'.repeat(40), at: '2026-01-01T00:00:00.000Z', actor: 'node/n1', desiredRevision: 'abc', object: 'Pod/default/p', summary: 'Pod default/p: phase Pending → Running',
    });
  });

  it('formatMessage() cuts a summary over 72 characters at a word and gives it whole in the body', () => {
    const long = `Deployment default/web: ${'image registry.example.com/team/web:1.2.3 → registry.example.com/team/web:1.2.4; '.repeat(2)}replicas 2 → 3`;
    const msg = formatMessage(long, undefined, [['Gantry-Actor', 'sync']]);
    const parsed = parseMessage(msg);
    assert.ok(parsed.summary.length <= 72, `"${parsed.summary}" is ${parsed.summary.length} characters`);
    assert.match(parsed.summary, /^Deployment default\/web: image registry\.example\.com\/team\/web:1\.2\.3 →.*…$/);
    assert.equal(parsed.body, long);
    assert.equal(parsed.trailers.get('Gantry-Actor'), 'sync');
  });

  it('toHistoryEntry() reads the desired revision\'s author and committer', () => {
    const entry = toHistoryEntry('f'.repeat(40), 1767225600, 'sync abc1234: applied (1 created, 0 updated, 0 pruned)\n\nGantry-Actor: sync\nGantry-Desired-Revision: abc\nGantry-Desired-Author: Alice Smith <alice@example.com>\nGantry-Desired-Committer: Bob <bob@example.com>\n');
    assert.equal(entry.desiredAuthor, 'Alice Smith <alice@example.com>');
    assert.equal(entry.desiredCommitter, 'Bob <bob@example.com>');
  });

  const revision = { commit: 'abc1234567890abc1234567890abc1234567890a', ref: 'main' };
  const syncCases: { name: string; record: SyncRecord; expected: string }[] = [
    { name: 'an applied revision with counts', record: { revision, outcome: 'applied', summary: { created: 2, updated: 1, pruned: 0, unchanged: 9 }, at: '' }, expected: 'sync abc1234: applied (2 created, 1 updated, 0 pruned)' },
    {
      name: 'a rejected revision with its problem count and where the first is',
      record: { revision, outcome: 'rejected', at: '', issues: [
        { file: 'deploy/web.yaml', line: 12, object: 'Deployment/default/web', field: 'spec.replicas', message: 'must be an integer' },
        { file: 'x.yaml', message: 'bad' },
      ] },
      expected: 'sync abc1234: rejected, 2 problems (deploy/web.yaml line 12, …)',
    },
    { name: 'a failed apply with its error', record: { revision, outcome: 'failed', error: 'store unavailable', at: '' }, expected: 'sync abc1234: failed — store unavailable' },
  ];
  for (const c of syncCases) {
    it(`summarizeSync() words ${c.name}`, () => {
      assert.equal(summarizeSync(c.record), c.expected);
    });
  }
});
