import assert from 'node:assert/strict';
import type { Pod, PodPhase } from '../../src/model/types.js';
import { computePodStatus, podPhase } from '../../src/node/agent/pod-status.js';
import { newContainer, type ContainerRuntime, type PodRuntime } from '../../src/node/agent/runtime.js';

function pod(restartPolicy: 'Always' | 'OnFailure' | 'Never', names = ['a', 'b'], inits: string[] = []): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p', namespace: 'default', uid: 'u' },
    spec: { restartPolicy, containers: names.map((name) => ({ name, image: 'busybox' })), initContainers: inits.map((name) => ({ name, image: 'busybox' })) },
  };
}

type State = 'running' | 'ok' | 'fail' | 'crashloop' | 'none';
function container(name: string, state: State, kind: 'app' | 'init' = 'app'): ContainerRuntime {
  const c = newContainer(name, kind, 'busybox');
  if (state === 'running') Object.assign(c, { phase: 'running', id: `${name}-0`, ready: true, started: true, startedAt: '2024-01-01T00:00:00Z' });
  if (state === 'ok') Object.assign(c, { phase: 'exited', id: `${name}-0`, terminated: { exitCode: 0, reason: 'Completed' } });
  if (state === 'fail') Object.assign(c, { phase: 'exited', id: `${name}-0`, terminated: { exitCode: 1, reason: 'Error' } });
  if (state === 'crashloop') Object.assign(c, { phase: 'exited', id: `${name}-1`, restartCount: 1, terminated: { exitCode: 1, reason: 'Error' }, waiting: { reason: 'CrashLoopBackOff', message: 'back-off 10s' } });
  return c;
}

function runtime(app: [string, State][], init: [string, State][] = []): PodRuntime {
  return {
    uid: 'u', namespace: 'default', name: 'p', podIP: '10.0.0.9', startTime: '2024-01-01T00:00:00Z', conditions: [],
    app: new Map(app.filter(([, s]) => s !== 'none').map(([n, s]) => [n, container(n, s)])),
    init: new Map(init.filter(([, s]) => s !== 'none').map(([n, s]) => [n, container(n, s, 'init')])),
  };
}

describe('node agent: pod phase and status as the kubelet reports them', () => {
  it('podPhase() follows the kubelet for each restartPolicy', () => {
    const cases: [string, 'Always' | 'OnFailure' | 'Never', [State, State], PodPhase][] = [
      ['not started yet', 'Always', ['none', 'none'], 'Pending'],
      ['one running, one not yet', 'Always', ['running', 'none'], 'Pending'],
      ['both running', 'Always', ['running', 'running'], 'Running'],
      ['all exited 0 with Never', 'Never', ['ok', 'ok'], 'Succeeded'],
      ['all exited 0 with OnFailure', 'OnFailure', ['ok', 'ok'], 'Succeeded'],
      ['all exited 0 with Always (restarting)', 'Always', ['ok', 'ok'], 'Running'],
      ['one failed with Never', 'Never', ['ok', 'fail'], 'Failed'],
      ['one failed with OnFailure (restarting)', 'OnFailure', ['ok', 'fail'], 'Running'],
      ['one failed while the other runs, Never', 'Never', ['running', 'fail'], 'Running'],
      ['crash-looping with Always', 'Always', ['crashloop', 'running'], 'Running'],
    ];
    for (const [what, policy, [a, b], want] of cases) {
      assert.equal(podPhase(pod(policy), runtime([['a', a], ['b', b]])), want, what);
    }
  });

  it('podPhase() is Pending until every init container completed', () => {
    assert.equal(podPhase(pod('Always', ['a'], ['i1', 'i2']), runtime([['a', 'none']], [['i1', 'ok'], ['i2', 'running']])), 'Pending');
    assert.equal(podPhase(pod('Always', ['a'], ['i1']), runtime([['a', 'running']], [['i1', 'ok']])), 'Running');
  });

  it('computePodStatus() reports conditions, container states and keeps lastTransitionTime when unchanged', () => {
    const p = pod('Always', ['a', 'b']);
    const rt = runtime([['a', 'running'], ['b', 'crashloop']]);
    const s1 = computePodStatus(p, rt, { hostIP: '192.0.2.1', now: '2024-01-01T00:00:10Z' });
    assert.equal(s1.phase, 'Running');
    assert.equal(s1.podIP, '10.0.0.9');
    const byType = Object.fromEntries(s1.conditions!.map((c) => [c.type, c]));
    assert.equal(byType.Ready!.status, 'False');
    assert.equal(byType.Ready!.message, 'containers with unready status: [b]');
    assert.equal(byType.Initialized!.status, 'True');
    const b = s1.containerStatuses!.find((c) => c.name === 'b')!;
    assert.deepEqual(b.state, { waiting: { reason: 'CrashLoopBackOff', message: 'back-off 10s' } });
    assert.equal(b.lastState.terminated?.exitCode, 1);
    assert.equal(b.containerID, 'containerd://b-1');
    const s2 = computePodStatus({ ...p, status: s1 }, rt, { hostIP: '192.0.2.1', now: '2024-01-01T00:00:20Z' });
    assert.deepEqual(s2.conditions, s1.conditions, 'no transition → same times');
    rt.app.set('b', container('b', 'running'));
    const s3 = computePodStatus({ ...p, status: s2 }, rt, { hostIP: '192.0.2.1', now: '2024-01-01T00:00:30Z' });
    assert.equal(s3.conditions!.find((c) => c.type === 'Ready')!.lastTransitionTime, '2024-01-01T00:00:30Z');
    assert.equal(s3.conditions!.find((c) => c.type === 'Initialized')!.lastTransitionTime, '2024-01-01T00:00:10Z');
  });
});
