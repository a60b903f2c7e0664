import assert from 'node:assert/strict';
import type { Plan, PlanEntry } from '../../src/diff/types.js';
import type { Deployment, Node } from '../../src/model/types.js';
import { planCapacity, renderCapacity } from '../../src/scheduler/plan-capacity.js';

const node = (name: string, cpu: string): Node => ({
  apiVersion: 'v1', kind: 'Node', metadata: { name, labels: { 'kubernetes.io/hostname': name } },
  spec: {}, status: { allocatable: { cpu, memory: '4Gi', pods: '110' }, conditions: [{ type: 'Ready', status: 'True' }] },
});

const deployment = (replicas: number, cpu = '500m'): Deployment => ({
  apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: 'default' },
  spec: {
    replicas,
    selector: { matchLabels: { app: 'web' } },
    template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'x', resources: { requests: { cpu } } }] } },
  },
});

const entry = (action: PlanEntry['action'], desired: Deployment, live?: Deployment): PlanEntry => ({
  action, key: 'Deployment/default/web', kind: 'Deployment', namespace: 'default', name: 'web', desired, live,
});
const plan = (p: Partial<Plan>): Plan => ({ create: [], update: [], prune: [], unchanged: [], ...p });

describe('scheduler/plan-capacity', () => {
  it('planCapacity() reports that a created Deployment\'s pods fit, and where', () => {
    const c = planCapacity(plan({ create: [entry('create', deployment(2))] }), [node('n1', '2')], []);
    assert.equal(c.added, 2);
    assert.equal(c.fits, true);
    assert.deepEqual(c.placements, { n1: 2 });
    assert.match(renderCapacity(c, 'text'), /2 new pods fit on 1 node \(n1: 2\)/);
  });

  it('planCapacity() names the pods that would not fit with the scheduler\'s reason', () => {
    const c = planCapacity(plan({ create: [entry('create', deployment(3))] }), [node('n1', '1')], []);
    assert.equal(c.fits, false);
    assert.equal(c.unschedulable.length, 1);
    assert.match(c.unschedulable[0]!.message, /0\/1 nodes are available: 1 Insufficient cpu/);
    assert.match(renderCapacity(c, 'markdown'), /1 of 3 new pods would not fit/);
  });

  it('planCapacity() counts only the extra replicas of a scaled-up Deployment', () => {
    const c = planCapacity(plan({ update: [entry('update', deployment(3), deployment(1))] }), [node('n1', '4')], []);
    assert.equal(c.added, 2);
  });

  it('planCapacity() adds nothing for a plan without workloads', () => {
    const c = planCapacity(plan({}), [node('n1', '1')], []);
    assert.equal(c.added, 0);
    assert.match(renderCapacity(c, 'text'), /adds no pods/);
  });
});
