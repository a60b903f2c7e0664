import assert from 'node:assert/strict';
import { makePlan, markDesired } from '../../src/diff/plan.js';
import { planToJson, renderPlan } from '../../src/diff/render.js';
import type { KubeObject } from '../../src/model/types.js';
import type { DesiredObject } from '../../src/sync/types.js';

let line = 0;
function declared(object: KubeObject): DesiredObject {
  line += 10;
  return { object, source: { file: 'shop/web.yaml', line, document: 0 } };
}

const workload = (kind: 'Deployment' | 'StatefulSet' | 'ReplicaSet', name: string, replicas?: number, image = 'nginx:1.25'): KubeObject => ({
  apiVersion: 'apps/v1', kind, metadata: { name, namespace: 'shop' },
  spec: {
    ...(replicas === undefined ? {} : { replicas }),
    selector: { matchLabels: { app: name } },
    template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'c', image }] } },
  },
});

const hpa = (name: string, target: { kind: string; name: string; apiVersion?: string }): KubeObject => ({
  apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', metadata: { name, namespace: 'shop' },
  spec: { scaleTargetRef: { apiVersion: 'apps/v1', ...target }, minReplicas: 1, maxReplicas: 10 },
});

let uid = 0;
/** The applied object as stored, with the replica count an autoscaler (or anyone) gave it since. */
function live(object: KubeObject, replicas?: number): KubeObject {
  const obj = JSON.parse(JSON.stringify(markDesired(declared(object)))) as KubeObject;
  Object.assign(obj.metadata, { uid: `uid-${++uid}`, resourceVersion: String(100 + uid) });
  if (replicas !== undefined) (obj.spec as { replicas: number }).replicas = replicas;
  return obj;
}

const replicas = (o: KubeObject | undefined): unknown => (o?.spec as { replicas?: number } | undefined)?.replicas;

describe('diff/autoscaled: an autoscaler owns its target\'s replicas', () => {
  const cases: { name: string; kind: 'Deployment' | 'StatefulSet' | 'ReplicaSet'; manifest?: number; live: number }[] = [
    { name: 'a Deployment whose manifest says 2 while the autoscaler chose 5', kind: 'Deployment', manifest: 2, live: 5 },
    { name: 'a StatefulSet scaled down below its manifest', kind: 'StatefulSet', manifest: 4, live: 1 },
    { name: 'a ReplicaSet', kind: 'ReplicaSet', manifest: 3, live: 7 },
    { name: 'a Deployment whose manifest leaves replicas out', kind: 'Deployment', manifest: undefined, live: 6 },
  ];
  for (const c of cases) {
    it(`makePlan() keeps the live replicas of ${c.name}, and shows no replicas change`, () => {
      const w = workload(c.kind, 'web', c.manifest);
      const plan = makePlan({ objects: [declared(w), declared(hpa('web', { kind: c.kind, name: 'web' }))] }, [live(w, c.live)]);
      const entry = plan.unchanged.find((e) => e.kind === c.kind);
      assert.ok(entry, `expected the ${c.kind} unchanged, got ${JSON.stringify(plan.update.map((e) => e.patch))}`);
      assert.equal(plan.update.length, 0);
    });
  }

  it('makePlan() without the autoscaler resets replicas to the manifest, as before', () => {
    const w = workload('Deployment', 'web', 2);
    const plan = makePlan({ objects: [declared(w)] }, [live(w, 5)]);
    assert.deepEqual(plan.update[0]?.patch, [{ op: 'replace', path: '/spec/replicas', value: 2 }]);
    assert.equal(plan.update[0]?.notes, undefined);
  });

  it('makePlan() writes an image change with the live replicas, noting who owns them', () => {
    const before = workload('Deployment', 'web', 2);
    const plan = makePlan({ objects: [declared(workload('Deployment', 'web', 2, 'nginx:1.27')), declared(hpa('web-hpa', { kind: 'Deployment', name: 'web' }))] }, [live(before, 5)]);
    const e = plan.update[0]!;
    assert.deepEqual(e.patch, [{ op: 'replace', path: '/spec/template/spec/containers/0/image', value: 'nginx:1.27' }]);
    assert.equal(replicas(e.desired), 5, 'the object written keeps the autoscaler\'s count');
    assert.deepEqual(e.notes, ['replicas managed by HorizontalPodAutoscaler shop/web-hpa: live 5 kept, the manifest\'s 2 not applied']);
  });

  it('makePlan() creates a new autoscaled workload with the manifest\'s count, or the default 1', () => {
    const plan = makePlan({ objects: [declared(workload('Deployment', 'web', 3)), declared(workload('Deployment', 'api')), declared(hpa('web', { kind: 'Deployment', name: 'web' })), declared(hpa('api', { kind: 'Deployment', name: 'api' }))] }, []);
    const byName = new Map(plan.create.filter((e) => e.kind === 'Deployment').map((e) => [e.name, e]));
    assert.equal(replicas(byName.get('web')!.desired), 3);
    assert.equal(replicas(byName.get('api')!.desired), 1);
    assert.deepEqual(byName.get('web')!.notes, ['replicas managed by HorizontalPodAutoscaler shop/web (starts at the manifest\'s 3)']);
    assert.deepEqual(byName.get('api')!.notes, ['replicas managed by HorizontalPodAutoscaler shop/api']);
  });

  it('makePlan() leaves workloads alone that no autoscaler of the same namespace, kind and group targets', () => {
    const w = workload('Deployment', 'web', 2);
    const other: KubeObject = { ...hpa('web', { kind: 'Deployment', name: 'web' }), metadata: { name: 'web', namespace: 'other' } };
    const wrongKind = hpa('web-sts', { kind: 'StatefulSet', name: 'web' });
    const wrongGroup = hpa('web-ext', { kind: 'Deployment', name: 'web', apiVersion: 'extensions/v1beta1' });
    const plan = makePlan({ objects: [declared(w), declared(other), declared(wrongKind), declared(wrongGroup)] }, [live(w, 5)]);
    assert.deepEqual(plan.update.find((e) => e.kind === 'Deployment')?.patch, [{ op: 'replace', path: '/spec/replicas', value: 2 }]);
  });

  it('makePlan() honours an autoscaling/v1 autoscaler the same way', () => {
    const w = workload('Deployment', 'web', 2);
    const v1: KubeObject = { apiVersion: 'autoscaling/v1', kind: 'HorizontalPodAutoscaler', metadata: { name: 'web', namespace: 'shop' }, spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' }, maxReplicas: 4, targetCPUUtilizationPercentage: 70 } };
    const plan = makePlan({ objects: [declared(w), declared(v1)] }, [live(w, 4)]);
    assert.ok(plan.unchanged.some((e) => e.kind === 'Deployment'));
    const created = plan.create.find((e) => e.kind === 'HorizontalPodAutoscaler')!;
    assert.equal(created.desired?.apiVersion, 'autoscaling/v2', 'stored in the served version');
    assert.deepEqual((created.desired?.spec as { metrics: unknown }).metrics, [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 70 } } }]);
  });

  it('renderPlan() says who owns the replicas, on a change and for an unchanged workload whose manifest asks for another count', () => {
    const w = workload('Deployment', 'web', 2);
    const changed = makePlan({ objects: [declared(workload('Deployment', 'web', 2, 'nginx:1.27')), declared(hpa('web', { kind: 'Deployment', name: 'web' }))] }, [live(w, 5)]);
    assert.match(renderPlan(changed, { format: 'text' }), /~ update Deployment shop\/web \(shop\/web\.yaml:\d+\)\n {4}note: replicas managed by HorizontalPodAutoscaler shop\/web: live 5 kept, the manifest's 2 not applied\n/);
    assert.deepEqual(planToJson(changed).changes.find((c) => c.kind === 'Deployment')?.notes, ['replicas managed by HorizontalPodAutoscaler shop/web: live 5 kept, the manifest\'s 2 not applied']);

    const onlyReplicas = makePlan({ objects: [declared(workload('Deployment', 'web', 3)), declared(hpa('web', { kind: 'Deployment', name: 'web' }))] }, [live(w, 5), live(hpa('web', { kind: 'Deployment', name: 'web' }))]);
    const text = renderPlan(onlyReplicas, { format: 'text' });
    assert.match(text, /No changes: the live state matches the desired revision\.\n\nNotes on unchanged objects:\n {4}Deployment shop\/web: replicas managed by HorizontalPodAutoscaler shop\/web: live 5 kept, the manifest's 3 not applied\n/);
    assert.match(renderPlan(onlyReplicas, { format: 'markdown' }), /- `Deployment shop\/web`: replicas managed by HorizontalPodAutoscaler shop\/web: live 5 kept, the manifest's 3 not applied/);
    assert.deepEqual(planToJson(onlyReplicas).notes, [{ key: 'Deployment/shop/web', kind: 'Deployment', namespace: 'shop', name: 'web', notes: ['replicas managed by HorizontalPodAutoscaler shop/web: live 5 kept, the manifest\'s 3 not applied'] }]);

    const agreeing = makePlan({ objects: [declared(workload('Deployment', 'web', 5)), declared(hpa('web', { kind: 'Deployment', name: 'web' }))] }, [live(w, 5), live(hpa('web', { kind: 'Deployment', name: 'web' }))]);
    assert.doesNotMatch(renderPlan(agreeing, { format: 'text' }), /Notes/);
    assert.equal(planToJson(agreeing).notes, undefined);
  });
});
