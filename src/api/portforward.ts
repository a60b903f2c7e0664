/**
 * `kubectl port-forward` against gantry: `/api/v1/namespaces/:ns/pods/:name/portforward`.
 *
 * kubectl 1.32 first asks for a websocket (GET, subprotocol `SPDY/3.1+portforward.k8s.io`) whose
 * binary messages carry a SPDY/3.1 connection, and falls back to a plain SPDY/3.1 upgrade (POST,
 * `Upgrade: SPDY/3.1`, `X-Stream-Protocol-Version: portforward.k8s.io`) when that upgrade is
 * refused. Both are served, by one SPDY server session (./spdy/session.ts).
 *
 * The protocol (kubelet's `portforward.k8s.io`): per forwarded connection the client opens two
 * streams with headers `streamType` (`error` or `data`), `port` and `requestID`; bytes are copied
 * between the data stream and the pod's port; a failure is written as text on the error stream,
 * which is then closed, and only that connection ends.
 */
import { ServerResponse, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { createWebSocketStream, WebSocketServer } from 'ws';
import { errorMessage, isGantryError } from '../errors.js';
import type { Pod } from '../model/types.js';
import type { PodPorts } from '../node/portforward.js';
import type { Store } from '../store/types.js';
import { sendStatus } from './kube.js';
import { SpdyServerSession, type SpdyStream } from './spdy/session.js';

/** The stream protocol kubectl asks for. */
export const PORT_FORWARD_PROTOCOL = 'portforward.k8s.io';
/** The websocket subprotocol that tunnels SPDY (client-go's `WebsocketsSPDYTunnelingPrefix`). */
export const WEBSOCKET_TUNNEL_PROTOCOL = `SPDY/3.1+${PORT_FORWARD_PROTOCOL}`;
/** How long the second stream of a pair may take to arrive (kubelet's default is 30 s too). */
export const STREAM_PAIR_TIMEOUT_MS = 30_000;

/** Options for {@link portForwardApi}. */
export interface PortForwardApiOptions {
  store: Store;
  /** The node side; without it the route answers 503 with a Status saying so. */
  ports?: PodPorts;
  /** Overrides {@link STREAM_PAIR_TIMEOUT_MS} (tests). */
  pairTimeoutMs?: number;
}

type Params = { namespace: string; name: string };

/** The fastify plugin serving port-forward. */
export function portForwardApi(opts: PortForwardApiOptions): (app: FastifyInstance) => Promise<void> {
  return async (app) => {
    // `ws` refuses subprotocols that are not HTTP tokens, and Kubernetes' has a '/': the route
    // checks the offer itself, hides it from `ws` and names the chosen one in the 101.
    const wss = new WebSocketServer({ noServer: true });
    wss.on('headers', (headers) => headers.push(`Sec-WebSocket-Protocol: ${WEBSOCKET_TUNNEL_PROTOCOL}`));
    installUpgradeRouting(app);
    // A refusal sent on an upgrade socket would otherwise leave the socket open: no HTTP parser
    // reads it any more.
    app.addHook('onResponse', async (req) => {
      if (isUpgrade(req.raw)) req.raw.socket.end();
    });
    // The HTTP server's close waits for every socket, upgraded ones too, and would never end
    // while a forward is open: they are closed before it (preClose), not after (onClose).
    const sessions = new Set<SpdyServerSession>();
    const track = (session: SpdyServerSession): void => {
      sessions.add(session);
      session.onClosed(() => sessions.delete(session));
    };
    app.addHook('preClose', async () => {
      for (const session of [...sessions]) session.close();
      for (const c of wss.clients) c.terminate();
      wss.close();
    });

    const path = '/api/v1/namespaces/:namespace/pods/:name/portforward';
    app.get<{ Params: Params }>(path, async (req, reply) => {
      const refused = await refusal(opts, req, reply, 'websocket');
      if (refused) return refused;
      const offered = String(req.headers['sec-websocket-protocol'] ?? '').split(',').map((s) => s.trim());
      if (!offered.includes(WEBSOCKET_TUNNEL_PROTOCOL)) {
        return sendStatus(reply, 400, 'BadRequest', `port-forward over websocket needs subprotocol ${WEBSOCKET_TUNNEL_PROTOCOL} (offered: ${offered.filter(Boolean).join(', ') || 'none'})`);
      }
      reply.hijack();
      delete req.raw.headers['sec-websocket-protocol'];
      wss.handleUpgrade(req.raw, req.raw.socket, upgradeHead(req.raw), (ws) => {
        const tunnel = createWebSocketStream(ws);
        track(serveSession(tunnel, opts, req.params, app, opts.pairTimeoutMs ?? STREAM_PAIR_TIMEOUT_MS));
      });
      return reply;
    });

    app.post<{ Params: Params }>(path, async (req, reply) => {
      const refused = await refusal(opts, req, reply, 'spdy');
      if (refused) return refused;
      const versions = String(req.headers['x-stream-protocol-version'] ?? '').split(',').map((s) => s.trim());
      if (!versions.includes(PORT_FORWARD_PROTOCOL)) {
        return sendStatus(reply, 400, 'BadRequest', `port-forward needs X-Stream-Protocol-Version ${PORT_FORWARD_PROTOCOL} (offered: ${versions.filter(Boolean).join(', ') || 'none'})`);
      }
      reply.hijack();
      const socket = req.raw.socket;
      socket.write(
        'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n' +
          `X-Stream-Protocol-Version: ${PORT_FORWARD_PROTOCOL}\r\n\r\n`,
      );
      const head = upgradeHead(req.raw);
      track(serveSession(socket, opts, req.params, app, opts.pairTimeoutMs ?? STREAM_PAIR_TIMEOUT_MS));
      // Bytes the client sent right behind its request belong to the SPDY connection.
      if (head.length > 0) socket.unshift(head);
      return reply;
    });
  };
}

/** A Status answer when the request cannot be upgraded, or undefined when it can. */
async function refusal(opts: PortForwardApiOptions, req: FastifyRequest<{ Params: Params }>, reply: FastifyReply, kind: 'websocket' | 'spdy'): Promise<FastifyReply | undefined> {
  const { namespace, name } = req.params;
  const upgrade = String(req.headers.upgrade ?? '').toLowerCase();
  const wanted = kind === 'websocket' ? 'websocket' : 'spdy/3.1';
  if (!isUpgrade(req.raw) || upgrade !== wanted) {
    return sendStatus(reply, 400, 'BadRequest', `port-forward needs a connection upgrade to ${kind === 'websocket' ? 'websocket (GET)' : 'SPDY/3.1 (POST)'}; got ${upgrade ? `Upgrade: ${upgrade}` : 'no Upgrade header'}`);
  }
  if (!opts.ports) {
    return sendStatus(reply, 503, 'ServiceUnavailable', 'port-forward is not available: this server runs no node agent that can reach pods');
  }
  const pod = (await opts.store.get({ kind: 'Pod', namespace, name })) as Pod | undefined;
  if (!pod) return sendStatus(reply, 404, 'NotFound', `pods "${name}" not found`, { name, kind: 'pods' });
  if (pod.status?.phase !== 'Running') {
    return sendStatus(reply, 400, 'BadRequest', `pod ${namespace}/${name} is not running (phase ${pod.status?.phase ?? 'Pending'})`);
  }
  return undefined;
}

/** Pairs the streams of a SPDY connection and forwards each pair to the pod. */
function serveSession(conn: Duplex, opts: PortForwardApiOptions, target: Params, app: FastifyInstance, pairTimeoutMs: number): SpdyServerSession {
  const log = app.log.child({ component: 'portforward', pod: `${target.namespace}/${target.name}` });
  const pending = new Map<string, { data?: SpdyStream; error?: SpdyStream; timer: NodeJS.Timeout }>();
  const session = new SpdyServerSession(conn, {
    onStream: (stream) => {
      const type = stream.header('streamtype');
      const id = stream.header('requestid');
      if ((type !== 'data' && type !== 'error') || id === undefined) {
        log.warn({ type, id }, 'stream without streamType data|error and requestID refused');
        stream.destroy();
        return;
      }
      stream.on('error', () => undefined);
      let pair = pending.get(id);
      if (!pair) {
        const timer = setTimeout(() => {
          const p = pending.get(id);
          pending.delete(id);
          p?.data?.destroy();
          p?.error?.destroy();
        }, pairTimeoutMs);
        timer.unref();
        pair = { timer };
        pending.set(id, pair);
      }
      if (pair[type]) {
        stream.destroy();
        return;
      }
      pair[type] = stream;
      if (pair.data && pair.error) {
        clearTimeout(pair.timer);
        pending.delete(id);
        void forward(pair.data, pair.error, opts.ports!, target, log);
      }
    },
    onClose: () => {
      for (const p of pending.values()) clearTimeout(p.timer);
      pending.clear();
    },
  });
  return session;
}

/** Copies one forwarded connection between its data stream and the pod's port. */
async function forward(data: SpdyStream, error: SpdyStream, ports: PodPorts, target: Params, log: { debug: (o: object, m: string) => void }): Promise<void> {
  // The client half-closes the error stream at once; drain it so its end is seen.
  error.resume();
  const portText = data.header('port') ?? '';
  const port = Number(portText);
  const fail = (message: string): void => {
    const text = `error forwarding port ${portText} to pod ${target.namespace}/${target.name}: ${message}`;
    log.debug({ port: portText }, text);
    if (!error.destroyed && !error.writableEnded) error.end(text);
    if (!data.destroyed && !data.writableEnded) data.end();
  };
  if (!/^\d+$/.test(portText) || port < 1 || port > 65535) return fail(`"${portText}" is not a TCP port`);
  const ac = new AbortController();
  data.once('close', () => ac.abort());
  let pod: Duplex;
  try {
    pod = await ports.openPodPort({ namespace: target.namespace, pod: target.name, port, signal: ac.signal });
  } catch (err) {
    return fail(isGantryError(err) ? err.message : errorMessage(err));
  }
  if (data.destroyed) {
    pod.destroy();
    return;
  }
  // A connection that failed before we got here has already emitted its error.
  if (pod.errored) return fail(errorMessage(pod.errored));
  let failed = false;
  pod.on('error', (err) => {
    failed = true;
    data.unpipe(pod);
    pod.unpipe(data);
    fail(errorMessage(err));
  });
  data.on('close', () => {
    pod.destroy();
    if (!error.destroyed && !error.writableEnded) error.end();
  });
  // The pod's end is the connection's end: FIN on the data stream, then the empty error stream.
  pod.on('end', () => {
    if (failed) return;
    data.end(() => {
      if (!error.destroyed && !error.writableEnded) error.end();
    });
  });
  data.pipe(pod);
  pod.pipe(data, { end: false });
}

/** True when the request reached us through an HTTP upgrade (Node no longer parses its socket). */
function isUpgrade(raw: IncomingMessage): boolean {
  return (raw as { upgrade?: boolean }).upgrade === true;
}

const HEADS = new WeakMap<IncomingMessage, Buffer>();

/**
 * The bytes that arrived behind an upgrade request's headers. Node hands them to the `upgrade`
 * listener only; this plugin's listener keeps them, and @fastify/websocket's (when another
 * plugin installed it) keeps them under its `ws-head` symbol.
 */
function upgradeHead(raw: IncomingMessage): Buffer {
  const mine = HEADS.get(raw);
  if (mine) return mine;
  const sym = Object.getOwnPropertySymbols(raw).find((s) => s.description === 'ws-head');
  const theirs = sym ? (raw as unknown as Record<symbol, unknown>)[sym] : undefined;
  return Buffer.isBuffer(theirs) ? theirs : Buffer.alloc(0);
}

/**
 * Node gives upgrade requests (websocket and SPDY alike) only to `upgrade` listeners. When no
 * other plugin routes them into fastify (as @fastify/websocket does), this one does, so the
 * routes, the auth guard and the error handling apply to them like to any request.
 */
function installUpgradeRouting(app: FastifyInstance): void {
  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    HEADS.set(req, head);
    socket.on('error', () => socket.destroy());
    const res = new ServerResponse(req);
    res.assignSocket(socket as import('node:net').Socket);
    app.routing(req, res);
  };
  app.addHook('onReady', async () => {
    if (app.server.listenerCount('upgrade') === 0) app.server.on('upgrade', onUpgrade);
  });
  app.addHook('preClose', async () => {
    app.server.removeListener('upgrade', onUpgrade);
  });
}
