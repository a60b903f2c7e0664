import assert from 'node:assert/strict';
import type { Pod } from '../../src/model/types.js';
import { hostsFile, podDnsConf } from '../../src/node/agent/container-config.js';
import type { Endpoints, Service } from '../../src/model/types.js';
import { renderRules, servicePorts } from '../../src/node/proxy/rules.js';
import { lookup } from '../../src/node/dns/records.js';
import type { ServiceView } from '../../src/node/proxy/source.js';

function svc(name: string, spec: Partial<Service['spec']>): Service {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'default' }, spec: { selector: { app: name }, ports: [{ name: 'web', port: 80, protocol: 'TCP' }], ...spec } };
}
function eps(name: string, ips: { ip: string; hostname?: string; nodeName?: string }[], notReady: string[] = [], port = 8080): Endpoints {
  return { apiVersion: 'v1', kind: 'Endpoints', metadata: { name, namespace: 'default' }, subsets: [{ addresses: ips, notReadyAddresses: notReady.map((ip) => ({ ip })), ports: [{ name: 'web', port, protocol: 'TCP' }] }] };
}
const OPTS = { prefix: 'GSabcde', podCidr: '10.244.0.0/24', nodeName: 'n1' };

describe('node: service proxy rules', () => {
  it('servicePorts() takes only ready addresses and skips headless and ExternalName Services', () => {
    const ports = servicePorts(
      [svc('api', { clusterIP: '10.96.0.5' }), svc('db', { clusterIP: 'None' }), svc('ext', { type: 'ExternalName', externalName: 'x.example.com' })],
      [eps('api', [{ ip: '10.244.0.9' }, { ip: '10.244.0.3' }], ['10.244.0.7']), eps('db', [{ ip: '10.244.0.4' }])],
    );
    assert.deepEqual(ports.map((p) => [p.id, p.endpoints.map((e) => e.ip)]), [['default/api:web', ['10.244.0.3', '10.244.0.9']]]);
  });

  it('renderRules() picks one of n endpoints at random, DNATs, masquerades hairpin and host traffic', () => {
    const [port] = servicePorts([svc('api', { clusterIP: '10.96.0.5' })], [eps('api', [{ ip: '10.244.0.3' }, { ip: '10.244.0.9' }, { ip: '10.244.0.11' }])]);
    const { nat, filter } = renderRules([port!], OPTS);
    const lines = nat.split('\n');
    assert.ok(lines.some((l) => /^-A GSabcde-SVC -d 10\.96\.0\.5\/32 -p tcp -m tcp --dport 80 .* -j GSabcde-S/.test(l)), nat);
    assert.equal(lines.filter((l) => l.includes('--probability 0.3333333333')).length, 1);
    assert.equal(lines.filter((l) => l.includes('--probability 0.5000000000')).length, 1);
    for (const ip of ['10.244.0.3', '10.244.0.9', '10.244.0.11']) {
      assert.ok(lines.some((l) => l.includes(`-s ${ip}/32 -j GSabcde-MM`)), `hairpin masquerade for ${ip}`);
      assert.ok(lines.some((l) => l.endsWith(`-j DNAT --to-destination ${ip}:8080`)), `DNAT to ${ip}`);
    }
    assert.ok(lines.some((l) => /-A GSabcde-S\w+ ! -s 10\.244\.0\.0\/24 -j GSabcde-MM/.test(l)));
    assert.ok(!filter.includes('REJECT'));
  });

  it('rejects connections to a Service without ready endpoints, and deletes chains no longer wanted', () => {
    const ports = servicePorts([svc('api', { clusterIP: '10.96.0.5' })], [eps('api', [], ['10.244.0.7'])]);
    const { nat, filter } = renderRules(ports, OPTS, { nat: ['GSabcde-SVC', 'GSabcde-SOLDOLDOLDOLD12'], filter: [] });
    assert.match(filter, /-A GSabcde-F -d 10\.96\.0\.5\/32 -p tcp -m tcp --dport 80 .*-j REJECT/);
    assert.match(nat, /^:GSabcde-SOLDOLDOLDOLD12 - \[0:0\]$/m);
    assert.match(nat, /^-X GSabcde-SOLDOLDOLDOLD12$/m);
    assert.doesNotMatch(nat, /^-X GSabcde-SVC$/m);
  });

  it('remembers a client per endpoint with sessionAffinity ClientIP, and keeps node ports local with externalTrafficPolicy Local', () => {
    const [p] = servicePorts(
      [svc('api', { clusterIP: '10.96.0.5', type: 'NodePort', sessionAffinity: 'ClientIP', externalTrafficPolicy: 'Local', ports: [{ name: 'web', port: 80, protocol: 'TCP', nodePort: 30080 }] })],
      [eps('api', [{ ip: '10.244.0.3', nodeName: 'n1' }, { ip: '10.244.1.3', nodeName: 'n2' }])],
    );
    const { nat } = renderRules([p!], OPTS);
    assert.match(nat, /-m recent --name GSabcde-E\w+ --rcheck --seconds 10800 --reap --rsource -j GSabcde-E/);
    assert.match(nat, /-m recent --name GSabcde-E\w+ --set --rsource -j DNAT/);
    const local = /^-A GSabcde-NP -p tcp -m tcp --dport 30080 .* -j (GSabcde-L\w+)$/m.exec(nat)?.[1];
    assert.ok(local, nat);
    const localRules = nat.split('\n').filter((l) => l.startsWith(`-A ${local} `));
    assert.equal(localRules.filter((l) => /-j GSabcde-E/.test(l)).length, 2, 'the affinity check and the pick, for the one local endpoint only');
  });
});

describe('node: cluster DNS records', () => {
  const services = [svc('api', { clusterIP: '10.96.0.5' }), svc('db', { clusterIP: 'None' }), svc('ext', { type: 'ExternalName', externalName: 'db.example.com' })];
  const endpoints = [eps('db', [{ ip: '10.244.0.4', hostname: 'db-0' }, { ip: '10.244.0.6', hostname: 'db-1' }])];
  const view: ServiceView = {
    services: () => services,
    endpoints: () => endpoints,
    service: (ns, name) => services.find((s) => s.metadata.namespace === ns && s.metadata.name === name),
    endpointsOf: (ns, name) => endpoints.find((s) => s.metadata.namespace === ns && s.metadata.name === name),
    onChange: () => undefined,
  };
  const ips = (r: ReturnType<typeof lookup>) => ('forward' in r ? 'forward' : r.answers.map((a) => a.data));

  const cases: [string, string, unknown][] = [
    ['api.default.svc.cluster.local', 'A', ['10.96.0.5']],
    ['API.Default.svc.cluster.local.', 'A', ['10.96.0.5']],
    ['db.default.svc.cluster.local', 'A', ['10.244.0.4', '10.244.0.6']],
    ['db-1.db.default.svc.cluster.local', 'A', ['10.244.0.6']],
    ['ext.default.svc.cluster.local', 'A', ['db.example.com']],
    ['api.default.svc.cluster.local', 'AAAA', []],
    ['example.com', 'A', 'forward'],
  ];
  for (const [name, type, want] of cases) it(`answers ${type} ${name}`, () => assert.deepEqual(ips(lookup(view, name, type)), want));

  it('answers NXDOMAIN for unknown names of the cluster domain, SRV for named ports', () => {
    const nx = lookup(view, 'nope.default.svc.cluster.local', 'A');
    assert.ok(!('forward' in nx) && nx.rcode === 'NXDOMAIN');
    const srv = lookup(view, '_web._tcp.db.default.svc.cluster.local', 'SRV');
    assert.ok(!('forward' in srv));
    assert.deepEqual(srv.answers.map((a) => (a.type === 'SRV' ? `${a.data.port} ${a.data.target}` : '')), ['8080 db-0.db.default.svc.cluster.local', '8080 db-1.db.default.svc.cluster.local']);
  });
});

describe('node: pod resolv.conf by dnsPolicy', () => {
  const host = 'nameserver 127.0.0.53\nnameserver 192.0.2.53\nsearch corp.example\noptions edns0\n';
  const pod = (spec: Partial<Pod['spec']>): Pod => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'shop' }, spec: { containers: [], ...spec } });
  const cluster = { ip: '10.96.0.10' };
  it('ClusterFirst names the cluster DNS with the namespace search path and ndots:5', () => {
    assert.equal(podDnsConf(pod({}), host, cluster), 'nameserver 10.96.0.10\nsearch shop.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n');
  });
  it('Default and hostNetwork ClusterFirst pods get the host resolvers, loopback ones dropped', () => {
    const want = 'nameserver 192.0.2.53\nsearch corp.example\noptions edns0\n';
    assert.equal(podDnsConf(pod({ dnsPolicy: 'Default' }), host, cluster), want);
    assert.equal(podDnsConf(pod({ hostNetwork: true }), host, cluster), want);
    assert.match(podDnsConf(pod({ hostNetwork: true, dnsPolicy: 'ClusterFirstWithHostNet' }), host, cluster), /^nameserver 10\.96\.0\.10$/m);
  });
  it('None is dnsConfig alone; dnsConfig adds to and overrides the policy', () => {
    assert.equal(podDnsConf(pod({ dnsPolicy: 'None', dnsConfig: { nameservers: ['1.1.1.1'], options: [{ name: 'ndots', value: '2' }] } }), host, cluster), 'nameserver 1.1.1.1\noptions ndots:2\n');
    assert.equal(
      podDnsConf(pod({ dnsConfig: { searches: ['extra.example'], options: [{ name: 'ndots', value: '1' }, { name: 'edns0' }] } }), host, cluster),
      'nameserver 10.96.0.10\nsearch shop.svc.cluster.local svc.cluster.local cluster.local extra.example\noptions ndots:1 edns0\n',
    );
  });
});

describe('node: pod /etc/hosts', () => {
  it('adds hostAliases after the pod\'s own entry', () => {
    const p: Pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web-0', namespace: 'shop' }, spec: { containers: [], hostAliases: [{ ip: '192.0.2.9', hostnames: ['db.local', 'db'] }] } };
    const text = hostsFile(p, '10.244.0.7');
    assert.match(text, /^10\.244\.0\.7\tweb-0$/m);
    assert.match(text, /^# Entries added by HostAliases\.\n192\.0\.2\.9\tdb\.local\tdb$/m);
  });
});
