import assert from 'node:assert/strict';
import { isHeartbeatOnly, isMetricsOnly, isRecorded, startAuditFeed } from '../../src/audit/feed.js';
import type { Recorder } from '../../src/audit/types.js';
import { GantryError } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';
import type { HorizontalPodAutoscaler, KubeObject, Node } from '../../src/model/types.js';
import type { WatchEvent, WatchOptions } from '../../src/store/types.js';
import { MemoryStore } from '../fakes/memory-store.js';

const node = (heartbeat: string, ready: 'True' | 'False', rv: string): Node => ({
  apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1', resourceVersion: rv }, spec: {},
  status: { conditions: [{ type: 'Ready', status: ready, lastHeartbeatTime: heartbeat }] },
});
const modified = (prev: KubeObject, next: KubeObject): WatchEvent => ({ type: 'MODIFIED', object: next, prevObject: prev, revision: 2 });
const hpa = (utilization: number, desired: number, rv: string): HorizontalPodAutoscaler => ({
  apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', metadata: { name: 'web', namespace: 'default', resourceVersion: rv },
  spec: { scaleTargetRef: { kind: 'Deployment', name: 'web' }, maxReplicas: 5 },
  status: { currentReplicas: 2, desiredReplicas: desired, currentMetrics: [{ type: 'Resource', resource: { name: 'cpu', current: { averageUtilization: utilization } } }] },
});

describe('audit/feed', () => {
  it('isHeartbeatOnly() skips a Node update that only moves the heartbeat time', () => {
    assert.equal(isHeartbeatOnly(modified(node('t1', 'True', '1'), node('t2', 'True', '2'))), true);
  });
  it('isHeartbeatOnly() keeps a Node update that changes its Ready condition', () => {
    assert.equal(isHeartbeatOnly(modified(node('t1', 'True', '1'), node('t2', 'False', '2'))), false);
  });
  it('isHeartbeatOnly() keeps changes to other kinds and Node creation', () => {
    assert.equal(isHeartbeatOnly({ type: 'ADDED', object: node('t1', 'True', '1'), revision: 1 }), false);
  });
  it('isMetricsOnly() skips an autoscaler status update that only moves its measured usage, and keeps its scaling', () => {
    assert.equal(isMetricsOnly(modified(hpa(41, 2, '1'), hpa(44, 2, '2'))), true);
    assert.equal(isRecorded(modified(hpa(41, 2, '1'), hpa(44, 2, '2'))), false);
    assert.equal(isMetricsOnly(modified(hpa(41, 2, '1'), hpa(90, 4, '2'))), false);
    assert.equal(isRecorded({ type: 'ADDED', object: hpa(41, 2, '1'), revision: 1 }), true);
  });
  it('startAuditFeed() keeps recording after a too-old watch whose revision read fails', async () => {
    // The first watch is too old and the revision read that follows fails; the feed must retry,
    // not reject (its caller holds the promise unawaited until shutdown).
    class FlakyStore extends MemoryStore {
      watches = 0;
      revisionReads = 0;
      override watch(opts: WatchOptions = {}): AsyncIterable<WatchEvent> {
        if (this.watches++ === 0) {
          return { [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(new GantryError('Conflict', 'too old')) }) };
        }
        return super.watch(opts);
      }
      override async revision(): Promise<number> {
        if (this.revisionReads++ === 0) throw new GantryError('StoreUnavailable', 'store is busy');
        return super.revision();
      }
    }
    const store = new FlakyStore();
    const ac = new AbortController();
    const recorded: WatchEvent[] = [];
    const recorder = {
      recordChange: (ev: WatchEvent) => {
        recorded.push(ev);
        ac.abort();
      },
    } as unknown as Recorder;
    const feed = startAuditFeed({ store, recorder, logger: silentLogger(), fromRevision: 0, signal: ac.signal, retryDelayMs: 1 });
    const created = store.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'app', namespace: 'default' } });
    await feed;
    await created;
    assert.deepEqual(recorded.map((e) => `${e.type} ${e.object.kind}/${e.object.metadata.name}`), ['ADDED ConfigMap/app']);
  });
});
