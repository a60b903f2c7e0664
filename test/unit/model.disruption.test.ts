import assert from 'node:assert/strict';
import {
  budgetNeeds, budgetSelects, budgetStatus, countHealthy, disruptionsAllowed, EVICTION_REFUSED_MESSAGE, evictionVerdict, scaledValue, takeDisruption,
  type ControllerScale,
} from '../../src/model/disruption.js';
import type { Pod, PodDisruptionBudget } from '../../src/model/types.js';

const T0 = Date.parse('2026-12-03T10:00:00Z');

function pod(name: string, opts: { ready?: boolean; phase?: string; deleting?: boolean; labels?: Record<string, string>; owner?: string } = {}): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: 'shop',
      uid: `uid-${name}`,
      labels: opts.labels ?? { app: 'web' },
      ...(opts.deleting ? { deletionTimestamp: '2026-12-03T09:59:00Z' } : {}),
      ...(opts.owner ? { ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: opts.owner, uid: `rs-${opts.owner}`, controller: true }] } : {}),
    },
    spec: { containers: [{ name: 'c', image: 'busybox' }], nodeName: 'n1' },
    status: { phase: (opts.phase ?? 'Running') as 'Running', conditions: [{ type: 'Ready', status: opts.ready === false ? 'False' : 'True' }] },
  };
}

function pdb(spec: PodDisruptionBudget['spec'], status?: Partial<NonNullable<PodDisruptionBudget['status']>>, generation = 1): PodDisruptionBudget {
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: { name: 'web', namespace: 'shop', generation },
    spec: { selector: { matchLabels: { app: 'web' } }, ...spec },
    ...(status ? { status: { disruptionsAllowed: 0, currentHealthy: 0, desiredHealthy: 0, expectedPods: 0, observedGeneration: generation, ...status } } : {}),
  };
}

/** Every pod belongs to one ReplicaSet of `replicas`. */
const oneController = (replicas: number) => (): ControllerScale => ({ uid: 'rs-1', replicas });

describe('PodDisruptionBudget arithmetic', () => {
  it('scaledValue() rounds percents up for budgets, as Kubernetes does, and leaves counts alone', () => {
    const cases: [number | string, number, number][] = [
      ['50%', 3, 2], ['50%', 4, 2], ['34%', 3, 2], ['1%', 3, 1], ['0%', 5, 0], ['100%', 7, 7], [2, 10, 2],
    ];
    for (const [v, total, want] of cases) assert.equal(scaledValue(v, { total, roundUp: true }), want, `${v} of ${total}`);
    assert.equal(scaledValue('50%', { total: 3, roundUp: false }), 1);
    assert.throws(() => scaledValue('half', { total: 3, roundUp: true }), /not an integer or a percent/);
  });

  it('budgetNeeds(): minAvailable as a count expects the matching pods; percents and maxUnavailable expect the controllers\' scale', () => {
    const pods = [pod('a'), pod('b')];
    assert.deepEqual(budgetNeeds(pdb({ minAvailable: 2 }), { pods, scaleOf: oneController(3) }), { expectedPods: 2, desiredHealthy: 2, unmanagedPods: [] });
    assert.deepEqual(budgetNeeds(pdb({ minAvailable: '50%' }), { pods, scaleOf: oneController(3) }), { expectedPods: 3, desiredHealthy: 2, unmanagedPods: [] });
    // maxUnavailable 50% of 3 rounds up to 2 unavailable: 1 must stay healthy.
    assert.deepEqual(budgetNeeds(pdb({ maxUnavailable: '50%' }), { pods, scaleOf: oneController(3) }), { expectedPods: 3, desiredHealthy: 1, unmanagedPods: [] });
    assert.deepEqual(budgetNeeds(pdb({ maxUnavailable: 5 }), { pods, scaleOf: oneController(3) }), { expectedPods: 3, desiredHealthy: 0, unmanagedPods: [] });
    // Two pods of one controller count its scale once.
    assert.equal(budgetNeeds(pdb({ maxUnavailable: 1 }), { pods, scaleOf: oneController(4) }).expectedPods, 4);
  });

  it('budgetNeeds() skips pods without a controller and fails on a controller without a scale', () => {
    const pods = [pod('a'), pod('b')];
    const needs = budgetNeeds(pdb({ maxUnavailable: 1 }), { pods, scaleOf: (p) => (p.metadata.name === 'a' ? 'unmanaged' : { uid: 'rs', replicas: 1 }) });
    assert.deepEqual(needs, { expectedPods: 1, desiredHealthy: 0, unmanagedPods: ['a'] });
    assert.throws(() => budgetNeeds(pdb({ minAvailable: '10%' }), { pods, scaleOf: () => 'unknown' }), /found no controllers for pod "a"/);
  });

  it('countHealthy() counts Ready pods that are neither terminating nor evicted in the last two minutes', () => {
    const pods = [pod('a'), pod('b'), pod('c', { ready: false }), pod('d', { deleting: true }), pod('e')];
    assert.equal(countHealthy(pods, { disrupted: {}, now: T0 }), 3);
    assert.equal(countHealthy(pods, { disrupted: { b: '2026-12-03T09:59:30Z' }, now: T0 }), 2);
    // Evicted three minutes ago and still not terminating: counted again.
    assert.equal(countHealthy(pods, { disrupted: { b: '2026-12-03T09:57:00Z' }, now: T0 }), 3);
  });

  it('disruptionsAllowed() is healthy minus desired, never negative, and 0 while no pod is expected', () => {
    assert.equal(disruptionsAllowed({ currentHealthy: 3, desiredHealthy: 2, expectedPods: 3 }), 1);
    assert.equal(disruptionsAllowed({ currentHealthy: 1, desiredHealthy: 2, expectedPods: 3 }), 0);
    assert.equal(disruptionsAllowed({ currentHealthy: 2, desiredHealthy: 0, expectedPods: 0 }), 0);
  });

  it('budgetSelects(): no selector selects nothing, an empty one every pod of the namespace (policy/v1)', () => {
    const p = pod('a');
    assert.equal(budgetSelects({ ...pdb({}), spec: {} }, p), false);
    assert.equal(budgetSelects({ ...pdb({}), spec: { selector: {} } }, p), true);
    assert.equal(budgetSelects(pdb({}), pod('b', { labels: { app: 'db' } })), false);
    assert.equal(budgetSelects({ ...pdb({}), metadata: { name: 'web', namespace: 'other' } }, p), false);
  });

  it('budgetStatus() writes the counts, observedGeneration and DisruptionAllowed, and fails safe when it cannot count', () => {
    const b = pdb({ minAvailable: 2 }, undefined, 3);
    const ok = budgetStatus({ pdb: b, pods: [pod('a'), pod('b'), pod('c')], scaleOf: oneController(3), now: T0 });
    assert.deepEqual({ ...ok.status, conditions: undefined }, { observedGeneration: 3, disruptionsAllowed: 1, currentHealthy: 3, desiredHealthy: 2, expectedPods: 3, conditions: undefined });
    assert.equal(ok.status.conditions?.[0]?.type, 'DisruptionAllowed');
    assert.equal(ok.status.conditions?.[0]?.status, 'True');
    assert.equal(ok.status.conditions?.[0]?.reason, 'SufficientPods');
    const none = budgetStatus({ pdb: b, pods: [pod('a'), pod('b')], scaleOf: oneController(3), now: T0 });
    assert.equal(none.status.disruptionsAllowed, 0);
    assert.equal(none.status.conditions?.[0]?.reason, 'InsufficientPods');
    const failed = budgetStatus({ pdb: pdb({ maxUnavailable: 1 }), pods: [pod('a')], scaleOf: () => 'unknown', now: T0 });
    assert.equal(failed.status.disruptionsAllowed, 0);
    assert.equal(failed.status.conditions?.[0]?.reason, 'SyncFailed');
    assert.match(failed.failure ?? '', /found no controllers/);
  });

  it('budgetStatus() keeps an eviction\'s record until the pod is seen terminating', () => {
    const b = pdb({ minAvailable: 2 }, { disruptedPods: { a: '2026-12-03T09:59:50Z', gone: '2026-12-03T09:59:50Z' } });
    const pods = [pod('a'), pod('b'), pod('c')];
    const st = budgetStatus({ pdb: b, pods, scaleOf: oneController(3), now: T0 }).status;
    assert.deepEqual(st.disruptedPods, { a: '2026-12-03T09:59:50Z' });
    assert.equal(st.currentHealthy, 2);
    assert.equal(st.disruptionsAllowed, 0);
    const later = budgetStatus({ pdb: b, pods: [pod('a', { deleting: true }), pod('b'), pod('c')], scaleOf: oneController(3), now: T0 }).status;
    assert.equal(later.disruptedPods, undefined);
  });
});

describe('the eviction decision', () => {
  it('allows a Ready pod when its budget has a disruption to give, and names the budget to decrement', () => {
    const b = pdb({ minAvailable: 2 }, { disruptionsAllowed: 1, currentHealthy: 3, desiredHealthy: 2, expectedPods: 3 });
    const v = evictionVerdict(pod('a'), [b]);
    assert.equal(v.allowed, true);
    assert.equal(v.allowed && v.decrement?.metadata.name, 'web');
  });

  it('refuses with 429, Kubernetes\' message and a cause naming the budget when none is left', () => {
    const b = pdb({ minAvailable: 2 }, { disruptionsAllowed: 0, currentHealthy: 2, desiredHealthy: 2, expectedPods: 3 });
    const v = evictionVerdict(pod('a'), [b]);
    assert.deepEqual(v, { allowed: false, code: 429, reason: 'TooManyRequests', message: EVICTION_REFUSED_MESSAGE, cause: 'The disruption budget web needs 2 healthy pods and has 2 currently' });
  });

  it('refuses while the budget\'s status has not caught up with its spec', () => {
    const b = pdb({ minAvailable: 1 }, { disruptionsAllowed: 5, observedGeneration: 1 }, 2);
    const v = evictionVerdict(pod('a'), [b]);
    assert.equal(v.allowed, false);
    assert.match(!v.allowed ? v.cause ?? '' : '', /still being processed/);
    assert.equal(evictionVerdict(pod('a'), [pdb({ minAvailable: 1 })]).allowed, false, 'no status yet');
  });

  it('allows pods that are Pending, finished or terminating, and pods no budget selects, without a budget', () => {
    const blocked = pdb({ minAvailable: 3 }, { disruptionsAllowed: 0, currentHealthy: 3, desiredHealthy: 3, expectedPods: 3 });
    for (const p of [pod('a', { phase: 'Pending', ready: false }), pod('b', { phase: 'Succeeded' }), pod('c', { phase: 'Failed' }), pod('d', { deleting: true })]) {
      const v = evictionVerdict(p, [blocked]);
      assert.equal(v.allowed, true, p.metadata.name);
      assert.equal(v.allowed && v.decrement, undefined);
    }
    assert.equal(evictionVerdict(pod('e'), []).allowed, true);
  });

  it('lets a pod that is not Ready go when the budget is met without it (IfHealthyBudget) or always (AlwaysAllow)', () => {
    const met = pdb({ minAvailable: 2 }, { disruptionsAllowed: 0, currentHealthy: 2, desiredHealthy: 2, expectedPods: 3 });
    assert.equal(evictionVerdict(pod('x', { ready: false }), [met]).allowed, true);
    const short = pdb({ minAvailable: 3 }, { disruptionsAllowed: 0, currentHealthy: 2, desiredHealthy: 3, expectedPods: 3 });
    assert.equal(evictionVerdict(pod('x', { ready: false }), [short]).allowed, false);
    const always = pdb({ minAvailable: 3, unhealthyPodEvictionPolicy: 'AlwaysAllow' }, { disruptionsAllowed: 0, currentHealthy: 2, desiredHealthy: 3, expectedPods: 3 });
    assert.equal(evictionVerdict(pod('x', { ready: false }), [always]).allowed, true);
    assert.equal(evictionVerdict(pod('y'), [always]).allowed, false, 'a Ready pod still needs a disruption');
  });

  it('refuses a pod that two budgets select (500, as the eviction subresource does)', () => {
    const b = pdb({ minAvailable: 1 }, { disruptionsAllowed: 3 });
    const v = evictionVerdict(pod('a'), [b, { ...b, metadata: { ...b.metadata, name: 'other' } }]);
    assert.equal(v.allowed, false);
    assert.equal(!v.allowed && v.code, 500);
  });

  it('takeDisruption() uses one up, records the pod and turns the condition False at zero', () => {
    const b = pdb({ minAvailable: 2 }, { disruptionsAllowed: 1, currentHealthy: 3, desiredHealthy: 2, expectedPods: 3, conditions: [{ type: 'DisruptionAllowed', status: 'True', reason: 'SufficientPods' }] });
    const next = takeDisruption(b, { podName: 'a', now: T0 });
    assert.equal(next.status?.disruptionsAllowed, 0);
    assert.deepEqual(next.status?.disruptedPods, { a: '2026-12-03T10:00:00Z' });
    assert.equal(next.status?.conditions?.[0]?.status, 'False');
    assert.equal(b.status?.disruptionsAllowed, 1, 'the input is not changed');
  });
});
