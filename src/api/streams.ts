/**
 * `kubectl logs` and `kubectl exec` at Kubernetes' paths, served from a node's {@link PodStreams}:
 *
 * - `GET /api/v1/namespaces/:ns/pods/:name/log` (`container`, `follow`, `previous`, `tailLines`,
 *   `timestamps`, `limitBytes`) answers the log as chunked text/plain.
 * - `GET /api/v1/namespaces/:ns/pods/:name/exec` (`command`…, `container`, `stdin`, `stdout`,
 *   `stderr`, `tty`) upgrades to a WebSocket speaking Kubernetes' channel protocol,
 *   `v5.channel.k8s.io` (kubectl 1.30+) or `v4.channel.k8s.io`: every binary message is one
 *   channel byte and data — 0 stdin, 1 stdout, 2 stderr, 3 the final Status, 4 terminal resizes
 *   (`{"Width":…,"Height":…}`), and in v5 255 "close channel" (`[255, 0]`: stdin has ended).
 *   After the output, the Status (Success, or Failure/NonZeroExitCode with the exit code as a
 *   cause) goes on channel 3 and the socket closes normally; kubectl exits with that code.
 * - `POST` on the exec path (the SPDY protocol older clients and kubectl's fallback use) gets the
 *   same checks and then a Status saying that only WebSocket is served, never a hang.
 *
 * A pod on another node is not served here: once the API's own checks passed (token, RBAC, the
 * pod, its container), the request goes on to that node's kubelet endpoint through a
 * {@link KubeletRelay} — the log streamed back as it comes, the exec's upgrade relayed byte for
 * byte. The agent serves the same protocol from the same code ({@link kubeletStreamsApi}) at the
 * kubelet's paths (./kubelet/paths.ts), for its own pods only.
 *
 * Errors are Kubernetes Status objects, with the kubelet's and API server's wording. The
 * protocol's pure parts (framing, queries, the choice of container) are in ./stream-protocol.ts.
 */
import fastifyWebsocket from '@fastify/websocket';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { WebSocket } from 'ws';
import { errorMessage, isGantryError } from '../errors.js';
import type { Pod } from '../model/types.js';
import type { ContainerRef, ExecSession, PodStreams } from '../node/streams.js';
import type { Store } from '../store/types.js';
import { sendStatus, status } from './kube.js';
import { KUBELET_ROUTES, kubeletExecPath, kubeletLogPath } from './kubelet/paths.js';
import type { KubeletRelay } from './kubelet/relay.js';
import { Channel, chooseContainer, EXEC_FLAGS, EXEC_PROTOCOLS, exitStatus, frame, logSearchParams, parseExecQuery, parseFrame, parseLogQuery, parseResize, type ExecQuery, type RawQuery } from './stream-protocol.js';

export { Channel, chooseContainer, exitStatus, frame, parseExecQuery, parseFrame, parseLogQuery, parseResize } from './stream-protocol.js';

/** Options of {@link podStreamsApi}. */
export interface PodStreamsApiOptions {
  store: Store;
  /** This process's node's streams (`gantry up`), for the pods bound to it. */
  streams?: PodStreams;
  /** Reaches the agents of other nodes; without it (and without `streams`) every route answers 503. */
  kubelets?: KubeletRelay;
}

/** Options of {@link kubeletStreamsApi}. */
export interface KubeletStreamsApiOptions {
  /** The agent's node. */
  nodeName: string;
  /** A pod this agent runs (undefined for any other). */
  pod(namespace: string, name: string): Pod | undefined;
  /** The node's streams; undefined while the agent is still starting (503). */
  streams(): PodStreams | undefined;
}

type PodParams = { Params: { namespace: string; name: string; uid?: string; container?: string }; Querystring: RawQuery };

/** A container of a pod this process's node runs. */
interface LocalTarget {
  pod: Pod;
  target: ContainerRef;
  streams: PodStreams;
}

/** What a stream request resolved to: a container here, or one on another node's agent. */
type Resolved = { local: LocalTarget } | { remote: { node: string; target: ContainerRef } };

/** One face of the routes: where they live, how they read exec queries and find the container. */
interface StreamRoutes {
  logPath: string;
  execPath: string;
  execQuery: keyof typeof EXEC_FLAGS;
  /**
   * Finds the container (named in the query, or by the route's path); answers the request and
   * returns undefined when it cannot be served.
   */
  resolve(req: FastifyRequest<PodParams>, reply: FastifyReply, container: string | undefined): Promise<Resolved | undefined>;
  /** Where `remote` targets go. */
  relay?: KubeletRelay;
}

/** The routes, as a fastify plugin (its own scope: the WebSocket upgrade handling stays in it). */
export function podStreamsApi(opts: PodStreamsApiOptions): (app: FastifyInstance) => Promise<void> {
  const base = '/api/v1/namespaces/:namespace/pods/:name';
  return streamRoutesPlugin({
    logPath: `${base}/log`,
    execPath: `${base}/exec`,
    execQuery: 'api',
    resolve: (req, reply, container) => resolveInStore(opts, req, reply, container),
    ...(opts.kubelets ? { relay: opts.kubelets } : {}),
  });
}

/**
 * The same routes at the kubelet's paths, for an agent's kubelet endpoint: its own pods only,
 * the container and (for exec) the pod's uid named in the path.
 */
export function kubeletStreamsApi(opts: KubeletStreamsApiOptions): (app: FastifyInstance) => Promise<void> {
  return streamRoutesPlugin({
    logPath: KUBELET_ROUTES.log,
    execPath: KUBELET_ROUTES.exec,
    execQuery: 'kubelet',
    resolve: async (req, reply) => {
      const { namespace, name, uid, container } = req.params;
      const pod = opts.pod(namespace, name);
      if (!pod || !pod.metadata.uid || (uid !== undefined && uid !== pod.metadata.uid)) {
        sendStatus(reply, 404, 'NotFound', `pods "${name}"${uid ? ` (uid ${uid})` : ''} not found on node ${opts.nodeName}`, { name, kind: 'pods' });
        return undefined;
      }
      const picked = chooseContainer(pod, container);
      if (typeof picked !== 'string') {
        sendStatus(reply, 400, 'BadRequest', picked.error);
        return undefined;
      }
      const streams = opts.streams();
      if (!streams) {
        sendStatus(reply, 503, 'ServiceUnavailable', `the agent of node ${opts.nodeName} is still starting`);
        return undefined;
      }
      return { local: { pod, target: { namespace, pod: name, uid: pod.metadata.uid, container: picked }, streams } };
    },
  });
}

function streamRoutesPlugin(routes: StreamRoutes): (app: FastifyInstance) => Promise<void> {
  return async (app) => {
    registerRoutes(app, routes);
    // The WebSocket route in a scope of its own: @fastify/websocket turns every route of its scope
    // into an upgrade when the request came as one, and the SPDY POST (which also asks for an
    // upgrade) must get its Status instead.
    await app.register(async (scope) => {
      await scope.register(fastifyWebsocket, {
        options: {
          handleProtocols: (offered: Set<string>) => EXEC_PROTOCOLS.find((p) => offered.has(p)) ?? false,
          // kubectl's stdin chunks are small; a megabyte bounds what one message may make us hold.
          maxPayload: 1 << 20,
        },
      });
      registerExecSocket(scope, routes);
    });
  };
}

/**
 * The API's resolution: the pod from the store and its container; then this process's node
 * serves it, or the agent of the node it runs on does.
 */
async function resolveInStore(opts: PodStreamsApiOptions, req: FastifyRequest<PodParams>, reply: FastifyReply, container: string | undefined): Promise<Resolved | undefined> {
  const { namespace, name } = req.params;
  const pod = await opts.store.get<Pod>({ kind: 'Pod', namespace, name });
  if (!pod) {
    sendStatus(reply, 404, 'NotFound', `pods "${name}" not found`, { name, kind: 'pods' });
    return undefined;
  }
  const picked = chooseContainer(pod, container);
  if (typeof picked !== 'string') {
    sendStatus(reply, 400, 'BadRequest', picked.error);
    return undefined;
  }
  if (!opts.streams && !opts.kubelets) {
    sendStatus(reply, 503, 'ServiceUnavailable', 'this server runs no node agent: pod logs and exec are served by the node a pod runs on');
    return undefined;
  }
  const nodeName = pod.spec.nodeName;
  if (!nodeName) {
    sendStatus(reply, 400, 'BadRequest', `pod ${name} does not have a host assigned`);
    return undefined;
  }
  if (!pod.metadata.uid) {
    sendStatus(reply, 400, 'BadRequest', `container "${picked}" in pod "${name}" is waiting to start: ContainerCreating`);
    return undefined;
  }
  const target = { namespace, pod: name, uid: pod.metadata.uid, container: picked };
  if (opts.streams && nodeName === opts.streams.nodeName) return { local: { pod, target, streams: opts.streams } };
  if (opts.kubelets) return { remote: { node: nodeName, target } };
  sendStatus(reply, 400, 'BadRequest', `pod ${name} runs on node ${nodeName}; this server reaches the agent of node ${opts.streams!.nodeName} only`);
  return undefined;
}

/** Why a container is not running yet, from the pod's status (the kubelet's "waiting to start: …"). */
function waitingReason(pod: Pod, container: string): string {
  const statuses = [...(pod.status?.containerStatuses ?? []), ...(pod.status?.initContainerStatuses ?? [])];
  return statuses.find((s) => s.name === container)?.state?.waiting?.reason ?? 'ContainerCreating';
}

function registerRoutes(app: FastifyInstance, routes: StreamRoutes): void {
  app.get<PodParams>(routes.logPath, async (req, reply) => {
    const q = parseLogQuery(req.query);
    if (typeof q === 'string') return sendStatus(reply, 400, 'BadRequest', q);
    const resolved = await routes.resolve(req, reply, q.container);
    if (!resolved) return reply;
    if ('remote' in resolved) return routes.relay!.forward(req, reply, { node: resolved.remote.node, path: kubeletLogPath(resolved.remote.target, logSearchParams(q)) });
    const found = resolved.local;
    const ac = new AbortController();
    req.raw.on('close', () => ac.abort());
    reply.raw.on('close', () => ac.abort());
    let chunks: AsyncIterable<string>;
    try {
      chunks = await found.streams.logs({ target: found.target, previous: q.previous, follow: q.follow, timestamps: q.timestamps, signal: ac.signal, ...(q.tailLines !== undefined ? { tailLines: q.tailLines } : {}), ...(q.limitBytes !== undefined ? { limitBytes: q.limitBytes } : {}) });
    } catch (err) {
      if (!isGantryError(err, 'NotFound')) throw err;
      const t = found.target;
      return sendStatus(reply, 400, 'BadRequest', q.previous ? `previous terminated container "${t.container}" in pod "${t.pod}" not found` : `container "${t.container}" in pod "${t.pod}" is waiting to start: ${waitingReason(found.pod, t.container)}`);
    }
    reply.hijack();
    reply.raw.writeHead(200, { 'content-type': 'text/plain', 'transfer-encoding': 'chunked', 'cache-control': 'no-cache' });
    // kubectl waits for the headers before it prints anything, and a followed log may be quiet.
    reply.raw.flushHeaders();
    try {
      for await (const c of chunks) {
        if (ac.signal.aborted) break;
        if (!reply.raw.write(c)) await drained(reply.raw);
      }
    } catch (err) {
      if (!ac.signal.aborted) req.log.warn({ err: errorMessage(err), pod: `${found.target.namespace}/${found.target.pod}` }, 'log stream failed');
    }
    reply.raw.end();
    return reply;
  });

  app.post<PodParams>(routes.execPath, async (req, reply) => {
    await checkExec(routes, req, reply);
    if (reply.sent) return reply;
    return sendStatus(reply, 400, 'BadRequest', `gantry serves exec over WebSocket only (subprotocols ${EXEC_PROTOCOLS.join(', ')}, kubectl 1.30 or later); SPDY is not supported`);
  });
}

/** Resolves when a full response can take more, or is gone; leaves no listener behind (a long log waits many times). */
function drained(res: NodeJS.WritableStream): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.once('drain', done);
    res.once('close', done);
  });
}

/** What the checks resolved, for the WebSocket handler. */
const execTargets = new WeakMap<FastifyRequest, { query: ExecQuery; target: ContainerRef; streams: PodStreams }>();

/**
 * Checks shared by the WebSocket GET and the SPDY POST: both answer a refused exec alike. A
 * local target is kept for the WebSocket handler; a remote one is returned.
 */
async function checkExec(routes: StreamRoutes, req: FastifyRequest<PodParams>, reply: FastifyReply): Promise<{ node: string; path: string } | undefined> {
  const q = parseExecQuery(req.query, routes.execQuery);
  if (typeof q === 'string') {
    sendStatus(reply, 400, 'BadRequest', q);
    return undefined;
  }
  const resolved = await routes.resolve(req, reply, q.container);
  if (!resolved) return undefined;
  if ('remote' in resolved) return { node: resolved.remote.node, path: kubeletExecPath(resolved.remote.target, q) };
  execTargets.set(req, { query: q, target: resolved.local.target, streams: resolved.local.streams });
  return undefined;
}

function registerExecSocket(app: FastifyInstance, routes: StreamRoutes): void {
  app.route<PodParams>({
    method: 'GET',
    url: routes.execPath,
    preHandler: async (req, reply) => {
      const remote = await checkExec(routes, req, reply);
      if (reply.sent || !req.ws) return;
      const offered = String(req.headers['sec-websocket-protocol'] ?? '').split(',').map((s) => s.trim());
      if (!EXEC_PROTOCOLS.some((p) => offered.includes(p))) {
        sendStatus(reply, 400, 'BadRequest', `exec speaks the WebSocket subprotocols ${EXEC_PROTOCOLS.join(', ')}; the client offered ${offered.filter(Boolean).join(', ') || 'none'}`);
        return;
      }
      // The node's agent answers the upgrade; its WebSocket frames pass through unchanged.
      if (remote) await routes.relay!.upgrade(req, reply, remote);
    },
    handler: async (_req, reply) => sendStatus(reply, 400, 'BadRequest', `exec needs a WebSocket upgrade (subprotocol ${EXEC_PROTOCOLS[0]})`),
    wsHandler: (socket, req) => {
      const t = execTargets.get(req)!;
      void runExec(socket, t.query, t.target, t.streams, req);
    },
  });
}

/** Sends one message and waits until it is handed to the socket (backpressure for the output pumps). */
function sendFrame(socket: WebSocket, channel: number, data: Uint8Array | string): Promise<void> {
  if (socket.readyState !== socket.OPEN) return Promise.resolve();
  return new Promise((resolve) => socket.send(frame(channel, data), { binary: true }, () => resolve()));
}

/** How long a terminal exec waits for the client's first size before starting without one. */
const FIRST_RESIZE_WAIT_MS = 500;

/** One exec over an upgraded socket, from start to the final Status; the process is cleaned up in every outcome. */
async function runExec(socket: WebSocket, q: ExecQuery, target: ContainerRef, streams: PodStreams, req: FastifyRequest): Promise<void> {
  const v5 = socket.protocol === EXEC_PROTOCOLS[0];
  const ac = new AbortController();
  socket.on('close', () => ac.abort());
  socket.on('error', () => ac.abort());
  // Input that arrives while the process is being started waits for it.
  const early: Buffer[] = [];
  let session: ExecSession | undefined;
  let stdinEnded = false;
  let pendingInput = 0;
  // Resizes, input and its end reach the process in the order the client sent them: a command
  // typed after the client gave its size runs at that size (kubectl sends it first, then the user types).
  let ordered: Promise<void> = Promise.resolve();
  const then = (step: () => Promise<void>): Promise<void> => (ordered = ordered.then(step).catch(() => undefined));
  const onMessage = (data: Buffer, s: ExecSession): void => {
    const f = parseFrame(data);
    if (!f) return;
    const input = s.stdin;
    if (f.channel === Channel.stdin && !stdinEnded && input) {
      // Read no more from the client until the process has taken this in.
      pendingInput++;
      socket.pause();
      void then(() => input.write(f.data)).finally(() => {
        if (--pendingInput === 0) socket.resume();
      });
    } else if (f.channel === Channel.resize) {
      const size = parseResize(f.data);
      if (size) void then(() => s.resize(size));
    } else if (v5 && f.channel === Channel.close && f.data[0] === Channel.stdin && !stdinEnded) {
      stdinEnded = true;
      if (input) void then(() => input.end());
    }
  };
  // The last size the client sent before the process started, and who waits for the first one.
  let size: { width: number; height: number } | undefined;
  let sized: (() => void) | undefined;
  socket.on('message', (data: Buffer) => {
    if (session) return onMessage(data, session);
    early.push(data);
    const f = parseFrame(data);
    if (f?.channel !== Channel.resize) return;
    size = parseResize(f.data) ?? size;
    sized?.();
  });
  try {
    // kubectl sends its terminal's size as soon as the stream opens: a terminal waits a moment for
    // it, so the process starts at that size (a shell's first prompt and `stty size` see it).
    if (q.tty && !size) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => sized?.(), FIRST_RESIZE_WAIT_MS);
        sized = () => {
          sized = undefined;
          clearTimeout(timer);
          resolve();
        };
        ac.signal.addEventListener('abort', () => sized?.(), { once: true });
      });
    }
    session = await streams.exec({ target, command: q.command, stdin: q.stdin, stdout: q.stdout, stderr: q.stderr, tty: q.tty, signal: ac.signal, ...(q.tty && size ? { size } : {}) });
  } catch (err) {
    const message = isGantryError(err) ? err.message : `cannot exec in container "${target.container}" of pod "${target.pod}": ${errorMessage(err)}`;
    await sendFrame(socket, Channel.error, JSON.stringify(status(isGantryError(err, 'NotFound') ? 404 : 400, isGantryError(err, 'NotFound') ? 'NotFound' : 'BadRequest', message)));
    socket.close(1000);
    return;
  }
  const s = session;
  try {
    for (const m of early.splice(0)) onMessage(m, s);
    const pump = async (from: AsyncIterable<Uint8Array> | undefined, channel: number): Promise<void> => {
      if (!from) return;
      try {
        for await (const chunk of from) await sendFrame(socket, channel, chunk);
      } catch {
        // The stream was destroyed (the exec ended or was closed): what was read has been sent.
      }
    };
    const pumps = Promise.all([pump(s.stdout, Channel.stdout), pump(s.stderr, Channel.stderr)]);
    const code = await Promise.race([s.exitCode, new Promise<undefined>((resolve) => ac.signal.addEventListener('abort', () => resolve(undefined), { once: true }))]);
    if (code === undefined) return;
    // Output still held open by a process left behind is cut here; the exit is what the user waits for.
    await Promise.race([pumps, new Promise((resolve) => setTimeout(resolve, 100))]);
    await s.close();
    await pumps;
    await sendFrame(socket, Channel.error, JSON.stringify(exitStatus(code, q.command)));
    socket.close(1000);
  } catch (err) {
    req.log.warn({ err: errorMessage(err), pod: `${target.namespace}/${target.pod}` }, 'exec failed');
    await sendFrame(socket, Channel.error, JSON.stringify(status(500, 'InternalError', errorMessage(err)))).catch(() => undefined);
    socket.close(1011);
  } finally {
    await s.close();
  }
}
