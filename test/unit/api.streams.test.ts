import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { WebSocket } from 'ws';
import { createApiServer } from '../../src/api/server.js';
import { chooseContainer, exitStatus, frame, parseExecQuery, parseFrame, parseLogQuery, parseResize } from '../../src/api/streams.js';
import { silentLogger } from '../../src/log.js';
import type { Pod } from '../../src/model/types.js';
import type { ExecSession, PodExecOptions, PodLogOptions, PodStreams } from '../../src/node/streams.js';
import { GantryError } from '../../src/errors.js';
import { MemoryStore } from '../fakes/memory-store.js';

function pod(name: string, containers: string[], opts: { nodeName?: string; inits?: string[] } = {}): Pod {
  return {
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name, namespace: 'default', uid: `uid-${name}` },
    spec: { ...(opts.nodeName !== undefined ? { nodeName: opts.nodeName } : { nodeName: 'node-a' }), containers: containers.map((c) => ({ name: c, image: 'busybox' })), ...(opts.inits ? { initContainers: opts.inits.map((c) => ({ name: c, image: 'busybox' })) } : {}) },
    status: { phase: 'Running', containerStatuses: [] },
  } as Pod;
}

describe('remote command channel framing', () => {
  it('frames data behind its channel byte and reads it back', () => {
    const f = frame(1, 'hi');
    assert.deepEqual([...f], [1, 0x68, 0x69]);
    const back = parseFrame(f)!;
    assert.equal(back.channel, 1);
    assert.equal(back.data.toString(), 'hi');
    assert.equal(parseFrame(new Uint8Array(0)), undefined);
    // v5's close-channel message for stdin.
    assert.deepEqual(parseFrame(Buffer.from([255, 0])), { channel: 255, data: Buffer.from([0]) });
  });

  it('reads a resize message as kubectl sends it and refuses malformed ones', () => {
    assert.deepEqual(parseResize(Buffer.from('{"Width":120,"Height":40}')), { width: 120, height: 40 });
    assert.equal(parseResize(Buffer.from('{"width":120,"height":40}')), undefined);
    assert.equal(parseResize(Buffer.from('{"Width":-1,"Height":40}')), undefined);
    assert.equal(parseResize(Buffer.from('not json')), undefined);
  });

  it('ends with Success, or NonZeroExitCode carrying the code as an ExitCode cause', () => {
    assert.deepEqual(exitStatus(0, ['true']), { metadata: {}, status: 'Success' });
    const s = exitStatus(7, ['sh', '-c', 'exit 7']) as { status: string; reason: string; details: { causes: { reason: string; message: string }[] } };
    assert.equal(s.status, 'Failure');
    assert.equal(s.reason, 'NonZeroExitCode');
    assert.deepEqual(s.details.causes, [{ reason: 'ExitCode', message: '7' }]);
  });
});

describe('log and exec query parsing', () => {
  it('reads the log query kubectl sends', () => {
    assert.deepEqual(parseLogQuery({ container: 'c', follow: 'true', previous: 'false', tailLines: '10', timestamps: 'true', limitBytes: '100' }), { container: 'c', follow: true, previous: false, tailLines: 10, timestamps: true, limitBytes: 100 });
    assert.deepEqual(parseLogQuery({}), { follow: false, previous: false, timestamps: false });
  });
  const bad: [Record<string, string>, RegExp][] = [
    [{ tailLines: 'ten' }, /tailLines: "ten" must be an integer of at least 0/],
    [{ tailLines: '-1' }, /tailLines/],
    [{ limitBytes: '0' }, /limitBytes/],
    [{ sinceSeconds: '60' }, /sinceSeconds and sinceTime are not supported/],
  ];
  for (const [q, msg] of bad) {
    it(`refuses the log query ${JSON.stringify(q)}`, () => {
      const r = parseLogQuery(q);
      assert.equal(typeof r, 'string');
      assert.match(r as string, msg);
    });
  }

  it('reads a repeated command as the argv and drops stderr on a terminal', () => {
    assert.deepEqual(parseExecQuery({ command: ['sh', '-c', 'echo hi'], stdin: 'true', stdout: 'true', stderr: 'true', tty: 'true', container: 'main' }), { command: ['sh', '-c', 'echo hi'], container: 'main', stdin: true, stdout: true, stderr: false, tty: true });
    assert.deepEqual(parseExecQuery({ command: 'ls', stdout: 'true' }), { command: ['ls'], stdin: false, stdout: true, stderr: false, tty: false });
    assert.match(parseExecQuery({ stdout: 'true' }) as string, /at least one command/);
    assert.match(parseExecQuery({ command: 'ls' }) as string, /at least 1 of stdin, stdout, stderr/);
  });

  it('chooses the only container, a named one, and asks as Kubernetes does otherwise', () => {
    assert.equal(chooseContainer(pod('p', ['main']), undefined), 'main');
    assert.equal(chooseContainer(pod('p', ['a', 'b'], { inits: ['setup'] }), 'setup'), 'setup');
    assert.deepEqual(chooseContainer(pod('p', ['a', 'b']), undefined), { error: 'a container name must be specified for pod p, choose one of: [a b]' });
    assert.deepEqual(chooseContainer(pod('p', ['a', 'b'], { inits: ['setup'] }), undefined), { error: 'a container name must be specified for pod p, choose one of: [a b] or one of the init containers: [setup]' });
    assert.deepEqual(chooseContainer(pod('p', ['a']), 'z'), { error: 'container z is not valid for pod p' });
  });
});

/** Streams whose logs and exec are scripted by the test. */
class FakeStreams implements PodStreams {
  readonly nodeName = 'node-a';
  logCalls: PodLogOptions[] = [];
  execCalls: PodExecOptions[] = [];
  received: Buffer[] = [];
  resizes: { width: number; height: number }[] = [];
  stdinEnded = false;
  closed = 0;
  /** Resizes and input in the order the process would see them. */
  events: string[] = [];
  /** How long starting a process and applying a resize take (a slow node). */
  execDelayMs = 0;
  resizeDelayMs = 0;
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
    await new Promise((r) => setTimeout(r, this.execDelayMs));
    if (opts.command[0] === 'refuse') throw new GantryError('InvalidArgument', 'cannot exec in container "main" of pod "web": it is not running');
    let endStdin!: () => void;
    const stdinDone = new Promise<void>((r) => (endStdin = r));
    // An echo: stdout repeats stdin until it ends, then the process "exits" with the number of bytes read.
    const received = this.received;
    const out = (async function* () {
      yield Buffer.from('ready\n');
      await stdinDone;
      yield Buffer.concat(received);
    })();
    return {
      stdin: { write: async (c) => void (this.received.push(Buffer.from(c)), this.events.push(`stdin ${Buffer.from(c).toString()}`)), end: async () => { this.stdinEnded = true; endStdin(); } },
      stdout: out,
      resize: async (s) => {
        await new Promise((r) => setTimeout(r, this.resizeDelayMs));
        this.resizes.push(s);
        this.events.push(`resize ${s.width}x${s.height}`);
      },
      exitCode: stdinDone.then(() => Buffer.concat(received).length),
      close: async () => void this.closed++,
    };
  }
}

describe('pod log and exec routes', () => {
  const store = new MemoryStore();
  const streams = new FakeStreams();
  const app = createApiServer({ store, logger: silentLogger(), streams });
  const bare = createApiServer({ store, logger: silentLogger() });
  let url = '';
  before(async () => {
    await store.create(pod('web', ['main']));
    await store.create(pod('duo', ['alpha', 'beta']));
    await store.create(pod('elsewhere', ['main'], { nodeName: 'node-b' }));
    await store.create(pod('pending', ['main'], { nodeName: '' }));
    await app.listen({ host: '127.0.0.1', port: 0 });
    url = `ws://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  });
  after(async () => {
    await app.close();
    await bare.close();
    await store.close();
  });

  const statusOf = async (a: typeof app, path: string, method: 'GET' | 'POST' = 'GET') => {
    const res = await a.inject({ method, url: path });
    return { code: res.statusCode, body: res.json<{ kind: string; reason: string; message: string }>() };
  };

  it('streams a log and passes the query on', async () => {
    const res = await app.inject({ method: 'GET', url: '/api/v1/namespaces/default/pods/web/log?tailLines=5&timestamps=true' });
    assert.equal(res.statusCode, 200);
    assert.equal(res.body, 'one\ntwo\n');
    const call = streams.logCalls.at(-1)!;
    const stored = await store.get<Pod>({ kind: 'Pod', namespace: 'default', name: 'web' });
    assert.deepEqual(call.target, { namespace: 'default', pod: 'web', uid: stored!.metadata.uid, container: 'main' });
    assert.equal(call.tailLines, 5);
    assert.equal(call.timestamps, true);
  });

  const errors: { what: string; path: string; code: number; reason: string; message: string; server?: 'bare' }[] = [
    { what: 'a missing pod', path: '/api/v1/namespaces/default/pods/nope/log', code: 404, reason: 'NotFound', message: 'pods "nope" not found' },
    { what: 'a pod of several containers without one named', path: '/api/v1/namespaces/default/pods/duo/log', code: 400, reason: 'BadRequest', message: 'a container name must be specified for pod duo, choose one of: [alpha beta]' },
    { what: 'an unknown container', path: '/api/v1/namespaces/default/pods/web/log?container=side', code: 400, reason: 'BadRequest', message: 'container side is not valid for pod web' },
    { what: 'a missing previous instance', path: '/api/v1/namespaces/default/pods/web/log?previous=true', code: 400, reason: 'BadRequest', message: 'previous terminated container "main" in pod "web" not found' },
    { what: 'a pod on another node', path: '/api/v1/namespaces/default/pods/elsewhere/log', code: 400, reason: 'BadRequest', message: 'pod elsewhere runs on node node-b; this server reaches the agent of node node-a only' },
    { what: 'a pod not scheduled yet', path: '/api/v1/namespaces/default/pods/pending/log', code: 400, reason: 'BadRequest', message: 'pod pending does not have a host assigned' },
    { what: 'a server without a node agent', path: '/api/v1/namespaces/default/pods/web/log', code: 503, reason: 'ServiceUnavailable', message: 'this server runs no node agent: pod logs and exec are served by the node a pod runs on', server: 'bare' },
    { what: 'an exec that is not a WebSocket upgrade', path: '/api/v1/namespaces/default/pods/web/exec?command=ls&stdout=true', code: 400, reason: 'BadRequest', message: 'exec needs a WebSocket upgrade (subprotocol v5.channel.k8s.io)' },
  ];
  for (const e of errors) {
    it(`answers ${e.what} with a ${e.code} Status`, async () => {
      const s = await statusOf(e.server === 'bare' ? bare : app, e.path);
      assert.equal(s.code, e.code);
      assert.equal(s.body.kind, 'Status');
      assert.equal(s.body.reason, e.reason);
      assert.equal(s.body.message, e.message);
    });
  }

  it('answers an SPDY exec (POST) with the same checks, then a Status naming WebSocket', async () => {
    assert.equal((await statusOf(app, '/api/v1/namespaces/default/pods/nope/exec?command=ls&stdout=true', 'POST')).code, 404);
    const s = await statusOf(app, '/api/v1/namespaces/default/pods/web/exec?command=ls&stdout=true', 'POST');
    assert.equal(s.code, 400);
    assert.match(s.body.message, /gantry serves exec over WebSocket only/);
  });

  /** Opens an exec socket; collects every message until the server closes it. */
  function openExec(query: string, protocol = 'v5.channel.k8s.io', onOpen?: (ws: WebSocket) => void): Promise<{ protocol: string; messages: Buffer[]; closeCode: number }> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`${url}/api/v1/namespaces/default/pods/web/exec?${query}`, [protocol]);
      const messages: Buffer[] = [];
      ws.on('open', () => onOpen?.(ws));
      ws.on('message', (d: Buffer) => messages.push(d));
      ws.on('close', (code) => resolve({ protocol: ws.protocol, messages, closeCode: code }));
      ws.on('error', reject);
    });
  }

  it('runs an exec over v5 channels: stdout, stdin, resize, stdin closed by [255, 0], exit code on channel 3', async () => {
    streams.received.length = 0;
    const r = await openExec('command=cat&stdin=true&stdout=true&tty=true', 'v5.channel.k8s.io', (ws) => {
      ws.send(Buffer.from([4, ...Buffer.from('{"Width":100,"Height":30}')]));
      ws.send(Buffer.from([0, ...Buffer.from('abc')]));
      ws.send(Buffer.from([0, ...Buffer.from('de')]));
      ws.send(Buffer.from([255, 0]));
    });
    assert.equal(r.protocol, 'v5.channel.k8s.io');
    assert.equal(r.closeCode, 1000);
    const byChannel = (c: number) => Buffer.concat(r.messages.filter((m) => m[0] === c).map((m) => m.subarray(1))).toString();
    assert.equal(byChannel(1), 'ready\nabcde');
    const st = JSON.parse(byChannel(3)) as { status: string; details: { causes: { message: string }[] } };
    assert.equal(st.status, 'Failure');
    assert.equal(st.details.causes[0]!.message, '5');
    assert.deepEqual(streams.resizes.at(-1), { width: 100, height: 30 });
    assert.equal(streams.execCalls.at(-1)!.tty, true);
    assert.ok(streams.stdinEnded);
    assert.ok(streams.closed >= 1, 'the session was closed');
  });

  it('starts a terminal at the size sent before the process ran, and applies a later resize before the input that follows it', async () => {
    streams.received.length = 0;
    streams.events.length = 0;
    streams.execDelayMs = 100;
    streams.resizeDelayMs = 100;
    try {
      const r = await openExec('command=sh&stdin=true&stdout=true&tty=true', 'v5.channel.k8s.io', (ws) => {
        ws.send(Buffer.from([4, ...Buffer.from('{"Width":111,"Height":33}')]));
        ws.send(Buffer.from([0, ...Buffer.from('first')]));
        // Sent once the process runs (its first output): the resize must reach it before "second".
        ws.once('message', () => {
          ws.send(Buffer.from([4, ...Buffer.from('{"Width":80,"Height":20}')]));
          ws.send(Buffer.from([0, ...Buffer.from('second')]));
          ws.send(Buffer.from([255, 0]));
        });
      });
      assert.equal(r.closeCode, 1000);
      assert.deepEqual(streams.execCalls.at(-1)!.size, { width: 111, height: 33 });
      assert.deepEqual(streams.events.filter((e) => !e.startsWith('resize 111')), ['stdin first', 'resize 80x20', 'stdin second']);
    } finally {
      streams.execDelayMs = 0;
      streams.resizeDelayMs = 0;
    }
  });

  it('reports an exec the node refuses as a Failure Status on channel 3', async () => {
    const r = await openExec('command=refuse&stdout=true');
    const st = JSON.parse(r.messages.find((m) => m[0] === 3)!.subarray(1).toString()) as { status: string; message: string };
    assert.equal(st.status, 'Failure');
    assert.match(st.message, /it is not running/);
  });

  it('closes the session when the client goes away mid-command', async () => {
    const before = streams.closed;
    const ws = new WebSocket(`${url}/api/v1/namespaces/default/pods/web/exec?command=cat&stdin=true&stdout=true`, ['v4.channel.k8s.io']);
    await new Promise<void>((resolve, reject) => {
      ws.on('message', () => {
        assert.equal(ws.protocol, 'v4.channel.k8s.io');
        ws.terminate();
        resolve();
      });
      ws.on('error', reject);
    });
    const deadline = Date.now() + 2000;
    while (streams.closed === before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(streams.closed, before + 1);
  });
});
