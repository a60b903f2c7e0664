import assert from 'node:assert/strict';
import type { Deployment, Job, KubeObject, Node, Pod } from '../../src/model/types.js';
import { healthOf, worstHealth, type HealthStatus } from '../../web/src/lib/health.js';

function pod(status: Pod['status'], extra: Partial<Pod['metadata']> = {}): Pod {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'default', ...extra }, spec: { containers: [{ name: 'c', image: 'i' }] }, status };
}

function deployment(replicas: number, status: Deployment['status'], extra: { generation?: number; paused?: boolean } = {}): Deployment {
  return {
    apiVersion: 'apps/v1', kind: 'Deployment',
    metadata: { name: 'web', namespace: 'default', generation: extra.generation ?? 1 },
    spec: { replicas, selector: { matchLabels: { app: 'web' } }, template: { spec: { containers: [] } }, ...(extra.paused ? { paused: true } : {}) },
    status: { observedGeneration: 1, ...status },
  };
}

const ready = { type: 'Ready', status: 'True' as const };
const waiting = (reason: string) => ({ name: 'c', ready: false, restartCount: 3, image: 'i', imageID: '', lastState: {}, state: { waiting: { reason, message: 'back-off 40s' } } });

describe('web dashboard health (display health from an object\'s status)', () => {
  const cases: Array<{ name: string; obj: KubeObject; status: HealthStatus; message?: RegExp }> = [
    { name: 'a running, ready pod is Healthy', obj: pod({ phase: 'Running', conditions: [ready] }), status: 'Healthy', message: /Running/ },
    { name: 'a pod in CrashLoopBackOff is Degraded, naming the reason', obj: pod({ phase: 'Running', conditions: [], containerStatuses: [waiting('CrashLoopBackOff')] }), status: 'Degraded', message: /CrashLoopBackOff/ },
    { name: 'a pod that cannot pull its image is Degraded', obj: pod({ phase: 'Pending', containerStatuses: [waiting('ImagePullBackOff')] }), status: 'Degraded', message: /ImagePullBackOff/ },
    { name: 'a pending pod still starting is Progressing', obj: pod({ phase: 'Pending', containerStatuses: [waiting('ContainerCreating')] }), status: 'Progressing', message: /ContainerCreating/ },
    { name: 'an unschedulable pod is Degraded with the scheduler\'s message', obj: pod({ phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: '0/1 nodes are available: 1 Insufficient cpu.' }] }), status: 'Degraded', message: /Insufficient cpu/ },
    { name: 'a completed pod is Healthy', obj: pod({ phase: 'Succeeded' }), status: 'Healthy', message: /Completed/ },
    { name: 'a failed pod is Degraded', obj: pod({ phase: 'Failed', message: 'exit 1' }), status: 'Degraded' },
    { name: 'a terminating pod is Progressing', obj: pod({ phase: 'Running', conditions: [ready] }, { deletionTimestamp: '2026-01-01T00:00:00Z' }), status: 'Progressing', message: /Terminating/ },
    { name: 'a running pod that is not ready and restarts says so', obj: pod({ phase: 'Running', conditions: [{ type: 'Ready', status: 'False' }], containerStatuses: [{ name: 'c', ready: false, restartCount: 2, image: 'i', imageID: '', lastState: {}, state: { running: {} } }] }), status: 'Progressing', message: /2 restarts/ },
    { name: 'a Deployment with all replicas updated and available is Healthy', obj: deployment(2, { replicas: 2, updatedReplicas: 2, readyReplicas: 2, availableReplicas: 2 }), status: 'Healthy', message: /2\/2 ready/ },
    { name: 'a Deployment mid-rollout is Progressing', obj: deployment(2, { replicas: 3, updatedReplicas: 1, readyReplicas: 2, availableReplicas: 2 }), status: 'Progressing', message: /1\/2 updated/ },
    { name: 'a Deployment with old replicas still to remove is Progressing', obj: deployment(2, { replicas: 3, updatedReplicas: 2, readyReplicas: 3, availableReplicas: 3 }), status: 'Progressing', message: /1 old replica/ },
    { name: 'a Deployment whose change the controller has not seen is Progressing', obj: deployment(2, { replicas: 2, updatedReplicas: 2, readyReplicas: 2, availableReplicas: 2 }, { generation: 2 }), status: 'Progressing' },
    { name: 'a Deployment past its progress deadline is Degraded', obj: deployment(2, { replicas: 2, updatedReplicas: 1, conditions: [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded', message: 'ReplicaSet "web-1" has timed out progressing.' }] }), status: 'Degraded', message: /timed out/ },
    { name: 'a paused Deployment is Suspended', obj: deployment(2, {}, { paused: true }), status: 'Suspended' },
    { name: 'a complete Job is Healthy', obj: { apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'j' }, spec: { template: { spec: { containers: [] } } }, status: { succeeded: 1, conditions: [{ type: 'Complete', status: 'True' }] } } as Job, status: 'Healthy' },
    { name: 'a Job past its backoff limit is Degraded', obj: { apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'j' }, spec: { template: { spec: { containers: [] } } }, status: { failed: 7, conditions: [{ type: 'Failed', status: 'True', reason: 'BackoffLimitExceeded', message: 'Job has reached the specified backoff limit' }] } } as Job, status: 'Degraded', message: /backoff limit/ },
    { name: 'a running Job is Progressing', obj: { apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'j' }, spec: { completions: 3, template: { spec: { containers: [] } } }, status: { succeeded: 1, active: 1 } } as Job, status: 'Progressing', message: /1\/3 done/ },
    { name: 'a NotReady node is Degraded', obj: { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n' }, spec: {}, status: { conditions: [{ type: 'Ready', status: 'Unknown', message: 'Kubelet stopped posting node status.' }] } } as Node, status: 'Degraded' },
    { name: 'a cordoned node is Suspended', obj: { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n' }, spec: { unschedulable: true }, status: { conditions: [{ type: 'Ready', status: 'True' }] } } as Node, status: 'Suspended', message: /SchedulingDisabled/ },
    { name: 'a ConfigMap is Healthy once it exists', obj: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' }, data: {} }, status: 'Healthy' },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const h = healthOf(c.obj);
      assert.equal(h.status, c.status, h.message);
      if (c.message) assert.match(h.message, c.message);
    });
  }

  it('rolls up a group to its worst member, Degraded before Progressing', () => {
    assert.equal(worstHealth(['Healthy', 'Progressing', 'Degraded']), 'Degraded');
    assert.equal(worstHealth(['Healthy', 'Suspended', 'Progressing']), 'Progressing');
    assert.equal(worstHealth([]), 'Healthy');
  });
});
