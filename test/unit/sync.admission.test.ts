import assert from 'node:assert/strict';
import { makePlan } from '../../src/diff/plan.js';
import { isTokenVolume } from '../../src/model/serviceaccount.js';
import type { KubeObject, Pod } from '../../src/model/types.js';
import { admitPlanPods } from '../../src/sync/admission.js';
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
