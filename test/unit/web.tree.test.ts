import assert from 'node:assert/strict';
import type { KubeObject } from '../../src/model/types.js';
import { appOf, buildTrees, flatten, groupApps } from '../../web/src/lib/tree.js';

function obj(kind: string, name: string, extra: { uid?: string; owner?: { kind: string; name: string; uid: string }; source?: string; labels?: Record<string, string>; spec?: unknown; status?: unknown; revision?: string } = {}): KubeObject {
  return {
    apiVersion: 'v1', kind,
    metadata: {
      name, namespace: 'default', uid: extra.uid ?? `uid-${kind}-${name}`,
      ...(extra.owner ? { ownerReferences: [{ apiVersion: 'v1', kind: extra.owner.kind, name: extra.owner.name, uid: extra.owner.uid, controller: true }] } : {}),
      ...(extra.labels ? { labels: extra.labels } : {}),
      annotations: { ...(extra.source ? { 'gantry.dev/source-path': extra.source } : {}), ...(extra.revision ? { 'deployment.kubernetes.io/revision': extra.revision } : {}) },
    },
    spec: extra.spec ?? {},
    ...(extra.status ? { status: extra.status } : {}),
  };
}

const readyPod = (name: string, rs: string) => obj('Pod', name, { owner: { kind: 'ReplicaSet', name: rs, uid: `uid-ReplicaSet-${rs}` }, labels: { app: 'web' }, spec: { containers: [] }, status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] } });
const pendingPod = (name: string, rs: string) => obj('Pod', name, { owner: { kind: 'ReplicaSet', name: rs, uid: `uid-ReplicaSet-${rs}` }, labels: { app: 'web' }, spec: { containers: [] }, status: { phase: 'Pending' } });

/** A Deployment mid-rollout: revision 2 has one pending pod, revision 1 still two ready ones. */
function rollout(): KubeObject[] {
  return [
    obj('Deployment', 'web', { source: 'web/deployment.yaml:1', spec: { replicas: 2, selector: {}, template: {} }, status: { replicas: 3, updatedReplicas: 1, readyReplicas: 2, availableReplicas: 2 } }),
    obj('ReplicaSet', 'web-1', { owner: { kind: 'Deployment', name: 'web', uid: 'uid-Deployment-web' }, revision: '1', spec: { replicas: 2 }, status: { replicas: 2, readyReplicas: 2 } }),
    obj('ReplicaSet', 'web-2', { owner: { kind: 'Deployment', name: 'web', uid: 'uid-Deployment-web' }, revision: '2', spec: { replicas: 1 }, status: { replicas: 1, readyReplicas: 0 } }),
    obj('ReplicaSet', 'web-0', { owner: { kind: 'Deployment', name: 'web', uid: 'uid-Deployment-web' }, revision: '0', spec: { replicas: 0 }, status: { replicas: 0 } }),
    readyPod('web-1-a', 'web-1'), readyPod('web-1-b', 'web-1'), pendingPod('web-2-a', 'web-2'),
    obj('Service', 'web', { source: 'web/service.yaml:1', spec: { selector: { app: 'web' } } }),
    obj('ConfigMap', 'web-content', { source: 'web/configmap.yaml:1' }),
    obj('Job', 'hello', { source: 'jobs/hello.yaml:1', spec: { template: {} }, status: { conditions: [{ type: 'Complete', status: 'True' }] } }),
  ];
}

describe('web dashboard trees (a namespace\'s objects as Argo CD draws an app)', () => {
  it('hangs ReplicaSets under their Deployment and Pods under their ReplicaSet, newest revision first', () => {
    const roots = buildTrees(rollout());
    const dep = roots.find((r) => r.obj.kind === 'Deployment')!;
    assert.deepEqual(dep.children.map((c) => c.obj.metadata.name), ['web-2', 'web-1', 'web-0']);
    assert.deepEqual(dep.children[1]!.children.map((c) => c.obj.metadata.name), ['web-1-a', 'web-1-b']);
    assert.deepEqual(dep.children[0]!.children.map((c) => c.obj.metadata.name), ['web-2-a']);
  });

  it('rolls a pending pod\'s health up to its Deployment, and marks an old ReplicaSet without pods idle', () => {
    const dep = buildTrees(rollout()).find((r) => r.obj.kind === 'Deployment')!;
    assert.equal(dep.children[0]!.children[0]!.health.status, 'Progressing');
    assert.equal(dep.rollup, 'Progressing');
    assert.equal(dep.children[2]!.idle, true);
    assert.equal(dep.children[1]!.idle, false);
  });

  it('lists workloads first, then Services and config, and notes how many pods behind a Service are ready', () => {
    const roots = buildTrees(rollout());
    assert.deepEqual(roots.map((r) => `${r.obj.kind}/${r.obj.metadata.name}`), ['Deployment/web', 'Job/hello', 'Service/web', 'ConfigMap/web-content']);
    assert.equal(roots[2]!.note, '2/3 pods ready behind it');
  });

  it('keeps an object whose owner is not among them as a root', () => {
    const roots = buildTrees([readyPod('orphan', 'gone-rs')]);
    assert.deepEqual(roots.map((r) => r.obj.metadata.name), ['orphan']);
  });

  it('groups trees into apps by the repo directory that declared them, then by the app label', () => {
    assert.equal(appOf(obj('Deployment', 'web', { source: 'web/deployment.yaml:12' })), 'web');
    assert.equal(appOf(obj('Deployment', 'x', { source: 'top.yaml:1' })), 'top');
    assert.equal(appOf(obj('Pod', 'p', { labels: { app: 'shop' } })), 'shop');
    assert.equal(appOf(obj('Pod', 'p')), '(other)');
    const apps = groupApps(buildTrees(rollout()));
    assert.deepEqual(apps.map((a) => [a.name, a.health]), [['jobs', 'Healthy'], ['web', 'Progressing']]);
    assert.deepEqual(apps[1]!.roots.map((r) => r.obj.kind), ['Deployment', 'Service', 'ConfigMap']);
  });

  it('flattens the trees depth first, the order the keyboard moves through rows', () => {
    const names = flatten(buildTrees(rollout())).map((n) => n.obj.metadata.name);
    assert.deepEqual(names.slice(0, 7), ['web', 'web-2', 'web-2-a', 'web-1', 'web-1-a', 'web-1-b', 'web-0']);
  });
});
