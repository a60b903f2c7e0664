import assert from 'node:assert/strict';
import { assessApp } from '../../src/health/app.js';
import { objectHealth, relatedFrom } from '../../src/health/kinds.js';
import { healthExitCode } from '../../src/health/read.js';
import type { Condition, ContainerStatus, Deployment, Job, KubeObject, Pod, ReplicaSet } from '../../src/model/types.js';
import type { SyncObject } from '../../src/sync/status.js';

const managed = { 'gantry.dev/managed-by': 'gantry' };

function deployment(name: string, opts: { replicas?: number; status?: Deployment['status']; paused?: boolean; generation?: number } = {}): Deployment {
  return {
    apiVersion: 'apps/v1', kind: 'Deployment',
    metadata: { name, namespace: 'default', uid: `d-${name}`, generation: opts.generation ?? 1, annotations: managed },
    spec: {
      replicas: opts.replicas ?? 4, selector: { matchLabels: { app: name } }, paused: opts.paused,
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'main', image: 'busybox' }] } },
    },
    status: { observedGeneration: 1, ...opts.status },
  };
}

function replicaSet(d: Deployment): ReplicaSet {
  return {
    apiVersion: 'apps/v1', kind: 'ReplicaSet',
    metadata: { name: `${d.metadata.name}-abc`, namespace: 'default', uid: `rs-${d.metadata.name}`, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: d.metadata.name, uid: d.metadata.uid!, controller: true }] },
    spec: { replicas: d.spec.replicas, selector: d.spec.selector, template: d.spec.template },
  };
}

function pod(name: string, owner: KubeObject, status: Pod['status']): Pod {
  return {
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name, namespace: 'default', uid: `p-${name}`, ownerReferences: [{ apiVersion: 'v1', kind: owner.kind, name: owner.metadata.name, uid: owner.metadata.uid!, controller: true }] },
    spec: { containers: [{ name: 'main', image: 'busybox' }] },
    status,
  };
}

const container = (partial: Partial<ContainerStatus>): ContainerStatus => ({ name: 'main', state: {}, lastState: {}, ready: false, restartCount: 0, image: 'busybox', imageID: '', ...partial });
const cond = (type: string, status: Condition['status'], reason?: string, message?: string): Condition => ({ type, status, ...(reason ? { reason } : {}), ...(message ? { message } : {}) });

function healthOf(obj: KubeObject, others: KubeObject[] = []) {
  return objectHealth(obj, relatedFrom([obj, ...others]));
}

describe('health: Deployments', () => {
  it('a Deployment with 0 of 4 pods running is Progressing, never Healthy', () => {
    const d = deployment('web', { status: { replicas: 4, updatedReplicas: 4, availableReplicas: 0, readyReplicas: 0 } });
    const h = healthOf(d);
    assert.equal(h?.status, 'Progressing');
    assert.match(h?.message ?? '', /0 of 4 updated replicas are available/);
  });

  it('all replicas updated and available is Healthy', () => {
    const d = deployment('web', { status: { replicas: 4, updatedReplicas: 4, availableReplicas: 4, readyReplicas: 4 } });
    assert.equal(healthOf(d)?.status, 'Healthy');
  });

  it('past its progress deadline is Degraded with ProgressDeadlineExceeded', () => {
    const d = deployment('web', { status: { replicas: 4, updatedReplicas: 4, availableReplicas: 1, conditions: [cond('Progressing', 'False', 'ProgressDeadlineExceeded')] } });
    assert.deepEqual([healthOf(d)?.status, healthOf(d)?.reason], ['Degraded', 'ProgressDeadlineExceeded']);
  });

  it('a pod in CrashLoopBackOff makes it Degraded, naming the pod and the container', () => {
    const d = deployment('crash', { replicas: 1, status: { replicas: 1, updatedReplicas: 1, availableReplicas: 0 } });
    const rs = replicaSet(d);
    const p = pod('crash-abc-1', rs, { phase: 'Running', containerStatuses: [container({ restartCount: 3, state: { waiting: { reason: 'CrashLoopBackOff', message: 'back-off 40s restarting failed container' } }, lastState: { terminated: { exitCode: 1 } } })] });
    const h = healthOf(d, [rs, p]);
    assert.equal(h?.status, 'Degraded');
    assert.equal(h?.reason, 'CrashLoopBackOff');
    assert.match(h?.message ?? '', /pod crash-abc-1: container main is waiting: CrashLoopBackOff.*restarted 3 times/);
  });

  it('a container caught running between crash back-offs still counts as crashing', () => {
    const d = deployment('crash', { replicas: 1, status: { replicas: 1, updatedReplicas: 1, availableReplicas: 0 } });
    const rs = replicaSet(d);
    const p = pod('crash-abc-1', rs, { phase: 'Running', containerStatuses: [container({ restartCount: 2, state: { running: {} }, lastState: { terminated: { exitCode: 1, reason: 'Error' } } })] });
    assert.equal(healthOf(d, [rs, p])?.reason, 'CrashLoopBackOff');
  });

  it('an image that cannot be pulled makes it Degraded with the pull reason', () => {
    const d = deployment('web', { replicas: 1, status: { replicas: 1, updatedReplicas: 1, availableReplicas: 0 } });
    const rs = replicaSet(d);
    const p = pod('web-abc-1', rs, { phase: 'Pending', containerStatuses: [container({ state: { waiting: { reason: 'ImagePullBackOff', message: 'Back-off pulling image "nope:1"' } } })] });
    assert.deepEqual([healthOf(d, [rs, p])?.status, healthOf(d, [rs, p])?.reason], ['Degraded', 'ImagePullBackOff']);
  });

  it('an unschedulable pod keeps it Progressing with the scheduler\'s message', () => {
    const d = deployment('big', { replicas: 1, status: { replicas: 1, updatedReplicas: 1, availableReplicas: 0 } });
    const rs = replicaSet(d);
    const p = pod('big-abc-1', rs, { phase: 'Pending', conditions: [cond('PodScheduled', 'False', 'Unschedulable', '0/1 nodes are available: 1 Insufficient cpu.')] });
    const h = healthOf(d, [rs, p]);
    assert.deepEqual([h?.status, h?.reason], ['Progressing', 'Unschedulable']);
    assert.match(h?.message ?? '', /big-abc-1 cannot be scheduled: 0\/1 nodes are available: 1 Insufficient cpu/);
  });

  it('a paused Deployment is Suspended; one whose new generation is not observed yet is Progressing', () => {
    assert.equal(healthOf(deployment('web', { paused: true }))?.status, 'Suspended');
    assert.equal(healthOf(deployment('web', { generation: 2, status: { replicas: 4, updatedReplicas: 4, availableReplicas: 4 } }))?.status, 'Progressing');
  });
});

describe('health: other kinds', () => {
  const job = (conditions: Condition[], extra: Partial<Job['spec']> = {}): Job => ({
    apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'once', namespace: 'default', uid: 'j' },
    spec: { template: { spec: { containers: [{ name: 'c', image: 'busybox' }] } }, ...extra }, status: { conditions },
  });
  const cases: Array<[string, KubeObject, string, string?]> = [
    ['a failed Job is Degraded', job([cond('Failed', 'True', 'BackoffLimitExceeded', 'Job has reached the specified backoff limit')]), 'Degraded', 'BackoffLimitExceeded'],
    ['a complete Job is Healthy', job([cond('Complete', 'True')]), 'Healthy'],
    ['a running Job is Progressing', job([]), 'Progressing'],
    ['a suspended Job is Suspended', job([], { suspend: true }), 'Suspended'],
    ['a StatefulSet with pods not ready is Progressing', { apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 'db', generation: 1 }, spec: { replicas: 3 }, status: { observedGeneration: 1, readyReplicas: 1 } } as KubeObject, 'Progressing', 'PodsNotReady'],
    ['a StatefulSet mid rolling update is Progressing', { apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 'db', generation: 1 }, spec: { replicas: 1 }, status: { observedGeneration: 1, readyReplicas: 1, currentRevision: 'db-1', updateRevision: 'db-2' } } as KubeObject, 'Progressing', 'RolloutInProgress'],
    ['a DaemonSet with pods not yet available is Progressing', { apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: { name: 'agent', generation: 1 }, spec: {}, status: { observedGeneration: 1, desiredNumberScheduled: 2, updatedNumberScheduled: 2, numberAvailable: 1 } } as KubeObject, 'Progressing', 'PodsNotAvailable'],
    ['a DaemonSet on every node is Healthy', { apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: { name: 'agent', generation: 1 }, spec: {}, status: { observedGeneration: 1, desiredNumberScheduled: 2, updatedNumberScheduled: 2, numberAvailable: 2 } } as KubeObject, 'Healthy'],
    ['a ReplicaSet short of available pods is Progressing', { apiVersion: 'apps/v1', kind: 'ReplicaSet', metadata: { name: 'rs', generation: 1 }, spec: { replicas: 2 }, status: { observedGeneration: 1, availableReplicas: 1 } } as KubeObject, 'Progressing'],
    ['a Service of type ClusterIP is Healthy', { apiVersion: 'v1', kind: 'Service', metadata: { name: 's' }, spec: {} } as KubeObject, 'Healthy'],
    ['a LoadBalancer Service without an address is Progressing', { apiVersion: 'v1', kind: 'Service', metadata: { name: 's' }, spec: { type: 'LoadBalancer' } } as KubeObject, 'Progressing'],
    ['an Ingress with an address is Healthy', { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name: 'i' }, spec: {}, status: { loadBalancer: { ingress: [{ ip: '127.0.0.1' }] } } } as KubeObject, 'Healthy'],
    ['a Succeeded pod is Healthy', { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [] }, status: { phase: 'Succeeded' } } as KubeObject, 'Healthy'],
    ['a Failed pod is Degraded', { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [] }, status: { phase: 'Failed' } } as KubeObject, 'Degraded'],
    ['a new HorizontalPodAutoscaler is Progressing', { apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', metadata: { name: 'h' }, spec: {} } as KubeObject, 'Progressing', 'WaitingToAutoscale'],
    ['a HorizontalPodAutoscaler without metrics is Degraded', { apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', metadata: { name: 'h' }, spec: {}, status: { conditions: [cond('AbleToScale', 'True', 'SucceededGetScale'), cond('ScalingActive', 'False', 'FailedGetResourceMetric', 'the HPA was unable to compute the replica count')] } } as KubeObject, 'Degraded', 'FailedGetResourceMetric'],
    ['a HorizontalPodAutoscaler within its range is Healthy', { apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', metadata: { name: 'h' }, spec: {}, status: { conditions: [cond('AbleToScale', 'True', 'ReadyForNewScale'), cond('ScalingActive', 'True', 'ValidMetricFound'), cond('ScalingLimited', 'False', 'DesiredWithinRange')] } } as KubeObject, 'Healthy'],
    ['a suspended CronJob is Suspended', { apiVersion: 'batch/v1', kind: 'CronJob', metadata: { name: 'c' }, spec: { schedule: '* * * * *', suspend: true, jobTemplate: { spec: {} } } } as KubeObject, 'Suspended'],
  ];
  for (const [name, obj, status, reason] of cases) {
    it(name, () => {
      const h = healthOf(obj);
      assert.equal(h?.status, status, h?.message);
      if (reason) assert.equal(h?.reason, reason);
    });
  }

  it('a ConfigMap has no health check', () => {
    assert.equal(healthOf({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' } }), undefined);
  });
});

describe('health: the app', () => {
  const sync = (reason: string, extra: Partial<NonNullable<SyncObject['status']>> = {}): SyncObject => ({
    apiVersion: 'gantry.dev/v1', kind: 'Sync', metadata: { name: 'default' }, spec: { repo: 'r' },
    status: { lastAppliedRevision: 'abcdef1234', conditions: [cond('Ready', reason === 'Applied' ? 'True' : 'False', reason, `${reason} message`)], ...extra },
  });
  const healthyWeb = deployment('web', { status: { replicas: 4, updatedReplicas: 4, availableReplicas: 4 } });

  it('is as healthy as its worst object, and says which object and why', () => {
    const crash = deployment('crash', { replicas: 1, status: { replicas: 1, updatedReplicas: 1, availableReplicas: 0 } });
    const rs = replicaSet(crash);
    const p = pod('crash-abc-1', rs, { phase: 'Running', containerStatuses: [container({ state: { waiting: { reason: 'CrashLoopBackOff' } } })] });
    const app = assessApp({ sync: sync('Applied'), objects: [healthyWeb, crash, rs, p] });
    assert.equal(app.sync.status, 'Synced');
    assert.equal(app.health.status, 'Degraded');
    assert.match(app.health.message ?? '', /^Deployment default\/crash: pod crash-abc-1/);
    assert.deepEqual(app.counts, { Healthy: 1, Degraded: 1 });
    assert.deepEqual(app.objects.map((o) => o.key), ['Deployment/default/crash', 'Deployment/default/web'], 'only declared objects are listed');
    assert.equal(app.namespaces.default?.health.status, 'Degraded');
    assert.equal(healthExitCode(app), 2);
  });

  it('healthy and synced exits 0; progressing exits 3', () => {
    assert.equal(healthExitCode(assessApp({ sync: sync('Applied'), objects: [healthyWeb] })), 0);
    const rolling = deployment('web', { status: { replicas: 4, updatedReplicas: 2, availableReplicas: 2 } });
    assert.equal(healthExitCode(assessApp({ sync: sync('Applied'), objects: [rolling] })), 3);
  });

  it('a rejected revision marks the objects it names Rejected and the app Rejected (exit 2)', () => {
    const app = assessApp({
      sync: sync('ValidationFailed', { issues: [{ file: 'web.yaml', line: 3, object: 'Deployment/default/web', message: 'spec.replicas must be an integer' }] }),
      objects: [healthyWeb],
    });
    assert.equal(app.sync.status, 'Rejected');
    assert.equal(app.objects[0]!.sync.status, 'Rejected');
    assert.match(app.objects[0]!.sync.message ?? '', /spec\.replicas/);
    assert.equal(healthExitCode(app), 2);
  });

  it('a failed apply leaves what it meant to write OutOfSync, and an object never created Missing', () => {
    const app = assessApp({ sync: sync('ApplyFailed', { outOfSync: ['Deployment/default/web', 'ConfigMap/default/new'] }), objects: [healthyWeb] });
    assert.equal(app.sync.status, 'OutOfSync');
    const byKey = Object.fromEntries(app.objects.map((o) => [o.key, [o.sync.status, o.health?.status]]));
    assert.deepEqual(byKey, { 'ConfigMap/default/new': ['OutOfSync', 'Missing'], 'Deployment/default/web': ['OutOfSync', 'Healthy'] });
    assert.equal(app.health.status, 'Missing');
    assert.equal(healthExitCode(app), 3);
  });
});

describe('health: a crash loop seen at any moment of its cycle', () => {
  const d = deployment('crash', { replicas: 1, status: { replicas: 1, updatedReplicas: 1, availableReplicas: 0 } });
  const rs = replicaSet(d);
  const moments: Array<[string, ContainerStatus]> = [
    ['waiting in CrashLoopBackOff', container({ restartCount: 3, state: { waiting: { reason: 'CrashLoopBackOff' } }, lastState: { terminated: { exitCode: 1 } } })],
    ['just exited, before the back-off is decided', container({ restartCount: 3, state: { terminated: { exitCode: 1 } } })],
    ['the first exit, never restarted yet', container({ restartCount: 0, state: { terminated: { exitCode: 1 } } })],
    ['just started again, its last exit not reported', container({ restartCount: 4, state: { running: {} } })],
  ];
  for (const [moment, c] of moments) {
    it(`is Degraded (CrashLoopBackOff) when the container is ${moment}`, () => {
      const h = healthOf(d, [rs, pod('crash-abc-1', rs, { phase: 'Running', containerStatuses: [c] })]);
      assert.deepEqual([h?.status, h?.reason], ['Degraded', 'CrashLoopBackOff'], h?.message);
    });
  }
});

describe('health: a pod Ready for a moment between two crashes', () => {
  const now = Date.parse('2026-12-01T10:00:00Z');
  const readyPod = (owner: KubeObject, startedSecondsAgo: number, restartCount: number): Pod => pod('crash-abc-1', owner, {
    phase: 'Running', conditions: [cond('Ready', 'True')],
    containerStatuses: [container({ ready: true, restartCount, state: { running: { startedAt: new Date(now - startedSecondsAgo * 1000).toISOString() } } })],
  });

  it('a Deployment whose counts look complete but whose pod restarted 2 s ago is Degraded', () => {
    const d = deployment('crash', { replicas: 1, status: { replicas: 1, updatedReplicas: 1, availableReplicas: 1 } });
    const rs = replicaSet(d);
    const h = objectHealth(d, relatedFrom([d, rs, readyPod(rs, 2, 7)], now));
    assert.deepEqual([h?.status, h?.reason], ['Degraded', 'CrashLoopBackOff']);
    assert.match(h?.message ?? '', /pod crash-abc-1: container main restarted 2s ago, restarted 7 times/);
  });

  it('a pod that restarted once and has run for a minute since is Healthy', () => {
    const d = deployment('web', { replicas: 1, status: { replicas: 1, updatedReplicas: 1, availableReplicas: 1 } });
    const rs = replicaSet(d);
    assert.equal(objectHealth(d, relatedFrom([d, rs, readyPod(rs, 60, 1)], now))?.status, 'Healthy');
  });
});
