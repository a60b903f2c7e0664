import assert from 'node:assert/strict';
import { makePlan } from '../../src/diff/plan.js';
import { annotateRolls, podSpecConfigRefs } from '../../src/diff/rolls.js';
import type { KubeObject } from '../../src/model/types.js';
import type { DesiredObject } from '../../src/sync/types.js';

const workload = (kind: string, name: string, podSpec: object, namespace = 'default'): KubeObject => ({
  apiVersion: 'apps/v1', kind, metadata: { name, namespace },
  spec: { selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: podSpec } },
});
const config = (kind: 'ConfigMap' | 'Secret', name: string, value: string, namespace = 'default'): KubeObject =>
  ({ apiVersion: 'v1', kind, metadata: { name, namespace }, data: { k: kind === 'Secret' ? Buffer.from(value).toString('base64') : value } });
const declared = (objects: KubeObject[]): DesiredObject[] => objects.map((object, i) => ({ object, source: { file: `f${i}.yaml`, line: 1, document: 0 } }));
const c = (image = 'busybox', extra: object = {}): object => ({ name: 'c', image, ...extra });

describe('diff/rolls: which workloads a config change rolls', () => {
  it('finds references through volumes, projected volumes, env valueFrom and envFrom, in init containers too', () => {
    const refs = podSpecConfigRefs({
      volumes: [{ name: 'a', configMap: { name: 'vol-cm' } }, { name: 'b', secret: { secretName: 'vol-secret' } },
        { name: 'p', projected: { sources: [{ configMap: { name: 'proj-cm' } }, { secret: { name: 'proj-secret' } }] } }],
      initContainers: [c('busybox', { envFrom: [{ secretRef: { name: 'init-secret' } }] })],
      containers: [c('busybox', {
        env: [{ name: 'X', valueFrom: { configMapKeyRef: { name: 'env-cm', key: 'k' } } }, { name: 'Y', valueFrom: { secretKeyRef: { name: 'env-secret', key: 'k' } } }],
        envFrom: [{ configMapRef: { name: 'from-cm' } }],
      })],
    });
    assert.deepEqual([...refs].sort(), ['ConfigMap/env-cm', 'ConfigMap/from-cm', 'ConfigMap/proj-cm', 'ConfigMap/vol-cm',
      'Secret/env-secret', 'Secret/init-secret', 'Secret/proj-secret', 'Secret/vol-secret']);
  });

  it('marks a ConfigMap or Secret update with the Deployments, StatefulSets and DaemonSets of its namespace that use it', () => {
    const usesCm = { containers: [c('busybox', { envFrom: [{ configMapRef: { name: 'cfg' } }] })] };
    const usesSecret = { volumes: [{ name: 's', secret: { secretName: 'db' } }], containers: [c()] };
    const before = [config('ConfigMap', 'cfg', 'one'), config('Secret', 'db', 'pw1'), workload('Deployment', 'web', usesCm),
      workload('StatefulSet', 'pg', usesSecret), workload('DaemonSet', 'agent', usesCm), workload('Deployment', 'other', usesCm, 'elsewhere'),
      workload('Deployment', 'plain', { containers: [c()] })];
    const live = makePlan({ objects: declared(before) }, []).create.map((e) => e.desired!);
    const after = [config('ConfigMap', 'cfg', 'two'), config('Secret', 'db', 'pw2'), ...before.slice(2)];
    const plan = makePlan({ objects: declared(after) }, live);
    annotateRolls(plan);
    const byKey = Object.fromEntries(plan.update.filter((e) => e.rolls).map((e) => [e.key, e.rolls]));
    assert.deepEqual(byKey, {
      'ConfigMap/default/cfg': ['DaemonSet default/agent', 'Deployment default/web'],
      'Secret/default/db': ['StatefulSet default/pg'],
    });
    // The same plan updates those workloads' templates (their config hash): that is the roll.
    assert.deepEqual(plan.update.filter((e) => !e.rolls).map((e) => e.key).sort(),
      ['DaemonSet/default/agent', 'Deployment/default/web', 'StatefulSet/default/pg']);
  });
});
