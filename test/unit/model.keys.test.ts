import assert from 'node:assert/strict';
import { objectKey, parseKey, refKey } from '../../src/model/keys.js';
import { resolveKind } from '../../src/model/kinds.js';

describe('model/keys', () => {
  it('keys a namespaced object as Kind/namespace/name, defaulting the namespace', () => {
    assert.equal(objectKey({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web' } }), 'Deployment/default/web');
  });
  it('keys a cluster-scoped object as Kind/name', () => {
    assert.equal(objectKey({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'prod' } }), 'Namespace/prod');
  });
  it('parses what it makes', () => {
    for (const ref of [{ kind: 'Pod', namespace: 'a', name: 'b' }, { kind: 'Node', name: 'n1' }]) {
      assert.deepEqual(parseKey(refKey(ref)), ref);
    }
    assert.throws(() => parseKey('nope'), /not an object key/);
  });
  it('resolves kubectl-style kind names', () => {
    assert.equal(resolveKind('deploy')?.kind, 'Deployment');
    assert.equal(resolveKind('pods')?.kind, 'Pod');
    assert.equal(resolveKind('ConfigMap')?.kind, 'ConfigMap');
    assert.equal(resolveKind('widgets'), undefined);
  });
});
