/**
 * Validation of ReplicationController, LimitRange, ResourceQuota, PriorityClass, Endpoints,
 * EndpointSlice and IngressClass: table-driven, one problem per case, naming the field.
 */
import assert from 'node:assert/strict';
import { load } from 'js-yaml';
import { objectKey } from '../../src/model/keys.js';
import type { KubeObject } from '../../src/model/types.js';
import { validateObject } from '../../src/sync/validate.js';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const valid: Record<string, string> = {
  ReplicationController: `
apiVersion: v1
kind: ReplicationController
metadata: { name: nginx, namespace: shop }
spec:
  replicas: 2
  template:
    metadata: { labels: { app: nginx } }
    spec:
      containers: [{ name: nginx, image: nginx:1.27 }]
`,
  LimitRange: `
apiVersion: v1
kind: LimitRange
metadata: { name: limits, namespace: shop }
spec:
  limits:
    - type: Container
      max: { cpu: "2", memory: 1Gi }
      min: { cpu: 50m }
      default: { cpu: 500m }
      defaultRequest: { cpu: 100m }
      maxLimitRequestRatio: { cpu: "10" }
    - type: Pod
      max: { memory: 2Gi }
    - type: PersistentVolumeClaim
      min: { storage: 1Gi }
`,
  ResourceQuota: `
apiVersion: v1
kind: ResourceQuota
metadata: { name: pods-high, namespace: shop }
spec:
  hard: { pods: "10", cpu: "4", limits.memory: 8Gi }
  scopeSelector:
    matchExpressions:
      - { scopeName: PriorityClass, operator: In, values: [high] }
      - { scopeName: NotTerminating, operator: Exists }
`,
  PriorityClass: `
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: { name: batch }
value: -10
preemptionPolicy: Never
`,
  Endpoints: `
apiVersion: v1
kind: Endpoints
metadata: { name: db, namespace: shop }
subsets:
  - addresses: [{ ip: 10.0.0.5, hostname: db-a }]
    notReadyAddresses: [{ ip: 10.0.0.6 }]
    ports: [{ name: pg, port: 5432 }, { name: metrics, port: 9187 }]
`,
  EndpointSlice: `
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: db-1, namespace: shop, labels: { kubernetes.io/service-name: db } }
addressType: IPv4
ports: [{ name: pg, port: 5432 }]
endpoints:
  - addresses: [10.0.0.7]
    conditions: { ready: true, serving: true, terminating: false }
    nodeName: node-a
    zone: a
`,
  IngressClass: `
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: { name: external }
spec:
  controller: example.com/ingress
  parameters: { apiGroup: k8s.example.com, kind: IngressParameters, name: external-lb }
`,
};

function manifest(kind: string): Obj {
  return load(valid[kind]!) as Obj;
}

interface Case {
  name: string;
  kind: string;
  mutate: (o: Obj) => void;
  field: string;
  message: string | RegExp;
}

const cases: Case[] = [
  // ReplicationController
  { name: 'a selector that does not match the template', kind: 'ReplicationController', mutate: (o) => { o.spec.selector = { app: 'web' }; }, field: 'spec.template.metadata.labels', message: /`selector` does not match template `labels`/ },
  { name: 'no selector and no template labels', kind: 'ReplicationController', mutate: (o) => { delete o.spec.template.metadata; }, field: 'spec.selector', message: /spec\.selector is required/ },
  { name: 'a label-selector object where a map belongs', kind: 'ReplicationController', mutate: (o) => { o.spec.selector = { matchLabels: { app: 'nginx' } }; }, field: 'spec.selector[matchLabels]', message: /must be a string/ },
  { name: 'a restartPolicy other than Always', kind: 'ReplicationController', mutate: (o) => { o.spec.template.spec.restartPolicy = 'Never'; }, field: 'spec.template.spec.restartPolicy', message: /supported values: "Always"/ },
  { name: 'no template', kind: 'ReplicationController', mutate: (o) => { delete o.spec.template; }, field: 'spec.template', message: 'spec.template is required' },
  // LimitRange
  { name: 'an unknown limit type', kind: 'LimitRange', mutate: (o) => { o.spec.limits[0].type = 'Node'; }, field: 'spec.limits[0].type', message: /must be one of "Container", "Pod", "PersistentVolumeClaim"/ },
  { name: 'two items of one type', kind: 'LimitRange', mutate: (o) => { o.spec.limits[1].type = 'Container'; }, field: 'spec.limits[1].type', message: /duplicate value "Container"/ },
  { name: 'min above max', kind: 'LimitRange', mutate: (o) => { o.spec.limits[1].min = { memory: '3Gi' }; }, field: 'spec.limits[1].min[memory]', message: /min value 3Gi is greater than max value 2Gi/ },
  { name: 'a default request above the default limit', kind: 'LimitRange', mutate: (o) => { o.spec.limits[0].defaultRequest.cpu = '800m'; }, field: 'spec.limits[0].defaultRequest[cpu]', message: /default request value 800m is greater than default limit value 500m/ },
  { name: 'a default above max', kind: 'LimitRange', mutate: (o) => { o.spec.limits[0].default.cpu = '4'; }, field: 'spec.limits[0].default[cpu]', message: /default value 4 is greater than max value 2/ },
  { name: 'a ratio below 1', kind: 'LimitRange', mutate: (o) => { o.spec.limits[0].maxLimitRequestRatio.cpu = '500m'; }, field: 'spec.limits[0].maxLimitRequestRatio[cpu]', message: /ratio 500m is less than 1/ },
  { name: 'a ratio above max/min', kind: 'LimitRange', mutate: (o) => { o.spec.limits[0].maxLimitRequestRatio.cpu = '100'; }, field: 'spec.limits[0].maxLimitRequestRatio[cpu]', message: /ratio 100 is greater than max\/min = 40\.000000/ },
  { name: 'defaults on a Pod item', kind: 'LimitRange', mutate: (o) => { o.spec.limits[1].default = { memory: '1Gi' }; }, field: 'spec.limits[1].default', message: /may not be specified when `type` is 'Pod'/ },
  { name: 'a claim item without storage bounds', kind: 'LimitRange', mutate: (o) => { o.spec.limits[2] = { type: 'PersistentVolumeClaim' }; }, field: 'spec.limits[2].limits', message: /either minimum or maximum storage value is required/ },
  { name: 'a resource a container cannot ask for', kind: 'LimitRange', mutate: (o) => { o.spec.limits[0].max.gpu = '1'; }, field: 'spec.limits[0].max[gpu]', message: /must be a standard resource type/ },
  { name: 'a quantity that does not parse', kind: 'LimitRange', mutate: (o) => { o.spec.limits[1].max.memory = '2GB'; }, field: 'spec.limits[1].max[memory]', message: /quantities must match/ },
  // ResourceQuota
  { name: 'a resource quotas cannot count', kind: 'ResourceQuota', mutate: (o) => { o.spec.hard.deployments = '3'; }, field: 'spec.hard[deployments]', message: /must be a standard resource for quota/ },
  { name: 'a fractional object count', kind: 'ResourceQuota', mutate: (o) => { o.spec.hard.pods = '1.5'; }, field: 'spec.hard[pods]', message: /must be an integer/ },
  { name: 'a negative limit', kind: 'ResourceQuota', mutate: (o) => { o.spec.hard.cpu = '-1'; }, field: 'spec.hard[cpu]', message: /must be greater than or equal to 0/ },
  { name: 'a scoped quota limiting what its scope cannot count', kind: 'ResourceQuota', mutate: (o) => { o.spec.hard.configmaps = '3'; }, field: 'spec.hard[configmaps]', message: /unsupported scope applied to resource/ },
  { name: 'a BestEffort quota limiting cpu', kind: 'ResourceQuota', mutate: (o) => { delete o.spec.scopeSelector; o.spec.scopes = ['BestEffort']; o.spec.hard = { pods: '5', cpu: '1' }; }, field: 'spec.hard[cpu]', message: /unsupported scope applied to resource/ },
  { name: 'contradicting scopes', kind: 'ResourceQuota', mutate: (o) => { delete o.spec.scopeSelector; o.spec.scopes = ['Terminating', 'NotTerminating']; }, field: 'spec.scopes', message: /conflicting scopes: Terminating and NotTerminating/ },
  { name: 'an In term on a yes/no scope', kind: 'ResourceQuota', mutate: (o) => { o.spec.scopeSelector.matchExpressions[1] = { scopeName: 'NotTerminating', operator: 'In', values: ['x'] }; }, field: 'spec.scopeSelector.matchExpressions[1].operator', message: /must be 'Exists' or 'DoesNotExist'/ },
  { name: 'an In term without values', kind: 'ResourceQuota', mutate: (o) => { o.spec.scopeSelector.matchExpressions[0].values = []; }, field: 'spec.scopeSelector.matchExpressions[0].values', message: /must be specified when `operator` is 'In' or 'NotIn'/ },
  { name: 'an unknown scope', kind: 'ResourceQuota', mutate: (o) => { o.spec.scopes = ['Cheap']; }, field: 'spec.scopes[0]', message: /must be one of "Terminating"/ },
  // PriorityClass
  { name: 'a value above what users may give', kind: 'PriorityClass', mutate: (o) => { o.value = 2_000_000_000; }, field: 'value', message: /maximum allowed value of a user defined priority is 1000000000/ },
  { name: 'a system- name that is not a built-in class', kind: 'PriorityClass', mutate: (o) => { o.metadata.name = 'system-important'; }, field: 'metadata.name', message: /reserved for system use only. error: system-important is not a known system priority class/ },
  { name: 'a built-in class with another value', kind: 'PriorityClass', mutate: (o) => { o.metadata.name = 'system-node-critical'; o.value = 5; }, field: 'metadata.name', message: /value of system-node-critical PriorityClass must be 2000001000/ },
  { name: 'no value', kind: 'PriorityClass', mutate: (o) => { delete o.value; }, field: 'value', message: 'value is required' },
  { name: 'a fractional value', kind: 'PriorityClass', mutate: (o) => { o.value = 1.5; }, field: 'value', message: /value must be an integer/ },
  { name: 'an unknown preemption policy', kind: 'PriorityClass', mutate: (o) => { o.preemptionPolicy = 'Sometimes'; }, field: 'preemptionPolicy', message: /must be one of "PreemptLowerPriority", "Never"/ },
  { name: 'a pod template naming a class that is not a DNS subdomain', kind: 'ReplicationController', mutate: (o) => { o.spec.template.spec.priorityClassName = 'High_Priority'; }, field: 'spec.template.spec.priorityClassName', message: /a lowercase RFC 1123 subdomain/ },
  // Endpoints
  { name: 'a subset without addresses', kind: 'Endpoints', mutate: (o) => { o.subsets[0] = { ports: [{ port: 80 }] }; }, field: 'subsets[0]', message: /must specify `addresses` or `notReadyAddresses`/ },
  { name: 'a loopback address', kind: 'Endpoints', mutate: (o) => { o.subsets[0].addresses[0].ip = '127.0.0.1'; }, field: 'subsets[0].addresses[0].ip', message: /may not be in the loopback range/ },
  { name: 'a link-local address', kind: 'Endpoints', mutate: (o) => { o.subsets[0].notReadyAddresses[0].ip = '169.254.169.254'; }, field: 'subsets[0].notReadyAddresses[0].ip', message: /may not be in the link-local range/ },
  { name: 'an IPv6 address', kind: 'Endpoints', mutate: (o) => { o.subsets[0].addresses[0].ip = 'fd00::5'; }, field: 'subsets[0].addresses[0].ip', message: /gantry's pod and service networks are IPv4/ },
  { name: 'a name where an address belongs', kind: 'Endpoints', mutate: (o) => { o.subsets[0].addresses[0].ip = 'db.example.com'; }, field: 'subsets[0].addresses[0].ip', message: /must be a valid IP address/ },
  { name: 'an unnamed port among several', kind: 'Endpoints', mutate: (o) => { delete o.subsets[0].ports[1].name; }, field: 'subsets[0].ports[1].name', message: /port names are required when there is more than one port/ },
  { name: 'a duplicate port name', kind: 'Endpoints', mutate: (o) => { o.subsets[0].ports[1].name = 'pg'; }, field: 'subsets[0].ports[1].name', message: /duplicate value "pg"/ },
  { name: 'a hostname that is not a DNS label', kind: 'Endpoints', mutate: (o) => { o.subsets[0].addresses[0].hostname = 'db.a'; }, field: 'subsets[0].addresses[0].hostname', message: /a lowercase RFC 1123 label/ },
  { name: 'a port out of range', kind: 'Endpoints', mutate: (o) => { o.subsets[0].ports[0].port = 0; }, field: 'subsets[0].ports[0].port', message: /must be between 1 and 65535/ },
  // EndpointSlice
  { name: 'an unknown address type', kind: 'EndpointSlice', mutate: (o) => { o.addressType = 'IPX'; }, field: 'addressType', message: /must be one of "IPv4", "IPv6", "FQDN"/ },
  { name: 'an address that is not IPv4 in an IPv4 slice', kind: 'EndpointSlice', mutate: (o) => { o.endpoints[0].addresses = ['fd00::7']; }, field: 'endpoints[0].addresses[0]', message: /gantry's pod and service networks are IPv4/ },
  { name: 'a name in an IPv6 slice', kind: 'EndpointSlice', mutate: (o) => { o.addressType = 'IPv6'; }, field: 'endpoints[0].addresses[0]', message: /must be a valid IPv6 address/ },
  { name: 'an endpoint without addresses', kind: 'EndpointSlice', mutate: (o) => { o.endpoints[0].addresses = []; }, field: 'endpoints[0].addresses', message: /must not be empty/ },
  { name: 'a duplicate port name', kind: 'EndpointSlice', mutate: (o) => { o.ports.push({ name: 'pg', port: 5433 }); }, field: 'ports[1].name', message: /duplicate value "pg"/ },
  { name: 'an unknown condition', kind: 'EndpointSlice', mutate: (o) => { o.endpoints[0].conditions.healthy = true; }, field: 'endpoints[0].conditions.healthy', message: /is not supported/ },
  // IngressClass
  { name: 'no controller', kind: 'IngressClass', mutate: (o) => { delete o.spec.controller; }, field: 'spec.controller', message: /spec\.controller is required/ },
  { name: 'a controller that is not a domain-prefixed path', kind: 'IngressClass', mutate: (o) => { o.spec.controller = 'nginx'; }, field: 'spec.controller', message: /must be a domain-prefixed path/ },
  { name: 'Namespace-scoped parameters without a namespace', kind: 'IngressClass', mutate: (o) => { o.spec.parameters.scope = 'Namespace'; }, field: 'spec.parameters.namespace', message: /`parameters.scope` is set to 'Namespace'/ },
  { name: 'Cluster-scoped parameters with a namespace', kind: 'IngressClass', mutate: (o) => { o.spec.parameters.namespace = 'shop'; }, field: 'spec.parameters.namespace', message: /forbidden: `parameters.scope` is set to 'Cluster'/ },
  { name: 'parameters without a name', kind: 'IngressClass', mutate: (o) => { delete o.spec.parameters.name; }, field: 'spec.parameters.name', message: 'spec.parameters.name is required' },
];

describe('validateObject(): ReplicationController, LimitRange, ResourceQuota, PriorityClass, Endpoints, EndpointSlice, IngressClass', () => {
  for (const kind of Object.keys(valid)) {
    it(`accepts a valid ${kind}`, () => assert.deepEqual(validateObject(manifest(kind), { file: 'x.yaml', line: 1 }), []));
  }

  it('accepts every scope and every count/ resource a quota may name', () => {
    const q = manifest('ResourceQuota');
    delete q.spec.scopeSelector;
    q.spec.hard = { 'count/deployments.apps': '3', 'count/widgets.example.com': '1', services: '5', 'services.nodeports': '0', 'requests.nvidia.com/gpu': '2', 'gold.storageclass.storage.k8s.io/requests.storage': '500Gi', 'hugepages-2Mi': '1Gi' };
    assert.deepEqual(validateObject(q, { file: 'x.yaml' }), []);
    const scoped = manifest('ResourceQuota');
    delete scoped.spec.scopeSelector;
    scoped.spec.hard = { pods: '5' };
    scoped.spec.scopes = ['BestEffort', 'NotTerminating'];
    assert.deepEqual(validateObject(scoped, { file: 'x.yaml' }), []);
  });

  it('accepts the built-in PriorityClasses declared with their values', () => {
    assert.deepEqual(validateObject({ apiVersion: 'scheduling.k8s.io/v1', kind: 'PriorityClass', metadata: { name: 'system-cluster-critical' }, value: 2_000_000_000 }, { file: 'x.yaml' }), []);
  });

  for (const c of cases) {
    it(`names ${c.field} for ${c.name} (${c.kind})`, () => {
      const obj = manifest(c.kind);
      c.mutate(obj);
      const issues = validateObject(obj, { file: 'x.yaml', line: 1 });
      assert.equal(issues.length, 1, JSON.stringify(issues, null, 2));
      assert.equal(issues[0]!.field, c.field);
      assert.equal(issues[0]!.object, objectKey(obj as KubeObject));
      if (typeof c.message === 'string') assert.equal(issues[0]!.message, c.message);
      else assert.match(issues[0]!.message, c.message);
    });
  }
});
