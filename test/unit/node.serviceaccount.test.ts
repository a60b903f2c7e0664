/**
 * The node's side of service accounts: the token volume's files, the token refresh schedule, and
 * the `kubernetes` Service's environment variables.
 */
import assert from 'node:assert/strict';
import { GantryError, isGantryError } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';
import { admitPod } from '../../src/model/serviceaccount.js';
import type { ConfigMap, Pod, Service } from '../../src/model/types.js';
import type { NodeApi } from '../../src/node/api.js';
import { resolvePodEnv } from '../../src/node/agent/env.js';
import { serviceEnvVars } from '../../src/node/agent/service-env.js';
import { PodTokens } from '../../src/node/agent/tokens.js';
import { projectedPayload } from '../../src/node/volumes/payload.js';
import { tokenSourceKey, tokenSources } from '../../src/node/volumes/projected.js';

const NODE = { node: { cpuMillis: 1000, memoryBytes: 1 } };

const pod: Pod = admitPod({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web', namespace: 'shop', uid: 'p1' }, spec: { containers: [{ name: 'c', image: 'busybox' }] } }, undefined, { suffix: () => 'abcde' });
const rootCa: ConfigMap = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'kube-root-ca.crt', namespace: 'shop' }, data: { 'ca.crt': '-----BEGIN CERTIFICATE-----\n…\n' } };

describe('the service account token volume', () => {
  it('holds the token, the cluster CA and the namespace, mode 0644', () => {
    const vol = pod.spec.volumes!.find((v) => v.projected)!;
    const key = tokenSourceKey(tokenSources(pod)[0]!);
    const files = projectedPayload(vol.projected!, pod, { configMaps: new Map([['kube-root-ca.crt', rootCa]]), secrets: new Map(), tokens: new Map([[key, 'eyJ.a.b']]) }, NODE, vol.name);
    assert.deepEqual(Object.fromEntries([...files].map(([p, f]) => [p, [f.data.toString(), f.mode.toString(8)]])), {
      token: ['eyJ.a.b', '644'],
      'ca.crt': ['-----BEGIN CERTIFICATE-----\n…\n', '644'],
      namespace: ['shop', '644'],
    });
  });

  it('waits for the CA ConfigMap and for the token, as for any missing reference', () => {
    const vol = pod.spec.volumes!.find((v) => v.projected)!;
    const key = tokenSourceKey(tokenSources(pod)[0]!);
    assert.throws(() => projectedPayload(vol.projected!, pod, { configMaps: new Map(), secrets: new Map(), tokens: new Map([[key, 't']]) }, NODE, vol.name), (e: unknown) => isGantryError(e, 'NotFound') && /configmap "kube-root-ca.crt" not found/.test(e.message));
    assert.throws(() => projectedPayload(vol.projected!, pod, { configMaps: new Map([['kube-root-ca.crt', rootCa]]), secrets: new Map() }, NODE, vol.name), (e: unknown) => isGantryError(e, 'NotFound') && e.disposition === 'waiting');
  });
});

describe('PodTokens', () => {
  function api(calls: { expirationSeconds: number; audience?: string }[], opts: { fail?: boolean; now: () => number }): NodeApi {
    return {
      requestServiceAccountToken: async (_pod: Pod, req: { audience?: string; expirationSeconds: number }) => {
        calls.push(req);
        if (opts.fail) throw new GantryError('NotFound', 'serviceaccounts "default" not found');
        return { token: `token-${calls.length}`, expirationTimestamp: new Date(opts.now() + req.expirationSeconds * 1000).toISOString() };
      },
    } as unknown as NodeApi;
  }

  it('fetches a token once, and again only after 80% of its lifetime (a little earlier at random)', async () => {
    let clock = 1_000_000;
    const calls: { expirationSeconds: number }[] = [];
    const tokens = new PodTokens({ api: api(calls, { now: () => clock }), now: () => clock, logger: silentLogger() });
    const sources = tokenSources(pod);
    const first = await tokens.tokensFor(pod, sources);
    assert.deepEqual([...first.tokens.values()], ['token-1']);
    assert.deepEqual(calls, [{ expirationSeconds: 3607 }]);
    const refreshIn = first.refreshAt! - clock;
    assert.ok(refreshIn <= 3607_000 * 0.8 && refreshIn >= 3607_000 * 0.8 - 10_000, `refresh after ${refreshIn} ms`);
    clock += refreshIn - 1000;
    assert.deepEqual([...(await tokens.tokensFor(pod, sources)).tokens.values()], ['token-1']);
    clock += 1000;
    assert.deepEqual([...(await tokens.tokensFor(pod, sources)).tokens.values()], ['token-2']);
    assert.equal(calls.length, 2);
  });

  it('keeps a still-valid token when a refresh fails, and fails once there is none', async () => {
    let clock = 1_000_000;
    const calls: { expirationSeconds: number }[] = [];
    const flaky = { fail: false, now: () => clock };
    const tokens = new PodTokens({ api: api(calls, flaky), now: () => clock, logger: silentLogger() });
    const sources = tokenSources(pod);
    const first = await tokens.tokensFor(pod, sources);
    flaky.fail = true;
    clock = first.refreshAt!;
    assert.deepEqual([...(await tokens.tokensFor(pod, sources)).tokens.values()], ['token-1']);
    clock += 3607_000;
    await assert.rejects(tokens.tokensFor(pod, sources), /not found/);
    tokens.forget(pod.metadata.uid!);
  });
});

describe('service environment variables', () => {
  const kubernetes: Service = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'kubernetes', namespace: 'default' }, spec: { clusterIP: '10.96.0.1', ports: [{ name: 'https', port: 443, protocol: 'TCP', targetPort: 6443 }] } };

  it('are those the kubelet gives every pod for the kubernetes Service', () => {
    assert.deepEqual(Object.fromEntries(serviceEnvVars([kubernetes])), {
      KUBERNETES_SERVICE_HOST: '10.96.0.1',
      KUBERNETES_SERVICE_PORT: '443',
      KUBERNETES_SERVICE_PORT_HTTPS: '443',
      KUBERNETES_PORT: 'tcp://10.96.0.1:443',
      KUBERNETES_PORT_443_TCP: 'tcp://10.96.0.1:443',
      KUBERNETES_PORT_443_TCP_PROTO: 'tcp',
      KUBERNETES_PORT_443_TCP_PORT: '443',
      KUBERNETES_PORT_443_TCP_ADDR: '10.96.0.1',
    });
  });

  it('come before the container\'s own env, which may override and refer to them', () => {
    const c = { name: 'c', image: 'busybox', env: [{ name: 'API', value: 'https://$(KUBERNETES_SERVICE_HOST):$(KUBERNETES_SERVICE_PORT)' }, { name: 'KUBERNETES_SERVICE_PORT', value: '8443' }] };
    const env = resolvePodEnv(pod, c, { refs: { configMaps: new Map(), secrets: new Map(), claims: new Map() }, nodeName: 'n', nodeAllocatable: { cpuMillis: 1000, memoryBytes: 1 }, services: [kubernetes] });
    assert.equal(env.get('API'), 'https://10.96.0.1:443');
    assert.equal(env.get('KUBERNETES_SERVICE_PORT'), '8443');
    assert.equal(env.get('KUBERNETES_SERVICE_HOST'), '10.96.0.1');
  });

  it('are none for a Service without a cluster IP', () => {
    assert.equal(serviceEnvVars([{ ...kubernetes, spec: { ...kubernetes.spec, clusterIP: 'None' } }]).size, 0);
  });
});
