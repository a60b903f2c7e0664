/**
 * Port-forward's pieces: SPDY/3 frames and header blocks, the header compression dictionary,
 * and the route over real loopback sockets with a SPDY client played by the test (SPDY upgrade
 * and websocket tunnel), forwarding to a loopback echo server through a fake PodPorts.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import net, { type AddressInfo } from 'node:net';
import { Duplex, PassThrough } from 'node:stream';
import { WebSocket } from 'ws';
import Fastify from 'fastify';
import { portForwardApi, WEBSOCKET_TUNNEL_PROTOCOL } from '../../src/api/portforward.js';
import { createApiServer } from '../../src/api/server.js';
import { HeaderCodec, SPDY3_DICTIONARY } from '../../src/api/spdy/compression.js';
import { SpdyServerSession, type SpdyStream } from '../../src/api/spdy/session.js';
import {
  dataFrame,
  decodeHeaderBlock,
  encodeHeaderBlock,
  FLAG_FIN,
  type Frame,
  FrameReader,
  goAwayFrame,
  pingFrame,
  rstStreamFrame,
  synReplyFrame,
  synStreamFrame,
} from '../../src/api/spdy/frames.js';
import { isGantryError } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';
import type { Pod } from '../../src/model/types.js';
import type { OpenPodPortOptions, PodPorts } from '../../src/node/portforward.js';
import { MemoryStore } from '../fakes/memory-store.js';
import { SpdyTestClient, spdyUpgrade, tunnelClient } from '../helpers/spdy-client.js';

/** zlib's Adler-32, the id a zlib stream names its dictionary by. */
function adler32(buf: Buffer): number {
  let a = 1;
  let b = 0;
  for (const byte of buf) {
    a = (a + byte) % 65521;
    b = (b + a) % 65521;
  }
  return ((b << 16) | a) >>> 0;
}

function readAll(bytes: Buffer, chunk = bytes.length): Frame[] {
  const r = new FrameReader();
  const out: Frame[] = [];
  for (let at = 0; at < bytes.length; at += chunk) {
    r.push(bytes.subarray(at, at + chunk));
    for (let f = r.next(); f; f = r.next()) out.push(f);
  }
  return out;
}

describe('SPDY/3 frames', () => {
  it('reads back every frame it writes, even when the bytes arrive one at a time', () => {
    const block = Buffer.from('compressed-block');
    const bytes = Buffer.concat([
      synStreamFrame(1, block, { fin: true, priority: 3 }),
      synReplyFrame(1, block),
      dataFrame(1, Buffer.from('hello')),
      dataFrame(1, Buffer.alloc(0), true),
      rstStreamFrame(3, 5),
      pingFrame(7),
      goAwayFrame(9, 1),
    ]);
    const frames = readAll(bytes, 1);
    assert.deepEqual(frames.map((f) => f.type), ['synStream', 'synReply', 'data', 'data', 'rstStream', 'ping', 'goAway']);
    const syn = frames[0] as Extract<Frame, { type: 'synStream' }>;
    assert.equal(syn.streamId, 1);
    assert.equal(syn.priority, 3);
    assert.equal(syn.flags & FLAG_FIN, FLAG_FIN);
    assert.deepEqual(syn.headerBlock, block);
    assert.equal((frames[2] as Extract<Frame, { type: 'data' }>).data.toString(), 'hello');
    assert.equal((frames[3] as Extract<Frame, { type: 'data' }>).flags & FLAG_FIN, FLAG_FIN);
    assert.deepEqual(frames[4], { type: 'rstStream', streamId: 3, status: 5 });
    assert.deepEqual(frames[5], { type: 'ping', id: 7 });
    assert.deepEqual(frames[6], { type: 'goAway', lastGoodStreamId: 9, status: 1 });
  });

  it('refuses a frame of another SPDY version', () => {
    const frame = pingFrame(1);
    frame.writeUInt16BE(0x8002, 0);
    assert.throws(() => readAll(frame), (err: unknown) => isGantryError(err, 'InvalidArgument') && /version 2/.test((err as Error).message));
  });

  it('round-trips header blocks with lower-cased names and repeated values', () => {
    const block = encodeHeaderBlock({ streamType: ['data'], port: ['8080'], via: ['a', 'b'] });
    assert.deepEqual(decodeHeaderBlock(block), { streamtype: ['data'], port: ['8080'], via: ['a', 'b'] });
    assert.throws(() => decodeHeaderBlock(block.subarray(0, block.length - 2)), /ends inside/);
  });

  it('builds the SPDY/3 dictionary byte for byte (its zlib id is 0xe3c6a7c2)', () => {
    assert.equal(SPDY3_DICTIONARY.length, 1423);
    assert.equal(adler32(SPDY3_DICTIONARY).toString(16), 'e3c6a7c2');
  });

  it('compresses header blocks in one shared context per direction', async () => {
    const out = new HeaderCodec('deflate');
    const inn = new HeaderCodec('inflate');
    const blocks = [encodeHeaderBlock({ streamtype: ['error'], port: ['80'], requestid: ['0'] }), encodeHeaderBlock({ streamtype: ['data'], port: ['80'], requestid: ['0'] })];
    const compressed = await Promise.all(blocks.map((b) => out.process(b)));
    // The second block leans on the first: it cannot be read without the shared context.
    assert.ok(compressed[1]!.length < compressed[0]!.length);
    for (let i = 0; i < blocks.length; i++) assert.deepEqual(await inn.process(compressed[i]!), blocks[i]);
    out.close();
    inn.close();
  });
});

describe('SPDY server session', () => {
  const tick = (ms = 30): Promise<void> => new Promise((r) => setTimeout(r, ms));

  it('keeps reading the connection after a stream ends with its buffer full (the next connection is not starved)', async () => {
    const toServer = new PassThrough();
    const fromServer = new PassThrough().resume();
    const opened = new Map<number, SpdyStream>();
    const session = new SpdyServerSession(Duplex.from({ readable: toServer, writable: fromServer }), { onStream: (s) => opened.set(s.id, s) });
    const deflate = new HeaderCodec('deflate');
    const headers = () => deflate.process(encodeHeaderBlock({ streamtype: ['data'] }));
    toServer.write(synStreamFrame(1, await headers()));
    await tick();
    // 64 KiB and the FIN in one chunk: the stream is over its buffer mark when it ends, which
    // pauses the connection, and an ended stream never asks to read again.
    toServer.write(Buffer.concat([dataFrame(1, Buffer.alloc(65536, 7)), dataFrame(1, Buffer.alloc(0), true)]));
    await tick();
    const first = opened.get(1)!;
    let n = 0;
    first.on('data', (d: Buffer) => (n += d.length));
    await new Promise((r) => first.once('end', r));
    assert.equal(n, 65536);
    toServer.write(synStreamFrame(3, await headers()));
    toServer.write(dataFrame(3, Buffer.from('again'), true));
    await tick(100);
    const second = opened.get(3);
    assert.ok(second, 'the second stream was opened');
    assert.equal((second.read() as Buffer | null)?.toString(), 'again');
    session.close();
    deflate.close();
  });
});

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

describe('port-forward route', () => {
  let echo: net.Server;
  let echoPort: number;
  let store: MemoryStore;
  const opened: OpenPodPortOptions[] = [];
  /** Port 1 of the pod has no listener; every other port is the loopback echo server. */
  const ports: PodPorts = {
    nodeName: 'n1',
    async openPodPort(o) {
      opened.push(o);
      if (o.port === 1) {
        const d = new Duplex({ read() {}, write: (_c, _e, cb) => cb() });
        net.connect({ host: '127.0.0.1', port: 1 }).on('error', () => d.destroy(new Error('connection refused (nothing listens there)')));
        return d;
      }
      return net.connect({ host: '127.0.0.1', port: echoPort });
    },
  };

  before(async () => {
    echo = net.createServer({ allowHalfOpen: true }, (c) => c.pipe(c));
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
    echoPort = (echo.address() as AddressInfo).port;
    store = new MemoryStore();
    await store.create<Pod>({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'web', namespace: 'default' },
      spec: { containers: [{ name: 'c', image: 'x' }], nodeName: 'n1' },
      status: { phase: 'Running' },
    } as Pod);
    await store.create<Pod>({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'waiting', namespace: 'default' }, spec: { containers: [{ name: 'c', image: 'x' }] }, status: { phase: 'Pending' } } as Pod);
  });

  after(() => echo.close());

  async function server(withPorts: boolean) {
    const app = createApiServer({ store, logger: silentLogger(), ...(withPorts ? { portForward: ports } : {}) });
    await app.listen({ host: '127.0.0.1', port: 0 });
    return { app, port: (app.server.address() as AddressInfo).port };
  }

  const upgrade = (port: number, pod: string, headers: Record<string, string> = {}) => spdyUpgrade(port, `/api/v1/namespaces/default/pods/${pod}/portforward`, headers);

  it('answers a Status 503 when the server has no node side, and 404 for a missing pod', async () => {
    const off = await server(false);
    try {
      const r = await upgrade(off.port, 'web');
      assert.equal(r.code, 503);
      assert.match(JSON.parse(r.body.slice(r.body.indexOf('{'), r.body.lastIndexOf('}') + 1)).message, /port-forward is not available/);
    } finally {
      await off.app.close();
    }
    const on = await server(true);
    try {
      const missing = await upgrade(on.port, 'nope');
      assert.equal(missing.code, 404);
      assert.match(missing.body, /"kind":"Status"/);
      assert.match(missing.body, /pods \\"nope\\" not found/);
      const pending = await upgrade(on.port, 'waiting');
      assert.equal(pending.code, 400);
      assert.match(pending.body, /not running/);
      const plain = await on.app.inject({ method: 'POST', url: '/api/v1/namespaces/default/pods/web/portforward' });
      assert.equal(plain.statusCode, 400);
      assert.match(plain.json().message, /needs a connection upgrade/);
    } finally {
      await on.app.close();
    }
  });

  it('forwards concurrent connections and 1 MiB over the SPDY upgrade; a failing port errors only its own connection', async () => {
    const { app, port } = await server(true);
    const up = await upgrade(port, 'web');
    assert.equal(up.code, 101);
    const client = new SpdyTestClient(up.sock);
    try {
      opened.length = 0;
      const big = randomBytes(2 ** 20);
      const [a, b, c] = await Promise.all([
        client.connection(8080, 0, Buffer.from('first')),
        client.connection(8080, 1, Buffer.from('second')),
        client.connection(8080, 2, big),
      ]);
      assert.equal(a.data.toString(), 'first');
      assert.equal(b.data.toString(), 'second');
      assert.equal(sha(c.data), sha(big));
      assert.deepEqual([a.error, b.error, c.error], ['', '', '']);
      assert.deepEqual(opened.map((o) => [o.namespace, o.pod, o.port]), [['default', 'web', 8080], ['default', 'web', 8080], ['default', 'web', 8080]]);

      const bad = await client.connection(1, 3, Buffer.from('anyone?'));
      assert.equal(bad.data.length, 0);
      assert.match(bad.error, /^error forwarding port 1 to pod default\/web: connection refused/);
      const notAPort = await client.connection(0, 4, Buffer.alloc(0));
      assert.match(notAPort.error, /"0" is not a TCP port/);
      // The connection survives both: the next forward works and pings are answered.
      const after = await client.connection(8080, 5, Buffer.from('still here'));
      assert.equal(after.data.toString(), 'still here');
      await client.ping(11);
      assert.equal(client.goneAway, false);
    } finally {
      client.close();
      await app.close();
    }
  });

  it('serves SPDY tunnelled in websocket binary messages under the subprotocol kubectl asks for', async () => {
    const { app, port } = await server(true);
    const t = await tunnelClient(port, '/api/v1/namespaces/default/pods/web/portforward', WEBSOCKET_TUNNEL_PROTOCOL);
    const client = new SpdyTestClient(t.stream);
    try {
      assert.equal(t.code, 101);
      assert.equal(t.protocol, WEBSOCKET_TUNNEL_PROTOCOL);
      const big = randomBytes(300_000);
      const r = await client.connection(8080, 0, big);
      assert.equal(sha(r.data), sha(big));
      assert.equal(r.error, '');
    } finally {
      client.close();
      await app.close();
    }
  });

  it('routes upgrades itself when no other plugin does (a server without @fastify/websocket)', async () => {
    const app = Fastify();
    await app.register(portForwardApi({ store, ports }));
    await app.listen({ host: '127.0.0.1', port: 0 });
    const port = (app.server.address() as AddressInfo).port;
    try {
      assert.equal(app.server.listenerCount('upgrade'), 1);
      const up = await upgrade(port, 'web');
      assert.equal(up.code, 101);
      const client = new SpdyTestClient(up.sock);
      assert.equal((await client.connection(8080, 0, Buffer.from('bare'))).data.toString(), 'bare');
      const t = await tunnelClient(port, '/api/v1/namespaces/default/pods/web/portforward', WEBSOCKET_TUNNEL_PROTOCOL);
      const tunnelled = new SpdyTestClient(t.stream);
      assert.equal((await tunnelled.connection(8080, 0, Buffer.from('tunnelled'))).data.toString(), 'tunnelled');
      tunnelled.close();
      // Closing the server ends the forwards still open, with a GOAWAY.
      const ended = new Promise<void>((resolve) => up.sock.once('close', () => resolve()));
      await app.close();
      await ended;
      assert.equal(client.goneAway, true);
    } finally {
      await app.close();
    }
    assert.equal(app.server.listenerCount('upgrade'), 0);
  });

  it('refuses a websocket without the tunnelling subprotocol with a Status', async () => {
    const { app, port } = await server(true);
    const ws = new WebSocket(`ws://127.0.0.1:${port}/api/v1/namespaces/default/pods/web/portforward`, ['v4.channel.k8s.io']);
    try {
      const status = await new Promise<number>((resolve) => {
        ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        ws.once('open', () => resolve(101));
        ws.once('error', () => undefined);
      });
      assert.equal(status, 400);
    } finally {
      ws.terminate();
      await app.close();
    }
  });
});
