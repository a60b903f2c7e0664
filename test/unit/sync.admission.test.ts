import assert from 'node:assert/strict';
import { makePlan } from '../../src/diff/plan.js';
import { isTokenVolume } from '../../src/model/serviceaccount.js';
import type { KubeObject, Pod, ResourceQuota } from '../../src/model/types.js';
import { admitPlan, admitPlanPods } from '../../src/sync/admission.js';
import type { DesiredObject } from '../../src/sync/types.js';

const pod = (name: string, spec: Partial<Pod['spec']> = {}): KubeObject => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'shop' }, spec: { containers: [{ name: 'c', image: 'busybox:1' }], ...spec } });
const account = (name: string, extra: Record<string, unknown> = {}): KubeObject => ({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name, namespace: 'shop' }, ...extra });
const at = (object: KubeObject, line: number): DesiredObject => ({ object, source: { file: 'apps/debug.yaml', line, document: 0 } });

describe('sync: admission of declared Pods', () => {
  it('admits a new Pod with the account the revision declares (its automount and pull secrets)', () => {
    const plan = makePlan({ objects: [at(account('reader', { automountServiceAccountToken: false, imagePullSecrets: [{ name: 'reg' }] }), 1), at(pod('debug', { serviceAccountName: 'reader' }), 10)] }, []);
    assert.deepEqual(admitPlanPods(plan, []), []);
    const admitted = plan.create.find((e) => e.kind === 'Pod')!.desired as Pod;
    assert.equal(admitted.spec.volumes?.some(isTokenVolume) ?? false, false);
    assert.deepEqual(admitted.spec.imagePullSecrets, [{ name: 'reg' }]);
  });

  it('admits a new Pod with an account the cluster has, and one of `default` before it exists', () => {
    const plan = makePlan({ objects: [at(pod('a', { serviceAccountName: 'builder' }), 1), at(pod('b'), 20)] }, []);
    const live = account('builder');
    live.metadata.uid = 'u';
    assert.deepEqual(admitPlanPods(plan, [live]), []);
    for (const e of plan.create) assert.ok((e.desired as Pod).spec.volumes!.some(isTokenVolume), e.name);
  });

  it('refuses a Pod naming an account neither the revision nor the cluster has, naming file, object and field', () => {
    const plan = makePlan({ objects: [at(pod('debug', { serviceAccountName: 'reader' }), 12)] }, []);
    const issues = admitPlanPods(plan, []);
    assert.equal(issues.length, 1);
    assert.deepEqual([issues[0]!.file, issues[0]!.line, issues[0]!.object, issues[0]!.field], ['apps/debug.yaml', 12, 'Pod/shop/debug', 'spec.serviceAccountName']);
    assert.match(issues[0]!.message, /serviceaccount "reader" not found in namespace shop: declare it in the repo/);
  });
});

describe('sync: admission of a revision against LimitRanges, PriorityClasses and ResourceQuotas', () => {
  const ns = (kind: string, name: string, body: Record<string, unknown>): KubeObject => ({ apiVersion: kind === 'PriorityClass' ? 'scheduling.k8s.io/v1' : 'v1', kind, metadata: kind === 'PriorityClass' ? { name } : { name, namespace: 'shop' }, ...body });
  const limits = ns('LimitRange', 'defaults', { spec: { limits: [{ type: 'Container', default: { cpu: '200m', memory: '64Mi' }, defaultRequest: { cpu: '100m', memory: '32Mi' }, max: { cpu: '1' } }] } });
  const compute = (hard: Record<string, string>) => ns('ResourceQuota', 'compute', { spec: { hard } });
  const sized = (name: string, cpu: string): KubeObject => pod(name, { containers: [{ name: 'c', image: 'busybox:1', resources: { limits: { cpu, memory: '16Mi' } } }] });
  const live = (o: KubeObject, extra: Partial<KubeObject['metadata']> = {}): KubeObject => ({ ...o, metadata: { ...o.metadata, uid: `uid-${o.metadata.name}`, resourceVersion: '7', ...extra } });
  const running = (name: string, cpu: string): KubeObject => ({ ...live(sized(name, cpu)), spec: { containers: [{ name: 'c', image: 'busybox:1', resources: { limits: { cpu, memory: '16Mi' }, requests: { cpu, memory: '16Mi' } } }] }, status: { phase: 'Running' } });

  it('fills the LimitRange\'s defaults and the priority into a declared Pod, as stored', () => {
    const plan = makePlan({ objects: [at(limits, 1), at(ns('PriorityClass', 'high', { value: 1000 }), 5), at(pod('debug', { priorityClassName: 'high' }), 10)] }, []);
    const { issues } = admitPlan(plan, []);
    assert.deepEqual(issues, []);
    const p = plan.create.find((e) => e.kind === 'Pod')!.desired as Pod;
    assert.deepEqual(p.spec.containers[0]!.resources, { limits: { cpu: '200m', memory: '64Mi' }, requests: { cpu: '100m', memory: '32Mi' } });
    assert.equal(p.spec.priority, 1000);
    assert.equal(p.spec.preemptionPolicy, 'PreemptLowerPriority');
  });

  it('rejects a Pod naming a PriorityClass nobody declares, and one breaking the LimitRange, naming file, object, field and range', () => {
    const plan = makePlan({ objects: [at(limits, 1), at(pod('a', { priorityClassName: 'gold' }), 10), at(sized('b', '2'), 20)] }, []);
    const { issues } = admitPlan(plan, []);
    assert.deepEqual(issues.map((i) => [i.line, i.object, i.field]), [[10, 'Pod/shop/a', 'spec.priorityClassName'], [20, 'Pod/shop/b', 'spec.containers']]);
    assert.match(issues[0]!.message, /no PriorityClass with name gold was found: declare the PriorityClass in the repo/);
    assert.equal(issues[1]!.message, 'pods "b" is forbidden: maximum cpu usage per Container is 1, but limit is 2 (LimitRange defaults)');
  });

  it('rejects a revision whose Pods would exceed a quota, naming the first object past it and the quota', () => {
    const plan = makePlan({ objects: [at(compute({ 'requests.cpu': '1', pods: '5' }), 1), at(sized('a', '400m'), 10), at(sized('b', '400m'), 20), at(sized('c', '400m'), 30)] }, [running('old', '100m')]);
    const { issues, ops } = admitPlan(plan, [running('old', '100m')]);
    assert.deepEqual(ops, []);
    assert.deepEqual(issues.map((i) => i.object), ['Pod/shop/c']);
    assert.equal(issues[0]!.message, 'pods "c" is forbidden: exceeded quota: compute, requested: requests.cpu=400m, used: requests.cpu=900m, limited: requests.cpu=1 (ResourceQuota shop/compute)');
  });

  it('counts what the revision prunes as freed, and charges a live quota in the revision\'s own transaction', () => {
    // A quota made in the cluster, not by the repo: in force, and neither pruned nor rewritten.
    const quota = live(compute({ 'requests.cpu': '1', pods: '5' }));
    const old = { ...running('old', '800m'), metadata: { ...running('old', '800m').metadata, annotations: { 'gantry.dev/managed-by': 'gantry' } } };
    const plan = makePlan({ objects: [at(sized('new', '900m'), 10)] }, [quota, old]);
    assert.deepEqual(plan.prune.map((e) => e.key), ['Pod/shop/old']);
    const { issues, ops } = admitPlan(plan, [quota, old]);
    assert.deepEqual(issues, []);
    assert.equal(ops.length, 1);
    const written = (ops[0] as { object: KubeObject }).object as ResourceQuota;
    assert.equal(written.metadata.resourceVersion, '7', 'charged against the version read');
    assert.deepEqual(written.status, { hard: { pods: '5', 'requests.cpu': '1' }, used: { pods: '1', 'requests.cpu': '900m' } });
  });

  it('demands requests of a Pod a cpu quota counts, and counts objects per kind', () => {
    const bare = pod('bare');
    const cms = [1, 2, 3].map((i) => at({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `cm${i}`, namespace: 'shop' }, data: {} }, 40 + i));
    const plan = makePlan({ objects: [at(compute({ 'requests.cpu': '1', configmaps: '2' }), 1), at(bare, 10), ...cms] }, []);
    const { issues } = admitPlan(plan, []);
    assert.deepEqual(issues.map((i) => [i.object, i.message]), [
      ['ConfigMap/shop/cm3', 'configmaps "cm3" is forbidden: exceeded quota: compute, requested: configmaps=1, used: configmaps=2, limited: configmaps=2 (ResourceQuota shop/compute)'],
      ['Pod/shop/bare', 'pods "bare" is forbidden: failed quota: compute: must specify requests.cpu for: c'],
    ]);
  });

  it('gives a quota the revision creates its usage in its own write', () => {
    const plan = makePlan({ objects: [at(compute({ 'requests.cpu': '2', pods: '5' }), 1), at(sized('a', '300m'), 10)] }, [running('old', '100m')]);
    const { issues } = admitPlan(plan, [running('old', '100m')]);
    assert.deepEqual(issues, []);
    assert.deepEqual((plan.create.find((e) => e.kind === 'ResourceQuota')!.desired as ResourceQuota).status, { hard: { pods: '5', 'requests.cpu': '2' }, used: { pods: '2', 'requests.cpu': '400m' } });
  });

  it('refuses to change a PriorityClass\'s value, as the API server does', () => {
    const was = live(ns('PriorityClass', 'high', { value: 1000 }));
    delete was.metadata.namespace;
    const plan = makePlan({ objects: [at(ns('PriorityClass', 'high', { value: 2000 }), 3)] }, [was]);
    assert.equal(plan.update.length, 1);
    const { issues } = admitPlan(plan, [was]);
    assert.deepEqual(issues.map((i) => [i.object, i.field, i.line]), [['PriorityClass/high', 'value', 3]]);
    assert.match(issues[0]!.message, /field is immutable \(was 1000\); give the class a new name/);
  });

  it('allows one global default PriorityClass, and Endpoints only for a Service without a selector', () => {
    const plan = makePlan({ objects: [
      at(ns('PriorityClass', 'a', { value: 1, globalDefault: true }), 1),
      at(ns('PriorityClass', 'b', { value: 2, globalDefault: true }), 5),
      at(ns('Service', 'web', { spec: { selector: { app: 'web' }, ports: [{ port: 80 }] } }), 10),
      at(ns('Endpoints', 'web', { subsets: [{ addresses: [{ ip: '10.0.0.1' }] }] }), 20),
      at(ns('Service', 'db', { spec: { ports: [{ port: 5432 }] } }), 30),
      at(ns('Endpoints', 'db', { subsets: [{ addresses: [{ ip: '10.0.0.2' }] }] }), 40),
    ] }, []);
    const { issues } = admitPlan(plan, []);
    assert.deepEqual(issues.map((i) => [i.object, i.field]), [['PriorityClass/a', 'globalDefault'], ['PriorityClass/b', 'globalDefault'], ['Endpoints/shop/web', 'metadata.name']]);
    assert.match(issues[0]!.message, /PriorityClass b is already marked as default\. Only one default can exist/);
    assert.match(issues[2]!.message, /Service shop\/web has a selector, so its Endpoints are the endpoints controller's/);
  });
});
