import assert from 'node:assert/strict';
import type { NetworkPolicy, Pod } from '../../src/model/types.js';
import { policyTypes, renderPolicyRules } from '../../src/node/policy/rules.js';

function pod(name: string, ip: string, labels: Record<string, string>, opts: { node?: string; ns?: string; port?: { name: string; containerPort: number } } = {}): Pod {
  return {
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name, namespace: opts.ns ?? 'default', uid: `uid-${name}`, labels },
    spec: { nodeName: opts.node ?? 'n1', containers: [{ name: 'c', image: 'x', ...(opts.port ? { ports: [opts.port] } : {}) }] },
    status: { phase: 'Running', podIP: ip },
  };
}
function policy(name: string, spec: NetworkPolicy['spec'], ns = 'default'): NetworkPolicy {
  return { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name, namespace: ns }, spec };
}
const base = { namespaces: [{ apiVersion: 'v1', kind: 'Namespace' as const, metadata: { name: 'ops', labels: { team: 'ops' } } }], nodeName: 'n1', prefix: 'GPabcde' };

describe('node: NetworkPolicy rules', () => {
  const db = pod('db', '10.0.0.5', { app: 'db' }, { port: { name: 'pg', containerPort: 5432 } });
  const web = pod('web', '10.0.0.6', { app: 'web' });
  const mon = pod('mon', '10.0.1.7', { role: 'monitor' }, { ns: 'ops', node: 'n2' });
  const lines = (text: string) => text.split('\n');

  it('leaves pods that no policy selects alone', () => {
    const { text } = renderPolicyRules({ ...base, pods: [db, web], policies: [policy('p', { podSelector: { matchLabels: { app: 'other' } } })] });
    assert.deepEqual(lines(text).filter((l) => l.startsWith('-A')), []);
  });

  it('isolates a selected pod and allows only the peers and ports of its rules, replies always', () => {
    const np = policy('db-allow', {
      podSelector: { matchLabels: { app: 'db' } },
      ingress: [{ from: [{ podSelector: { matchLabels: { app: 'web' } } }, { namespaceSelector: { matchLabels: { team: 'ops' } } }], ports: [{ port: 'pg' }] }],
    });
    const text = renderPolicyRules({ ...base, pods: [db, web, mon], policies: [np] }).text;
    const l = lines(text);
    const chain = /-A GPabcde-FWD -d 10\.0\.0\.5\/32 .* -j (GPabcde-I\w+)/.exec(text)?.[1];
    assert.ok(chain, text);
    const own = l.filter((x) => x.startsWith(`-A ${chain} `));
    assert.match(own[0]!, /--ctstate ESTABLISHED,RELATED -j RETURN/);
    assert.ok(own.some((x) => x.includes('-s 10.0.0.6/32 -p tcp -m tcp --dport 5432 -j MARK')), 'web on the named port');
    assert.ok(own.some((x) => x.includes('-s 10.0.1.7/32 -p tcp -m tcp --dport 5432 -j MARK')), 'a pod of a selected namespace');
    assert.match(own.at(-2)!, /! --mark 0x10000\/0x10000 .* -j DROP/);
    assert.ok(!text.includes('-d 10.0.0.6/32'), 'web is not isolated');
  });

  it('denies everything with an empty rule list, allows everything with an empty peer list', () => {
    const deny = renderPolicyRules({ ...base, pods: [db], policies: [policy('deny', { podSelector: {} })] }).text;
    assert.ok(!/-j MARK --or-mark/.test(deny), deny);
    assert.match(deny, /-j DROP/);
    const all = renderPolicyRules({ ...base, pods: [db], policies: [policy('all', { podSelector: {}, ingress: [{}] })] }).text;
    assert.match(all, /-A GPabcde-I\w+ -j MARK --or-mark 0x10000/);
  });

  it('handles egress ipBlocks with exceptions in a chain of their own', () => {
    const np = policy('egress', { podSelector: { matchLabels: { app: 'web' } }, policyTypes: ['Egress'], egress: [{ to: [{ ipBlock: { cidr: '10.0.0.0/8', except: ['10.9.0.0/16'] } }], ports: [{ protocol: 'UDP', port: 53 }] }] });
    assert.deepEqual(policyTypes(np), ['Egress']);
    const text = renderPolicyRules({ ...base, pods: [web], policies: [np] }).text;
    const block = /-d 10\.0\.0\.0\/8 -p udp -m udp --dport 53 -j (GPabcde-B\w+)/.exec(text)?.[1];
    assert.ok(block, text);
    assert.match(text, new RegExp(`-A ${block} -d 10\\.9\\.0\\.0/16 -j RETURN`));
    assert.match(text, new RegExp(`-A ${block} -j MARK --or-mark 0x10000`));
  });

  it('policyTypes defaults to Ingress, plus Egress when egress rules are given', () => {
    assert.deepEqual(policyTypes(policy('a', { podSelector: {} })), ['Ingress']);
    assert.deepEqual(policyTypes(policy('b', { podSelector: {}, egress: [] })), ['Ingress', 'Egress']);
  });
});
