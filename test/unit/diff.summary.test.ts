import assert from 'node:assert/strict';
import { describeChanges, summarizeChange, type ChangeEvent } from '../../src/diff/summary.js';
import type { KubeObject } from '../../src/model/types.js';

function deployment(opts: { replicas?: number; image?: string; status?: unknown; rv?: string } = {}): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: 'default', resourceVersion: opts.rv ?? '1', labels: { app: 'web' } },
    spec: {
      replicas: opts.replicas ?? 2,
      selector: { matchLabels: { app: 'web' } },
      template: {
        metadata: { labels: { app: 'web' } },
        spec: { containers: [{ name: 'web', image: opts.image ?? 'web:1.0', env: [{ name: 'MODE', value: 'fast' }] }] },
      },
    },
    ...(opts.status === undefined ? {} : { status: opts.status }),
  };
}

function pod(opts: { nodeName?: string; status?: unknown } = {}): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web-7d9f-abc', namespace: 'default', resourceVersion: '5' },
    spec: { containers: [{ name: 'web', image: 'web:1.0' }], ...(opts.nodeName ? { nodeName: opts.nodeName } : {}) },
    ...(opts.status === undefined ? {} : { status: opts.status }),
  };
}

function secret(data: Record<string, string>, stringData?: Record<string, string>): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'db', namespace: 'default' },
    type: 'Opaque',
    data,
    ...(stringData ? { stringData } : {}),
  };
}

const configMap: KubeObject = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'site', namespace: 'default' }, data: { 'index.html': '<h1>hi</h1>' } };
const service: KubeObject = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'default' }, spec: { ports: [{ port: 80 }] } };
const namespace: KubeObject = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-a' } };

const mod = (prevObject: KubeObject, object: KubeObject): ChangeEvent => ({ type: 'MODIFIED', prevObject, object });

describe('summarizeChange()', () => {
  const cases: { name: string; event: ChangeEvent; expected: string }[] = [
    { name: 'a created object', event: { type: 'ADDED', object: configMap }, expected: 'ConfigMap default/site created' },
    { name: 'a deleted object', event: { type: 'DELETED', object: service, prevObject: service }, expected: 'Service default/web deleted' },
    { name: 'a cluster-scoped object without a namespace', event: { type: 'ADDED', object: namespace }, expected: 'Namespace team-a created' },
    { name: 'a replica change', event: mod(deployment({ replicas: 2 }), deployment({ replicas: 3, rv: '2' })), expected: 'Deployment default/web: replicas 2 → 3' },
    { name: 'an image change, naming the container', event: mod(deployment(), deployment({ image: 'web:1.1' })), expected: 'Deployment default/web: image web:1.0 → web:1.1 (container web)' },
    { name: 'a pod phase change', event: mod(pod({ status: { phase: 'Pending' } }), pod({ status: { phase: 'Running' } })), expected: 'Pod default/web-7d9f-abc: phase Pending → Running' },
    { name: 'a pod being scheduled', event: mod(pod(), pod({ nodeName: 'node-1' })), expected: 'Pod default/web-7d9f-abc: scheduled to node-1' },
    {
      name: 'a condition flipping',
      event: mod(
        pod({ status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'False', lastTransitionTime: '2026-01-01T00:00:00Z' }] } }),
        pod({ status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: '2026-01-01T00:00:05Z' }] } }),
      ),
      expected: 'Pod default/web-7d9f-abc: Ready False → True',
    },
    {
      name: 'a status-only replica count change',
      event: mod(deployment({ status: { readyReplicas: 1, observedGeneration: 1 } }), deployment({ status: { readyReplicas: 2, observedGeneration: 2 } })),
      expected: 'Deployment default/web: readyReplicas 1 → 2',
    },
    {
      name: 'a container starting',
      event: mod(
        pod({ status: { containerStatuses: [{ name: 'web', state: { waiting: { reason: 'ContainerCreating' } }, ready: false, restartCount: 0 }] } }),
        pod({ status: { containerStatuses: [{ name: 'web', state: { running: { startedAt: 'x' } }, ready: false, restartCount: 0 }] } }),
      ),
      expected: 'Pod default/web-7d9f-abc: container web running',
    },
    {
      name: 'a changed Secret value, without the value',
      event: mod(secret({ password: 'czNjcmV0', user: 'YWRtaW4=' }), secret({ password: 'bjN3LXMzY3JldA==', user: 'YWRtaW4=' })),
      expected: 'Secret default/db: data.password changed',
    },
    {
      name: 'a change of only server bookkeeping',
      event: mod(deployment({ rv: '1' }), deployment({ rv: '9' })),
      expected: 'Deployment default/web updated',
    },
    {
      name: 'a label change',
      event: mod(service, { ...service, metadata: { ...service.metadata, labels: { tier: 'front' } } }),
      expected: 'Service default/web: label tier front',
    },
    {
      name: 'an env change, without the value',
      event: mod(deployment(), (() => { const d = deployment(); (d.spec as any).template.spec.containers[0].env[0].value = 'slow'; return d; })()),
      expected: 'Deployment default/web: env MODE changed (container web)',
    },
  ];
  for (const c of cases) {
    it(`describes ${c.name}`, () => {
      assert.equal(summarizeChange(c.event), c.expected);
    });
  }

  it('joins several changes with "; " and caps them with "and N more"', () => {
    const before = pod({ status: { phase: 'Pending', podIP: '10.0.0.1', hostIP: '192.168.1.1', reason: 'a', qosClass: 'x' } });
    const after = pod({ nodeName: 'node-1', status: { phase: 'Running', podIP: '10.0.0.2', hostIP: '192.168.1.2', reason: 'b', qosClass: 'y' } });
    const line = summarizeChange(mod(before, after), { maxPhrases: 3 });
    assert.equal(line, 'Pod default/web-7d9f-abc: scheduled to node-1; phase Pending → Running; hostIP 192.168.1.1 → 192.168.1.2; and 3 more');
    assert.equal(describeChanges(mod(before, after)).length, 6);
  });

  it('never shows Secret values, from data or stringData, in any phrase', () => {
    const before = secret({ password: 'c3VwZXJzZWNyZXQ=' }, { token: 'plain-token-value' });
    const after = secret({ password: 'b3RoZXJzZWNyZXQ=', extra: 'ZXh0cmE=' }, { token: 'plain-token-value-2' });
    after.type = 'kubernetes.io/basic-auth-supersecret';
    const line = summarizeChange(mod(before, after), { maxPhrases: 10 });
    for (const value of ['c3VwZXJzZWNyZXQ=', 'b3RoZXJzZWNyZXQ=', 'ZXh0cmE=', 'plain-token-value', 'supersecret']) {
      assert.ok(!line.includes(value), `"${line}" shows ${value}`);
    }
    assert.match(line, /data\.password changed/);
    assert.match(line, /data\.extra added/);
    assert.match(line, /stringData\.token changed/);
  });

  it('is deterministic whatever the key order of the objects', () => {
    const a = deployment({ replicas: 2 });
    const b = deployment({ replicas: 5, image: 'web:2' });
    const reordered = JSON.parse(JSON.stringify(b, Object.keys(b).reverse())) as KubeObject;
    Object.assign(reordered, b);
    assert.equal(summarizeChange(mod(a, b)), summarizeChange(mod(a, reordered)));
    assert.equal(summarizeChange(mod(a, b)), 'Deployment default/web: replicas 2 → 5; image web:1.0 → web:2 (container web)');
  });
});
