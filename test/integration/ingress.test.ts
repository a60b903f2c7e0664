/**
 * The ingress controller over real sockets, with backends on loopback (Endpoints pointing at
 * local servers; the store is the in-memory fake): headers a backend sees, WebSocket upgrades
 * passed through, 503 without endpoints, 502 when the endpoint refuses, and the status written.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import net from 'node:net';
import { IngressController } from '../../src/ingress/server.js';
import { silentLogger } from '../../src/log.js';
import type { Endpoints, Ingress, Service } from '../../src/model/types.js';
import { StoreServiceView } from '../../src/node/proxy/source.js';
import { MemoryStore } from '../fakes/memory-store.js';
import { eventually } from '../helpers/controllers.js';

function svc(name: string): Service {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'default' }, spec: { clusterIP: '10.96.0.9', ports: [{ name: 'http', port: 80, protocol: 'TCP' }] } };
}
function eps(name: string, port: number): Endpoints {
  return { apiVersion: 'v1', kind: 'Endpoints', metadata: { name, namespace: 'default' }, subsets: [{ addresses: [{ ip: '127.0.0.1' }], ports: [{ name: 'http', port, protocol: 'TCP' }] }] };
}
const rule = (host: string, service: string) => ({ host, http: { paths: [{ path: '/', pathType: 'Prefix' as const, backend: { service: { name: service, port: { name: 'http' } } } }] } });

function get(addr: string, host: string, path = '/'): Promise<{ status: number; body: string }> {
  const [h, p] = [addr.slice(0, addr.lastIndexOf(':')), Number(addr.slice(addr.lastIndexOf(':') + 1))];
  return new Promise((resolve, reject) => {
    http.get({ hostname: h, port: p, path, headers: { host } }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject);
  });
}

describe('ingress controller (real sockets)', function () {
  this.timeout(20_000);
  let store: MemoryStore;
  let view: StoreServiceView;
  let ingress: IngressController;
  let backend: http.Server;
  let closedPort = 0;
  const upgraded: Socket[] = [];

  before(async () => {
    // The backend echoes what it was sent, and answers WebSocket-style upgrades by echoing frames raw.
    backend = http.createServer((req, res) => res.end(JSON.stringify({ url: req.url, host: req.headers.host, xff: req.headers['x-forwarded-for'], xfh: req.headers['x-forwarded-host'] })));
    backend.on('upgrade', (_req, socket: Socket) => {
      upgraded.push(socket);
      socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
      socket.on('data', (d) => socket.write(d));
    });
    await new Promise<void>((r) => backend.listen(0, '127.0.0.1', () => r()));
    const port = (backend.address() as AddressInfo).port;
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
    closedPort = (probe.address() as AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));

    store = new MemoryStore();
    for (const name of ['app', 'empty', 'gone']) await store.create(svc(name));
    await store.create(eps('app', port));
    await store.create(eps('gone', closedPort));
    const ing: Ingress = { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name: 'web', namespace: 'default' }, spec: { rules: [rule('app.test', 'app'), rule('empty.test', 'empty'), rule('gone.test', 'gone')] } };
    await store.create(ing);
    view = new StoreServiceView({ store, logger: silentLogger(), extraKinds: ['Ingress', 'IngressClass', 'Secret'] });
    await view.start();
    ingress = new IngressController({ store, view, logger: silentLogger(), http: ['127.0.0.1', 0] });
    await ingress.start();
  });
  after(async () => {
    await ingress.stop();
    await view.stop();
    await store.close();
    for (const sock of upgraded) sock.destroy();
    backend.closeAllConnections();
    await new Promise<void>((r) => backend.close(() => r()));
  });

  it('proxies with the client\'s Host and X-Forwarded-For/Host headers', async () => {
    const r = await get(ingress.addresses.http!, 'app.test', '/a/b?c=1');
    assert.equal(r.status, 200);
    assert.deepEqual(JSON.parse(r.body), { url: '/a/b?c=1', host: 'app.test', xff: '127.0.0.1', xfh: 'app.test' });
  });

  it('answers 503 for a backend without ready endpoints and 502 when the endpoint refuses', async () => {
    const empty = await get(ingress.addresses.http!, 'empty.test');
    assert.equal(empty.status, 503);
    assert.match(empty.body, /Service default\/empty has no ready endpoints/);
    const gone = await get(ingress.addresses.http!, 'gone.test');
    assert.equal(gone.status, 502);
    assert.match(gone.body, new RegExp(`backend 127\\.0\\.0\\.1:${closedPort} of Service default/gone failed`));
  });

  it('passes a WebSocket upgrade through and relays frames both ways', async () => {
    const [h, p] = [ingress.addresses.http!.split(':')[0]!, Number(ingress.addresses.http!.split(':')[1])];
    const sock = net.connect(p, h);
    const got = await new Promise<string>((resolve, reject) => {
      let buf = '';
      sock.on('error', reject);
      sock.on('connect', () => sock.write('GET /ws HTTP/1.1\r\nHost: app.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n'));
      sock.on('data', (d) => {
        buf += d.toString();
        if (buf.includes('\r\n\r\n') && !buf.includes('ping')) sock.write('ping');
        if (buf.endsWith('ping')) resolve(buf);
      });
    });
    sock.destroy();
    assert.match(got, /^HTTP\/1\.1 101/);
  });

  it('writes status.loadBalancer with its address', async () => {
    await eventually(async () => {
      const ing = await store.get<Ingress>({ kind: 'Ingress', namespace: 'default', name: 'web' });
      const lb = ing?.status?.loadBalancer as { ingress?: { ip?: string; ports?: { port: number }[] }[] } | undefined;
      return lb?.ingress?.[0]?.ip === '127.0.0.1' && lb.ingress[0].ports?.[0]?.port === Number(ingress.addresses.http!.split(':')[1]);
    }, 'the Ingress status names the address');
  });
});
