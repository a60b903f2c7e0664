/**
 * Termination never holds up the node: pods sitting out their grace period (processes that
 * ignore SIGTERM, as `sleep` does as PID 1) must not delay another pod's start, and each is
 * SIGKILLed when its own grace period ends. Real containerd, CNI and store.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { deletePod } from '../../src/controllers/pods.js';
import type { Pod } from '../../src/model/types.js';
import { busybox, startAgentBedOrSkip, type AgentBed } from '../fakes/node-agent-bed.js';

const running = (p: Pod): boolean => p.status?.phase === 'Running';

/** Containers of the pod with this uid still known to containerd. */
async function containersOf(bed: AgentBed, uid: string): Promise<number> {
  return (await bed.ctd.client.listContainerRecords([`labels."gantry.dev/pod-uid"==${uid}`])).length;
}

describe('NodeAgent termination holds up no other pod (real containerd)', function () {
  this.timeout(120_000);
  let bed: AgentBed;

  before(async function () {
    bed = await startAgentBedOrSkip(this);
  });

  after(async () => {
    if (bed) await bed.stop();
  });

  it('a pod created while 20 pods ignoring SIGTERM sit out a 30 s grace period is Running within seconds', async () => {
    const names = Array.from({ length: 20 }, (_, i) => `stubborn-${i}`);
    const created = await Promise.all(names.map((n) => bed.createPod(n, { terminationGracePeriodSeconds: 30, containers: [busybox('main', ['sleep', '3600'])] })));
    await Promise.all(names.map((n) => bed.waitPod(n, running, 60_000)));

    for (const n of names) assert.equal(await deletePod(bed.store, (await bed.getPod(n))!, { origin: { actor: 'test' } }), 'terminating');
    const t0 = Date.now();
    await bed.createPod('newcomer', { containers: [busybox('main', ['sleep', '3600'])] });
    await bed.waitPod('newcomer', running, 20_000);
    const startedMs = Date.now() - t0;
    assert.ok(startedMs < 8_000, `the new pod took ${startedMs} ms to run behind 20 terminating pods`);

    // The terminating pods are still there, their processes alive: the grace period is honoured.
    for (const [i, n] of names.entries()) {
      const p = await bed.getPod(n);
      assert.ok(p?.metadata.deletionTimestamp, `${n} is terminating`);
      assert.equal(await containersOf(bed, created[i]!.metadata.uid!), 1, `${n} still has its container`);
    }

    // Force deletion (straight from the store) ends the wait for all of them at once.
    for (const n of names) await bed.store.delete({ kind: 'Pod', namespace: 'default', name: n });
    const deadline = Date.now() + 20_000;
    let left = Infinity;
    while (left > 0 && Date.now() < deadline) {
      left = 0;
      for (const c of created) left += await containersOf(bed, c.metadata.uid!);
      if (left > 0) await sleep(100);
    }
    assert.equal(left, 0, 'force-deleted pods leave no containers');
  });

  it('each pod that ignores SIGTERM is SIGKILLed when its own grace period ends (± 1 s)', async () => {
    const graces = [2, 3, 4];
    const names = graces.map((g) => `grace-${g}`);
    const pods = await Promise.all(graces.map((g, i) => bed.createPod(names[i]!, { terminationGracePeriodSeconds: g, containers: [busybox('main', ['sleep', '3600'])] })));
    const ready = await Promise.all(names.map((n) => bed.waitPod(n, running)));
    const idToPod = new Map(ready.map((p, i) => [p.status!.containerStatuses![0]!.containerID!.replace('containerd://', ''), i]));

    const exits = new Map<number, number>();
    const ac = new AbortController();
    const watching = (async () => {
      for await (const ev of bed.ctd.client.subscribe({ signal: ac.signal })) {
        if (ev.kind !== 'TaskExit') continue;
        const i = idToPod.get(ev.event.container_id);
        if (i !== undefined) exits.set(i, ev.event.exited_at?.getTime() ?? Date.now());
        if (exits.size === graces.length) return;
      }
    })().catch(() => undefined);
    await sleep(100);

    const due: number[] = [];
    for (const [i, n] of names.entries()) {
      await deletePod(bed.store, (await bed.getPod(n))!, { origin: { actor: 'test' } });
      due[i] = Date.parse((await bed.getPod(n))!.metadata.deletionTimestamp!) + graces[i]! * 1000;
    }
    await Promise.all(names.map((n) => bed.waitGone(n, 20_000)));
    ac.abort();
    await watching;

    for (const [i, n] of names.entries()) {
      const at = exits.get(i);
      assert.ok(at !== undefined, `saw the exit of ${n}`);
      const off = at - due[i]!;
      assert.ok(Math.abs(off) <= 1000, `${n} was killed ${off} ms from its grace period's end`);
      assert.equal(await containersOf(bed, pods[i]!.metadata.uid!), 0);
    }
  });
});
