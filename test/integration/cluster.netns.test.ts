/**
 * A cluster of three nodes on one host (test/helpers/netns-cluster.ts): `gantry server` in this
 * process on a bridge of the test's own, three `gantry agent` processes each in a network
 * namespace of its own. The control plane gives each node a pod CIDR, the nodes route to each
 * other's pods (host-gw), a Deployment spreads over them, a pod on one node reaches a pod and
 * a Service on another by pod IP, cluster IP and DNS name, the real kubectl's logs, exec and
 * port-forward reach those pods through the server (which relays them to the agents' kubelet
 * endpoints, closed to anyone but the server), a wrong token is refused, and the pods of an agent
 * killed with SIGKILL come back on the other nodes.
 */
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readFile, readdir } from 'node:fs/promises';
import https from 'node:https';
import path from 'node:path';
import { startGantry, type RunningGantry } from '../../src/app.js';
import { TokenFile } from '../../src/api/auth/tokens.js';
import { dataPaths } from '../../src/config.js';
import { silentLogger } from '../../src/log.js';
import type { Node, Pod, Service } from '../../src/model/types.js';
import { kubeletPkiPaths } from '../../src/api/kubelet/pki.js';
import { runLogs } from '../../src/cli/commands/logs.js';
import { createNetnsCluster, writeCa, type NetnsCluster } from '../helpers/netns-cluster.js';
import { createWorld, e2eConfig, e2ePrerequisites, E2E_IMAGE, httpGet, isReady, podsWith, waitFor, type World } from '../helpers/e2e.js';
import { kubectlPresent } from '../helpers/kubectl.js';
import { parseExposition, valueOf } from '../helpers/prometheus.js';

const SPREAD = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: spread
spec:
  replicas: 6
  selector:
    matchLabels: {app: spread}
  template:
    metadata:
      labels: {app: spread}
    spec:
      terminationGracePeriodSeconds: 1
      topologySpreadConstraints:
        - {maxSkew: 1, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: ScheduleAnyway, labelSelector: {matchLabels: {app: spread}}}
      containers:
        - name: main
          image: ${E2E_IMAGE}
          command: ["sleep", "3600"]
`;

/** A web server pinned to `node`, behind Service `target`. */
function target(node: string): string {
  return `apiVersion: v1
kind: Pod
metadata:
  name: target
  labels: {app: target}
spec:
  nodeName: ${node}
  terminationGracePeriodSeconds: 1
  containers:
    - name: main
      image: ${E2E_IMAGE}
      command: ["sh", "-c", "mkdir -p /www && echo hello-from-${node} > /www/index.html && exec httpd -f -p 8080 -h /www"]
---
apiVersion: v1
kind: Service
metadata:
  name: target
spec:
  selector: {app: target}
  ports:
    - {port: 80, targetPort: 8080}
`;
}

/**
 * A pod pinned to `node` that fetches the target by pod IP, by cluster IP and by the address its
 * DNS name resolves to, opens a connection to the API through the `kubernetes` Service, reads the
 * size of its service account token, and logs what it got. Debian's busybox-static has no NSS modules: its
 * wget crashes on names (and with -T), so names go through nslookup and fetches through timeout.
 */
function client(node: string, podIP: string, clusterIP: string, apiIP: string): string {
  return `apiVersion: v1
kind: Pod
metadata:
  name: client
spec:
  nodeName: ${node}
  terminationGracePeriodSeconds: 1
  containers:
    - name: main
      image: ${E2E_IMAGE}
      command:
        - sh
        - -c
        - |
          while true; do
            echo podip=$(timeout 2 wget -q -O- http://${podIP}:8080/)
            echo clusterip=$(timeout 2 wget -q -O- http://${clusterIP}/)
            addr=$(timeout 2 nslookup target.default.svc.cluster.local | awk '/^Name:/ {n=1} n && /^Address/ {print $NF}' | tail -1)
            echo resolved=$addr
            echo dns=$(timeout 2 wget -q -O- http://$addr/)
            if echo | timeout 3 nc ${apiIP} 443 >/dev/null 2>&1; then echo api=reached; fi
            echo token=$(wc -c < /var/run/secrets/kubernetes.io/serviceaccount/token)
            sleep 1
          done
`;
}

describe('a cluster of three nodes in network namespaces (server + 3 agents)', function () {
  this.timeout(120_000);
  const why = e2ePrerequisites();
  let world: World | undefined;
  let server: RunningGantry | undefined;
  let cluster: NetnsCluster | undefined;
  let caFile = '';
  let tokens: string[] = [];
  const children: ChildProcess[] = [];

  /** The real kubectl with the server's kubeconfig; its exit code and output. */
  const kubectl = (args: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<{ code: number; stdout: string; stderr: string }> =>
    new Promise((resolve) => {
      const child = execFile('kubectl', ['--kubeconfig', server!.kubeconfig!, ...args], { timeout: opts.timeoutMs ?? 20_000 }, (err, stdout, stderr) => {
        resolve({ code: err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0, stdout, stderr });
      });
      child.stdin!.end(opts.input ?? '');
    });
  /** The pieces the kubectl cases need, or why they are skipped. */
  const kubectlCase = (ctx: Mocha.Context): void => {
    if (!kubectlPresent()) {
      console.log('      skipped: kubectl is not on the PATH');
      ctx.skip();
    }
  };

  const nodeObj = (name: string) => server!.store.get<Node>({ kind: 'Node', name });
  const readyNodes = async (): Promise<Node[]> =>
    (await server!.store.list<Node>('Node')).items.filter((n) => n.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True');
  const agentLogs = async (): Promise<string> => {
    const parts: string[] = [];
    for (const n of cluster!.nodes) {
      const log = await readFile(path.join(n.dataDir, 'agent.log'), 'utf8').catch(() => '');
      const bad = log.split('\n').filter((l) => /"level":(40|50|60)/.test(l)).slice(-5).join('\n');
      parts.push(`--- ${n.name}\n${n.stderr.slice(-1000)}\n${bad}`);
    }
    const pods = (await server!.store.list<Pod>('Pod')).items.map((p) => `${p.metadata.name} ${p.spec.nodeName ?? '-'} ${p.status?.phase ?? '?'} ${JSON.stringify(p.status?.containerStatuses?.[0]?.state ?? {})}`);
    return [...parts, ...pods].join('\n');
  };

  before(async function () {
    if (why) return this.skip();
    this.timeout(180_000);
    world = await createWorld({});
    cluster = await createNetnsCluster({ root: path.join(world.root, 'nodes') });
    const serverDir = path.join(world.root, 'server');
    server = await startGantry({
      config: {
        ...e2eConfig(world, serverDir),
        listen: `${cluster.hostIP}:0`,
        tlsSans: [cluster.hostIP],
        controllers: { nodeMonitorGracePeriodMs: 5000, podEvictionTimeoutMs: 2000 },
      },
      logger: silentLogger(),
      components: { sync: true, api: true, audit: true, controllers: true, scheduler: true },
    });
    await server.sync!.trigger('start');
    server.startPolling();
    caFile = await writeCa(world.root, server.ca!);
    const tokenFile = new TokenFile(dataPaths(serverDir).tokens);
    // One at a time: the token file is rewritten whole on each create.
    for (const n of cluster.nodes) tokens.push(await tokenFile.create(n.name, 'agent', { node: n.name }));
    for (const [i] of cluster.nodes.entries()) {
      await cluster.startAgent(i, { server: server.apiUrl!, token: tokens[i]!, caFile, imagesDir: world.imagesDir, serviceCidr: world.serviceCidr, extraArgs: ['--log-level', 'info', '--node-status-update-frequency', '1'] });
    }
  });

  after(async function () {
    this.timeout(120_000);
    for (const c of children) if (c.exitCode === null && c.signalCode === null && c.pid) process.kill(c.pid, 'SIGKILL');
    await cluster?.destroy().catch(() => undefined);
    await server?.stop().catch(() => undefined);
    await world?.cleanup();
  });

  it('gives each node its own pod CIDR of the cluster CIDR and routes between them', async () => {
    const nodes = await waitFor('3 Ready nodes', async () => {
      const r = await readyNodes();
      return r.length === 3 ? r : undefined;
    }, { timeoutMs: 60_000, describe: agentLogs });
    const cidrs = nodes.map((n) => n.spec!.podCIDR!);
    assert.equal(new Set(cidrs).size, 3, `three different pod CIDRs: ${cidrs.join(', ')}`);
    for (const c of cidrs) assert.match(c, /^10\.244\.\d+\.0\/24$/);
    // Node 0 routes the other two nodes' pod CIDRs via their addresses on the cluster bridge.
    const routes = await waitFor('routes to the other nodes in node 0', async () => {
      const out = (await cluster!.exec(0, ['ip', '-4', 'route', 'show'])).stdout;
      const others = await Promise.all([1, 2].map(async (i) => `${(await nodeObj(cluster!.nodes[i]!.name))!.spec!.podCIDR} via ${cluster!.nodes[i]!.ip}`));
      return others.every((o) => out.includes(o)) ? out : undefined;
    });
    assert.ok(routes);
  });

  it('spreads a 6-replica Deployment over the 3 nodes', async () => {
    // Pushed once every node is Ready, so the scheduler sees all three.
    await world!.push({ 'spread.yaml': SPREAD }, 'spread');
    const pods = await waitFor('6 Ready spread pods', async () => {
      const p = await podsWith(server!.store, { app: 'spread' });
      return p.length === 6 && p.every(isReady) ? p : undefined;
    }, { timeoutMs: 60_000, describe: agentLogs });
    const perNode = new Map<string, number>();
    for (const p of pods) perNode.set(p.spec.nodeName!, (perNode.get(p.spec.nodeName!) ?? 0) + 1);
    const nodes = (await server!.store.list<Node>('Node')).items.map((n) => ({ name: n.metadata.name, spec: n.spec, alloc: n.status?.allocatable, cond: n.status?.conditions?.map((c) => `${c.type}=${c.status}`) }));
    assert.equal(perNode.size, 3, `every node runs a pod: ${JSON.stringify([...perNode])} ${JSON.stringify(nodes)}`);
  });

  it('has each gantry agent serve its node\'s metrics on loopback in its own namespace (the default --metrics-listen)', async () => {
    const fetchMetrics = 'fetch("http://127.0.0.1:10255/metrics").then(async (r) => { if (!r.ok) process.exit(1); process.stdout.write(await r.text()); })';
    for (const [i, n] of cluster!.nodes.entries()) {
      assert.match(n.stderr, /✔ metrics on http:\/\/127\.0\.0\.1:10255\/metrics/);
      const got = await cluster!.exec(i, [process.execPath, '-e', fetchMetrics]);
      assert.equal(got.code, 0, got.stderr);
      const m = parseExposition(got.stdout);
      assert.ok(valueOf(m, 'gantry_kubelet_pod_start_total_duration_seconds_count')! >= 1, `${n.name} started a spread pod`);
      assert.ok(valueOf(m, 'gantry_workqueue_adds_total', { name: 'node-agent' })! >= 1);
    }
  });

  it('lets a pod on node A reach a pod on node C by pod IP, its Service by cluster IP and DNS name, and the API through the kubernetes Service with its own token', async () => {
    const [a, , c] = cluster!.nodes;
    await world!.push({ 'target.yaml': target(c!.name) }, 'target on node C');
    const tpod = await waitFor('target Ready', async () => {
      const p = await server!.store.get<Pod>({ kind: 'Pod', namespace: 'default', name: 'target' });
      return p && isReady(p) ? p : undefined;
    }, { timeoutMs: 30_000 });
    const svc = await waitFor('target has a cluster IP', async () => (await server!.store.get<Service>({ kind: 'Service', namespace: 'default', name: 'target' }))?.spec.clusterIP);
    const api = (await server!.store.get<Service>({ kind: 'Service', namespace: 'default', name: 'kubernetes' }))!.spec.clusterIP!;
    await world!.push({ 'client.yaml': client(a!.name, tpod.status!.podIP!, svc, api) }, 'client on node A');
    const cpod = await waitFor('client running', async () => {
      const p = await server!.store.get<Pod>({ kind: 'Pod', namespace: 'default', name: 'client' });
      return p && isReady(p) ? p : undefined;
    }, { timeoutMs: 30_000 });
    const logDir = path.join(a!.dataDir, 'node', 'logs', cpod.metadata.uid!, 'main');
    const want = `hello-from-${c!.name}`;
    const log = await waitFor('the client got the page by pod IP, cluster IP and DNS name', async () => {
      const files = await readdir(logDir).catch(() => [] as string[]);
      const text = (await Promise.all(files.map((f) => readFile(path.join(logDir, f), 'utf8')))).join('');
      return [`podip=${want}`, `clusterip=${want}`, `resolved=${svc}\n`, `dns=${want}`, 'api=reached'].every((w) => text.includes(w)) && /token=\d{3,}/.test(text) ? text : undefined;
    }, { timeoutMs: 30_000, describe: async () => (await Promise.all((await readdir(logDir).catch(() => [] as string[])).map((f) => readFile(path.join(logDir, f), 'utf8')))).join('').slice(-800) });
    assert.ok(log);
  });

  it('publishes each agent\'s kubelet endpoint on its Node, and kubectl describe node shows a remote node', async function () {
    const c = cluster!.nodes[2]!;
    const n = await nodeObj(c.name);
    assert.equal(n?.status?.daemonEndpoints?.kubeletEndpoint?.Port, 10250);
    assert.deepEqual(n?.status?.addresses?.find((a) => a.type === 'InternalIP')?.address, c.ip);
    kubectlCase(this);
    const d = await kubectl(['describe', 'node', c.name]);
    assert.equal(d.code, 0, d.stderr);
    assert.match(d.stdout, new RegExp(`^Name: +${c.name}$`, 'm'));
    assert.match(d.stdout, new RegExp(`InternalIP: +${c.ip.replace(/\./g, '\\.')}`));
    assert.match(d.stdout, /Non-terminated Pods:.*\n(.*\n)*.*\btarget\b/);
  });

  it('kubectl logs a pod on a remote agent: whole, --tail with --timestamps, --limit-bytes, -c, and -f as it grows (gantry logs too)', async function () {
    // On the server's machine, gantry logs finds no log file and asks the server, which asks the node.
    const own = await runLogs('client', { dataDir: path.join(world!.root, 'server'), tail: '3' });
    assert.equal(own.exitCode, 0, own.output);
    assert.equal(own.output.trimEnd().split('\n').length, 3, own.output);
    kubectlCase(this);
    const whole = await kubectl(['logs', 'client']);
    assert.equal(whole.code, 0, whole.stderr);
    assert.match(whole.stdout, /^podip=hello-from-/m);
    const tail = await kubectl(['logs', 'client', '-c', 'main', '--tail=1', '--timestamps']);
    assert.match(tail.stdout, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z \S+\n$/);
    assert.equal((await kubectl(['logs', 'client', '--limit-bytes=6'])).stdout, 'podip=');
    const previous = await kubectl(['logs', 'client', '--previous']);
    assert.equal(previous.code, 1);
    assert.match(previous.stderr, /previous terminated container "main" in pod "client" not found/);
    // -f prints what is there, then the lines the pod writes after.
    const before = (whole.stdout.match(/^token=/gm) ?? []).length;
    const child = spawn('kubectl', ['--kubeconfig', server!.kubeconfig!, 'logs', '-f', 'client'], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let seen = '';
    child.stdout!.on('data', (d: Buffer) => (seen += d.toString()));
    try {
      await waitFor('two more rounds through kubectl logs -f', async () => (seen.match(/^token=/gm) ?? []).length >= before + 2, { timeoutMs: 20_000, describe: async () => seen.slice(-500) });
    } finally {
      child.kill('SIGINT');
    }
  });

  it('kubectl exec in a pod on a remote agent: output, exit code, stdin, and a terminal of the client\'s size', async function () {
    kubectlCase(this);
    const r = await kubectl(['exec', 'target', '--', 'sh', '-c', 'cat /www/index.html; echo oops >&2; exit 3']);
    assert.equal(r.code, 3, r.stderr);
    assert.equal(r.stdout, `hello-from-${cluster!.nodes[2]!.name}\n`);
    assert.match(r.stderr, /oops\n(.*\n)*command terminated with exit code 3/);
    const piped = await kubectl(['exec', '-i', 'target', '--', 'wc', '-c'], { input: 'x'.repeat(200_000) });
    assert.equal(piped.stdout.trim(), '200000', piped.stderr);
    const tty = await new Promise<{ code: number; out: string }>((resolve) => {
      const child = execFile('script', ['-qec', `stty cols 111 rows 33; kubectl --kubeconfig ${server!.kubeconfig} exec -it target -- sh`, '/dev/null'], { timeout: 20_000 }, (err, stdout) =>
        resolve({ code: err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0, out: stdout }));
      child.stdin!.write('tty; echo "size:$(stty size)"\n');
      setTimeout(() => child.stdin!.end('exit 5\n'), 1500);
    });
    assert.match(tty.out, /\/dev\/pts\/\d+/, tty.out);
    assert.match(tty.out, /size:33 111/);
    assert.equal(tty.code, 5, tty.out);
  });

  it('kubectl port-forward to a pod on a remote agent carries an HTTP GET', async function () {
    kubectlCase(this);
    const child = spawn('kubectl', ['--kubeconfig', server!.kubeconfig!, 'port-forward', 'pod/target', '0:8080'], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let out = '';
    let err = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    try {
      const local = await waitFor('kubectl port-forward listening', async () => /Forwarding from 127\.0\.0\.1:(\d+) -> 8080/.exec(out)?.[1], { timeoutMs: 20_000, describe: async () => out + err });
      const page = await httpGet(`http://127.0.0.1:${local}/`, 10_000);
      assert.equal(page.status, 200);
      assert.equal(page.body, `hello-from-${cluster!.nodes[2]!.name}\n`);
    } finally {
      child.kill('SIGINT');
    }
  });

  it('refuses a request to an agent\'s kubelet port without the server\'s client certificate, an admin token notwithstanding', async () => {
    const c = cluster!.nodes[2]!;
    const tpod = (await server!.store.get<Pod>({ kind: 'Pod', namespace: 'default', name: 'target' }))!;
    const kubeletCa = await readFile(kubeletPkiPaths(path.join(world!.root, 'server')).caCert, 'utf8');
    const admin = /token: (\S+)/.exec(await readFile(server!.kubeconfig!, 'utf8'))![1]!;
    const ask = (p: string): Promise<{ code: number; body: string }> => new Promise((resolve, reject) => {
      const req = https.request({ host: c.ip, port: 10250, method: 'GET', path: p, ca: kubeletCa, servername: c.name, headers: { authorization: `Bearer ${admin}` }, timeout: 5000 }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ code: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.end();
    });
    // The endpoint's own certificate is the node's, from the server's kubelet CA.
    const logs = await ask('/containerLogs/default/target/main');
    assert.equal(logs.code, 401, logs.body);
    assert.match(logs.body, /a client certificate is required/);
    const exec = await ask(`/exec/default/target/${tpod.metadata.uid}/main?command=id&output=1`);
    assert.equal(exec.code, 401, exec.body);
  });

  it('refuses an agent with a wrong token, saying so', async () => {
    const n = cluster!.nodes[0]!;
    const r = await cluster!.exec(0, [process.execPath, '--import', 'tsx', path.resolve('test/helpers/cli-entry.ts'), 'agent', '--server', server!.apiUrl!, '--token', 'not-a-token', '--certificate-authority', caFile, '--node-name', n.name, '--data-dir', path.join(world!.root, 'wrong-token')]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /401|Unauthorized/);
  });

  it('recreates the pods of an agent killed with SIGKILL on the other nodes', async () => {
    const victim = cluster!.nodes[1]!;
    const before = (await podsWith(server!.store, { app: 'spread' })).filter((p) => p.spec.nodeName === victim.name);
    assert.ok(before.length >= 1);
    const child = victim.agent!;
    const gone = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await gone;
    const pods = await waitFor('6 Ready spread pods, none on the killed node', async () => {
      const p = await podsWith(server!.store, { app: 'spread' });
      return p.length === 6 && p.every((x) => isReady(x) && x.spec.nodeName !== victim.name) ? p : undefined;
    }, { timeoutMs: 45_000 });
    // Grace period 5 s + eviction 2 s, then the scheduling and the starts (waitFor's 45 s bound).
    assert.ok(pods.every((p) => !before.some((b) => b.metadata.uid === p.metadata.uid)));
  });
});
