import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { objectPath, redact, renderObjectFile } from '../../src/audit/render.js';
import type { KubeObject } from '../../src/model/types.js';

const key = Buffer.alloc(32, 7);
const hmac = (s: string) => `hmac-sha256:${createHmac('sha256', key).update(s).digest('hex')}`;
const sha = (s: string) => createHash('sha256').update(s).digest('hex');

describe('audit render', () => {
  const paths: { obj: KubeObject; expected: string }[] = [
    { obj: { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: 'default' } }, expected: 'default/deployment/web.yaml' },
    { obj: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web-1' } }, expected: 'default/pod/web-1.yaml' },
    { obj: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-a' } }, expected: '_cluster/namespace/team-a.yaml' },
    { obj: { apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-1' } }, expected: '_cluster/node/node-1.yaml' },
    { obj: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: '../../etc', namespace: 'a/b' } }, expected: 'a%2Fb/configmap/%2E%2E%2F%2E%2E%2Fetc.yaml' },
  ];
  for (const c of paths) {
    it(`objectPath() puts ${c.obj.kind} ${c.obj.metadata.name} at ${c.expected}`, () => {
      assert.equal(objectPath(c.obj), c.expected);
    });
  }

  it('redact() replaces every Secret value by the HMAC-SHA256 of the decoded value, not its plain sha256', () => {
    const secret: KubeObject = {
      apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db', namespace: 'default', annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{"data":{"password":"aHVudGVyMg=="}}', team: 'db' } },
      data: { password: Buffer.from('hunter2').toString('base64') },
      stringData: { token: 'tok-1' },
    };
    const out = redact(secret, key);
    assert.deepEqual(out.data, { password: hmac('hunter2') });
    assert.deepEqual(out.stringData, { token: hmac('tok-1') });
    assert.ok(!JSON.stringify(out).includes(sha('hunter2')), 'the plain sha256 of the password is nowhere');
    assert.notDeepEqual(redact(secret, Buffer.alloc(32, 8)).data, out.data);
    assert.equal(out.metadata.annotations?.team, 'db');
    assert.match(out.metadata.annotations?.['kubectl.kubernetes.io/last-applied-configuration'] ?? '', /^hmac-sha256:/);
    // The input is left untouched (objects from the store are read-only).
    assert.equal((secret.data as Record<string, string>).password, 'aHVudGVyMg==');
  });

  it('renderObjectFile() writes apiVersion, kind, metadata first and status included', () => {
    const text = renderObjectFile({
      status: { phase: 'Running' }, spec: { containers: [{ image: 'busybox', name: 'c' }] }, metadata: { namespace: 'default', name: 'p' }, kind: 'Pod', apiVersion: 'v1',
    }, key);
    assert.equal(text, [
      'apiVersion: v1', 'kind: Pod', 'metadata:', '  name: p', '  namespace: default', 'spec:', '  containers:',
      '    - name: c', '      image: busybox', 'status:', '  phase: Running', '',
    ].join('\n'));
  });

  it('renderObjectFile() never contains a Secret value', () => {
    const text = renderObjectFile({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 's' }, data: { k: Buffer.from('plain-value').toString('base64') }, stringData: { t: 'other-value' } }, key);
    assert.ok(!text.includes('plain-value') && !text.includes(Buffer.from('plain-value').toString('base64')) && !text.includes('other-value'), text);
  });
});
