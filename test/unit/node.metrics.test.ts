import assert from 'node:assert/strict';
import { Metrics } from '../../src/metrics/index.js';
import type { ContainerStatus, Pod, PodStatus } from '../../src/model/types.js';
import { milestonesOf, observeStart, type StartMilestones } from '../../src/node/agent/start-latency.js';
import { scrape, seriesOf, valueOf } from '../helpers/prometheus.js';

const CREATED = Date.parse('2026-03-01T10:00:00Z');

/** The pod as the agent wrote it, with `status`. */
function pod(status: PodStatus): Pod {
  return {
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name: 'web-7d9f8-x2kq4', namespace: 'default', uid: 'u1', creationTimestamp: '2026-03-01T10:00:00Z' },
    spec: { containers: [{ name: 'a', image: 'busybox' }, { name: 'b', image: 'busybox' }] },
    status,
  };
}

function container(name: string, running: boolean): ContainerStatus {
  return { name, state: running ? { running: { startedAt: '2026-03-01T10:00:02Z' } } : { waiting: { reason: 'ContainerCreating' } }, lastState: {}, ready: running, restartCount: 0, image: 'busybox', imageID: '' };
}

function status(running: [boolean, boolean], ready: boolean): PodStatus {
  return {
    phase: running.some(Boolean) && running.every(Boolean) ? 'Running' : 'Pending',
    conditions: [{ type: 'Ready', status: ready ? 'True' : 'False', lastTransitionTime: '2026-03-01T10:00:00Z', lastProbeTime: null }],
    containerStatuses: [container('a', running[0]), container('b', running[1])],
  };
}

describe('node agent metrics', () => {
  it('observes a pod\'s start once its containers all run, and its readiness when Ready turns True, as seconds since creation', async () => {
    const metrics = new Metrics();
    const seen: StartMilestones = milestonesOf(undefined);
    const at = (s: number) => CREATED + s * 1000;
    observeStart(metrics.kubelet, pod(status([true, false], false)), { seen, nowMs: at(1) });
    let m = await scrape(metrics);
    assert.equal(valueOf(m, 'gantry_kubelet_pod_start_total_duration_seconds_count'), 0, 'one container is not running yet');
    observeStart(metrics.kubelet, pod(status([true, true], false)), { seen, nowMs: at(3) });
    observeStart(metrics.kubelet, pod(status([true, true], true)), { seen, nowMs: at(4.5) });
    // A later status write (a probe flapping, a restart) is no new start.
    observeStart(metrics.kubelet, pod(status([true, true], true)), { seen, nowMs: at(60) });
    m = await scrape(metrics);
    assert.equal(valueOf(m, 'gantry_kubelet_pod_start_total_duration_seconds_count'), 1);
    assert.equal(valueOf(m, 'gantry_kubelet_pod_start_total_duration_seconds_sum'), 3);
    assert.equal(valueOf(m, 'gantry_kubelet_pod_ready_duration_seconds_count'), 1);
    assert.equal(valueOf(m, 'gantry_kubelet_pod_ready_duration_seconds_sum'), 4.5);
    assert.equal(valueOf(m, 'gantry_kubelet_pod_ready_duration_seconds_bucket', { le: '4' }), 0);
    assert.equal(valueOf(m, 'gantry_kubelet_pod_ready_duration_seconds_bucket', { le: '5' }), 1);
  });

  it('does not observe a pod that already ran and was ready when the agent (re)started', async () => {
    const metrics = new Metrics();
    const stored = status([true, true], true);
    const seen = milestonesOf(stored);
    observeStart(metrics.kubelet, pod(stored), { seen, nowMs: CREATED + 3_600_000 });
    const m = await scrape(metrics);
    assert.equal(valueOf(m, 'gantry_kubelet_pod_start_total_duration_seconds_count'), 0);
    assert.equal(valueOf(m, 'gantry_kubelet_pod_ready_duration_seconds_count'), 0);
  });

  it('labels a restart by why the container ended, any other reason as Other', async () => {
    const metrics = new Metrics();
    metrics.kubelet.containerRestarted('Error');
    metrics.kubelet.containerRestarted('OOMKilled');
    metrics.kubelet.containerRestarted('Error');
    metrics.kubelet.containerRestarted('something a runtime made up');
    metrics.kubelet.containerRestarted(undefined);
    const m = await scrape(metrics);
    assert.equal(valueOf(m, 'gantry_kubelet_container_restarts_total', { reason: 'Error' }), 2);
    assert.equal(valueOf(m, 'gantry_kubelet_container_restarts_total', { reason: 'OOMKilled' }), 1);
    assert.equal(valueOf(m, 'gantry_kubelet_container_restarts_total', { reason: 'Other' }), 2);
    assert.deepEqual(seriesOf(m, 'gantry_kubelet_container_restarts_total').map((l) => l.reason).sort(), ['Error', 'OOMKilled', 'Other']);
  });
});
