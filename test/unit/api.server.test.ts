import assert from 'node:assert/strict';
import http from 'node:http';
import { createApiServer } from '../../src/api/server.js';
import type { Recorder } from '../../src/audit/types.js';
import { silentLogger } from '../../src/log.js';
import { MemoryStore } from '../fakes/memory-store.js';

/** Just enough of a Recorder for the history route to reach its query parsing. */
const emptyHistory = { history: async () => [] } as unknown as Recorder;

describe('API server', () => {
  const store = new MemoryStore();
  const app = createApiServer({ store, logger: silentLogger(), recorder: emptyHistory });
  after(async () => {
    await app.close();
    await store.close();
  });

  const badRequests: Array<{ url: string; message: RegExp }> = [
    { url: '/apis/gantry.dev/v1/objects/Widget', message: /unknown kind "Widget"/ },
    { url: '/apis/gantry.dev/v1/watch?kinds=Pod,Widget', message: /unknown kind "Widget"/ },
    { url: '/apis/gantry.dev/v1/watch?fromRevision=latest', message: /fromRevision: "latest" is not a non-negative integer/ },
    { url: '/apis/gantry.dev/v1/history?limit=ten', message: /limit: "ten" is not a non-negative integer/ },
    { url: '/apis/gantry.dev/v1/history?since=yesterday-ish', message: /since: "yesterday-ish" is not a date/ },
  ];
  for (const c of badRequests) {
    it(`answers GET ${c.url} with 400 InvalidArgument naming the parameter`, async () => {
      const res = await app.inject({ method: 'GET', url: c.url });
      assert.equal(res.statusCode, 400);
      const body = res.json<{ code: string; message: string }>();
      assert.equal(body.code, 'InvalidArgument');
      assert.match(body.message, c.message);
    });
  }

  it('answers a well-formed history query with the recorder\'s entries', async () => {
    const res = await app.inject({ method: 'GET', url: '/apis/gantry.dev/v1/history?limit=5&since=2026-01-01T00:00:00Z' });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), []);
  });

  it('closes while a client still holds a watch open (a stopping gantry never waits for watchers)', async () => {
    const own = createApiServer({ store: new MemoryStore(), logger: silentLogger() });
    await own.listen({ host: '127.0.0.1', port: 0 });
    const port = (own.server.address() as { port: number }).port;
    const got = new Promise<void>((resolve, reject) => {
      http.get(`http://127.0.0.1:${port}/api/v1/pods?watch=true`, (res) => {
        res.on('error', () => undefined);
        resolve();
      }).on('error', reject);
    });
    await got;
    const t0 = Date.now();
    await own.close();
    assert.ok(Date.now() - t0 < 2000, `close took ${Date.now() - t0} ms`);
  });
});
