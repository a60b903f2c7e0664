/**
 * `kubectl port-forward` end to end: the real kubectl against a real gantry (containerd, CNI),
 * to a pod serving HTTP and a TCP echo: concurrent connections, 1 MiB echoed intact, a server
 * bound to loopback inside the pod, a port nobody listens on, svc/ and deploy/ targets.
 * Skips with a message when kubectl is absent or e2e prerequisites are missing.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { Pod } from '../../src/model/types.js';
import { CniNetworkManager } from '../../src/node/network/manager.js';
import { findRelay, LocalPodPorts } from '../../src/node/portforward.js';
import { createWorld, E2E_IMAGE, e2ePrerequisites, httpGet, isReady, podsWith, readIpForward, startInProcess, takeDown, waitFor, type InProcessGantry, type World } from '../helpers/e2e.js';

const MANIFESTS: Record<string, string> = {
  'echo.yaml': `apiVersion: apps/v1
kind: Deployment
metadata:
  name: echo
spec:
  replicas: 1
  selector:
    matchLabels:
      app: echo
  template:
    metadata:
      labels:
        app: echo
    spec:
      terminationGracePeriodSeconds: 0
      containers:
        - name: echo
          image: ${E2E_IMAGE}
          command: ["sh", "-c", "mkdir -p /www /lo && echo hello-from-pod > /www/index.html && echo loopback-only > /lo/index.html && httpd -p 8080 -h /www && httpd -p 127.0.0.1:8081 -h /lo && exec nc -ll -p 7000 -e cat"]
          ports:
            - name: http
              containerPort: 8080
          # Ready once the echo server listens (it starts last).
          readinessProbe:
            tcpSocket:
              port: 7000
            periodSeconds: 1
---
apiVersion: v1
kind: Service
metadata:
  name: echo
spec:
  selector:
    app: echo
  ports:
    - name: web
      port: 80
      targetPort: http
`,
};

function kubectlPresent(): boolean {
  return (process.env.PATH ?? '').split(':').some((d) => existsSync(path.join(d, 'kubectl')));
}

interface Forward {
  proc: ChildProcess;
  /** Local port per remote port, from kubectl's "Forwarding from 127.0.0.1:L -> R". */
  local: Map<number, number>;
  stderr(): string;
  exited: Promise<number | null>;
}

/** Sends `payload`, half-closes, and returns all the server sent back. */
function roundTrip(port: number, payload: Buffer, timeoutMs = 20_000, what = 'connection'): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    const got: Buffer[] = [];
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`${what}: no end from 127.0.0.1:${port} in ${timeoutMs} ms (${Buffer.concat(got).length} bytes back)`));
    }, timeoutMs);
    sock.on('data', (d: Buffer) => got.push(d));
    sock.on('end', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(got));
    });
    sock.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    sock.end(payload);
  });
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

describe('kubectl port-forward against gantry', function () {
  this.timeout(90_000);
  const why = e2ePrerequisites();
  let world: World;
  let g: InProcessGantry;
  let dataDir: string;
  let ipForward: string | undefined;
  let podName: string;
  const started: ChildProcess[] = [];

  const forward = async (args: string[], env: Record<string, string> = {}): Promise<Forward> => {
    const proc = spawn('kubectl', ['port-forward', '--kubeconfig', g.kubeconfig, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    started.push(proc);
    let out = '';
    let err = '';
    proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
    const wanted = args.filter((a) => /^\d*:\d+$|^\d+$/.test(a)).length;
    const local = await new Promise<Map<number, number>>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`kubectl port-forward ${args.join(' ')} printed no ports in 20 s:\n${out}\n${err}`)), 20_000);
      proc.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const m = new Map<number, number>();
        for (const line of out.matchAll(/Forwarding from 127\.0\.0\.1:(\d+) -> (\d+)/g)) m.set(Number(line[2]), Number(line[1]));
        if (m.size >= wanted) {
          clearTimeout(timer);
          resolve(m);
        }
      });
      void exited.then((code) => reject(new Error(`kubectl port-forward exited (${code}) before forwarding:\n${out}\n${err}`)));
    });
    return { proc, local, stderr: () => err, exited };
  };

  before(async function () {
    if (!kubectlPresent()) {
      console.log('    (skipped: kubectl is not on the PATH)');
      return this.skip();
    }
    if (why) return this.skip();
    this.timeout(120_000);
    ipForward = await readIpForward();
    world = await createWorld(MANIFESTS);
    dataDir = path.join(world.root, 'data');
    g = await startInProcess(world, { dataDir });
    const [pod] = await waitFor('the echo pod to be ready', async () => {
      const pods = (await podsWith(g.store, { app: 'echo' })).filter(isReady);
      return pods.length === 1 ? pods : undefined;
    }, { timeoutMs: 60_000 });
    podName = pod!.metadata.name;
  });

  afterEach(() => {
    for (const p of started.splice(0)) if (p.exitCode === null && p.signalCode === null && p.pid) process.kill(p.pid, 'SIGKILL');
  });

  after(async function () {
    this.timeout(120_000);
    for (const p of started.splice(0)) if (p.exitCode === null && p.signalCode === null && p.pid) process.kill(p.pid, 'SIGKILL');
    await g?.stop();
    if (world) {
      await takeDown(world, dataDir, ipForward);
      await world.cleanup();
    }
  });

  it('forwards a pod port: HTTP, two concurrent connections and 1 MiB echoed intact', async () => {
    const f = await forward([`pod/${podName}`, '0:8080', '0:7000']);
    const page = await httpGet(`http://127.0.0.1:${f.local.get(8080)}/index.html`, 10_000);
    assert.equal(page.status, 200);
    assert.equal(page.body.trim(), 'hello-from-pod');

    const a = Buffer.from('first connection\n');
    const b = Buffer.from('second connection\n');
    const [ra, rb] = await Promise.all([roundTrip(f.local.get(7000)!, a, 20_000, 'first'), roundTrip(f.local.get(7000)!, b, 20_000, 'second')]);
    assert.equal(ra.toString(), a.toString());
    assert.equal(rb.toString(), b.toString());

    const big = randomBytes(2 ** 20);
    const back = await roundTrip(f.local.get(7000)!, big, 30_000, '1 MiB');
    assert.equal(back.length, big.length);
    assert.equal(sha(back), sha(big));
    // Closed connections leave the forward serving.
    assert.equal((await roundTrip(f.local.get(7000)!, Buffer.from('again'), 20_000, 'again')).toString(), 'again');
    assert.equal(f.proc.exitCode, null, f.stderr());
  });

  it('serves the plain SPDY upgrade kubectl falls back to when websockets are off', async () => {
    const f = await forward([`pod/${podName}`, '0:7000', '-v=6'], { KUBECTL_PORT_FORWARD_WEBSOCKETS: 'false' });
    const big = randomBytes(2 ** 20);
    const back = await roundTrip(f.local.get(7000)!, big, 30_000, '1 MiB over SPDY');
    assert.equal(sha(back), sha(big));
    // -v=6 logs the upgrade: a POST answered 101, no websocket attempt.
    assert.match(f.stderr(), /POST \S+\/portforward 101/);
    assert.doesNotMatch(f.stderr(), /Before WebSocket Upgrade/);
  });

  it('tries the websocket tunnel first, as kubectl 1.32 does by default', async () => {
    const f = await forward([`pod/${podName}`, '0:7000', '-v=6']);
    assert.equal((await roundTrip(f.local.get(7000)!, Buffer.from('tunnelled'))).toString(), 'tunnelled');
    assert.match(f.stderr(), /GET \S+\/portforward 101/);
    assert.doesNotMatch(f.stderr(), /fallback to secondary dialer/);
  });

  it('reaches a server bound to 127.0.0.1 inside the pod, on a fixed local port', async function () {
    if (!findRelay()) return this.skip(); // connects to the pod IP without nsenter and busybox
    const port = 20000 + Math.floor(Math.random() * 20000);
    const f = await forward([`pod/${podName}`, `${port}:8081`]);
    assert.equal(f.local.get(8081), port);
    const page = await httpGet(`http://127.0.0.1:${port}/index.html`, 10_000);
    assert.equal(page.body.trim(), 'loopback-only');
  });

  it('reports a port nobody listens on on the error stream, naming the port and the cause', async () => {
    const good = await forward([`pod/${podName}`, '0:7000']);
    const bad = await forward([`pod/${podName}`, '0:7999']);
    // The connection to the dead port ends without data ...
    const got = await roundTrip(bad.local.get(7999)!, Buffer.from('anyone?'));
    assert.equal(got.length, 0);
    await waitFor('kubectl to print the forwarding error', async () => /error forwarding port 7999/.test(bad.stderr()) || undefined, { timeoutMs: 10_000 });
    assert.match(bad.stderr(), /connection refused/);
    // kubectl itself (client-go since 1.23) closes its whole forward after an error on any
    // connection; the server keeps the SPDY connection up (the unit test shows it serving on).
    await Promise.race([bad.exited, new Promise((r) => setTimeout(r, 10_000))]);
    assert.match(bad.stderr(), /lost connection to pod/);
    // ... while another forward to the same pod keeps serving.
    assert.equal((await roundTrip(good.local.get(7000)!, Buffer.from('still here'))).toString(), 'still here');
  });

  it('connects to the pod IP without nsenter and busybox, where loopback-only servers are out of reach', async () => {
    const ports = new LocalPodPorts({ getPod: (namespace, name) => g.store.get<Pod>({ kind: 'Pod', namespace, name }), network: new CniNetworkManager({ dataDir: path.join(dataDir, 'node') }), nodeName: world.node.nodeName, relay: null });
    assert.equal(ports.mode, 'pod-ip');
    const conn = await ports.openPodPort({ namespace: 'default', pod: podName, port: 7000 });
    const back: Buffer[] = [];
    conn.on('data', (d: Buffer) => back.push(d));
    await new Promise<void>((resolve, reject) => {
      conn.on('end', () => resolve());
      conn.on('error', reject);
      conn.end('by pod IP');
    });
    assert.equal(Buffer.concat(back).toString(), 'by pod IP');
    conn.destroy();
    const lo = await ports.openPodPort({ namespace: 'default', pod: podName, port: 8081 });
    const err = await new Promise<Error>((resolve) => lo.on('error', resolve));
    assert.match(err.message, new RegExp(`cannot connect to pod default/${podName} port 8081: connection refused`));
    await assert.rejects(ports.openPodPort({ namespace: 'default', pod: 'nope', port: 80 }), /pod default\/nope not found/);
  });

  it('forwards svc/NAME (its target port) and deploy/NAME', async () => {
    const svc = await forward(['svc/echo', '0:80']);
    // kubectl resolves the Service port to the pod's target port (http: 8080) and prints that.
    const page = await httpGet(`http://127.0.0.1:${svc.local.get(8080)}/index.html`, 10_000);
    assert.equal(page.body.trim(), 'hello-from-pod');
    const deploy = await forward(['deploy/echo', '0:7000']);
    assert.equal((await roundTrip(deploy.local.get(7000)!, Buffer.from('via deploy'))).toString(), 'via deploy');
  });
});
