/**
 * Logs, exec and port-forward of pods on other nodes: the API server relays them to the node's
 * kubelet endpoint (src/api/kubelet/), over real loopback sockets with the real PKI. An agent's
 * endpoint (fake streams and ports behind it) gets its serving certificate through the API as a
 * `gantry agent` does; the test then plays kubectl against the API, and intruders against the
 * endpoint.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import https from 'node:https';
import net, { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { WebSocket } from 'ws';
import { TokenFile } from '../../src/api/auth/tokens.js';
import { issueCertificate, openCa } from '../../src/api/auth/pki.js';
import { ApiClient } from '../../src/api/client.js';
import { kubeletExecPath, kubeletLogPath } from '../../src/api/kubelet/paths.js';
import { ensureKubeletPki, kubeletPkiPaths, requestServingCertificate, type KubeletPki } from '../../src/api/kubelet/pki.js';
import { kubeletEndpoint } from '../../src/api/kubelet/relay.js';
import { startKubeletServer, type KubeletServer } from '../../src/api/kubelet/server.js';
import { WEBSOCKET_TUNNEL_PROTOCOL } from '../../src/api/portforward.js';
import { createApiServer } from '../../src/api/server.js';
import { parseExecQuery } from '../../src/api/streams.js';
import { GantryError } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';
import type { Node, Pod } from '../../src/model/types.js';
import type { OpenPodPortOptions, PodPorts } from '../../src/node/portforward.js';
import type { ExecSession, PodExecOptions, PodLogOptions, PodStreams } from '../../src/node/streams.js';
import { MemoryStore } from '../fakes/memory-store.js';
import { SpdyTestClient, spdyUpgrade, tunnelClient } from '../helpers/spdy-client.js';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

function pod(name: string, nodeName: string): Pod {
  return {
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name, namespace: 'default', uid: `uid-${name}` },
    spec: { nodeName, containers: [{ name: 'main', image: 'busybox' }] },
    status: { phase: 'Running' },
  } as Pod;
}

function node(name: string, status: Node['status']): Node {
  return { apiVersion: 'v1', kind: 'Node', metadata: { name }, spec: {}, ...(status ? { status } : {}) };
}

/** A node's streams: a two-line log, and an exec that echoes its stdin and exits with its length. */
class FakeStreams implements PodStreams {
  readonly nodeName = 'node-b';
  logCalls: PodLogOptions[] = [];
  execCalls: PodExecOptions[] = [];
  async logs(opts: PodLogOptions): Promise<AsyncIterable<string>> {
    this.logCalls.push(opts);
    if (opts.previous) throw new GantryError('NotFound', 'no previous');
    return (async function* () {
      yield 'one\n';
      yield 'two\n';
    })();
  }
  async exec(opts: PodExecOptions): Promise<ExecSession> {
    this.execCalls.push(opts);
    let endStdin!: () => void;
    const stdinDone = new Promise<void>((r) => (endStdin = r));
    const received: Buffer[] = [];
    return {
      stdin: { write: async (c) => void received.push(Buffer.from(c)), end: async () => endStdin() },
      stdout: (async function* () {
        await stdinDone;
        yield Buffer.concat(received);
      })(),
      resize: async () => undefined,
      exitCode: stdinDone.then(() => Buffer.concat(received).length),
      close: async () => undefined,
    };
  }
}

describe('logs, exec and port-forward of pods on other nodes (the kubelet endpoint and the relay to it)', () => {
  let dir = '';
  let pki: KubeletPki;
  const store = new MemoryStore();
  const streams = new FakeStreams();
  let echo: net.Server;
  const opened: OpenPodPortOptions[] = [];
  let kubelet: KubeletServer;
  let api: ReturnType<typeof createApiServer>;
  let apiPort = 0;
  /** The agent's pods (as stored): web runs there; stranger is bound to node-b in the store, but the agent never heard of it. */
  const agentPods = new Map<string, Pod>();
  let webUid = '';

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'gantry-kubelet-'));
    pki = await ensureKubeletPki(dir);
    echo = net.createServer({ allowHalfOpen: true }, (c) => c.pipe(c));
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
    const ports: PodPorts = {
      nodeName: 'node-b',
      async openPodPort(o) {
        opened.push(o);
        return net.connect({ host: '127.0.0.1', port: (echo.address() as AddressInfo).port });
      },
    };
    api = createApiServer({ store, logger: silentLogger(), kubelet: pki });
    await api.listen({ host: '127.0.0.1', port: 0 });
    apiPort = (api.server.address() as AddressInfo).port;
    // The agent's start: a serving certificate through the API, then its endpoint.
    const credentials = await requestServingCertificate(new ApiClient({ server: `http://127.0.0.1:${apiPort}`, token: 'unused' }), { nodeName: 'node-b', names: ['127.0.0.1'] });
    kubelet = await startKubeletServer({ nodeName: 'node-b', listen: ['127.0.0.1', 0], credentials, logger: silentLogger() });
    kubelet.attach({ pod: (ns, name) => (ns === 'default' ? agentPods.get(name) : undefined), streams, ports });
    const at = { addresses: [{ type: 'Hostname', address: 'node-b.invalid' }, { type: 'InternalIP', address: '127.0.0.1' }], daemonEndpoints: { kubeletEndpoint: { Port: kubelet.port } } };
    await store.create(node('node-b', at));
    // node-e points at node-b's endpoint: its certificate names node-b, so it is not node-e's.
    await store.create(node('node-e', at));
    await store.create(node('node-d', { addresses: [{ type: 'InternalIP', address: '127.0.0.1' }] }));
    for (const [name, on] of [['web', 'node-b'], ['stranger', 'node-b'], ['ghost', 'node-c'], ['mute', 'node-d'], ['liar', 'node-e']] as const) await store.create(pod(name, on));
    const web = (await store.get<Pod>({ kind: 'Pod', namespace: 'default', name: 'web' }))!;
    agentPods.set('web', web);
    webUid = web.metadata.uid!;
  });

  after(async () => {
    await api?.close();
    await kubelet?.close();
    echo?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const get = async (url: string) => {
    const res = await api.inject({ method: 'GET', url });
    return { code: res.statusCode, body: res.body, json: () => res.json<{ kind: string; reason: string; message: string }>() };
  };

  it('streams a remote pod\'s log from its node, the query passed on in the kubelet\'s words', async () => {
    const r = await get('/api/v1/namespaces/default/pods/web/log?tailLines=5&timestamps=true&limitBytes=100');
    assert.equal(r.code, 200, r.body);
    assert.equal(r.body, 'one\ntwo\n');
    const call = streams.logCalls.at(-1)!;
    assert.deepEqual(call.target, { namespace: 'default', pod: 'web', uid: webUid, container: 'main' });
    assert.deepEqual([call.tailLines, call.timestamps, call.limitBytes, call.follow], [5, true, 100, false]);
  });

  it('passes the agent\'s refusal on as its Status', async () => {
    const r = await get('/api/v1/namespaces/default/pods/web/log?previous=true');
    assert.equal(r.code, 400);
    assert.equal(r.json().message, 'previous terminated container "main" in pod "web" not found');
    const s = await get('/api/v1/namespaces/default/pods/stranger/log');
    assert.equal(s.code, 404);
    assert.equal(s.json().message, 'pods "stranger" not found on node node-b');
  });

  const unreachable: { what: string; pod: string; message: RegExp }[] = [
    { what: 'a node that is not registered', pod: 'ghost', message: /^node node-c not found$/ },
    { what: 'a node that publishes no kubelet endpoint', pod: 'mute', message: /node node-d publishes no kubelet endpoint/ },
    { what: 'a node whose endpoint presents another node\'s certificate', pod: 'liar', message: /cannot reach the agent of node node-e at https:\/\/127\.0\.0\.1:\d+: its certificate is not node node-e's serving certificate \(subject system:node:node-b\)/ },
  ];
  for (const u of unreachable) {
    it(`answers a 503 Status for ${u.what}`, async () => {
      const r = await get(`/api/v1/namespaces/default/pods/${u.pod}/log`);
      assert.equal(r.code, 503);
      assert.equal(r.json().reason, 'ServiceUnavailable');
      assert.match(r.json().message, u.message);
    });
  }

  it('relays an exec\'s WebSocket: the agent\'s subprotocol, stdin in, output and exit code out', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${apiPort}/api/v1/namespaces/default/pods/web/exec?command=cat&stdin=true&stdout=true`, ['v5.channel.k8s.io']);
    const messages: Buffer[] = [];
    const closed = new Promise<number>((resolve, reject) => {
      ws.on('message', (d: Buffer) => messages.push(d));
      ws.on('close', (code) => resolve(code));
      ws.on('error', reject);
    });
    await new Promise<void>((resolve) => ws.once('open', () => resolve()));
    assert.equal(ws.protocol, 'v5.channel.k8s.io');
    ws.send(Buffer.from([0, ...Buffer.from('hello')]));
    ws.send(Buffer.from([255, 0]));
    assert.equal(await closed, 1000);
    const channel = (c: number) => Buffer.concat(messages.filter((m) => m[0] === c).map((m) => m.subarray(1))).toString();
    assert.equal(channel(1), 'hello');
    assert.equal((JSON.parse(channel(3)) as { details: { causes: { message: string }[] } }).details.causes[0]!.message, '5');
    const call = streams.execCalls.at(-1)!;
    assert.deepEqual([call.command, call.stdin, call.stdout, call.stderr, call.tty, call.target.uid], [['cat'], true, true, false, false, webUid]);
  });

  it('relays port-forward, over the websocket tunnel and over the SPDY upgrade', async () => {
    const pf = '/api/v1/namespaces/default/pods/web/portforward';
    const t = await tunnelClient(apiPort, pf, WEBSOCKET_TUNNEL_PROTOCOL);
    assert.equal(t.code, 101);
    assert.equal(t.protocol, WEBSOCKET_TUNNEL_PROTOCOL);
    const tunnelled = new SpdyTestClient(t.stream);
    const big = randomBytes(300_000);
    try {
      const r = await tunnelled.connection(8080, 0, big);
      assert.equal(sha(r.data), sha(big));
      assert.equal(r.error, '');
    } finally {
      tunnelled.close();
    }
    const up = await spdyUpgrade(apiPort, pf);
    assert.equal(up.code, 101);
    const spdy = new SpdyTestClient(up.sock);
    try {
      assert.equal((await spdy.connection(7000, 0, Buffer.from('over spdy'))).data.toString(), 'over spdy');
    } finally {
      spdy.close();
    }
    assert.deepEqual(opened.map((o) => [o.namespace, o.pod, o.port]), [['default', 'web', 8080], ['default', 'web', 7000]]);
  });

  it('passes a refused upgrade on as the agent\'s Status', async () => {
    const stored = await store.create(pod('gone-soon', 'node-b'));
    // The agent sees it stopped before the API does.
    agentPods.set('gone-soon', { ...stored, status: { phase: 'Succeeded' } } as Pod);
    const up = await spdyUpgrade(apiPort, '/api/v1/namespaces/default/pods/gone-soon/portforward');
    assert.equal(up.code, 400);
    assert.match(up.body, /pod default\/gone-soon is not running \(phase Succeeded\)/);
  });

  describe('the kubelet endpoint serves the control plane only', () => {
    /** A request straight to the endpoint with `cert`/`key` (or none); its status and Status message. */
    const direct = (path: string, tls: { cert?: string; key?: string } = {}): Promise<{ code: number; message: string }> =>
      new Promise((resolve, reject) => {
        const req = https.request({ host: '127.0.0.1', port: kubelet.port, path, ca: pki.client.ca, servername: 'node-b', checkServerIdentity: () => undefined, ...tls }, (res) => {
          let body = '';
          res.on('data', (d: Buffer) => (body += d.toString()));
          res.on('end', () => resolve({ code: res.statusCode ?? 0, message: (JSON.parse(body) as { message: string }).message }));
        });
        req.on('error', reject);
        req.end();
      });
    const logPath = kubeletLogPath({ namespace: 'default', pod: 'web', container: 'main' }, new URLSearchParams());

    it('serves the control plane\'s client certificate', async () => {
      const r = await new Promise<number>((resolve, reject) => {
        https.get({ host: '127.0.0.1', port: kubelet.port, path: logPath, ca: pki.client.ca, cert: pki.client.cert, key: pki.client.key, checkServerIdentity: () => undefined }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        }).on('error', reject);
      });
      assert.equal(r, 200);
    });

    it('refuses a request without a client certificate with 401, before looking at the pod', async () => {
      const before = streams.execCalls.length;
      const r = await direct(kubeletExecPath({ namespace: 'default', pod: 'web', uid: webUid, container: 'main' }, { command: ['sh'], stdin: false, stdout: true, stderr: false, tty: false }));
      assert.equal(r.code, 401);
      assert.match(r.message, /a client certificate is required/);
      assert.equal((await direct(logPath)).code, 401);
      assert.equal(streams.execCalls.length, before);
    });

    it('refuses a certificate of another CA (another cluster\'s control plane) with 401', async () => {
      const other = await ensureKubeletPki(path.join(dir, 'other-cluster'));
      const r = await direct(logPath, { cert: other.client.cert, key: other.client.key });
      assert.equal(r.code, 401);
      assert.match(r.message, /not signed by this cluster's kubelet CA/);
    });

    it('refuses a client certificate of this CA that is not the control plane\'s with 403', async () => {
      const p = kubeletPkiPaths(dir);
      const intruder = await issueCertificate(await openCa(p.caCert, p.caKey, 'unused'), { subject: 'CN=system:node:node-c, O=system:nodes', usage: 'client' });
      const r = await direct(logPath, intruder);
      assert.equal(r.code, 403);
      assert.match(r.message, /system:node:node-c may not use the kubelet endpoint/);
    });
  });

  describe('the API\'s own checks come first', () => {
    let guarded: ReturnType<typeof createApiServer>;
    let tokens: TokenFile;
    before(async () => {
      tokens = new TokenFile(path.join(dir, 'tokens.json'));
      guarded = createApiServer({ store, logger: silentLogger(), kubelet: pki, tokens });
    });
    after(async () => guarded?.close());

    it('refuses exec into a remote pod to a read-only token without asking the node', async () => {
      const ro = await tokens.create('viewer', 'read-only');
      const before = streams.execCalls.length;
      const res = await guarded.inject({ method: 'POST', url: '/api/v1/namespaces/default/pods/web/exec?command=ls&stdout=true', headers: { authorization: `Bearer ${ro}` } });
      assert.equal(res.statusCode, 403);
      assert.equal(streams.execCalls.length, before);
      const log = await guarded.inject({ method: 'GET', url: '/api/v1/namespaces/default/pods/web/log', headers: { authorization: `Bearer ${ro}` } });
      assert.equal(log.statusCode, 200, 'a read-only token reads logs, as Kubernetes\' view role does');
      assert.equal(log.body, 'one\ntwo\n');
    });

    it('signs a kubelet certificate only for the agent token\'s own node', async () => {
      const agent = await tokens.create('agent-b', 'agent', { node: 'node-b' });
      const other = await guarded.inject({ method: 'POST', url: '/apis/gantry.dev/v1/nodes/node-c/agent/kubelet-certificate', headers: { authorization: `Bearer ${agent}` }, payload: { publicKey: 'x' } });
      assert.equal(other.statusCode, 403);
      const bad = await guarded.inject({ method: 'POST', url: '/apis/gantry.dev/v1/nodes/node-b/agent/kubelet-certificate', headers: { authorization: `Bearer ${agent}` }, payload: { publicKey: 'not a key' } });
      assert.equal(bad.statusCode, 400);
      assert.match(bad.json<{ message: string }>().message, /not an ECDSA P-256 public key/);
    });
  });
});

describe('kubelet paths and addresses', () => {
  it('reads the kubelet\'s exec query back into the exec the API parsed', () => {
    const e = { command: ['sh', '-c', 'echo a&b'], stdin: true, stdout: true, stderr: false, tty: true };
    const p = kubeletExecPath({ namespace: 'default', pod: 'web', uid: 'u-1', container: 'main' }, e);
    assert.match(p, /^\/exec\/default\/web\/u-1\/main\?command=sh&command=-c&command=echo\+a%26b&input=1&output=1&tty=1$/);
    const q = Object.fromEntries([...new URLSearchParams(p.split('?')[1]).entries()].reduce((m, [k, v]) => m.set(k, [...(m.get(k) ?? []), v]), new Map<string, string[]>()));
    assert.deepEqual(parseExecQuery(q, 'kubelet'), e);
  });

  const cases: { what: string; status: Node['status']; want: { host: string; port: number } | RegExp }[] = [
    { what: 'InternalIP before Hostname', status: { addresses: [{ type: 'Hostname', address: 'b' }, { type: 'InternalIP', address: '10.0.0.6' }], daemonEndpoints: { kubeletEndpoint: { Port: 10250 } } }, want: { host: '10.0.0.6', port: 10250 } },
    { what: 'the Hostname when it is all there is', status: { addresses: [{ type: 'Hostname', address: 'b' }], daemonEndpoints: { kubeletEndpoint: { Port: 10251 } } }, want: { host: 'b', port: 10251 } },
    { what: 'no port published', status: { addresses: [{ type: 'InternalIP', address: '10.0.0.6' }] }, want: /publishes no kubelet endpoint/ },
    { what: 'no address', status: { daemonEndpoints: { kubeletEndpoint: { Port: 10250 } } }, want: /has no address/ },
  ];
  for (const c of cases) {
    it(`dials a node's kubelet endpoint: ${c.what}`, () => {
      const got = kubeletEndpoint(node('b', c.status));
      if (c.want instanceof RegExp) assert.match(got as string, c.want);
      else assert.deepEqual(got, c.want);
    });
  }
});
