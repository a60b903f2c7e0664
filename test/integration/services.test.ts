/**
 * Services end to end, with real containerd, CNI, iptables and the cluster DNS: a client pod
 * reaches a backend by its Service's names, a cluster IP spreads requests over both backends
 * and answers from the host, a pod that turns unready leaves the rotation, headless and
 * StatefulSet names resolve, a node port answers from the host, Ingress rules route by host and
 * path (TLS too), NetworkPolicies deny and allow, and the rules outlive a gantry restart and go
 * with `gantry down`.
 */
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Ingress, Pod, Service } from '../../src/model/types.js';
import { ContainerdClient } from '../../src/node/containerd/client.js';
import { execInContainer } from '../../src/node/containerd/run.js';
import { CONTAINERD_NAMESPACE } from '../../src/node/host.js';
import { execTool } from '../../src/node/network/exec.js';
import { policyPrefix } from '../../src/node/policy/enforcer.js';
import { proxyPrefix } from '../../src/node/proxy/proxier.js';
import { gatewayOf, parseCidr } from '../../src/model/cidr.js';
import { sleeperDeployment } from '../helpers/e2e-manifests.js';
import { E2E_IMAGE, createWorld, e2ePrerequisites, httpGet, isReady, podsWith, readIpForward, sendPushWebhook, startInProcess, syncStatus, takeDown, waitFor, type InProcessGantry, type World } from '../helpers/e2e.js';

const NODE_PORT = randomInt(30000, 32768);

function backend(name: string, kind: 'Deployment' | 'StatefulSet', replicas: number): string {
  return `apiVersion: apps/v1
kind: ${kind}
metadata:
  name: ${name}
spec:
  replicas: ${replicas}
${kind === 'StatefulSet' ? `  serviceName: ${name}\n` : ''}  selector:
    matchLabels:
      app: ${name}
  template:
    metadata:
      labels:
        app: ${name}
    spec:
      terminationGracePeriodSeconds: 0
      containers:
        - name: httpd
          image: ${E2E_IMAGE}
          command: ["sh", "-c", "mkdir -p /www && hostname > /www/index.html && touch /www/ready.txt && exec httpd -f -p 8080 -h /www"]
          ports:
            - name: http
              containerPort: 8080
          readinessProbe:
            httpGet:
              path: /ready.txt
              port: http
            periodSeconds: 1
            failureThreshold: 1
`;
}

const MANIFESTS: Record<string, string> = {
  'api.yaml': `${backend('api', 'Deployment', 2)}---
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
  name: api-sticky
spec:
  selector:
    app: api
  sessionAffinity: ClientIP
  ports:
    - port: 80
      targetPort: http
---
apiVersion: v1
kind: Service
metadata:
  name: api-np
spec:
  type: NodePort
  selector:
    app: api
  ports:
    - port: 80
      targetPort: 8080
      nodePort: ${NODE_PORT}
`,
  'db.yaml': `${backend('db', 'StatefulSet', 1)}---
apiVersion: v1
kind: Service
metadata:
  name: db
spec:
  clusterIP: None
  selector:
    app: db
  ports:
    - name: http
      port: 8080
`,
  'trusted.yaml': `apiVersion: v1
kind: Pod
metadata:
  name: trusted
  labels:
    app: trusted
    role: trusted
spec:
  terminationGracePeriodSeconds: 0
  containers:
    - name: main
      image: ${E2E_IMAGE}
      command: ["sleep", "3600"]
`,
  'client.yaml': sleeperDeployment('client', 1, { graceSeconds: 0 }),
};

const INGRESS = `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: shop
spec:
  tls:
    - hosts: [api.shop.test]
      secretName: api-tls
  rules:
    - host: api.shop.test
      http:
        paths:
          - path: /
            pathType: Prefix
            backend:
              service:
                name: api
                port:
                  name: web
    - host: db.shop.test
      http:
        paths:
          - path: /index.html
            pathType: Exact
            backend:
              service:
                name: db
                port:
                  number: 8080
`;

/** A self-signed certificate for `host` as a kubernetes.io/tls Secret manifest, and the PEM. */
async function tlsSecret(dir: string, host: string): Promise<{ manifest: string; cert: string }> {
  const key = path.join(dir, 'tls.key');
  const crt = path.join(dir, 'tls.crt');
  const r = await execTool('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', crt, '-days', '1', '-subj', `/CN=${host}`, '-addext', `subjectAltName=DNS:${host}`]);
  assert.equal(r.code, 0, r.stderr);
  const cert = await readFile(crt, 'utf8');
  const b64 = (t: string) => Buffer.from(t).toString('base64');
  const manifest = `apiVersion: v1
kind: Secret
metadata:
  name: api-tls
type: kubernetes.io/tls
data:
  tls.crt: ${b64(cert)}
  tls.key: ${b64(await readFile(key, 'utf8'))}
`;
  return { manifest, cert };
}

/** GET over HTTPS with SNI `host`, trusting `ca`. */
function httpsGet(addr: string, host: string, ca: string): Promise<{ status: number; body: string }> {
  const [hostname, port] = [addr.slice(0, addr.lastIndexOf(':')), Number(addr.slice(addr.lastIndexOf(':') + 1))];
  return new Promise((resolve, reject) => {
    const req = https.get({ hostname, port, path: '/', servername: host, headers: { host }, ca, timeout: 5000 }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
  });
}

/** GET with a Host header. */
function getWithHost(addr: string, host: string, urlPath: string): Promise<{ status: number; body: string }> {
  const [hostname, port] = [addr.slice(0, addr.lastIndexOf(':')), Number(addr.slice(addr.lastIndexOf(':') + 1))];
  return new Promise((resolve, reject) => {
    const req = http.get({ hostname, port, path: urlPath, headers: { host }, timeout: 5000 }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
  });
}

/** Deny all ingress to db, then allow it from pods labelled role=trusted on 8080. */
const POLICIES = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: db-deny-all
spec:
  podSelector:
    matchLabels:
      app: db
  policyTypes: [Ingress]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: db-allow-trusted
spec:
  podSelector:
    matchLabels:
      app: db
  ingress:
    - from:
        - podSelector:
            matchLabels:
              role: trusted
      ports:
        - port: http
`;

describe('Services: cluster IPs, cluster DNS and node ports', function () {
  this.timeout(240_000);
  const why = e2ePrerequisites();
  let world: World | undefined;
  let g: InProcessGantry | undefined;
  let ctd: ContainerdClient | undefined;
  let ipForward: string | undefined;
  let dataDir = '';
  let ca = '';

  const service = async (name: string) => (await g!.store.get<Service>({ kind: 'Service', namespace: 'default', name }))!;
  const containerId = (p: Pod) => p.status!.containerStatuses![0]!.containerID!.replace(/^containerd:\/\//, '');

  /** Runs `script` with sh in the pod's first container; its stdout. */
  async function shIn(pod: Pod, script: string, timeoutMs = 20_000): Promise<string> {
    const out = path.join(world!.root, `exec-${randomInt(1e9)}.out`);
    const res = await execInContainer(ctd!, containerId(pod), { args: ['sh', '-c', script], stdoutPath: out, stderrPath: out, timeoutMs });
    const text = await readFile(out, 'utf8');
    await rm(out, { force: true });
    assert.equal(res.exitStatus, 0, `sh -c '${script}' in ${pod.metadata.name} exited ${res.exitStatus}:\n${text}`);
    return text;
  }

  /** The addresses busybox's nslookup finds for `name` in the pod (none: NXDOMAIN). */
  async function lookupIn(pod: Pod, name: string): Promise<string[]> {
    const out = path.join(world!.root, `lookup-${randomInt(1e9)}.out`);
    await execInContainer(ctd!, containerId(pod), { args: ['nslookup', name], stdoutPath: out, stderrPath: out, timeoutMs: 10_000 });
    const text = await readFile(out, 'utf8');
    await rm(out, { force: true });
    // "Address: a.b.c.d" lines after a "Name:" line (the server's own line carries :53).
    const answers = text.slice(text.indexOf('Name:') >= 0 ? text.indexOf('Name:') : text.length);
    return [...new Set([...answers.matchAll(/^Address:\s+(\d+\.\d+\.\d+\.\d+)\s*$/gm)].map((m) => m[1]!))].sort();
  }

  const ready = async (app: string, n: number) =>
    waitFor(`${n} ready ${app} pods`, async () => {
      const pods = await podsWith(g!.store, { app });
      return pods.length === n && pods.every(isReady) ? pods : undefined;
    }, { timeoutMs: 90_000 });

  before(async function () {
    if (why) return this.skip();
    ipForward = await readIpForward();
    const tls = await tlsSecret(await mkdtemp(path.join(os.tmpdir(), 'gantry-tls-')), 'api.shop.test');
    ca = tls.cert;
    world = await createWorld({ ...MANIFESTS, 'ingress.yaml': INGRESS, 'tls.yaml': tls.manifest });
    dataDir = path.join(world.root, 'data');
    g = await startInProcess(world, { dataDir });
    ctd = await ContainerdClient.connect({ address: g.containerdAddress, namespace: CONTAINERD_NAMESPACE });
    await ready('api', 2);
    await ready('client', 1);
    await ready('db', 1);
    await ready('trusted', 1);
  });

  after(async function () {
    this.timeout(120_000);
    ctd?.close();
    await g?.stop();
    if (world) {
      await takeDown(world, dataDir, ipForward);
      await world.cleanup();
    }
  });

  it('gives Services cluster IPs from the service CIDR, headless ones none', async () => {
    const api = await service('api');
    assert.match(api.spec.clusterIP ?? '', /^10\.98\.\d+\.\d+$/);
    assert.deepEqual(api.spec.clusterIPs, [api.spec.clusterIP]);
    assert.equal((await service('db')).spec.clusterIP, 'None');
    assert.equal((await service('api-np')).spec.ports![0]!.nodePort, NODE_PORT);
    assert.match((await service('api-sticky')).spec.clusterIP ?? '', /^10\.98\./);
    // The components said what they did, as Events (kubectl get events / describe); they are
    // written in batches, half a second after the first of a burst.
    const wanted = ['ScalingReplicaSet', 'SuccessfulCreate', 'Scheduled', 'Created', 'Started'];
    const reasons = async () => new Set((await g!.store.list<{ reason: string } & Service>('Event')).items.map((e) => e.reason));
    await waitFor('the components\' Events', async () => {
      const have = await reasons();
      return wanted.every((r) => have.has(r));
    }, { timeoutMs: 10_000, describe: async () => `Events: ${[...(await reasons())].join(', ')}` });
  });

  // Debian's busybox-static is linked against glibc without its NSS modules: its wget crashes
  // on name lookups (and with -T, whatever the URL), and its nslookup applies the search path only to names without a dot.
  // So names are resolved with nslookup (busybox's own resolver, over the pod's resolv.conf)
  // and fetched by address; for `api.default` the test asks for what a glibc or musl resolver
  // tries with ndots:5, the search domains first.
  it('lets a client pod reach the backend by api, api.default and api.default.svc.cluster.local', async () => {
    const [client] = await ready('client', 1);
    const ip = (await service('api')).spec.clusterIP!;
    const names = new Set((await ready('api', 2)).map((p) => p.metadata.name));
    assert.deepEqual(await lookupIn(client!, 'api'), [ip], 'api through the search path');
    assert.deepEqual(await lookupIn(client!, 'api.default.svc.cluster.local'), [ip]);
    assert.deepEqual(await lookupIn(client!, 'api.default.default.svc.cluster.local'), [], 'the first search candidate of api.default does not exist');
    assert.deepEqual(await lookupIn(client!, 'api.default.svc.cluster.local'), [ip], 'the second one is the Service');
    const body = (await shIn(client!, `wget -q -O - http://${ip}:80/`)).trim();
    assert.ok(names.has(body), `http://${ip}/ answered "${body}", not one of ${[...names].join(', ')}`);
    const resolv = await shIn(client!, 'cat /etc/resolv.conf');
    assert.match(resolv, /^search default\.svc\.cluster\.local svc\.cluster\.local cluster\.local$/m);
    assert.match(resolv, /^options ndots:5$/m);
  });

  it('spreads 30 requests to the cluster IP over both backend pods', async () => {
    const [client] = await ready('client', 1);
    const ip = (await service('api')).spec.clusterIP!;
    const out = await shIn(client!, `for i in $(seq 30); do wget -q -O - http://${ip}/; done`, 60_000);
    const counts = new Map<string, number>();
    for (const line of out.split('\n').filter(Boolean)) counts.set(line, (counts.get(line) ?? 0) + 1);
    assert.equal([...counts.values()].reduce((a, b) => a + b, 0), 30, out);
    assert.equal(counts.size, 2, `answers came from ${[...counts.keys()].join(', ')}`);
  });

  it('keeps a client on one backend with sessionAffinity ClientIP, and lets a pod reach itself through its Service', async () => {
    const [client] = await ready('client', 1);
    const sticky = (await service('api-sticky')).spec.clusterIP!;
    const out = await shIn(client!, `for i in $(seq 12); do wget -q -O - http://${sticky}:80/; done`, 60_000);
    assert.equal(new Set(out.split('\n').filter(Boolean)).size, 1, `answers came from:\n${out}`);
    // Hairpin: one of two endpoints is the pod itself; 20 tries miss it with odds of 1 in 10^6.
    const [a] = await ready('api', 2);
    const ip = (await service('api')).spec.clusterIP!;
    const self = await shIn(a!, `for i in $(seq 20); do wget -q -O - http://${ip}:80/; done`, 60_000);
    assert.equal(self.split('\n').filter(Boolean).length, 20, self);
    assert.ok(self.split('\n').includes(a!.metadata.name), `${a!.metadata.name} never reached itself:\n${self}`);
  });

  it('answers on the cluster IP from the host, and on the node port at the node address', async () => {
    const api = await service('api');
    const fromHost = await httpGet(`http://${api.spec.clusterIP}/`);
    assert.equal(fromHost.status, 200);
    assert.match(fromHost.body, /^api-/);
    const gw = gatewayOf(parseCidr(world!.node.network.podCidr));
    const np = await httpGet(`http://${gw}:${NODE_PORT}/`);
    assert.equal(np.status, 200);
    assert.match(np.body, /^api-/);
  });

  it('resolves a headless Service to its pods and a StatefulSet pod by name, and SRV for named ports', async () => {
    const [client] = await ready('client', 1);
    const [db] = await ready('db', 1);
    const dbIp = db!.status!.podIP!;
    assert.deepEqual(await lookupIn(client!, 'db.default.svc.cluster.local'), [dbIp]);
    assert.deepEqual(await lookupIn(client!, 'db-0.db.default.svc.cluster.local'), [dbIp]);
    assert.equal((await shIn(client!, `wget -q -O - http://${dbIp}:8080/`)).trim(), 'db-0');
    const srv = await shIn(client!, 'nslookup -type=srv _http._tcp.db.default.svc.cluster.local');
    assert.match(srv, /8080 db-0\.db\.default\.svc\.cluster\.local/, srv);
    assert.deepEqual(await lookupIn(client!, 'nothing.default.svc.cluster.local'), []);
  });

  it('takes a pod that turns unready out of the rotation within 2 s', async () => {
    const api = await service('api');
    const [a, b] = await ready('api', 2);
    await shIn(a!, 'rm /www/ready.txt');
    const unready = await waitFor(`${a!.metadata.name} unready`, async () => {
      const p = (await podsWith(g!.store, { app: 'api' })).find((x) => x.metadata.name === a!.metadata.name);
      return p && !isReady(p) ? Date.now() : undefined;
    }, { timeoutMs: 10_000, intervalMs: 20 });
    // Out of rotation: 10 answers in a row from the other pod.
    let streak = 0;
    let outAt = 0;
    while (streak < 10) {
      const r = await httpGet(`http://${api.spec.clusterIP}/`);
      if (r.body.trim() === b!.metadata.name) {
        if (streak++ === 0) outAt = Date.now();
      } else streak = 0;
      assert.ok(Date.now() - unready < 10_000, 'the unready pod still answers after 10 s');
    }
    assert.ok(outAt - unready < 2000, `left the rotation ${outAt - unready} ms after turning unready`);
    await shIn(a!, 'touch /www/ready.txt');
    await ready('api', 2);
  });

  it('routes Ingress hosts and paths to the backends, serves TLS from the Secret, and fills in status.loadBalancer', async () => {
    const addr = g!.gantry.ingress!.http!;
    const names = new Set((await ready('api', 2)).map((p) => p.metadata.name));
    const seen = new Set<string>();
    for (let i = 0; i < 6; i++) {
      const r = await getWithHost(addr, 'api.shop.test', `/?i=${i}`);
      assert.equal(r.status, 200);
      assert.ok(names.has(r.body.trim()), r.body);
      seen.add(r.body.trim());
    }
    assert.equal(seen.size, 2, 'requests are spread over both api pods');
    assert.equal((await getWithHost(addr, 'db.shop.test', '/index.html')).body.trim(), 'db-0', 'an Exact path');
    const miss = await getWithHost(addr, 'db.shop.test', '/index.html/more');
    assert.equal(miss.status, 404);
    assert.match(miss.body, /no Ingress rule for db\.shop\.test\/index\.html\/more/);
    assert.equal((await getWithHost(addr, 'other.test', '/')).status, 404);
    const secure = await httpsGet(g!.gantry.ingress!.https!, 'api.shop.test', ca);
    assert.equal(secure.status, 200);
    assert.ok(names.has(secure.body.trim()));
    const ing = await waitFor('the Ingress status', async () => (await g!.store.get<Ingress>({ kind: 'Ingress', namespace: 'default', name: 'shop' }))?.status?.loadBalancer as { ingress?: { ip?: string }[] } | undefined);
    assert.equal(ing.ingress?.[0]?.ip, '127.0.0.1');
  });

  it('enforces NetworkPolicies: a pod no policy selects stays open, a selected one takes only what a rule allows', async () => {
    const [client] = await ready('client', 1);
    const [trusted] = await ready('trusted', 1);
    const [db] = await ready('db', 1);
    const api = (await service('api')).spec.clusterIP!;
    const dbUrl = `http://${db!.status!.podIP}:8080/`;
    /** Exit status of a fetch bounded by busybox's timeout (wget's own -T crashes). */
    const fetchFrom = async (pod: Pod, url: string) => {
      const out = path.join(world!.root, `np-${randomInt(1e9)}.out`);
      const r = await execInContainer(ctd!, containerId(pod), { args: ['timeout', '2', 'wget', '-q', '-O', '-', url], stdoutPath: out, stderrPath: out, timeoutMs: 10_000 });
      await rm(out, { force: true });
      return r.exitStatus;
    };
    assert.equal(await fetchFrom(client!, dbUrl), 0, 'open before any policy');
    const commit = await world!.push({ 'policy.yaml': POLICIES }, 'db: only trusted pods');
    assert.equal(await sendPushWebhook(g!, commit), 202);
    await waitFor('the client is shut out of db', async () => (await fetchFrom(client!, dbUrl)) !== 0, { timeoutMs: 20_000, intervalMs: 200 });
    assert.equal(await fetchFrom(trusted!, dbUrl), 0, 'the trusted pod is allowed on the named port');
    assert.equal(await fetchFrom(client!, `http://${api}/`), 0, 'api, which no policy selects, stays open');
    assert.ok(isReady((await ready('db', 1))[0]!), 'probes from the node still reach db');
    const removed = await world!.push({ 'policy.yaml': null }, 'db: open again');
    await sendPushWebhook(g!, removed);
    await waitFor('db open again', async () => (await fetchFrom(client!, dbUrl)) === 0, {
      timeoutMs: 20_000,
      intervalMs: 200,
      describe: async () => `policies: ${(await g!.store.list('NetworkPolicy')).items.map((o) => o.metadata.name).join(',')}; sync: ${JSON.stringify(await syncStatus(g!.store))}\n${(await execTool('iptables', ['-S'])).stdout.split('\n').filter((l) => l.includes('GP')).join('\n')}`,
    });
  });

  it('keeps the cluster IP answering while gantry restarts, and gantry down removes the rules', async () => {
    const api = await service('api');
    await g!.stop();
    // gantry is gone: the kernel still routes.
    assert.equal((await httpGet(`http://${api.spec.clusterIP}/`)).status, 200);
    g = await startInProcess(world!, { dataDir });
    assert.equal((await httpGet(`http://${api.spec.clusterIP}/`)).status, 200);
    await g.stop();
    g = undefined;
    await takeDown(world!, dataDir);
    for (const prefix of [proxyPrefix(world!.node.network.networkName), policyPrefix(world!.node.network.networkName)]) {
      for (const table of ['nat', 'filter']) {
        const rules = (await execTool('iptables', ['-w', '-t', table, '-S'])).stdout;
        assert.ok(!rules.includes(prefix), `${table} still has ${prefix} rules:\n${rules.split('\n').filter((l) => l.includes(prefix)).join('\n')}`);
      }
    }
    await sleep(0);
  });
});
