import assert from 'node:assert/strict';
import http from 'node:http';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { requestLabels, type RequestShape } from '../../src/api/request-metrics.js';
import { createApiServer } from '../../src/api/server.js';
import { Metrics } from '../../src/metrics/index.js';
import { MemoryStore } from '../fakes/memory-store.js';
import { apiRequest } from '../helpers/api-client.js';
import { eventually } from '../helpers/controllers.js';
import { parseExposition, seriesOf, valueOf } from '../helpers/prometheus.js';

const KUBE = '/api/v1/namespaces/:namespace/:resource/:name';
const KUBE_LIST = '/api/v1/namespaces/:namespace/:resource';
const APPS = '/apis/:group/:version/namespaces/:namespace/:resource/:name';

describe('API request metrics', () => {
  const cases: Array<{ name: string; req: RequestShape; verb: string; resource: string; longRunning?: boolean }> = [
    { name: 'a list of pods', req: { method: 'GET', url: '/api/v1/namespaces/default/pods?limit=500', route: KUBE_LIST }, verb: 'LIST', resource: 'pods' },
    { name: 'a watch of pods', req: { method: 'GET', url: '/api/v1/namespaces/default/pods?watch=true&resourceVersion=9', route: KUBE_LIST }, verb: 'WATCH', resource: 'pods', longRunning: true },
    { name: 'one pod, by its name', req: { method: 'GET', url: '/api/v1/namespaces/default/pods/web-7d9f8-x2kq4', route: KUBE }, verb: 'GET', resource: 'pods' },
    { name: 'a pod\'s log', req: { method: 'GET', url: '/api/v1/namespaces/default/pods/web-7d9f8-x2kq4/log?follow=true', route: '/api/v1/namespaces/:namespace/pods/:name/log' }, verb: 'GET', resource: 'pods/log', longRunning: true },
    { name: 'an exec upgraded to a WebSocket', req: { method: 'GET', url: '/api/v1/namespaces/default/pods/web-1/exec?command=sh', route: '/api/v1/namespaces/:namespace/pods/:name/exec', upgrade: true }, verb: 'CONNECT', resource: 'pods/exec', longRunning: true },
    { name: 'a server-side apply (dry run)', req: { method: 'PATCH', url: '/apis/apps/v1/namespaces/default/deployments/web?dryRun=All', route: APPS, contentType: 'application/apply-patch+yaml' }, verb: 'APPLY', resource: 'deployments' },
    { name: 'a delete of a collection', req: { method: 'DELETE', url: '/apis/apps/v1/namespaces/default/deployments', route: '/apis/:group/:version/namespaces/:namespace/:resource' }, verb: 'DELETECOLLECTION', resource: 'deployments' },
    { name: 'a resource gantry does not serve', req: { method: 'GET', url: '/apis/apps/v1/namespaces/default/frobnicators-x1/y', route: APPS }, verb: 'GET', resource: 'unknown' },
    { name: 'a made-up subresource', req: { method: 'PUT', url: '/api/v1/namespaces/default/pods/web-1/zz-93af', route: `${KUBE}/:subresource` }, verb: 'PUT', resource: 'pods/unknown' },
    { name: 'a Deployment\'s scale', req: { method: 'PATCH', url: '/apis/apps/v1/namespaces/default/deployments/web/scale', route: `${APPS}/:subresource`, contentType: 'application/merge-patch+json' }, verb: 'PATCH', resource: 'deployments/scale' },
    { name: 'gantry\'s own object route', req: { method: 'GET', url: '/apis/gantry.dev/v1/objects/Deployment/default/web', route: '/apis/gantry.dev/v1/objects/:kind/:namespace/:name' }, verb: 'GET', resource: '/apis/gantry.dev/v1/objects/:kind/:namespace/:name' },
    { name: 'gantry\'s watch', req: { method: 'GET', url: '/apis/gantry.dev/v1/watch?fromRevision=3', route: '/apis/gantry.dev/v1/watch' }, verb: 'WATCH', resource: '/apis/gantry.dev/v1/watch', longRunning: true },
    { name: 'an access review (a route of its own)', req: { method: 'POST', url: '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', route: '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews' }, verb: 'POST', resource: '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews' },
    { name: 'discovery', req: { method: 'GET', url: '/apis/apps/v1', route: '/apis/:group/:version' }, verb: 'GET', resource: '/apis/:group/:version' },
    { name: 'a path no route matches', req: { method: 'GET', url: '/wp-admin/setup-93af1.php', route: undefined }, verb: 'GET', resource: 'unmatched' },
  ];
  for (const c of cases) {
    it(`labels ${c.name} as ${c.verb} ${c.resource}${c.longRunning ? ' (long-running)' : ''}`, () => {
      const got = requestLabels(c.req);
      assert.deepEqual(got.labels, { verb: c.verb, resource: c.resource });
      assert.equal(got.longRunning, c.longRunning ?? false);
    });
  }

  describe('through the server', () => {
    const store = new MemoryStore();
    const metrics = new Metrics();
    const lines: Array<{ level: number; msg: string }> = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l) as { level: number; msg: string });
        done();
      },
    });
    const app = createApiServer({ store, logger: pino({ level: 'debug' }, sink), metrics });
    let target: { apiUrl: string };
    before(async () => {
      await app.listen({ host: '127.0.0.1', port: 0 });
      target = { apiUrl: `http://127.0.0.1:${(app.server.address() as { port: number }).port}` };
    });
    after(async () => {
      await app.close();
      await store.close();
    });

    it('counts each request by verb, resource and code, and times it, without any name or raw path in a label', async () => {
      assert.equal((await apiRequest(target, '/api/v1/namespaces/default/pods')).status, 200);
      assert.equal((await apiRequest(target, '/api/v1/namespaces/default/pods/web-7d9f8-x2kq4')).status, 404);
      assert.equal((await apiRequest(target, '/api/v1/namespaces/default/pods/web-7d9f8-x2kq4')).status, 404);
      assert.equal((await apiRequest(target, '/no/such/route-5c1e')).status, 404);
      const scrape = async () => parseExposition((await apiRequest(target, '/metrics')).body);
      // Counted when the response closes: the next scrape sees them.
      await eventually(async () => valueOf(await scrape(), 'gantry_apiserver_request_total', { resource: 'unmatched' }) === 1, 'the requests are counted');
      const m = await scrape();
      assert.equal(valueOf(m, 'gantry_apiserver_request_total', { verb: 'LIST', resource: 'pods', code: '200' }), 1);
      assert.equal(valueOf(m, 'gantry_apiserver_request_total', { verb: 'GET', resource: 'pods', code: '404' }), 2);
      assert.equal(valueOf(m, 'gantry_apiserver_request_duration_seconds_count', { verb: 'GET', resource: 'pods' }), 2);
      assert.ok(valueOf(m, 'gantry_apiserver_request_total', { verb: 'GET', resource: '/metrics', code: '200' })! >= 1, 'the scrapes themselves are counted');
      const values = seriesOf(m, 'gantry_apiserver_request_total').flatMap((l) => Object.values(l));
      assert.ok(!values.some((v) => /x2kq4|5c1e/.test(v)), `no pod name or raw path in a label: ${values.join(', ')}`);
    });

    it('keeps a watch out of the latency, and gauges it while it is open', async () => {
      const port = (app.server.address() as { port: number }).port;
      const req = http.get(`http://127.0.0.1:${port}/api/v1/namespaces/default/pods?watch=true`);
      await new Promise<void>((resolve, reject) => req.once('response', () => resolve()).once('error', reject));
      const open = () => apiRequest(target, '/metrics').then((r) => parseExposition(r.body));
      assert.equal(valueOf(await open(), 'gantry_apiserver_longrunning_requests', { verb: 'WATCH', resource: 'pods' }), 1);
      req.destroy();
      await eventually(async () => valueOf(await open(), 'gantry_apiserver_request_total', { verb: 'WATCH', resource: 'pods' }) === 1, 'the closed watch is counted');
      const m = await open();
      assert.equal(valueOf(m, 'gantry_apiserver_longrunning_requests', { verb: 'WATCH', resource: 'pods' }), 0);
      assert.equal(valueOf(m, 'gantry_apiserver_request_duration_seconds_count', { verb: 'WATCH' }), undefined);
    });

    it('logs each request at debug, never at info', async () => {
      lines.length = 0;
      await apiRequest(target, '/api/v1/namespaces/default/pods');
      await apiRequest(target, '/no/such/route');
      await eventually(() => lines.filter((l) => l.msg === 'request completed').length === 2, 'both requests are logged');
      const routine = lines.filter((l) => ['incoming request', 'request completed'].includes(l.msg) || /not found$/.test(l.msg));
      assert.ok(routine.length >= 4);
      assert.deepEqual([...new Set(routine.map((l) => l.level))], [20], 'debug is pino level 20');
      assert.deepEqual(lines.filter((l) => l.level >= 30), [], 'nothing at info or above for routine requests');
    });
  });
});
