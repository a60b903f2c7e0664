import assert from 'node:assert/strict';
import { buildRoutes, route, servedByGantry, tlsSecretFor } from '../../src/ingress/routes.js';
import type { Endpoints, Ingress, IngressClass, Service } from '../../src/model/types.js';

function svc(name: string): Service {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'default' }, spec: { clusterIP: '10.96.0.5', ports: [{ name: 'http', port: 80, protocol: 'TCP' }] } };
}
function eps(name: string, ips: string[]): Endpoints {
  return { apiVersion: 'v1', kind: 'Endpoints', metadata: { name, namespace: 'default' }, subsets: [{ addresses: ips.map((ip) => ({ ip })), ports: [{ name: 'http', port: 8080, protocol: 'TCP' }] }] };
}
const backend = (name: string) => ({ service: { name, port: { name: 'http' } } });
function ing(name: string, spec: Ingress['spec']): Ingress {
  return { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name, namespace: 'default' }, spec };
}

describe('ingress: routing', () => {
  const services = ['a', 'b', 'c', 'd', 'fallback', 'empty'].map(svc);
  const endpoints = [eps('a', ['10.0.0.1']), eps('b', ['10.0.0.2']), eps('c', ['10.0.0.3']), eps('d', ['10.0.0.4']), eps('fallback', ['10.0.0.9'])];
  const ingresses = [
    ing('main', {
      tls: [{ hosts: ['shop.test', '*.apps.test'], secretName: 'shop-tls' }],
      rules: [
        { host: 'shop.test', http: { paths: [
          { path: '/', pathType: 'Prefix', backend: backend('a') },
          { path: '/api', pathType: 'Prefix', backend: backend('b') },
          { path: '/api/v2', pathType: 'Exact', backend: backend('c') },
        ] } },
        { host: '*.apps.test', http: { paths: [{ path: '/', pathType: 'Prefix', backend: backend('d') }] } },
        { http: { paths: [{ path: '/empty', pathType: 'Prefix', backend: backend('empty') }] } },
      ],
    }),
    ing('z-default', { defaultBackend: backend('fallback') }),
    ing('other-class', { ingressClassName: 'nginx', rules: [{ host: 'nginx.test', http: { paths: [{ path: '/', pathType: 'Prefix', backend: backend('a') }] } }] }),
  ];
  const table = buildRoutes({ ingresses: () => ingresses, service: (_ns, n) => services.find((s) => s.metadata.name === n), endpointsOf: (_ns, n) => endpoints.find((e) => e.metadata.name === n) });
  const to = (host: string, path: string) => route(table, host, path)?.service;

  const cases: [string, string, string | undefined][] = [
    ['shop.test', '/', 'a'],
    ['shop.test', '/api', 'b'],
    ['shop.test', '/api/', 'b'],
    ['shop.test', '/api/v1/users', 'b'],
    ['shop.test', '/apix', 'a'],
    ['shop.test', '/api/v2', 'c'],
    ['shop.test', '/api/v2/more', 'b'],
    ['SHOP.test', '/api', 'b'],
    ['x.apps.test', '/anything', 'd'],
    ['y.x.apps.test', '/', 'fallback'],
    ['unknown.test', '/empty/x', 'empty'],
    ['unknown.test', '/', 'fallback'],
    ['nginx.test', '/', 'fallback'],
  ];
  for (const [host, path, want] of cases) it(`sends ${host}${path} to ${want}`, () => assert.equal(to(host, path), want));

  it('resolves backends to ready endpoint addresses, empty when the Service has none', () => {
    assert.deepEqual(route(table, 'shop.test', '/')?.addresses, ['10.0.0.1:8080']);
    assert.deepEqual(route(table, 'unknown.test', '/empty')?.addresses, []);
  });

  it('finds TLS Secrets by exact host and by wildcard', () => {
    assert.deepEqual(tlsSecretFor(table, 'shop.test'), { namespace: 'default', secret: 'shop-tls' });
    assert.deepEqual(tlsSecretFor(table, 'one.apps.test'), { namespace: 'default', secret: 'shop-tls' });
    assert.equal(tlsSecretFor(table, 'other.test'), undefined);
  });

  it('serves class gantry and classes of its controller; leaves classless Ingresses to another default class', () => {
    const cls = (name: string, controller: string, isDefault = false): IngressClass => ({ apiVersion: 'networking.k8s.io/v1', kind: 'IngressClass', metadata: { name, ...(isDefault ? { annotations: { 'ingressclass.kubernetes.io/is-default-class': 'true' } } : {}) }, spec: { controller } });
    const none = ing('x', {});
    const named = (c: string) => ing('x', { ingressClassName: c });
    assert.equal(servedByGantry(none), true);
    assert.equal(servedByGantry(named('gantry')), true);
    assert.equal(servedByGantry(named('nginx')), false);
    assert.equal(servedByGantry(named('edge'), [cls('edge', 'gantry.dev/ingress')]), true);
    assert.equal(servedByGantry(none, [cls('nginx', 'k8s.io/ingress-nginx', true)]), false);
  });
});
