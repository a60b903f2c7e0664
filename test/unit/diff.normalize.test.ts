import assert from 'node:assert/strict';
import { diffObject, objectsEqual } from '../../src/diff/diff.js';
import { deepEqual } from '../../src/model/json.js';
import { canonicalQuantity, normalize, quickEqual } from '../../src/diff/normalize.js';
import { pairResources } from '../../src/diff/pair.js';
import type { KubeObject } from '../../src/model/types.js';

function deployment(mutate: (d: any) => void = () => {}): KubeObject {
  const d: any = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', labels: { app: 'web' } },
    spec: {
      replicas: 2,
      selector: { matchLabels: { app: 'web' } },
      template: {
        metadata: { labels: { app: 'web' } },
        spec: {
          containers: [{
            name: 'web',
            image: 'nginx:1.25',
            ports: [{ containerPort: 80 }],
            env: [{ name: 'A', value: '1' }, { name: 'B', value: '2' }],
            resources: { requests: { cpu: '500m', memory: '1Gi' }, limits: { cpu: '1', memory: '2Gi' } },
          }],
          affinity: { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: { app: 'web' } } }] } },
        },
      },
    },
  };
  mutate(d);
  return d as KubeObject;
}

function service(mutate: (s: any) => void = () => {}): KubeObject {
  const s: any = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web' }, spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] } };
  mutate(s);
  return s as KubeObject;
}

const container = (d: any) => d.spec.template.spec.containers[0];

/** [what, desired, live, equal?] */
const pairs: [string, KubeObject, KubeObject, boolean][] = [
  ['an object and itself', deployment(), deployment(), true],
  ['an object and its stored form (server metadata, status, gantry and tool annotations)', deployment(), deployment((d) => {
    Object.assign(d.metadata, {
      uid: 'u1', resourceVersion: '42', generation: 3, creationTimestamp: '2026-01-01T00:00:00Z', managedFields: [{}], selfLink: '/x',
      annotations: { 'gantry.dev/managed-by': 'gantry', 'gantry.dev/source-path': 'a.yaml:1', 'kubectl.kubernetes.io/last-applied-configuration': '{}', 'deployment.kubernetes.io/revision': '4' },
    });
    d.status = { replicas: 2, readyReplicas: 2 };
  }), true],
  ['an object and its defaulted form', deployment(), deployment((d) => {
    d.metadata.namespace = 'default';
    d.spec.strategy = { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } };
    d.spec.revisionHistoryLimit = 10;
    d.spec.progressDeadlineSeconds = 600;
    Object.assign(d.spec.template.spec, { restartPolicy: 'Always', dnsPolicy: 'ClusterFirst', terminationGracePeriodSeconds: 30, schedulerName: 'default-scheduler', securityContext: {} });
    Object.assign(container(d), { imagePullPolicy: 'IfNotPresent', terminationMessagePath: '/dev/termination-log', terminationMessagePolicy: 'File' });
    container(d).ports[0].protocol = 'TCP';
  }), true],
  ['empty labels and no labels', deployment((d) => { d.metadata.labels = {}; }), deployment((d) => { delete d.metadata.labels; }), true],
  ['an empty args list and none', deployment((d) => { container(d).args = []; }), deployment(), true],
  ['null and absent', deployment((d) => { d.spec.minReadySeconds = null; }), deployment(), true],
  ['keys in another order', deployment(), deployment((d) => { d.spec = { template: d.spec.template, selector: d.spec.selector, replicas: 2 }; }), true],
  ['cpu "1000m" and "1"', deployment((d) => { container(d).resources.limits.cpu = '1000m'; }), deployment(), true],
  ['cpu "0.5" and "500m"', deployment((d) => { container(d).resources.requests.cpu = '0.5'; }), deployment(), true],
  ['cpu 1 (a number) and "1"', deployment((d) => { container(d).resources.limits.cpu = 1; }), deployment(), true],
  ['memory "1073741824" and "1Gi"', deployment((d) => { container(d).resources.requests.memory = '1073741824'; }), deployment(), true],
  ['memory "1024Mi" and "1Gi"', deployment((d) => { container(d).resources.requests.memory = '1024Mi'; }), deployment(), true],
  ['stringData and the same value as base64 data', { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's' }, stringData: { p: 'x' } }, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's' }, type: 'Opaque', data: { p: 'eA==' } }, true],
  ['a Service and its stored form with an allocated clusterIP and node port', service((s) => { s.spec.type = 'NodePort'; }), service((s) => {
    s.spec.type = 'NodePort'; s.spec.clusterIP = '10.96.0.7'; s.spec.clusterIPs = ['10.96.0.7']; s.spec.ports[0].nodePort = 30080;
  }), true],
  ['a Service asking for any clusterIP ("") and an allocated one', service((s) => { s.spec.clusterIP = ''; }), service((s) => { s.spec.clusterIP = '10.96.0.7'; }), true],
  ['a Pod and its scheduled form', { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'x:1' }] } }, { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { nodeName: 'n1', containers: [{ name: 'c', image: 'x:1' }] } }, true],
  // real changes that must never be hidden
  ['a replica change', deployment((d) => { d.spec.replicas = 3; }), deployment(), false],
  ['an image change', deployment((d) => { container(d).image = 'nginx:1.26'; }), deployment(), false],
  ['env in another order', deployment((d) => { container(d).env.reverse(); }), deployment(), false],
  ['cpu "100m" and "200m"', deployment((d) => { container(d).resources.requests.cpu = '100m'; }), deployment((d) => { container(d).resources.requests.cpu = '200m'; }), false],
  ['cpu "1.0001" and "1"', deployment((d) => { container(d).resources.limits.cpu = '1.0001'; }), deployment(), false],
  ['memory "1G" and "1Gi"', deployment((d) => { container(d).resources.requests.memory = '1G'; }), deployment(), false],
  ['targetPort 8080 and "8080" (a number is not a port name)', service(), service((s) => { s.spec.ports[0].targetPort = '8080'; }), false],
  ['a labelSelector {} (all pods) and none (no pods)', deployment((d) => { d.spec.template.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].labelSelector = {}; }), deployment((d) => { delete d.spec.template.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].labelSelector; }), false],
  ['a headless Service and an allocated clusterIP', service((s) => { s.spec.clusterIP = 'None'; }), service((s) => { s.spec.clusterIP = '10.96.0.7'; }), false],
  ['a chosen node port and an allocated one', service((s) => { s.spec.type = 'NodePort'; s.spec.ports[0].nodePort = 30001; }), service((s) => { s.spec.type = 'NodePort'; s.spec.ports[0].nodePort = 30080; }), false],
  ['a user annotation change', deployment((d) => { d.metadata.annotations = { team: 'a' }; }), deployment((d) => { d.metadata.annotations = { team: 'b' }; }), false],
  ['a Secret value change', { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's' }, stringData: { p: 'x' } }, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's' }, data: { p: 'eQ==' } }, false],
  ['a pinned Pod node and another node', { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { nodeName: 'n2', containers: [{ name: 'c', image: 'x:1' }] } }, { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { nodeName: 'n1', containers: [{ name: 'c', image: 'x:1' }] } }, false],
  ['a configMap volume without name and an emptyDir volume (defaulting differs)', deployment((d) => { d.spec.template.spec.volumes = [{ name: 'v', configMap: {} }]; }), deployment((d) => { d.spec.template.spec.volumes = [{ name: 'v' }]; }), false],
];

describe('diff/normalize', () => {
  for (const [what, desired, live, equal] of pairs) {
    it(`${equal ? 'equates' : 'tells apart'} ${what}`, () => {
      assert.equal(objectsEqual(desired, live), equal);
      const patch = diffObject(desired, live);
      assert.equal(patch.length === 0, equal, JSON.stringify(patch));
    });
  }

  it('the quick check never calls equal what normalization tells apart (every pair, both ways)', () => {
    const all = pairs.flatMap(([, a, b]) => [a, b]);
    for (const a of all) {
      for (const b of all) {
        if (quickEqual(a, b)) assert.ok(deepEqual(normalize(a), normalize(b, { desired: a })), `${JSON.stringify(a)}\n${JSON.stringify(b)}`);
      }
    }
  });

  it('the quick check vouches for an applied object read back from the store', () => {
    const written = normalize(deployment());
    const stored = { ...structuredClone(written), status: { replicas: 2 } } as KubeObject;
    stored.metadata.resourceVersion = '9';
    assert.equal(quickEqual(written, stored), true);
  });

  it('normalize() never modifies its input and is idempotent', () => {
    for (const [, a, b] of pairs) {
      for (const obj of [a, b]) {
        const before = structuredClone(obj);
        const once = normalize(obj);
        assert.deepEqual(obj, before);
        assert.deepEqual(normalize(once), once);
      }
    }
  });

  it('the patch of a change names the changed field with both values', () => {
    assert.deepEqual(diffObject(deployment((d) => { d.spec.replicas = 3; }), deployment()), [{ op: 'replace', path: '/spec/replicas', value: 3 }]);
  });

  const quantities: [string | number, boolean, string][] = [
    ['1000m', true, '1'], ['0.5', true, '500m'], [2, true, '2'], ['100m', true, '100m'], ['1.0001', true, '1000100000n'],
    ['1073741824', false, '1Gi'], ['1Gi', false, '1Gi'], ['1G', false, '1G'], ['1500M', false, '1500M'], ['100', false, '100'], ['0', false, '0'],
    ['not-a-quantity', false, 'not-a-quantity'],
  ];
  for (const [q, cpu, want] of quantities) {
    it(`spells ${cpu ? 'cpu' : 'memory'} ${JSON.stringify(q)} as ${want}`, () => assert.equal(canonicalQuantity(q, cpu), want));
  }
});

describe('diff/pair', () => {
  it('pairResources() pairs by key and keeps the unpaired of both sides', () => {
    const src = { file: 'a.yaml', line: 1, document: 0 };
    const desired = [{ object: deployment(), source: src }, { object: service(), source: src }];
    const live = [deployment((d) => { d.metadata.namespace = 'default'; }), { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'old', namespace: 'default' } } as KubeObject];
    const got = pairResources(desired, live).map((p) => [p.key, p.desired !== undefined, p.live !== undefined]);
    assert.deepEqual(got, [
      ['Deployment/default/web', true, true],
      ['Service/default/web', true, false],
      ['ConfigMap/default/old', false, true],
    ]);
  });
});
