import assert from 'node:assert/strict';
import { makePlan, markDesired } from '../../src/diff/plan.js';
import { planIsEmpty } from '../../src/diff/types.js';
import { MANAGED_BY, SOURCE_PATH } from '../../src/model/annotations.js';
import { CONFIG_HASH_ANNOTATION } from '../../src/model/config-hash.js';
import { admitPod, isTokenVolume } from '../../src/model/serviceaccount.js';
import type { KubeObject, Pod } from '../../src/model/types.js';
import type { DesiredObject } from '../../src/sync/types.js';

let line = 0;
function declared(object: KubeObject, file = 'deploy/app.yaml'): DesiredObject {
  line += 10;
  return { object, source: { file, line, document: 0 } };
}

const ns = (name: string): KubeObject => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
const cm = (name: string, data: Record<string, string> = { k: 'v' }): KubeObject => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'shop' }, data });
const secret = (name: string): KubeObject => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: 'shop' }, stringData: { password: 'pw' } });
const svc = (name: string): KubeObject => ({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'shop' }, spec: { selector: { app: name }, ports: [{ port: 80 }] } });
const deploy = (name: string, replicas = 2): KubeObject => ({
  apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name, namespace: 'shop' },
  spec: { replicas, selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'c', image: 'nginx:1.25' }] } } },
});
const job = (name: string): KubeObject => ({
  apiVersion: 'batch/v1', kind: 'Job', metadata: { name, namespace: 'shop' },
  spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'busybox:1' }] } } },
});

let uid = 0;
/** What the store and the controllers make of an applied object. */
function stored(d: DesiredObject): KubeObject {
  const obj = JSON.parse(JSON.stringify(markDesired(d))) as KubeObject;
  uid++;
  Object.assign(obj.metadata, { uid: `uid-${uid}`, resourceVersion: String(100 + uid), generation: 1, creationTimestamp: '2026-11-22T10:00:00Z' });
  if (obj.kind === 'Deployment') {
    obj.status = { observedGeneration: 1, replicas: 2, readyReplicas: 2 };
    obj.metadata.annotations = { ...obj.metadata.annotations, 'deployment.kubernetes.io/revision': '1' };
  }
  if (obj.kind === 'Service') Object.assign(obj.spec as object, { clusterIP: '10.96.0.10', clusterIPs: ['10.96.0.10'] });
  if (obj.kind === 'Namespace') obj.status = { phase: 'Active' };
  return obj;
}

describe('diff/plan', () => {
  it('makePlan() never writes the status a manifest carries (kubectl get -o yaml output): not on create, not on update', () => {
    const exported = { ...deploy('web'), status: { replicas: 2, readyReplicas: 2, availableReplicas: 2 } } as KubeObject;
    const created = makePlan({ objects: [declared(exported)] }, []).create[0]!;
    assert.equal(created.desired!.status, undefined);
    const live = stored(declared(deploy('web', 3)));
    const updated = makePlan({ objects: [declared(exported)] }, [live]).update[0]!;
    assert.deepEqual(updated.desired!.status, live.status, 'the live status stays');
  });

  it('makePlan() creates what is declared and not live, with gantry marks', () => {
    const d = declared(deploy('web'));
    const plan = makePlan({ objects: [d] }, []);
    assert.equal(plan.create.length, 1);
    const e = plan.create[0]!;
    assert.deepEqual([e.action, e.key, e.kind, e.namespace, e.name], ['create', 'Deployment/shop/web', 'Deployment', 'shop', 'web']);
    assert.equal(e.desired?.metadata.annotations?.[MANAGED_BY], 'gantry');
    assert.equal(e.desired?.metadata.annotations?.[SOURCE_PATH], `deploy/app.yaml:${d.source.line}`);
    assert.equal((e.desired?.spec as { revisionHistoryLimit?: number }).revisionHistoryLimit, 10, 'defaults applied');
    assert.deepEqual(e.source, d.source);
  });

  it('makePlan() reports a replica change as an update, with the live resourceVersion to write with', () => {
    const before = declared(deploy('web', 2));
    const live = stored(before);
    const plan = makePlan({ objects: [{ ...before, object: deploy('web', 3) }] }, [live]);
    assert.equal(plan.update.length, 1);
    const e = plan.update[0]!;
    assert.deepEqual(e.patch, [{ op: 'replace', path: '/spec/replicas', value: 3 }]);
    assert.equal(e.desired?.metadata.resourceVersion, live.metadata.resourceVersion);
    assert.deepEqual(e.desired?.status, live.status, 'status carried over');
    assert.equal(e.desired?.metadata.annotations?.['deployment.kubernetes.io/revision'], '1', 'controller annotation carried over');
    assert.equal(e.live, live);
  });

  it('an update of a Service keeps its allocated clusterIP', () => {
    const d = declared(svc('web'));
    const live = stored(d);
    const changed = { ...d, object: { ...svc('web'), spec: { selector: { app: 'other' }, ports: [{ port: 80 }] } } };
    const e = makePlan({ objects: [changed] }, [live]).update[0]!;
    assert.equal((e.desired?.spec as { clusterIP?: string }).clusterIP, '10.96.0.10');
    assert.deepEqual(e.patch, [{ op: 'replace', path: '/spec/selector/app', value: 'other' }]);
  });

  it('a declared Pod is unchanged once admitted (account name, token volume and mounts), and an update keeps them', () => {
    const bare: KubeObject = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'debug', namespace: 'shop' }, spec: { containers: [{ name: 'c', image: 'busybox:1', volumeMounts: [{ name: 'data', mountPath: '/data' }] }], volumes: [{ name: 'data', emptyDir: {} }] } };
    const d = declared(bare);
    const live = stored(d);
    Object.assign(live, { spec: admitPod(live as Pod, undefined).spec });
    assert.ok(planIsEmpty(makePlan({ objects: [d] }, [live])), 'what admission added is not a change');
    const relabelled = { ...d, object: { ...bare, metadata: { ...bare.metadata, labels: { app: 'debug' } } } };
    const e = makePlan({ objects: [relabelled] }, [live]).update[0]!;
    assert.deepEqual(e.patch, [{ op: 'add', path: '/metadata/labels', value: { app: 'debug' } }]);
    const spec = (e.desired as Pod).spec;
    assert.equal(spec.serviceAccountName, 'default');
    assert.equal(spec.volumes?.filter(isTokenVolume).length, 1);
    assert.deepEqual(spec.containers[0]!.volumeMounts?.map((m) => m.name), ['data', spec.volumes!.find(isTokenVolume)!.name]);
  });

  it('a declared Pod that names its account diffs on nothing admission adds, and a change of account is a change', () => {
    const named: KubeObject = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'debug', namespace: 'shop' }, spec: { serviceAccountName: 'reader', containers: [{ name: 'c', image: 'busybox:1' }] } };
    const d = declared(named);
    const live = stored(d);
    Object.assign(live, { spec: admitPod(live as Pod, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'reader', namespace: 'shop' } }).spec });
    assert.ok(planIsEmpty(makePlan({ objects: [d] }, [live])));
    const other = { ...d, object: { ...named, spec: { ...(named.spec as object), serviceAccountName: 'writer' } } };
    assert.equal(makePlan({ objects: [other] }, [live]).update.length, 1);
  });

  it('an aggregated ClusterRole\'s rules are the aggregation controller\'s: filled live rules are no change, and an update keeps them', () => {
    const role: KubeObject = { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'monitoring' }, aggregationRule: { clusterRoleSelectors: [{ matchLabels: { 'example.com/aggregate-to-monitoring': 'true' } }] }, rules: [] };
    const d = declared(role);
    const live = stored(d);
    live.rules = [{ apiGroups: [''], resources: ['pods'], verbs: ['get'] }];
    assert.ok(planIsEmpty(makePlan({ objects: [d] }, [live])));
    const labelled = { ...d, object: { ...role, metadata: { name: 'monitoring', labels: { team: 'ops' } } } };
    const e = makePlan({ objects: [labelled] }, [live]).update[0]!;
    assert.deepEqual(e.desired?.rules, live.rules);
  });

  it('re-planning an applied revision yields no changes', () => {
    const objects = [declared(ns('shop')), declared(cm('cfg')), declared(secret('db')), declared(svc('web')), declared(deploy('web')), declared(job('migrate'))];
    const live = objects.map(stored);
    const plan = makePlan({ objects }, live);
    assert.ok(planIsEmpty(plan), JSON.stringify(plan.update.map((e) => [e.key, e.patch])));
    assert.equal(plan.unchanged.length, objects.length);
  });

  it('re-planning is unchanged when the same manifests are parsed again (no shared memo effects)', () => {
    const objects = [declared(deploy('web')), declared(svc('web'))];
    const live = objects.map(stored);
    makePlan({ objects }, live);
    const again = makePlan({ objects: objects.map((d) => ({ ...d, object: structuredClone(d.object) })) }, live);
    assert.ok(planIsEmpty(again));
  });

  it('moving an object to another line of the same file is not a change; to another file is', () => {
    const d = declared(cm('cfg'));
    const live = stored(d);
    const sameFile = makePlan({ objects: [{ ...d, source: { ...d.source, line: d.source.line + 5 } }] }, [live]);
    assert.ok(planIsEmpty(sameFile));
    const moved = makePlan({ objects: [{ ...d, source: { file: 'other.yaml', line: 1, document: 0 } }] }, [live]);
    assert.equal(moved.update.length, 1);
    assert.equal(moved.update[0]?.desired?.metadata.annotations?.[SOURCE_PATH], 'other.yaml:1');
  });

  it('an object gantry did not apply is adopted by an update that adds the mark', () => {
    const d = declared(cm('cfg'));
    const live = stored(d);
    delete live.metadata.annotations;
    const plan = makePlan({ objects: [d] }, [live]);
    assert.equal(plan.update.length, 1);
    assert.ok(plan.update[0]!.patch!.some((op) => op.path === '/metadata/annotations/gantry.dev~1managed-by'));
  });

  describe('prune never touches an object gantry does not own', () => {
    const cases: [string, KubeObject, boolean][] = [
      ['a managed ConfigMap no longer declared', stored(declared(cm('old'))), true],
      ['an unmanaged ConfigMap made by hand', { ...cm('manual'), metadata: { name: 'manual', namespace: 'shop', uid: 'x' } }, false],
      ['a ReplicaSet made by the Deployment controller', { apiVersion: 'apps/v1', kind: 'ReplicaSet', metadata: { name: 'web-abc', namespace: 'shop', ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: 'u', controller: true }] }, spec: {} }, false],
      ['a Pod made by a ReplicaSet', { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web-abc-1', namespace: 'shop' }, spec: { containers: [] } }, false],
      ['a Node', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1' }, spec: {} }, false],
      ['an Event, even if marked', { apiVersion: 'v1', kind: 'Event', metadata: { name: 'web.1', namespace: 'shop', annotations: { [MANAGED_BY]: 'gantry' } } }, false],
      ['Endpoints the endpoints controller wrote', { apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'web', namespace: 'shop' } }, false],
      ['Endpoints declared by hand and no longer declared', { apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'db', namespace: 'shop', annotations: { [MANAGED_BY]: 'gantry' } } }, true],
      ['a managed object already being deleted', { ...stored(declared(cm('going'))), metadata: { ...stored(declared(cm('going'))).metadata, deletionTimestamp: '2026-11-22T10:00:00Z' } }, false],
    ];
    for (const [what, live, pruned] of cases) {
      it(`${pruned ? 'prunes' : 'keeps'} ${what}`, () => {
        const plan = makePlan({ objects: [declared(deploy('web'))] }, [live]);
        assert.equal(plan.prune.length, pruned ? 1 : 0);
        if (pruned) assert.equal(plan.prune[0]!.live, live);
      });
    }
    it('prunes nothing with prune: false', () => {
      const plan = makePlan({ objects: [] }, [stored(declared(cm('old')))], { prune: false });
      assert.equal(plan.prune.length, 0);
    });
  });

  it('orders creates Namespaces, config, Services, workloads, then by key; prunes in reverse', () => {
    const objects = [declared(deploy('b')), declared(job('j')), declared(svc('web')), declared(deploy('a')), declared(secret('s')), declared(cm('c')), declared(ns('shop'))];
    const plan = makePlan({ objects }, []);
    assert.deepEqual(plan.create.map((e) => e.key), [
      'Namespace/shop', 'ConfigMap/shop/c', 'Secret/shop/s', 'Service/shop/web', 'Deployment/shop/a', 'Deployment/shop/b', 'Job/shop/j',
    ]);
    const prune = makePlan({ objects: [] }, objects.map(stored));
    assert.deepEqual(prune.prune.map((e) => e.key), [
      'Job/shop/j', 'Deployment/shop/b', 'Deployment/shop/a', 'Service/shop/web', 'Secret/shop/s', 'ConfigMap/shop/c', 'Namespace/shop',
    ]);
  });

  it('records the revision, from the options or the desired set', () => {
    assert.equal(makePlan({ objects: [] }, [], { revision: 'abc' }).revision, 'abc');
    assert.equal(makePlan({ objects: [], revision: { commit: 'def', ref: 'main' } }, []).revision, 'def');
  });

  it('never modifies the desired or live objects it is given', () => {
    const objects = [declared(deploy('web')), declared(secret('db'))];
    const live = [stored(declared(deploy('web', 5))), stored(declared(cm('old')))];
    const before = structuredClone({ objects, live });
    const plan = makePlan({ objects }, live);
    plan.update[0]!.desired!.metadata.labels = { changed: 'yes' };
    assert.deepEqual({ objects, live }, before);
  });
});

describe('diff/plan with fields generated after creation', () => {
  it('a Job whose selector and pod labels were generated re-plans as unchanged, and an update keeps them', () => {
    const d = declared(job('migrate'));
    const live = stored(d) as any;
    live.spec.selector = { matchLabels: { 'batch.kubernetes.io/controller-uid': 'u-1' } };
    live.spec.template.metadata = { labels: { 'batch.kubernetes.io/controller-uid': 'u-1', 'batch.kubernetes.io/job-name': 'migrate', 'controller-uid': 'u-1', 'job-name': 'migrate' } };
    assert.ok(planIsEmpty(makePlan({ objects: [d] }, [live])));
    const changed = { ...d, object: { ...job('migrate'), spec: { ...(job('migrate').spec as object), backoffLimit: 2 } } as KubeObject };
    const e = makePlan({ objects: [changed] }, [live]).update[0]!;
    assert.deepEqual(e.patch, [{ op: 'replace', path: '/spec/backoffLimit', value: 2 }]);
    assert.deepEqual((e.desired?.spec as any).selector, live.spec.selector);
    assert.equal((e.desired?.spec as any).template.metadata.labels['batch.kubernetes.io/controller-uid'], 'u-1');
  });

  it('a Pod bound by the scheduler re-plans as unchanged, and an update keeps its node', () => {
    const pod: KubeObject = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'shop' }, spec: { containers: [{ name: 'c', image: 'x:1' }] } };
    const d = declared(pod);
    const live = stored(d);
    (live.spec as { nodeName?: string }).nodeName = 'node-1';
    assert.ok(planIsEmpty(makePlan({ objects: [d] }, [live])));
    const changed = { ...d, object: { ...pod, metadata: { ...pod.metadata, labels: { a: 'b' } } } };
    assert.equal((makePlan({ objects: [changed] }, [live]).update[0]?.desired?.spec as { nodeName?: string }).nodeName, 'node-1');
  });
});

describe('makePlan: the config hash on workload templates', () => {
  const web = (image: string): KubeObject => {
    const d = deploy('web');
    const c = (d.spec as { template: { spec: { containers: Array<Record<string, unknown>> } } }).template.spec.containers[0]!;
    c.image = image;
    c.envFrom = [{ configMapRef: { name: 'page' } }];
    return d;
  };
  const hashOf = (o: KubeObject | undefined): string | undefined =>
    (o?.spec as { template?: { metadata?: { annotations?: Record<string, string> } } } | undefined)?.template?.metadata?.annotations?.[CONFIG_HASH_ANNOTATION];
  /** The objects a first sync of `objects` writes, as the store then holds them. */
  const applied = (objects: KubeObject[]): KubeObject[] =>
    makePlan({ objects: objects.map((o) => declared(o)) }, []).create.map((e) => ({ ...e.desired!, metadata: { ...e.desired!.metadata, uid: `u-${e.name}`, resourceVersion: '7' } }));

  it('stamps the digest of the referenced ConfigMap on the Deployment\'s pod template', () => {
    const plan = makePlan({ objects: [declared(cm('page')), declared(web('nginx:1'))] }, []);
    const d = plan.create.find((e) => e.kind === 'Deployment')!.desired;
    assert.match(hashOf(d) ?? '', /^[0-9a-f]{16}$/);
    const other = makePlan({ objects: [declared(cm('page', { k: 'other' })), declared(web('nginx:1'))] }, []);
    assert.notEqual(hashOf(other.create.find((e) => e.kind === 'Deployment')!.desired), hashOf(d));
  });

  it('a commit changing the image and the ConfigMap is one Deployment update carrying both', () => {
    const live = applied([cm('page'), web('nginx:1')]);
    const plan = makePlan({ objects: [declared(cm('page', { k: 'v2' })), declared(web('nginx:2'))] }, live);
    const update = plan.update.find((e) => e.kind === 'Deployment')!;
    assert.equal(plan.update.length, 2);
    assert.notEqual(hashOf(update.desired), hashOf(live.find((o) => o.kind === 'Deployment')));
    assert.equal((update.desired!.spec as { template: { spec: { containers: Array<{ image: string }> } } }).template.spec.containers[0]!.image, 'nginx:2');
  });

  it('a ConfigMap-only change updates the Deployments that use it, and only its hash', () => {
    const live = applied([cm('page'), web('nginx:1'), deploy('api')]);
    const plan = makePlan({ objects: [declared(cm('page', { k: 'v2' })), declared(web('nginx:1')), declared(deploy('api'))] }, live);
    assert.deepEqual(plan.update.map((e) => e.key), ['ConfigMap/shop/page', 'Deployment/shop/web']);
    const patch = plan.update.find((e) => e.kind === 'Deployment')!.patch!;
    assert.deepEqual(patch.map((op) => op.path), ['/spec/template/metadata/annotations/gantry.dev~1config-hash']);
  });

  it('a resync of the same revision is unchanged, and a label on the ConfigMap is not content', () => {
    const live = applied([cm('page'), web('nginx:1')]);
    assert.ok(planIsEmpty(makePlan({ objects: [declared(cm('page')), declared(web('nginx:1'))] }, live)));
    const labelled = cm('page');
    labelled.metadata.labels = { touched: 'yes' };
    const plan = makePlan({ objects: [declared(labelled), declared(web('nginx:1'))] }, live);
    assert.deepEqual(plan.update.map((e) => e.key), ['ConfigMap/shop/page']);
  });

  it('a ConfigMap the repo does not declare is digested from the live store', () => {
    const live = applied([cm('page', { k: 'live' })]);
    const plan = makePlan({ objects: [declared(web('nginx:1'))] }, live, { prune: false });
    const fromLive = hashOf(plan.create[0]!.desired);
    const declaredToo = makePlan({ objects: [declared(cm('page', { k: 'live' })), declared(web('nginx:1'))] }, []);
    assert.equal(fromLive, hashOf(declaredToo.create.find((e) => e.kind === 'Deployment')!.desired));
  });
});
