/**
 * What the relay to a node's kubelet endpoint costs: the same requests served by the API for a
 * pod of its own node (`gantry up`) and for a pod on another node (through the agent's kubelet
 * endpoint, over TLS with the client certificate), on loopback with the same in-memory node side
 * behind both: a 1 MiB log, an exec from upgrade to exit code, and port-forward throughput (32 MiB
 * echoed over the SPDY upgrade). The difference is the relay's: a TLS connection per request and a
 * second hop for the bytes.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import net, { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { WebSocket } from 'ws';
import { ApiClient } from '../src/api/client.js';
import { ensureKubeletPki, requestServingCertificate } from '../src/api/kubelet/pki.js';
import { startKubeletServer } from '../src/api/kubelet/server.js';
import { createApiServer } from '../src/api/server.js';
import { silentLogger } from '../src/log.js';
import type { Node, Pod } from '../src/model/types.js';
import type { PodPorts } from '../src/node/portforward.js';
import type { ExecSession, PodStreams } from '../src/node/streams.js';
import { MemoryStore } from '../test/fakes/memory-store.js';
import { SpdyTestClient, spdyUpgrade } from '../test/helpers/spdy-client.js';
import { percentile } from './stats.js';

const LOG_LINES = 10_000;
const LINE = `${'x'.repeat(99)}\n`;
const LOG_RUNS = 20;
const EXEC_RUNS = 50;
const FORWARD_BYTES = 32 * 2 ** 20;

/** Streams of one node, all in memory: a 1 MiB log, an exec that exits 0 at once. */
function memoryStreams(nodeName: string): PodStreams {
  return {
    nodeName,
    async logs() {
      return (async function* () {
        for (let i = 0; i < LOG_LINES; i += 100) yield LINE.repeat(100);
      })();
    },
    async exec(): Promise<ExecSession> {
      return { resize: async () => undefined, exitCode: Promise.resolve(0), close: async () => undefined };
    },
  };
}

function pod(name: string, nodeName: string): Pod {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'default' }, spec: { nodeName, containers: [{ name: 'main', image: 'busybox' }] }, status: { phase: 'Running' } } as Pod;
}

function logOnce(port: number, name: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const sock = net.connect({ host: '127.0.0.1', port }, () => sock.write(`GET /api/v1/namespaces/default/pods/${name}/log HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`));
    let n = 0;
    sock.on('data', (d: Buffer) => (n += d.length));
    sock.on('end', () => (n > LOG_LINES * LINE.length ? resolve(performance.now() - started) : reject(new Error(`log of ${name}: ${n} bytes`))));
    sock.on('error', reject);
  });
}

function execOnce(port: number, name: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const ws = new WebSocket(`ws://127.0.0.1:${port}/api/v1/namespaces/default/pods/${name}/exec?command=true&stdout=true`, ['v5.channel.k8s.io']);
    ws.on('close', (code) => (code === 1000 ? resolve(performance.now() - started) : reject(new Error(`exec in ${name} closed with ${code}`))));
    ws.on('error', reject);
  });
}

async function forwardMbps(port: number, name: string): Promise<number> {
  const up = await spdyUpgrade(port, `/api/v1/namespaces/default/pods/${name}/portforward`);
  if (up.code !== 101) throw new Error(`port-forward to ${name}: ${up.code} ${up.body}`);
  const client = new SpdyTestClient(up.sock);
  try {
    const payload = randomBytes(FORWARD_BYTES);
    const started = performance.now();
    const r = await client.connection(7000, 0, payload);
    const ms = performance.now() - started;
    if (r.data.length !== payload.length) throw new Error(`port-forward to ${name}: ${r.data.length} of ${payload.length} bytes back`);
    return (2 * FORWARD_BYTES) / 2 ** 20 / (ms / 1000);
  } finally {
    client.close();
  }
}

/** Runs the figures; see the module comment. */
export async function benchKubelet(): Promise<Record<string, number | string>> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gantry-bench-kubelet-'));
  const echo = net.createServer({ allowHalfOpen: true }, (c) => c.pipe(c));
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
  const ports = (nodeName: string): PodPorts => ({ nodeName, openPodPort: async () => net.connect({ host: '127.0.0.1', port: (echo.address() as AddressInfo).port }) });
  const store = new MemoryStore();
  const pki = await ensureKubeletPki(dir);
  const api = createApiServer({ store, logger: silentLogger(), kubelet: pki, streams: memoryStreams('node-a'), portForward: ports('node-a') });
  await api.listen({ host: '127.0.0.1', port: 0 });
  const apiPort = (api.server.address() as AddressInfo).port;
  const credentials = await requestServingCertificate(new ApiClient({ server: `http://127.0.0.1:${apiPort}`, token: 'unused' }), { nodeName: 'node-b', names: ['127.0.0.1'] });
  const kubelet = await startKubeletServer({ nodeName: 'node-b', listen: ['127.0.0.1', 0], credentials, logger: silentLogger() });
  try {
    await store.create<Node>({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-b' }, spec: {}, status: { addresses: [{ type: 'InternalIP', address: '127.0.0.1' }], daemonEndpoints: { kubeletEndpoint: { Port: kubelet.port } } } });
    await store.create(pod('here', 'node-a'));
    const remote = await store.create(pod('there', 'node-b'));
    kubelet.attach({ pod: (_ns, name) => (name === 'there' ? remote : undefined), streams: memoryStreams('node-b'), ports: ports('node-b') });
    const out: Record<string, number | string> = {};
    for (const [label, name] of [['local node', 'here'], ['relayed to an agent', 'there']] as const) {
      const logs: number[] = [];
      for (let i = 0; i < LOG_RUNS; i++) logs.push(await logOnce(apiPort, name));
      const execs: number[] = [];
      for (let i = 0; i < EXEC_RUNS; i++) execs.push(await execOnce(apiPort, name));
      out[`1 MiB log, ${label}: p50 ms`] = Number(percentile(logs, 50).toFixed(1));
      out[`exec upgrade to exit code, ${label}: p50 ms`] = Number(percentile(execs, 50).toFixed(1));
      out[`port-forward, ${label}: MiB/s (32 MiB each way)`] = Number((await forwardMbps(apiPort, name)).toFixed(0));
    }
    return out;
  } finally {
    await api.close();
    await kubelet.close();
    echo.close();
    await rm(dir, { recursive: true, force: true });
  }
}
