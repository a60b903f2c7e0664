import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { parsePushEvent, verifyWebhook } from '../../src/sync/webhook.js';

const secret = 'hook-secret';
const githubPush = Buffer.from(
  JSON.stringify({ ref: 'refs/heads/main', before: '0'.repeat(40), after: 'a'.repeat(40), repository: { full_name: 'acme/deploy' } }),
);
const sign = (body: Buffer, key = secret): string => `sha256=${createHmac('sha256', key).update(body).digest('hex')}`;

describe('verifyWebhook()', () => {
  it('accepts a GitHub push signed with the secret and names the event', () => {
    const verdict = verifyWebhook({ headers: { 'X-Hub-Signature-256': sign(githubPush), 'X-GitHub-Event': 'push' }, body: githubPush }, secret);
    assert.deepEqual(verdict, { ok: true, provider: 'github', event: 'push' });
  });

  it('reads headers in any case and as arrays', () => {
    const verdict = verifyWebhook({ headers: { 'x-hub-signature-256': [sign(githubPush)], 'x-github-event': 'push' }, body: githubPush }, secret);
    assert.equal(verdict.ok, true);
  });

  const refused: Array<{ name: string; headers: Record<string, string>; body?: Buffer; reason: RegExp }> = [
    { name: 'a signature made with another secret', headers: { 'X-Hub-Signature-256': sign(githubPush, 'guess') }, reason: /does not match/ },
    { name: 'a signed body that was altered', headers: { 'X-Hub-Signature-256': sign(githubPush) }, body: Buffer.from(githubPush.toString().replace('main', 'prod')), reason: /does not match/ },
    { name: 'a malformed signature', headers: { 'X-Hub-Signature-256': 'sha256=abc' }, reason: /not of the form/ },
    { name: 'a SHA-1 only signature', headers: { 'X-Hub-Signature': 'sha1=0123' }, reason: /unsigned/ },
    { name: 'an unsigned request', headers: { 'X-GitHub-Event': 'push' }, reason: /unsigned/ },
    { name: 'a wrong GitLab token', headers: { 'X-Gitlab-Token': 'hook-secreT' }, reason: /X-Gitlab-Token does not match/ },
    { name: 'a GitLab token of another length', headers: { 'X-Gitlab-Token': 'x' }, reason: /X-Gitlab-Token does not match/ },
  ];
  for (const c of refused) {
    it(`refuses ${c.name}`, () => {
      const verdict = verifyWebhook({ headers: c.headers, body: c.body ?? githubPush }, secret);
      assert.equal(verdict.ok, false);
      assert.match(verdict.ok ? '' : verdict.reason, c.reason);
    });
  }

  it('accepts a GitLab token equal to the secret', () => {
    const verdict = verifyWebhook({ headers: { 'X-Gitlab-Token': secret, 'X-Gitlab-Event': 'Push Hook' }, body: Buffer.from('{}') }, secret);
    assert.deepEqual(verdict, { ok: true, provider: 'gitlab', event: 'Push Hook' });
  });

  it('refuses everything when no secret is configured', () => {
    const verdict = verifyWebhook({ headers: { 'X-Hub-Signature-256': sign(githubPush, '') }, body: githubPush }, '');
    assert.equal(verdict.ok, false);
  });

  it('treats a signed request without GitHub headers as generic (Gitea)', () => {
    const verdict = verifyWebhook({ headers: { 'X-Hub-Signature-256': sign(githubPush), 'X-Gitea-Event': 'push' }, body: githubPush }, secret);
    assert.deepEqual(verdict, { ok: true, provider: 'generic', event: 'push' });
  });
});

describe('parsePushEvent()', () => {
  it('reads the branch and commit of a GitHub push', () => {
    assert.deepEqual(parsePushEvent('github', githubPush, 'push'), { ref: 'refs/heads/main', branch: 'main', after: 'a'.repeat(40), repository: 'acme/deploy' });
  });

  it('reads a GitLab Push Hook, preferring checkout_sha', () => {
    const body = Buffer.from(JSON.stringify({ object_kind: 'push', ref: 'refs/heads/dev', after: 'b'.repeat(40), checkout_sha: 'c'.repeat(40), project: { path_with_namespace: 'acme/deploy' } }));
    assert.deepEqual(parsePushEvent('gitlab', body, 'Push Hook'), { ref: 'refs/heads/dev', branch: 'dev', after: 'c'.repeat(40), repository: 'acme/deploy' });
  });

  it('recognises a GitHub ping, by header or by payload', () => {
    const ping = Buffer.from(JSON.stringify({ zen: 'Keep it logically awesome.', hook_id: 1, repository: { full_name: 'acme/deploy' } }));
    assert.deepEqual(parsePushEvent('github', ping, 'ping'), { ping: true, repository: 'acme/deploy' });
    assert.deepEqual(parsePushEvent('github', ping), { ping: true, repository: 'acme/deploy' });
  });

  it('reports a tag push without a branch', () => {
    const body = Buffer.from(JSON.stringify({ ref: 'refs/tags/v1', after: 'd'.repeat(40) }));
    assert.deepEqual(parsePushEvent('github', body, 'push'), { ref: 'refs/tags/v1', branch: undefined, after: 'd'.repeat(40), repository: undefined });
  });

  it('ignores other events and unreadable bodies', () => {
    assert.equal(parsePushEvent('github', githubPush, 'issues'), undefined);
    assert.equal(parsePushEvent('github', Buffer.from('not json')), undefined);
    assert.equal(parsePushEvent('gitlab', Buffer.from('[]')), undefined);
  });
});
