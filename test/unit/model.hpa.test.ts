import assert from 'node:assert/strict';
import { columnsFor } from '../../src/model/columns.js';
import { applyDefaults } from '../../src/model/defaults.js';
import { hpaAsV2, hpaTargets } from '../../src/model/hpa.js';
import { canonicalQuantityText, formatDecimalNanos } from '../../src/model/quantity.js';
import type { HorizontalPodAutoscaler, KubeObject, MetricSpec, MetricStatus } from '../../src/model/types.js';

const cpu50: MetricSpec = { type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 50 } } };
const mem80: MetricSpec = { type: 'Resource', resource: { name: 'memory', target: { type: 'Utilization', averageUtilization: 80 } } };
const memValue: MetricSpec = { type: 'Resource', resource: { name: 'memory', target: { type: 'AverageValue', averageValue: '100Mi' } } };

function hpa(metrics: MetricSpec[], current?: MetricStatus[], extra: Partial<HorizontalPodAutoscaler['spec']> = {}): HorizontalPodAutoscaler {
  return {
    apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', metadata: { name: 'web', namespace: 'default', creationTimestamp: '2026-12-01T12:00:00Z' },
    spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' }, minReplicas: 1, maxReplicas: 5, metrics, ...extra },
    ...(current ? { status: { currentReplicas: 2, desiredReplicas: 2, currentMetrics: current } } : {}),
  };
}
const cpuNow = (pct: number, value: string): MetricStatus => ({ type: 'Resource', resource: { name: 'cpu', current: { averageUtilization: pct, averageValue: value } } });

describe('model/hpa', () => {
  const targets: [string, HorizontalPodAutoscaler, string][] = [
    ['before any reading', hpa([cpu50]), 'cpu: <unknown>/50%'],
    ['with a reading', hpa([cpu50], [cpuNow(42, '21m')]), 'cpu: 42%/50%'],
    ['for two metrics, one unmeasured', hpa([cpu50, mem80], [cpuNow(42, '21m'), { type: 'Resource' }]), 'cpu: 42%/50%, memory: <unknown>/80%'],
    ['for an average value, in Kubernetes\' quantity spelling', hpa([memValue], [{ type: 'Resource', resource: { name: 'memory', current: { averageValue: '31457280' } } }]), 'memory: 31457280/100Mi'],
    ['for more than two metrics', hpa([cpu50, mem80, memValue]), 'cpu: <unknown>/50%, memory: <unknown>/80% + 1 more...'],
    ['without metrics', hpa([]), '<none>'],
  ];
  for (const [name, h, want] of targets) {
    it(`hpaTargets() prints TARGETS as kubectl 1.32 does ${name}: ${want}`, () => assert.equal(hpaTargets(h), want));
  }

  it('columnsFor(HorizontalPodAutoscaler) are kubectl\'s: NAME REFERENCE TARGETS MINPODS MAXPODS REPLICAS AGE', () => {
    const cols = columnsFor('HorizontalPodAutoscaler');
    const h = hpa([cpu50], [cpuNow(150, '75m')]);
    assert.deepEqual(cols.map((c) => [c.header, c.cell(h, Date.parse('2026-12-01T12:05:00Z'))]), [
      ['NAME', 'web'], ['REFERENCE', 'Deployment/web'], ['TARGETS', 'cpu: 150%/50%'], ['MINPODS', '1'], ['MAXPODS', '5'], ['REPLICAS', '2'], ['AGE', '5m'],
    ]);
  });

  it('applyDefaults() gives an autoscaler minReplicas 1 and a cpu target of 80%, and fills only a behavior that is given', () => {
    const bare: KubeObject = { apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', metadata: { name: 'web' }, spec: { scaleTargetRef: { kind: 'Deployment', name: 'web' }, maxReplicas: 3 } };
    const d = applyDefaults(bare) as HorizontalPodAutoscaler;
    assert.equal(d.spec.minReplicas, 1);
    assert.deepEqual(d.spec.metrics, [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 80 } } }]);
    assert.equal(d.spec.behavior, undefined);
    const withBehavior = applyDefaults({ ...bare, spec: { ...(bare.spec as object), behavior: { scaleDown: { stabilizationWindowSeconds: 60 } } } }) as HorizontalPodAutoscaler;
    assert.deepEqual(withBehavior.spec.behavior, {
      scaleDown: { stabilizationWindowSeconds: 60, selectPolicy: 'Max', policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }] },
      scaleUp: { stabilizationWindowSeconds: 0, selectPolicy: 'Max', policies: [{ type: 'Pods', value: 4, periodSeconds: 15 }, { type: 'Percent', value: 100, periodSeconds: 15 }] },
    });
    assert.deepEqual(applyDefaults(d), d, 'idempotent');
  });

  it('hpaAsV2() converts autoscaling/v1\'s targetCPUUtilizationPercentage into a cpu Utilization metric, leaving the input alone', () => {
    const v1: KubeObject = { apiVersion: 'autoscaling/v1', kind: 'HorizontalPodAutoscaler', metadata: { name: 'web' }, spec: { scaleTargetRef: { kind: 'Deployment', name: 'web' }, maxReplicas: 3, targetCPUUtilizationPercentage: 65 } };
    const v2 = hpaAsV2(v1) as HorizontalPodAutoscaler;
    assert.equal(v2.apiVersion, 'autoscaling/v2');
    assert.deepEqual(v2.spec.metrics, [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 65 } } }]);
    assert.equal((v2.spec as Record<string, unknown>).targetCPUUtilizationPercentage, undefined);
    assert.equal(v1.apiVersion, 'autoscaling/v1');
    assert.equal((applyDefaults({ ...v1, spec: { scaleTargetRef: { kind: 'Deployment', name: 'web' }, maxReplicas: 3 } }) as HorizontalPodAutoscaler).spec.metrics?.[0]?.resource?.target.averageUtilization, 80, 'v1 without a target gets the 80% default');
  });

  it('canonicalQuantityText() and formatDecimalNanos() spell quantities as Quantity.String()', () => {
    assert.deepEqual(['100m', '0.1', '1000m', '128Mi', '1.5Gi', '500M', 1, '1e3', '1.5e3'].map(canonicalQuantityText), ['100m', '100m', '1', '128Mi', '1536Mi', '500M', '1', '1e3', '1500']);
    assert.deepEqual([0n, 12_345_678n, 250_000_000n, 2_000_000_000n, 31457280n * 1_000_000_000n].map((n) => formatDecimalNanos(n)), ['0', '12345678n', '250m', '2', '31457280']);
  });
});
