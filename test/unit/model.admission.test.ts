/**
 * The pure admission arithmetic: exact quantities, LimitRange defaults and constraints, quota
 * usage, scopes and charging, and priority resolution.
 */
import assert from 'node:assert/strict';
import { addExact, canonicalExact, compareExact, formatExact, parseExact, ZERO } from '../../src/model/exact-quantity.js';
import { admitPodLimits, applyLimitRangeDefaults, claimLimitViolations, LIMIT_RANGER_ANNOTATION, podLimitViolations, podTotals } from '../../src/model/limitrange.js';
import { admitPodPriority, priorityClassLookup } from '../../src/model/priority.js';
import {
  chargeQuota, countResourceName, isBestEffort, objectUsage, parseUsage, podMatchesScope, quotaConstraintProblem, quotaMatches, quotaUsed, unknownUsage,
} from '../../src/model/quota.js';
import { isGantryError } from '../../src/errors.js';
import type { Container, KubeObject, LimitRange, PersistentVolumeClaim, Pod, PriorityClass, ResourceQuota, Service } from '../../src/model/types.js';

const NOW = Date.parse('2030-01-01T00:00:00Z');

function pod(name: string, containers: Partial<Container>[], extra: Partial<Pod['spec']> = {}, status?: Pod['status']): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'team' },
    spec: { containers: containers.map((c, i) => ({ name: `c${i}`, image: 'busybox', ...c })), ...extra },
    ...(status ? { status } : {}),
  };
}
const res = (requests?: Record<string, string>, limits?: Record<string, string>): Partial<Container> => ({ resources: { ...(requests ? { requests } : {}), ...(limits ? { limits } : {}) } });

function quota(hard: Record<string, string>, spec: Partial<NonNullable<ResourceQuota['spec']>> = {}, used?: Record<string, string>): ResourceQuota {
  return { apiVersion: 'v1', kind: 'ResourceQuota', metadata: { name: 'compute', namespace: 'team' }, spec: { hard, ...spec }, ...(used ? { status: { hard, used } } : {}) };
}

function limitRange(name: string, limits: LimitRange['spec']['limits']): LimitRange {
  return { apiVersion: 'v1', kind: 'LimitRange', metadata: { name, namespace: 'team' }, spec: { limits } };
}

describe('exact quantities', () => {
  const sums: [string[], string][] = [
    [['100m', '200m'], '300m'],
    [['500m', '500m'], '1'],
    [['1', '500m'], '1500m'],
    [['128Mi', '128Mi'], '256Mi'],
    [['1Gi', '512Mi'], '1536Mi'],
    [['1000', '0'], '1k'],
    [['1500', '0'], '1500'],
    [['0.1', '0.2'], '300m'],
    [['1e3', '1e3'], '2e3'],
    [['100Mi', '1'], '104857601'],
  ];
  for (const [terms, want] of sums) {
    it(`${terms.join(' + ')} = ${want}, as Kubernetes prints it`, () => {
      const total = terms.map((t) => parseExact(t)!).reduce((a, b) => addExact(a, b), ZERO);
      assert.equal(formatExact(total), want);
    });
  }

  it('compares across suffixes exactly, and rounds a value finer than a nano-unit up', () => {
    assert.equal(compareExact(parseExact('1Gi')!, parseExact('1073741824')!), 0);
    assert.equal(compareExact(parseExact('1G')!, parseExact('1Gi')!), -1);
    assert.equal(formatExact(parseExact('0.0000000001')!), '1n');
    assert.equal(canonicalExact('2000m'), '2');
    assert.equal(parseExact('12MB'), undefined);
  });
});

describe('LimitRange admission', () => {
  const lr = limitRange('defaults', [
    { type: 'Container', default: { cpu: '200m', memory: '64Mi' }, defaultRequest: { cpu: '100m' }, max: { cpu: '1' }, min: { memory: '16Mi' }, maxLimitRequestRatio: { cpu: '4' } },
    { type: 'Pod', max: { memory: '128Mi' } },
  ]);

  it('fills missing requests and limits of containers and init containers, and annotates the pod with what it set', () => {
    const p = pod('web', [{}, res({ cpu: '300m' }, { cpu: '500m' })], { initContainers: [{ name: 'setup', image: 'busybox' }] });
    const admitted = applyLimitRangeDefaults(p, [lr]);
    assert.deepEqual(admitted.spec.containers[0]!.resources, { limits: { cpu: '200m', memory: '64Mi' }, requests: { cpu: '100m', memory: '64Mi' } });
    assert.deepEqual(admitted.spec.containers[1]!.resources, { limits: { cpu: '500m', memory: '64Mi' }, requests: { cpu: '300m', memory: '64Mi' } });
    assert.equal(admitted.metadata.annotations?.[LIMIT_RANGER_ANNOTATION],
      'LimitRanger plugin set: cpu, memory request for container c0; cpu, memory limit for container c0; memory request for container c1; memory limit for container c1; cpu, memory request for init container setup; cpu, memory limit for init container setup');
    assert.equal(p.spec.containers[0]!.resources, undefined, 'the input is not changed');
  });

  it('takes the first LimitRange\'s default for a resource two of them default', () => {
    const other = limitRange('zz-other', [{ type: 'Container', default: { cpu: '900m' } }]);
    const admitted = applyLimitRangeDefaults(pod('a', [{}]), [other, lr]);
    assert.equal(admitted.spec.containers[0]!.resources?.limits?.cpu, '200m');
  });

  const cases: { name: string; pod: Pod; message: string }[] = [
    { name: 'a limit above max', pod: pod('a', [res({ cpu: '500m', memory: '32Mi' }, { cpu: '2', memory: '32Mi' })]), message: 'maximum cpu usage per Container is 1, but limit is 2' },
    { name: 'a request below min', pod: pod('a', [res({ cpu: '100m', memory: '8Mi' }, { cpu: '100m', memory: '32Mi' })]), message: 'minimum memory usage per Container is 16Mi, but request is 8Mi' },
    { name: 'a limit/request ratio above the max', pod: pod('a', [res({ cpu: '100m', memory: '32Mi' }, { cpu: '800m', memory: '32Mi' })]), message: 'cpu max limit to request ratio per Container is 4, but provided ratio is 8.000000' },
    { name: 'a pod total above the Pod max', pod: pod('a', [res({ cpu: '100m', memory: '64Mi' }, { cpu: '100m', memory: '64Mi' }), res({ cpu: '100m', memory: '96Mi' }, { cpu: '100m', memory: '96Mi' })]), message: 'maximum memory usage per Pod is 128Mi, but limit is 160Mi' },
  ];
  for (const c of cases) {
    it(`refuses ${c.name} in Kubernetes' words, naming the LimitRange`, () => {
      assert.deepEqual(podLimitViolations(c.pod, [lr]).map((v) => `${v.message} (${v.limitRange})`), [`${c.message} (defaults)`]);
      assert.throws(() => admitPodLimits(c.pod, [lr]), (err: unknown) => isGantryError(err, 'Forbidden') && err.message === `pods "a" is forbidden: ${c.message} (LimitRange defaults)`);
    });
  }

  it('lists several broken constraints in brackets, as Kubernetes aggregates them', () => {
    const p = pod('a', [res({ cpu: '100m', memory: '8Mi' }, { cpu: '2', memory: '8Mi' })]);
    assert.throws(() => admitPodLimits(p, [lr]), /forbidden: \[minimum memory usage per Container is 16Mi, but request is 8Mi \(LimitRange defaults\), maximum cpu usage per Container is 1, but limit is 2 \(LimitRange defaults\), cpu max limit to request ratio per Container is 4, but provided ratio is 20\.000000 \(LimitRange defaults\)\]/);
  });

  it('admits a pod within every constraint once the defaults are in', () => {
    const admitted = admitPodLimits(pod('a', [{}]), [lr]);
    assert.equal(admitted.spec.containers[0]!.resources?.requests?.cpu, '100m');
  });

  it('checks a claim\'s requested storage against the PersistentVolumeClaim items', () => {
    const storage = limitRange('storage', [{ type: 'PersistentVolumeClaim', min: { storage: '1Gi' }, max: { storage: '10Gi' } }]);
    const claim = (size: string): PersistentVolumeClaim => ({ apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'data', namespace: 'team' }, spec: { resources: { requests: { storage: size } } } });
    assert.deepEqual(claimLimitViolations(claim('5Gi'), [storage]), []);
    assert.deepEqual(claimLimitViolations(claim('20Gi'), [storage]).map((v) => v.message), ['maximum storage usage per PersistentVolumeClaim is 10Gi, but request is 20Gi']);
    assert.deepEqual(claimLimitViolations(claim('100Mi'), [storage]).map((v) => v.message), ['minimum storage usage per PersistentVolumeClaim is 1Gi, but request is 100Mi']);
  });

  it('counts a pod\'s total as the app containers and sidecars, or the largest init container when bigger', () => {
    const p = pod('a', [res({ cpu: '100m' }), res({ cpu: '200m' })], {
      initContainers: [
        { name: 'big-init', image: 'busybox', resources: { requests: { cpu: '1' } } },
        { name: 'sidecar', image: 'busybox', restartPolicy: 'Always', resources: { requests: { cpu: '50m' } } } as Container,
      ],
    });
    assert.deepEqual(podTotals(p, 'requests'), { cpu: '1' });
    const small = pod('b', [res({ cpu: '100m' }), res({ cpu: '200m' })], {
      initContainers: [{ name: 'sidecar', image: 'busybox', restartPolicy: 'Always', resources: { requests: { cpu: '50m' } } } as Container],
    });
    assert.deepEqual(podTotals(small, 'requests'), { cpu: '350m' });
  });
});

describe('quota arithmetic', () => {
  it('charges a pod its requests and limits, pods and count/pods; a finished pod only its count', () => {
    const p = pod('a', [res({ cpu: '250m', memory: '64Mi', 'nvidia.com/gpu': '1' }, { cpu: '500m', memory: '64Mi' })]);
    const u = objectUsage(p, NOW);
    const shown = Object.fromEntries([...u].map(([k, v]) => [k, formatExact(v)]));
    assert.deepEqual(shown, {
      'count/pods': '1', pods: '1', cpu: '250m', 'requests.cpu': '250m', memory: '64Mi', 'requests.memory': '64Mi',
      'requests.nvidia.com/gpu': '1', 'limits.cpu': '500m', 'limits.memory': '64Mi',
    });
    const done = pod('b', [res({ cpu: '1' })], {}, { phase: 'Succeeded' });
    assert.deepEqual([...objectUsage(done, NOW).keys()], ['count/pods']);
    const gone = { ...pod('c', [res({ cpu: '1' })], { terminationGracePeriodSeconds: 30 }), metadata: { name: 'c', namespace: 'team', deletionTimestamp: new Date(NOW - 60_000).toISOString() } };
    assert.deepEqual([...objectUsage(gone, NOW).keys()], ['count/pods'], 'past its grace period');
  });

  it('charges Services, claims and any kind\'s count', () => {
    const svc: Service = { apiVersion: 'v1', kind: 'Service', metadata: { name: 's', namespace: 'team' }, spec: { type: 'NodePort', ports: [{ port: 80 }, { port: 443 }] } };
    assert.deepEqual(Object.fromEntries([...objectUsage(svc, NOW)].map(([k, v]) => [k, formatExact(v)])), { 'count/services': '1', services: '1', 'services.nodeports': '2' });
    const pvc: PersistentVolumeClaim = { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'd', namespace: 'team' }, spec: { storageClassName: 'gold', resources: { requests: { storage: '5Gi' } } } };
    assert.deepEqual(Object.fromEntries([...objectUsage(pvc, NOW)].map(([k, v]) => [k, formatExact(v)])), {
      'count/persistentvolumeclaims': '1', persistentvolumeclaims: '1', 'requests.storage': '5Gi',
      'gold.storageclass.storage.k8s.io/persistentvolumeclaims': '1', 'gold.storageclass.storage.k8s.io/requests.storage': '5Gi',
    });
    assert.equal(countResourceName('Deployment'), 'count/deployments.apps');
    assert.equal(countResourceName('Ingress'), 'count/ingresses.networking.k8s.io');
    assert.equal(countResourceName('Namespace'), undefined, 'cluster-scoped kinds are not counted');
  });

  it('sums a namespace\'s usage exactly for each hard resource, 0 for the unused', () => {
    const q = quota({ 'requests.cpu': '2', pods: '10', 'count/deployments.apps': '3', configmaps: '5' });
    const objects: KubeObject[] = [
      pod('a', [res({ cpu: '100m' })]), pod('b', [res({ cpu: '200m' })]), pod('c', [res({ cpu: '300m' })]),
      { ...pod('elsewhere', [res({ cpu: '1' })]), metadata: { name: 'elsewhere', namespace: 'other' } },
      { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd', namespace: 'team' } },
    ];
    assert.deepEqual(quotaUsed(q, objects, NOW), { configmaps: '0', 'count/deployments.apps': '1', pods: '3', 'requests.cpu': '600m' });
  });

  it('refuses a charge past a hard limit in Kubernetes\' words, naming only what is exceeded', () => {
    const q = quota({ 'requests.cpu': '2', 'requests.memory': '1Gi', pods: '10' });
    const used = parseUsage({ 'requests.cpu': '1800m', 'requests.memory': '512Mi', pods: '3' });
    const over = chargeQuota(q, used, objectUsage(pod('x', [res({ cpu: '500m', memory: '128Mi' })]), NOW));
    assert.deepEqual(over, { ok: false, message: 'exceeded quota: compute, requested: requests.cpu=500m, used: requests.cpu=1800m, limited: requests.cpu=2' });
    const fits = chargeQuota(q, used, objectUsage(pod('y', [res({ cpu: '200m', memory: '128Mi' })]), NOW));
    assert.ok(fits.ok);
    assert.equal(formatExact(fits.used.get('requests.cpu')!), '2');
    assert.equal(formatExact(fits.used.get('requests.memory')!), '640Mi');
    assert.equal(formatExact(fits.used.get('pods')!), '4');
  });

  it('demands that every container state what a cpu or memory quota counts', () => {
    const q = quota({ 'limits.cpu': '4', 'requests.memory': '1Gi', pods: '5' });
    const p = pod('x', [res({ memory: '64Mi' }, { cpu: '1' }), {}], { initContainers: [{ name: 'init', image: 'busybox' }] });
    assert.equal(quotaConstraintProblem(q, p), 'must specify limits.cpu for: c1,init; requests.memory for: c1,init');
    assert.equal(quotaConstraintProblem(quota({ pods: '5' }), p), undefined);
  });

  it('counts a pod only in quotas whose scopes it is in', () => {
    const terminating = pod('t', [res({ cpu: '1' })], { activeDeadlineSeconds: 60 });
    const longRunning = pod('l', [res({ cpu: '1' })], { priorityClassName: 'high' });
    const bestEffort = pod('b', [{}]);
    assert.ok(isBestEffort(bestEffort));
    assert.ok(!isBestEffort(longRunning));
    const scoped = (spec: Partial<NonNullable<ResourceQuota['spec']>>) => quota({ pods: '5', 'requests.cpu': '2' }, spec);
    assert.ok(quotaMatches(scoped({ scopes: ['Terminating'] }), terminating));
    assert.ok(!quotaMatches(scoped({ scopes: ['Terminating'] }), longRunning));
    assert.ok(quotaMatches(scoped({ scopes: ['NotTerminating', 'NotBestEffort'] }), longRunning));
    assert.ok(quotaMatches(quota({ pods: '5' }, { scopes: ['BestEffort'] }), bestEffort));
    assert.ok(quotaMatches(scoped({ scopeSelector: { matchExpressions: [{ scopeName: 'PriorityClass', operator: 'In', values: ['high'] }] } }), longRunning));
    assert.ok(!quotaMatches(scoped({ scopeSelector: { matchExpressions: [{ scopeName: 'PriorityClass', operator: 'In', values: ['high'] }] } }), terminating));
    assert.ok(podMatchesScope(terminating, { scopeName: 'PriorityClass', operator: 'DoesNotExist' }));
    assert.ok(!quotaMatches(scoped({ scopes: ['NotBestEffort'] }), { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: 'team' } }), 'a scoped quota counts pods only');
    assert.ok(!quotaMatches(quota({ configmaps: '1' }), terminating), 'a quota counts only kinds it limits');
  });

  it('knows when a quota has not counted a resource yet', () => {
    assert.deepEqual(unknownUsage(quota({ pods: '5', 'requests.cpu': '1', configmaps: '2' }, {}, { pods: '1' }), 'Pod'), ['requests.cpu']);
  });
});

describe('priority admission', () => {
  const pc = (name: string, value: number, extra: Partial<PriorityClass> = {}): PriorityClass => ({ apiVersion: 'scheduling.k8s.io/v1', kind: 'PriorityClass', metadata: { name }, value, ...extra });

  it('gives a pod its class\'s value and preemption policy, and the built-in classes always resolve', () => {
    const lookup = priorityClassLookup([pc('batch', 100, { preemptionPolicy: 'Never' })]);
    const p = admitPodPriority(pod('a', [{}], { priorityClassName: 'batch' }), lookup);
    assert.equal(p.spec.priority, 100);
    assert.equal(p.spec.preemptionPolicy, 'Never');
    assert.equal(admitPodPriority(pod('b', [{}], { priorityClassName: 'system-node-critical' }), lookup).spec.priority, 2_000_001_000);
  });

  it('gives a pod without a class the global default (the lowest if several), else 0', () => {
    const none = admitPodPriority(pod('a', [{}]), priorityClassLookup([]));
    assert.deepEqual([none.spec.priority, none.spec.preemptionPolicy, none.spec.priorityClassName], [0, 'PreemptLowerPriority', undefined]);
    const withDefault = admitPodPriority(pod('a', [{}]), priorityClassLookup([pc('b', 50, { globalDefault: true }), pc('a', 10, { globalDefault: true })]));
    assert.deepEqual([withDefault.spec.priority, withDefault.spec.priorityClassName], [10, 'a']);
  });

  it('refuses a pod naming a class that does not exist, or a priority that is not its class\'s', () => {
    assert.throws(() => admitPodPriority(pod('a', [{}], { priorityClassName: 'gold' }), priorityClassLookup([])), /^GantryError: no PriorityClass with name gold was found$|no PriorityClass with name gold was found/);
    assert.throws(() => admitPodPriority(pod('a', [{}], { priorityClassName: 'batch', priority: 5 }), priorityClassLookup([pc('batch', 100)])), /the integer value of priority \(5\) must not be provided in pod spec; priority admission controller computed 100/);
    assert.equal(admitPodPriority(pod('a', [{}], { priorityClassName: 'batch', priority: 100 }), priorityClassLookup([pc('batch', 100)])).spec.priority, 100);
  });
});
