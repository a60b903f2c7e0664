import assert from 'node:assert/strict';
import { EventRecorder, sweepEvents, type KubeEvent } from '../../src/events/recorder.js';
import { silentLogger } from '../../src/log.js';
import type { Pod } from '../../src/model/types.js';
import { MemoryStore } from '../fakes/memory-store.js';

const pod: Pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web-1', namespace: 'shop', uid: 'u-1' }, spec: { containers: [] } };

describe('events: recorder', () => {
  it('writes an Event about the object, and aggregates a repeat into count and lastTimestamp', async () => {
    const store = new MemoryStore();
    let now = Date.parse('2026-12-03T10:00:00Z');
    const rec = new EventRecorder({ store, component: 'kubelet', host: 'node-a', logger: silentLogger(), now: () => now });
    rec.emit(pod, 'Normal', 'Started', 'Started container main', { fieldPath: 'spec.containers{main}' });
    await rec.flush();
    now += 30_000;
    rec.emit(pod, 'Normal', 'Started', 'Started container main', { fieldPath: 'spec.containers{main}' });
    rec.emit(pod, 'Warning', 'BackOff', 'Back-off restarting failed container main');
    await rec.flush();
    const events = (await store.list<KubeEvent>('Event', { namespace: 'shop' })).items;
    assert.equal(events.length, 2);
    const started = events.find((e) => e.reason === 'Started')!;
    assert.deepEqual(started.involvedObject, { kind: 'Pod', namespace: 'shop', name: 'web-1', uid: 'u-1', apiVersion: 'v1', fieldPath: 'spec.containers{main}' });
    assert.equal(started.count, 2);
    assert.equal(started.firstTimestamp, '2026-12-03T10:00:00Z');
    assert.equal(started.lastTimestamp, '2026-12-03T10:00:30Z');
    assert.deepEqual(started.source, { component: 'kubelet', host: 'node-a' });
    assert.equal(events.find((e) => e.reason === 'BackOff')!.type, 'Warning');
    await store.close();
  });

  it('drops events beyond its queue instead of holding the caller', async () => {
    const store = new MemoryStore();
    const rec = new EventRecorder({ store, component: 'x', logger: silentLogger(), maxQueue: 2 });
    for (let i = 0; i < 10; i++) rec.emit(pod, 'Normal', 'R', `m${i}`);
    await rec.flush();
    assert.ok(rec.dropped >= 7, `dropped ${rec.dropped}`);
    await store.close();
  });

  it('sweepEvents() removes events last seen before the TTL', async () => {
    const store = new MemoryStore();
    let now = Date.parse('2026-12-03T10:00:00Z');
    const rec = new EventRecorder({ store, component: 'x', logger: silentLogger(), now: () => now });
    rec.emit(pod, 'Normal', 'Old', 'old');
    await rec.flush();
    now += 2 * 3_600_000;
    rec.emit(pod, 'Normal', 'New', 'new');
    await rec.flush();
    assert.equal(await sweepEvents(store, { now }), 1);
    assert.deepEqual((await store.list<KubeEvent>('Event')).items.map((e) => e.reason), ['New']);
    await store.close();
  });
});
