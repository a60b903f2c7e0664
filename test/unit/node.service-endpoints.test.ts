/**
 * A Service's endpoints as the data path sees them: its Endpoints together with the EndpointSlices
 * declared for it by hand (mirrored slices skipped), through the store-fed view the service proxy
 * and the cluster DNS share; and what admission adds to a pod is neither a change in a plan nor
 * lost when the pod is updated.
 */
import assert from 'node:assert/strict';
import { makePlan } from '../../src/diff/plan.js';
import { silentLogger } from '../../src/log.js';
import { MANAGED_BY, MANAGED_BY_VALUE, SOURCE_PATH } from '../../src/model/annotations.js';
import { MANAGED_BY_LABEL, SERVICE_NAME_LABEL, SLICE_MIRROR, serviceEndpoints, slicesOfEndpoints, subsetsOfSlices } from '../../src/model/endpointslices.js';
import { LIMIT_RANGER_ANNOTATION } from '../../src/model/limitrange.js';
import type { Endpoints, EndpointSlice, KubeObject, Pod, Service } from '../../src/model/types.js';
import { lookup } from '../../src/node/dns/records.js';
import { servicePorts } from '../../src/node/proxy/rules.js';
import { StoreServiceView } from '../../src/node/proxy/source.js';
import { MemoryStore } from '../fakes/memory-store.js';
import { eventually } from '../helpers/controllers.js';

const svc = (name: string, extra: Partial<Service['spec']> = {}): Service => ({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'default' }, spec: { clusterIP: '10.96.0.20', ports: [{ name: 'web', port: 80, protocol: 'TCP' }], ...extra } });
const slice = (name: string, service: string, ips: string[], extra: Partial<EndpointSlice> = {}, labels: Record<string, string> = {}): EndpointSlice => ({
  apiVersion: 'discovery.k8s.io/v1',
  kind: 'EndpointSlice',
  metadata: { name, namespace: 'default', labels: { [SERVICE_NAME_LABEL]: service, ...labels } },
  addressType: 'IPv4',
  ports: [{ name: 'web', port: 8080, protocol: 'TCP' }],
  endpoints: ips.map((ip, i) => ({ addresses: [ip], ...(i === 1 ? { conditions: { ready: false } } : {}) })),
  ...extra,
});

describe('node: a Service\'s endpoints from Endpoints and hand-declared EndpointSlices', () => {
  it('turns slices into subsets (ready unless it says not, IPv4 only) and Endpoints into slices', () => {
    assert.deepEqual(subsetsOfSlices([slice('a', 'db', ['10.1.0.1', '10.1.0.2']), slice('b', 'db', ['fd00::1'], { addressType: 'IPv6' })]), [
      { addresses: [{ ip: '10.1.0.1' }], notReadyAddresses: [{ ip: '10.1.0.2' }], ports: [{ name: 'web', port: 8080, protocol: 'TCP' }] },
    ]);
    const ep: Endpoints = { apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'db', namespace: 'default' }, subsets: [{ addresses: [{ ip: '10.1.0.1', nodeName: 'n1' }], ports: [{ name: 'web', port: 8080, protocol: 'TCP' }] }] };
    assert.deepEqual(slicesOfEndpoints(ep, { controller: false }), [{ addressType: 'IPv4', ports: [{ name: 'web', port: 8080, protocol: 'TCP' }], endpoints: [{ addresses: ['10.1.0.1'], conditions: { ready: true }, nodeName: 'n1' }] }]);
  });

  it('adds hand-declared slices to a Service\'s Endpoints, skipping the mirrored ones', () => {
    const ep: Endpoints = { apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'db', namespace: 'default' }, subsets: [{ addresses: [{ ip: '10.1.0.1' }], ports: [{ name: 'web', port: 8080, protocol: 'TCP' }] }] };
    const mirror = slice('db-mirror', 'db', ['10.1.0.1'], {}, { [MANAGED_BY_LABEL]: SLICE_MIRROR });
    assert.equal(serviceEndpoints(ep, [mirror], { namespace: 'default', name: 'db' }), ep);
    const merged = serviceEndpoints(ep, [mirror, slice('db-extra', 'db', ['10.1.0.9'])], { namespace: 'default', name: 'db' })!;
    assert.deepEqual(merged.subsets?.flatMap((s) => (s.addresses ?? []).map((a) => a.ip)), ['10.1.0.1', '10.1.0.9']);
    const declaredMirror = { ...mirror, metadata: { ...mirror.metadata, annotations: { [MANAGED_BY]: MANAGED_BY_VALUE } } };
    assert.equal(serviceEndpoints(undefined, [declaredMirror], { namespace: 'default', name: 'db' })?.subsets?.length, 1, 'a slice from the repo counts, whatever its label says');
  });

  it('the view gives the proxy and the DNS a slice-only Service\'s endpoints, and follows changes', async () => {
    const store = new MemoryStore();
    const view = new StoreServiceView({ store, logger: silentLogger() });
    try {
      await store.create(svc('ext'));
      await store.create(svc('hl', { clusterIP: 'None' }));
      await store.create(slice('ext-1', 'ext', ['10.1.0.5']));
      await store.create(slice('hl-1', 'hl', ['10.1.0.6']));
      await view.start();
      const ports = servicePorts(view.services(), view.endpoints());
      assert.deepEqual(ports.map((p) => [p.id, p.endpoints.map((e) => `${e.ip}:${e.port}`)]), [['default/ext:web', ['10.1.0.5:8080']]]);
      const answer = lookup(view, 'hl.default.svc.cluster.local', 'A');
      assert.deepEqual('answers' in answer ? answer.answers.map((a) => a.data) : [], ['10.1.0.6']);
      await store.create(slice('ext-2', 'ext', ['10.1.0.7']));
      await eventually(() => servicePorts(view.services(), view.endpoints())[0]?.endpoints.length === 2, 'the view sees the new slice');
    } finally {
      await view.stop();
      await store.close();
    }
  });
});

describe('diff: what admission adds to a pod', () => {
  const declared: KubeObject = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'debug', namespace: 'shop' }, spec: { containers: [{ name: 'c', image: 'busybox:1', resources: { limits: { memory: '32Mi' } } }] } };
  const live = (): Pod => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: 'debug', namespace: 'shop', uid: 'u', resourceVersion: '9',
      annotations: { [MANAGED_BY]: MANAGED_BY_VALUE, [SOURCE_PATH]: 'debug.yaml:1', [LIMIT_RANGER_ANNOTATION]: 'LimitRanger plugin set: cpu request for container c; cpu limit for container c' },
    },
    spec: {
      containers: [{ name: 'c', image: 'busybox:1', resources: { limits: { memory: '32Mi', cpu: '200m' }, requests: { memory: '32Mi', cpu: '100m' } } }],
      priority: 1000, preemptionPolicy: 'PreemptLowerPriority', priorityClassName: 'cluster-default', nodeName: 'n1',
    },
    status: { phase: 'Running' },
  });
  const at = (object: KubeObject) => ({ object, source: { file: 'debug.yaml', line: 1, document: 0 } });

  it('a pod as admission stored it is unchanged against its manifest', () => {
    const plan = makePlan({ objects: [at(declared)] }, [live()]);
    assert.equal(plan.unchanged.length, 1, JSON.stringify(plan.update[0]?.patch));
  });

  it('an update keeps the LimitRange\'s defaults and the resolved priority', () => {
    const labelled = { ...declared, metadata: { ...declared.metadata, labels: { team: 'a' } } };
    const plan = makePlan({ objects: [at(labelled)] }, [live()]);
    assert.equal(plan.update.length, 1);
    const written = plan.update[0]!.desired as Pod;
    assert.deepEqual(written.spec.containers[0]!.resources, { limits: { memory: '32Mi', cpu: '200m' }, requests: { memory: '32Mi', cpu: '100m' } });
    assert.deepEqual([written.spec.priority, written.spec.preemptionPolicy, written.spec.priorityClassName], [1000, 'PreemptLowerPriority', 'cluster-default']);
    assert.equal(written.metadata.annotations?.[LIMIT_RANGER_ANNOTATION], live().metadata.annotations![LIMIT_RANGER_ANNOTATION]);
  });

  it('a request the manifest itself changes is still a change', () => {
    const bigger = structuredClone(declared) as Pod;
    bigger.spec.containers[0]!.resources = { limits: { memory: '64Mi' } };
    const plan = makePlan({ objects: [at(bigger)] }, [live()]);
    assert.equal(plan.update.length, 1);
  });
});
