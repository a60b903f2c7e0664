/**
 * The cluster DNS server over real UDP and TCP sockets on loopback: cluster names answered
 * from the view, other names forwarded to an upstream resolver and relayed, SERVFAIL when the
 * upstream is silent.
 */
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import dnsPacket, { type Packet as WirePacket } from 'dns-packet';
import { silentLogger } from '../../src/log.js';
import type { Service } from '../../src/model/types.js';
import { ClusterDnsServer } from '../../src/node/dns/server.js';
import type { ServiceView } from '../../src/node/proxy/source.js';

/** A decoded message (dns-packet also decodes the header flags and rcode). */
type Packet = WirePacket & { rcode?: string; flag_aa?: boolean };

const services: Service[] = [{ apiVersion: 'v1', kind: 'Service', metadata: { name: 'api', namespace: 'default' }, spec: { clusterIP: '10.96.0.7', ports: [{ port: 80 }] } }];
const view: ServiceView = {
  services: () => services,
  endpoints: () => [],
  service: (ns, n) => services.find((s) => s.metadata.namespace === ns && s.metadata.name === n),
  endpointsOf: () => undefined,
  onChange: () => undefined,
};

function udpQuery(port: number, name: string, type: 'A' | 'AAAA' = 'A'): Promise<Packet> {
  return new Promise((resolve, reject) => {
    const sock = dgram.createSocket('udp4');
    const timer = setTimeout(() => { sock.close(); reject(new Error('no answer')); }, 5000);
    sock.on('message', (msg) => { clearTimeout(timer); sock.close(); resolve(dnsPacket.decode(msg) as Packet); });
    sock.send(dnsPacket.encode({ id: 7, type: 'query', flags: dnsPacket.RECURSION_DESIRED, questions: [{ type, name }] }), port, '127.0.0.1');
  });
}

function tcpQuery(port: number, name: string): Promise<Packet> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    let buf = Buffer.alloc(0);
    sock.on('error', reject);
    sock.on('connect', () => sock.write(dnsPacket.streamEncode({ id: 9, type: 'query', flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name }] })));
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) { sock.end(); resolve(dnsPacket.streamDecode(buf) as Packet); }
    });
  });
}

describe('cluster DNS server (real sockets)', function () {
  this.timeout(20_000);
  let upstream: dgram.Socket;
  let upstreamPort = 0;
  let dns: ClusterDnsServer;
  let silent: ClusterDnsServer;

  before(async () => {
    // A stand-in for the host's resolver: answers every A query with 192.0.2.44.
    upstream = dgram.createSocket('udp4');
    upstream.on('message', (msg, r) => {
      const q = dnsPacket.decode(msg);
      upstream.send(dnsPacket.encode({ id: q.id, type: 'response', flags: dnsPacket.RECURSION_AVAILABLE, questions: q.questions, answers: [{ type: 'A', name: q.questions![0]!.name, ttl: 60, data: '192.0.2.44' }] }), r.port, r.address);
    });
    await new Promise<void>((r) => upstream.bind(0, '127.0.0.1', () => r()));
    upstreamPort = upstream.address().port;
    dns = new ClusterDnsServer({ view, host: '127.0.0.1', upstreams: [`127.0.0.1:${upstreamPort}`], logger: silentLogger() });
    await dns.start();
    // An upstream where nothing answers (the discard port, unbound here).
    silent = new ClusterDnsServer({ view, host: '127.0.0.1', upstreams: ['127.0.0.1:9'], logger: silentLogger() });
    await silent.start();
  });
  after(async () => {
    await dns.stop();
    await silent.stop();
    upstream.close();
  });

  it('answers a Service name authoritatively over UDP and TCP', async () => {
    for (const answer of [await udpQuery(dns.port, 'api.default.svc.cluster.local'), await tcpQuery(dns.port, 'api.default.svc.cluster.local')]) {
      assert.equal(answer.rcode, 'NOERROR');
      assert.equal(answer.flag_aa, true);
      assert.deepEqual(answer.answers?.map((a) => (a as { data: string }).data), ['10.96.0.7']);
    }
  });

  it('answers NXDOMAIN for a missing cluster name and an empty answer for AAAA', async () => {
    assert.equal((await udpQuery(dns.port, 'nope.default.svc.cluster.local')).rcode, 'NXDOMAIN');
    const aaaa = await udpQuery(dns.port, 'api.default.svc.cluster.local', 'AAAA');
    assert.equal(aaaa.rcode, 'NOERROR');
    assert.deepEqual(aaaa.answers, []);
  });

  it('forwards other names to the upstream resolver and relays its answer', async () => {
    const a = await udpQuery(dns.port, 'www.example.org');
    assert.deepEqual(a.answers?.map((x) => (x as { data: string }).data), ['192.0.2.44']);
    assert.equal(dns.counts.forwarded >= 1, true);
  });

  it('answers SERVFAIL when the upstream does not answer', async () => {
    assert.equal((await udpQuery(silent.port, 'www.example.org')).rcode, 'SERVFAIL');
  });
});
