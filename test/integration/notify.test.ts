import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Notifier } from '../../src/notify/notifier.js';
import { CommitStatusSink, SIGNATURE_HEADER, WebhookSink } from '../../src/notify/sinks.js';
import type { Notification } from '../../src/notify/types.js';
import { silentLogger } from '../../src/log.js';

interface Received { method: string; url: string; headers: http.IncomingHttpHeaders; body: string }

/** A receiver on loopback that answers each request with the next of `statuses` (then 200). */
async function receiver(statuses: number[] = [], opts: { hang?: boolean } = {}): Promise<{ url: string; got: Received[]; close(): Promise<void> }> {
  const got: Received[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      got.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      if (opts.hang) return;
      res.statusCode = statuses.shift() ?? 200;
      res.end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    got,
    close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

async function until(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) assert.fail(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const applied: Notification = { type: 'applied', at: '2026-12-01T10:00:00Z', revision: '0123456789abcdef0123456789abcdef01234567', repo: 'https://git.example/team/deploy.git', message: 'revision 0123456 applied: 1 created, 0 updated, 0 pruned', summary: { created: 1, updated: 0, pruned: 0, unchanged: 3 } };
const fast = { attempts: 4, baseDelayMs: 20, maxDelayMs: 100 };

describe('notifications to real HTTP receivers on loopback', function () {
  this.timeout(20_000);
  const open: Array<{ close(): Promise<void> }> = [];
  const notifiers: Notifier[] = [];
  afterEach(async () => {
    await Promise.all(notifiers.splice(0).map((n) => n.stop(100)));
    await Promise.all(open.splice(0).map((r) => r.close()));
  });
  const start = async (...args: Parameters<typeof receiver>) => {
    const r = await receiver(...args);
    open.push(r);
    return r;
  };
  const notifier = (...args: ConstructorParameters<typeof Notifier>) => {
    const n = new Notifier(...args);
    notifiers.push(n);
    return n;
  };

  it('a webhook receives the notification as JSON, signed with HMAC-SHA256 of the body', async () => {
    const r = await start();
    const n = notifier([new WebhookSink({ url: `${r.url}/hooks/gantry`, secret: 's3cret' })], { logger: silentLogger(), ...fast });
    n.notify(applied);
    await until(() => r.got.length === 1, 'the webhook is received');
    const req = r.got[0]!;
    assert.equal(req.method, 'POST');
    assert.equal(req.url, '/hooks/gantry');
    assert.equal(req.headers['content-type'], 'application/json');
    assert.equal(req.headers['x-gantry-event'], 'applied');
    assert.deepEqual(JSON.parse(req.body), applied);
    assert.equal(req.headers[SIGNATURE_HEADER], `sha256=${createHmac('sha256', 's3cret').update(req.body).digest('hex')}`);
  });

  it('a receiver failing twice (503, then 500) gets the notification on the third try, in order with the next', async () => {
    const r = await start([503, 500]);
    const n = notifier([new WebhookSink({ url: r.url })], { logger: silentLogger(), ...fast });
    n.notify(applied);
    n.notify({ ...applied, type: 'healthy', message: 'rolled out' });
    await until(() => r.got.length === 4, 'three tries of the first and one of the second');
    assert.deepEqual(r.got.map((g) => (JSON.parse(g.body) as Notification).type), ['applied', 'applied', 'applied', 'healthy']);
  });

  it('gives up after the bounded number of tries, and does not retry a refusal (4xx)', async () => {
    const down = await start([503, 503, 503, 503, 503, 503]);
    const n = notifier([new WebhookSink({ url: down.url })], { logger: silentLogger(), ...fast });
    n.notify(applied);
    await until(() => down.got.length === 4, 'four tries');
    await new Promise((res) => setTimeout(res, 300));
    assert.equal(down.got.length, 4, 'no fifth try');

    const refusing = await start([401]);
    const m = notifier([new WebhookSink({ url: refusing.url })], { logger: silentLogger(), ...fast });
    m.notify(applied);
    await until(() => refusing.got.length === 1, 'one try');
    await new Promise((res) => setTimeout(res, 200));
    assert.equal(refusing.got.length, 1, 'a 401 is final');
  });

  it('notify() returns at once even when the receiver hangs, and stop() does not wait for it beyond its grace', async () => {
    const r = await start([], { hang: true });
    const n = notifier([new WebhookSink({ url: r.url })], { logger: silentLogger(), ...fast });
    const t0 = Date.now();
    for (let i = 0; i < 50; i++) n.notify(applied);
    assert.ok(Date.now() - t0 < 50, 'queueing 50 notifications does not wait for the receiver');
    await until(() => r.got.length === 1, 'the first request arrives');
    const t1 = Date.now();
    await n.stop(200);
    assert.ok(Date.now() - t1 < 2000, 'stop() gave up on the hanging request');
  });

  it('sets GitHub- and GitLab-shaped commit statuses with the token: pending on apply, success when healthy, failure when degraded', async () => {
    const gh = await start();
    const gl = await start();
    const n = notifier([
      new CommitStatusSink({ provider: 'github', apiUrl: gh.url, repo: 'team/deploy', token: 'ghp_x' }),
      new CommitStatusSink({ provider: 'gitlab', apiUrl: `${gl.url}/api/v4`, repo: 'team/deploy', token: 'glpat_x' }),
    ], { logger: silentLogger(), ...fast });
    n.notify(applied);
    n.notify({ ...applied, type: 'degraded', message: 'degraded: Deployment default/web: pod web-1: CrashLoopBackOff' });
    n.notify({ ...applied, type: 'recovered', message: 'recovered' });
    await until(() => gh.got.length === 3 && gl.got.length === 3, 'three statuses on each host');
    assert.equal(gh.got[0]!.url, `/repos/team/deploy/statuses/${applied.revision}`);
    assert.equal(gh.got[0]!.headers.authorization, 'Bearer ghp_x');
    assert.deepEqual(gh.got.map((g) => (JSON.parse(g.body) as { state: string; context: string }).state), ['pending', 'failure', 'success']);
    assert.equal((JSON.parse(gh.got[1]!.body) as { description: string }).description, 'degraded: Deployment default/web: pod web-1: CrashLoopBackOff');
    assert.equal(gl.got[0]!.url, `/api/v4/projects/team%2Fdeploy/statuses/${applied.revision}`);
    assert.equal(gl.got[0]!.headers['private-token'], 'glpat_x');
    assert.deepEqual(gl.got.map((g) => (JSON.parse(g.body) as { state: string }).state), ['running', 'failed', 'success']);
    assert.equal((JSON.parse(gl.got[0]!.body) as { name: string }).name, 'gantry');
  });
});
