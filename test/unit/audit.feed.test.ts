import assert from 'node:assert/strict';
import { isHeartbeatOnly } from '../../src/audit/feed.js';
import type { Node } from '../../src/model/types.js';
import type { WatchEvent } from '../../src/store/types.js';

const node = (heartbeat: string, ready: 'True' | 'False', rv: string): Node => ({
  apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1', resourceVersion: rv }, spec: {},
  status: { conditions: [{ type: 'Ready', status: ready, lastHeartbeatTime: heartbeat }] },
});
const modified = (prev: Node, next: Node): WatchEvent => ({ type: 'MODIFIED', object: next, prevObject: prev, revision: 2 });

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
});
