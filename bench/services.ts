/**
 * Services figures, against gantry in this process with real containerd, CNI and iptables:
 *
 * - endpoint change → rule in force: an Endpoints object (of a Service without selector, so
 *   no controller rewrites it) gets a new address in the store; measured until `iptables -t nat
 *   -S` shows the DNAT to it (target p50 ≤ 100 ms; the poll itself takes a few ms).
 * - cluster DNS answer latency: A queries for a Service name sent from the host to the cluster
 *   DNS address (through the proxy's rule), one at a time.
 * - connection rate through a cluster IP vs straight to a pod IP: sequential HTTP GETs from the
 *   host to one backend pod, each a new TCP connection (ratio target ≥ 0.9).
 *
 * Needs root, containerd, runc and the CNI plugins; otherwise it reports why it skipped.
 */
import dgram from 'node:dgram';
import http from 'node:http';
import path from 'node:path';
import dnsPacket from 'dns-packet';
import { clusterDnsIp } from '../src/model/cidr.js';
import type { Endpoints, Pod, Service } from '../src/model/types.js';
import { execTool } from '../src/node/network/exec.js';
import { createWorld, E2E_IMAGE, e2ePrerequisites, isReady, podsWith, readIpForward, startInProcess, takeDown, waitFor } from '../test/helpers/e2e.js';
import { percentile } from './stats.js';

const RULE_SAMPLES = 20;
const DNS_QUERIES = 300;
const CONNECTIONS = 300;

const MANIFEST = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
spec:
  replicas: 1
  selector:
    matchLabels:
      app: api
  template:
    metadata:
      labels:
        app: api
    spec:
      terminationGracePeriodSeconds: 0
      containers:
        - name: httpd
          image: ${E2E_IMAGE}
          command: ["sh", "-c", "mkdir -p /www && echo ok > /www/index.html && exec httpd -f -p 8080 -h /www"]
          ports:
            - name: http
              containerPort: 8080
---
apiVersion: v1
kind: Service
metadata:
  name: api
spec:
  selector:
    app: api
  ports:
    - name: web
      port: 80
      targetPort: http
---
apiVersion: v1
kind: Service
metadata:
  name: manual
spec:
  ports:
    - name: web
      port: 80
`;

/** One GET on a fresh connection; ms. */
function get(url: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, timeout: 3000 }, (res) => {
      res.resume();
      res.on('end', () => resolve());
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

async function rate(url: string): Promise<number> {
  for (let i = 0; i < 20; i++) await get(url);
  const t0 = performance.now();
  for (let i = 0; i < CONNECTIONS; i++) await get(url);
  return CONNECTIONS / ((performance.now() - t0) / 1000);
}

function query(sock: dgram.Socket, server: string, name: string, id: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no DNS answer for ${name}`)), 2000);
    const onMsg = (msg: Buffer): void => {
      if (msg.readUInt16BE(0) !== id) return;
      clearTimeout(timer);
      sock.off('message', onMsg);
      resolve();
    };
    sock.on('message', onMsg);
    sock.send(dnsPacket.encode({ id, type: 'query', flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name }] }), 53, server);
  });
}

/** Runs the figures; see the module comment. */
export async function benchServices(): Promise<Record<string, number | string>> {
  const why = e2ePrerequisites();
  if (why) return { skipped: why };
  const ipForward = await readIpForward();
  const world = await createWorld({ 'api.yaml': MANIFEST });
  const dataDir = path.join(world.root, 'data');
  const g = await startInProcess(world, { dataDir });
  try {
    const [pod] = await waitFor('the api pod ready', async () => {
      const pods = await podsWith(g.store, { app: 'api' });
      return pods.length === 1 && pods.every(isReady) ? pods : undefined;
    }, { timeoutMs: 90_000 });
    const svc = await waitFor('api has a cluster IP', async () => (await g.store.get<Service>({ kind: 'Service', namespace: 'default', name: 'api' }))?.spec.clusterIP);
    const podIp = (pod as Pod).status!.podIP!;
    await waitFor('api answers on its cluster IP', async () => get(`http://${svc}/`).then(() => true, () => false), { timeoutMs: 10_000 });

    // Endpoint change → rule in force.
    const ruleMs: number[] = [];
    for (let i = 0; i < RULE_SAMPLES; i++) {
      const ip = `10.99.${Math.floor(i / 200)}.${(i % 200) + 10}`;
      const ep: Endpoints = { apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'manual', namespace: 'default' }, subsets: [{ addresses: [{ ip }], ports: [{ name: 'web', port: 80, protocol: 'TCP' }] }] };
      const current = await g.store.get<Endpoints>({ kind: 'Endpoints', namespace: 'default', name: 'manual' });
      const t0 = performance.now();
      if (current) await g.store.update({ ...ep, metadata: { ...ep.metadata, resourceVersion: current.metadata.resourceVersion } });
      else await g.store.create(ep);
      for (;;) {
        const nat = (await execTool('iptables', ['-w', '-t', 'nat', '-S'])).stdout;
        if (nat.includes(`--to-destination ${ip}:80`)) break;
        if (performance.now() - t0 > 10_000) throw new Error(`the rule for ${ip} was not in force after 10 s`);
      }
      ruleMs.push(performance.now() - t0);
    }

    // DNS latency.
    const dns = clusterDnsIp(world.serviceCidr);
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, () => r()));
    const dnsMs: number[] = [];
    try {
      for (let i = 0; i < 20; i++) await query(sock, dns, 'api.default.svc.cluster.local', i + 1);
      for (let i = 0; i < DNS_QUERIES; i++) {
        const t0 = performance.now();
        await query(sock, dns, 'api.default.svc.cluster.local', 1000 + i);
        dnsMs.push(performance.now() - t0);
      }
    } finally {
      sock.close();
    }

    // Connection rate: alternate so drift hits both alike.
    const direct: number[] = [];
    const viaService: number[] = [];
    for (let round = 0; round < 3; round++) {
      direct.push(await rate(`http://${podIp}:8080/`));
      viaService.push(await rate(`http://${svc}/`));
    }
    const d = percentile(direct, 50);
    const v = percentile(viaService, 50);
    return {
      'endpoint change → rule in force p50 ms (target ≤ 100)': Math.round(percentile(ruleMs, 50)),
      'endpoint change → rule in force p95 ms': Math.round(percentile(ruleMs, 95)),
      'cluster DNS answer p50 ms': Math.round(percentile(dnsMs, 50) * 100) / 100,
      'cluster DNS answer p99 ms': Math.round(percentile(dnsMs, 99) * 100) / 100,
      'connections/s straight to the pod IP (median of 3)': Math.round(d),
      'connections/s through the cluster IP (median of 3)': Math.round(v),
      'ratio cluster IP / pod IP (target ≥ 0.9)': Math.round((v / d) * 100) / 100,
    };
  } finally {
    await g.stop();
    await takeDown(world, dataDir, ipForward);
    await world.cleanup();
  }
}
