import assert from 'node:assert/strict';
import { isGantryError } from '../../src/errors.js';
import { Metrics } from '../../src/metrics/index.js';
import { serveMetrics, type MetricsListener } from '../../src/metrics/serve.js';
import { listenOrOff } from '../../src/app.js';
import { apiRequest } from '../helpers/api-client.js';
import { parseExposition, valueOf } from '../helpers/prometheus.js';

describe('the metrics listener of gantry agent', () => {
  let listener: MetricsListener | undefined;
  afterEach(async () => {
    await listener?.close();
    listener = undefined;
  });

  it('serves the exposition on GET /metrics and nothing else', async () => {
    const metrics = new Metrics({ processMetrics: true });
    metrics.kubelet.imagePullFailed();
    listener = await serveMetrics(metrics, { host: '127.0.0.1', port: 0 });
    const target = { apiUrl: `http://127.0.0.1:${listener.address.port}` };
    const res = await apiRequest(target, '/metrics');
    assert.equal(res.status, 200);
    assert.match(String(res.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    const m = parseExposition(res.body);
    assert.equal(valueOf(m, 'gantry_kubelet_image_pulls_total', { result: 'failure' }), 1);
    assert.ok(m.has('process_resident_memory_bytes'));
    assert.equal((await apiRequest(target, '/')).status, 404);
    assert.equal((await apiRequest(target, '/metrics', { method: 'POST' })).status, 405);
  });

  it('refuses an address in use, naming the flag and the address', async () => {
    listener = await serveMetrics(new Metrics(), { host: '127.0.0.1', port: 0 });
    const port = listener.address.port;
    await assert.rejects(serveMetrics(new Metrics(), { host: '127.0.0.1', port, flag: '--metrics-listen' }), (err) => {
      assert.ok(isGantryError(err, 'InvalidArgument'));
      assert.match(err.message, new RegExp(`^--metrics-listen: cannot listen on 127\\.0\\.0\\.1:${port}: .*EADDRINUSE`));
      return true;
    });
  });

  it('reads --metrics-listen as host:port, or off', () => {
    assert.deepEqual(listenOrOff('127.0.0.1:10255', '--metrics-listen'), ['127.0.0.1', 10255]);
    assert.deepEqual(listenOrOff(':9100', '--metrics-listen'), ['0.0.0.0', 9100]);
    assert.equal(listenOrOff('off', '--metrics-listen'), undefined);
    assert.throws(() => listenOrOff('localhost:http', '--metrics-listen'), /--metrics-listen: "localhost:http" is not host:port or off/);
  });
});
