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
 *
 * A pod on another node is forwarded to by that node's agent: after the API's checks the
 * upgrade (websocket or SPDY) goes on to its kubelet endpoint and the bytes are relayed both
 * ways unchanged; the agent serves this same route at the kubelet's path
 * ({@link kubeletPortForwardApi}) for its own pods.
 */
import type { Duplex } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { createWebSocketStream, WebSocketServer } from 'ws';
import { errorMessage, isGantryError } from '../errors.js';
import type { Pod } from '../model/types.js';
import type { PodPorts } from '../node/portforward.js';
import type { Store } from '../store/types.js';
import { sendStatus } from './kube.js';
import { KUBELET_ROUTES, kubeletPortForwardPath } from './kubelet/paths.js';
import type { KubeletRelay } from './kubelet/relay.js';
import { SpdyServerSession, type SpdyStream } from './spdy/session.js';
import { installUpgradeRouting, isUpgrade, upgradeHead } from './upgrade.js';

/** The stream protocol kubectl asks for. */
export const PORT_FORWARD_PROTOCOL = 'portforward.k8s.io';
/** The websocket subprotocol that tunnels SPDY (client-go's `WebsocketsSPDYTunnelingPrefix`). */
export const WEBSOCKET_TUNNEL_PROTOCOL = `SPDY/3.1+${PORT_FORWARD_PROTOCOL}`;
/** How long the second stream of a pair may take to arrive (kubelet's default is 30 s too). */
export const STREAM_PAIR_TIMEOUT_MS = 30_000;

/** Options for {@link portForwardApi}. */
export interface PortForwardApiOptions {
  store: Store;
  /** This process's node side (`gantry up`), for the pods bound to it. */
  ports?: PodPorts;
  /** Reaches the agents of other nodes; without it (and without `ports`) the route answers 503 with a Status saying so. */
  kubelets?: KubeletRelay;
  /** Overrides {@link STREAM_PAIR_TIMEOUT_MS} (tests). */
  pairTimeoutMs?: number;
}

/** Options for {@link kubeletPortForwardApi}. */
export interface KubeletPortForwardApiOptions {
  /** The agent's node. */
  nodeName: string;
  /** A pod this agent runs (undefined for any other). */
  pod(namespace: string, name: string): Pod | undefined;
  /** The node side; undefined while the agent is still starting (503). */
  ports(): PodPorts | undefined;
  pairTimeoutMs?: number;
}

type Params = { namespace: string; name: string; uid?: string };

/** What a port-forward request resolved to: this process's node, or another node's agent. */
type Resolved = { local: PodPorts } | { remote: { node: string; path: string } };

/** One face of the route: where it lives and how it finds the pod. */
interface ForwardRoute {
  path: string;
  /** Checks the pod; answers the request and returns undefined when it cannot be forwarded to. */
  resolve(req: FastifyRequest<{ Params: Params }>, reply: FastifyReply): Promise<Resolved | undefined>;
  relay?: KubeletRelay;
  pairTimeoutMs: number;
}

/** The fastify plugin serving port-forward at the API's path. */
export function portForwardApi(opts: PortForwardApiOptions): (app: FastifyInstance) => Promise<void> {
  return forwardPlugin({
    path: '/api/v1/namespaces/:namespace/pods/:name/portforward',
    pairTimeoutMs: opts.pairTimeoutMs ?? STREAM_PAIR_TIMEOUT_MS,
    ...(opts.kubelets ? { relay: opts.kubelets } : {}),
    resolve: async (req, reply) => {
      const { namespace, name } = req.params;
      if (!opts.ports && !opts.kubelets) {
        sendStatus(reply, 503, 'ServiceUnavailable', 'port-forward is not available: this server runs no node agent that can reach pods');
        return undefined;
      }
      const pod = (await opts.store.get({ kind: 'Pod', namespace, name })) as Pod | undefined;
      if (!pod) {
        sendStatus(reply, 404, 'NotFound', `pods "${name}" not found`, { name, kind: 'pods' });
        return undefined;
      }
      if (!running(pod, reply)) return undefined;
      const node = pod.spec.nodeName;
      if (opts.ports && node === opts.ports.nodeName) return { local: opts.ports };
      if (opts.kubelets && node && pod.metadata.uid) return { remote: { node, path: kubeletPortForwardPath({ namespace, pod: name, uid: pod.metadata.uid }) } };
      sendStatus(reply, 400, 'BadRequest', `pod ${namespace}/${name} runs on node ${node ?? '(none yet)'}; this server reaches the agent of node ${opts.ports?.nodeName ?? '(none)'} only`);
      return undefined;
    },
  });
}

/** The same route at the kubelet's path, for an agent's kubelet endpoint: its own pods only. */
export function kubeletPortForwardApi(opts: KubeletPortForwardApiOptions): (app: FastifyInstance) => Promise<void> {
  return forwardPlugin({
    path: KUBELET_ROUTES.portForward,
    pairTimeoutMs: opts.pairTimeoutMs ?? STREAM_PAIR_TIMEOUT_MS,
    resolve: async (req, reply) => {
      const { namespace, name, uid } = req.params;
      const pod = opts.pod(namespace, name);
      if (!pod || (uid !== undefined && uid !== pod.metadata.uid)) {
        sendStatus(reply, 404, 'NotFound', `pods "${name}"${uid ? ` (uid ${uid})` : ''} not found on node ${opts.nodeName}`, { name, kind: 'pods' });
        return undefined;
      }
      if (!running(pod, reply)) return undefined;
      const ports = opts.ports();
      if (!ports) {
        sendStatus(reply, 503, 'ServiceUnavailable', `the agent of node ${opts.nodeName} is still starting`);
        return undefined;
      }
      return { local: ports };
    },
  });
}

/** True when the pod runs; otherwise answers 400. */
function running(pod: Pod, reply: FastifyReply): boolean {
  if (pod.status?.phase === 'Running') return true;
  sendStatus(reply, 400, 'BadRequest', `pod ${pod.metadata.namespace ?? 'default'}/${pod.metadata.name} is not running (phase ${pod.status?.phase ?? 'Pending'})`);
  return false;
}

function forwardPlugin(route: ForwardRoute): (app: FastifyInstance) => Promise<void> {
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

    app.get<{ Params: Params }>(route.path, async (req, reply) => {
      if (!upgradeAsked(req, reply, 'websocket')) return reply;
      const resolved = await route.resolve(req, reply);
      if (!resolved) return reply;
      const offered = String(req.headers['sec-websocket-protocol'] ?? '').split(',').map((s) => s.trim());
      if (!offered.includes(WEBSOCKET_TUNNEL_PROTOCOL)) {
        return sendStatus(reply, 400, 'BadRequest', `port-forward over websocket needs subprotocol ${WEBSOCKET_TUNNEL_PROTOCOL} (offered: ${offered.filter(Boolean).join(', ') || 'none'})`);
      }
      if ('remote' in resolved) return route.relay!.upgrade(req, reply, resolved.remote);
      reply.hijack();
      delete req.raw.headers['sec-websocket-protocol'];
      wss.handleUpgrade(req.raw, req.raw.socket, upgradeHead(req.raw), (ws) => {
        const tunnel = createWebSocketStream(ws);
        track(serveSession(tunnel, resolved.local, req.params, app, route.pairTimeoutMs));
      });
      return reply;
    });

    app.post<{ Params: Params }>(route.path, async (req, reply) => {
      if (!upgradeAsked(req, reply, 'spdy')) return reply;
      const resolved = await route.resolve(req, reply);
      if (!resolved) return reply;
      const versions = String(req.headers['x-stream-protocol-version'] ?? '').split(',').map((s) => s.trim());
      if (!versions.includes(PORT_FORWARD_PROTOCOL)) {
        return sendStatus(reply, 400, 'BadRequest', `port-forward needs X-Stream-Protocol-Version ${PORT_FORWARD_PROTOCOL} (offered: ${versions.filter(Boolean).join(', ') || 'none'})`);
      }
      if ('remote' in resolved) return route.relay!.upgrade(req, reply, resolved.remote);
      reply.hijack();
      const socket = req.raw.socket;
      socket.write(
        'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n' +
          `X-Stream-Protocol-Version: ${PORT_FORWARD_PROTOCOL}\r\n\r\n`,
      );
      const head = upgradeHead(req.raw);
      track(serveSession(socket, resolved.local, req.params, app, route.pairTimeoutMs));
      // Bytes the client sent right behind its request belong to the SPDY connection.
      if (head.length > 0) socket.unshift(head);
      return reply;
    });
  };
}

/** True when the request asks for the upgrade this method serves; otherwise answers 400. */
function upgradeAsked(req: FastifyRequest, reply: FastifyReply, kind: 'websocket' | 'spdy'): boolean {
  const upgrade = String(req.headers.upgrade ?? '').toLowerCase();
  const wanted = kind === 'websocket' ? 'websocket' : 'spdy/3.1';
  if (isUpgrade(req.raw) && upgrade === wanted) return true;
  sendStatus(reply, 400, 'BadRequest', `port-forward needs a connection upgrade to ${kind === 'websocket' ? 'websocket (GET)' : 'SPDY/3.1 (POST)'}; got ${upgrade ? `Upgrade: ${upgrade}` : 'no Upgrade header'}`);
  return false;
}

/** Pairs the streams of a SPDY connection and forwards each pair to the pod. */
function serveSession(conn: Duplex, ports: PodPorts, target: Params, app: FastifyInstance, pairTimeoutMs: number): SpdyServerSession {
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
        void forward(pair.data, pair.error, ports, target, log);
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
