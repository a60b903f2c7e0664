import assert from 'node:assert/strict';
import { HealthNotifications } from '../../src/notify/health-watch.js';
import type { AppHealth, HealthStatus } from '../../src/health/types.js';
import type { Notification } from '../../src/notify/types.js';
import { silentLogger } from '../../src/log.js';
import { MemoryStore } from '../fakes/memory-store.js';

function app(status: HealthStatus, revision = 'aaaaaaa1'): AppHealth {
  const health = status === 'Healthy' ? { status } : { status, reason: 'CrashLoopBackOff', message: 'Deployment default/crash: pod crash-1: CrashLoopBackOff' };
  return {
    sync: { status: 'Synced', revision }, health, counts: { [status]: 1 }, namespaces: {},
    objects: [{ kind: 'Deployment', namespace: 'default', name: 'crash', key: 'Deployment/default/crash', sync: { status: 'Synced' }, health }],
  };
}

describe('HealthNotifications: the app\'s health over time as notifications', () => {
  let ac: AbortController;
  afterEach(() => ac.abort());

  /** Runs the watcher over a scripted sequence of assessments; returns what it sent. */
  async function run(states: AppHealth[], between?: (i: number, w: HealthNotifications) => void): Promise<Notification['type'][]> {
    ac = new AbortController();
    const sent: Notification[] = [];
    let i = 0;
    const w = new HealthNotifications({
      store: new MemoryStore(), notify: (n) => sent.push(n), logger: silentLogger(), debounceMs: 1, resyncMs: 5,
      assess: async () => {
        between?.(i, w);
        return states[Math.min(i++, states.length - 1)]!;
      },
    });
    void w.run(ac.signal);
    while (i < states.length + 2) await new Promise((r) => setTimeout(r, 5));
    return sent.map((n) => n.type);
  }

  it('a Degraded app is told once, even when it flaps to Progressing between crashes, and its recovery once', async () => {
    assert.deepEqual(await run([app('Healthy'), app('Degraded'), app('Progressing'), app('Degraded'), app('Healthy'), app('Healthy')]), ['degraded', 'recovered']);
  });

  it('an applied revision is reported healthy when its rollout finishes, not before', async () => {
    const types = await run([app('Healthy'), app('Progressing', 'bbbbbbb2'), app('Progressing', 'bbbbbbb2'), app('Healthy', 'bbbbbbb2'), app('Healthy', 'bbbbbbb2')], (i, w) => {
      if (i === 1) w.applied('bbbbbbb2');
    });
    assert.deepEqual(types, ['healthy']);
  });

  it('a revision that fixes a Degraded app is told as recovered', async () => {
    const types = await run([app('Degraded'), app('Degraded'), app('Progressing', 'ddddddd4'), app('Healthy', 'ddddddd4'), app('Healthy', 'ddddddd4')], (i, w) => {
      if (i === 2) w.applied('ddddddd4');
    });
    assert.deepEqual(types, ['degraded', 'recovered']);
  });

  it('a new revision that stays Degraded is told again, for that revision', async () => {
    const types = await run([app('Degraded'), app('Degraded'), app('Degraded', 'ccccccc3'), app('Degraded', 'ccccccc3')], (i, w) => {
      if (i === 2) w.applied('ccccccc3');
    });
    assert.deepEqual(types, ['degraded', 'degraded']);
  });
});
