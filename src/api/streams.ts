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
 * Errors are Kubernetes Status objects, with the kubelet's and API server's wording.
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

/** The WebSocket subprotocols served, preferred first. */
export const EXEC_PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io'] as const;

/** Channel numbers of the remote command protocol. */
export const Channel = { stdin: 0, stdout: 1, stderr: 2, error: 3, resize: 4, close: 255 } as const;

/** One channel message: the channel byte, then the data. */
export function frame(channel: number, data: Uint8Array | string): Buffer {
  const body = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  const out = Buffer.allocUnsafe(body.length + 1);
  out[0] = channel;
  out.set(body, 1);
  return out;
}

/** Splits a received message into its channel and data; undefined for an empty message. */
export function parseFrame(message: Uint8Array): { channel: number; data: Buffer } | undefined {
  if (message.length === 0) return undefined;
  const b = Buffer.from(message.buffer, message.byteOffset, message.byteLength);
  return { channel: b[0]!, data: b.subarray(1) };
}

/** A resize message's size, or undefined when it is not `{"Width":n,"Height":n}` with sane numbers. */
export function parseResize(data: Uint8Array): { width: number; height: number } | undefined {
  try {
    const v = JSON.parse(Buffer.from(data).toString('utf8')) as { Width?: unknown; Height?: unknown };
    const ok = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= 65535;
    return ok(v.Width) && ok(v.Height) ? { width: v.Width, height: v.Height } : undefined;
  } catch {
    return undefined;
  }
}

/** The Status that ends an exec on channel 3: Success, or the exit code as kubectl reads it. */
export function exitStatus(code: number, command: string[]): Record<string, unknown> {
  if (code === 0) return { metadata: {}, status: 'Success' };
  const c = Math.min(255, Math.max(0, code));
  return {
    metadata: {},
    status: 'Failure',
    message: `command terminated with non-zero exit code: error executing command [${command.join(' ')}], exit code ${c}`,
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: String(c) }] },
  };
}

/** Query of the log route, as parsed. */
export interface LogQuery {
  container?: string;
  follow: boolean;
  previous: boolean;
  tailLines?: number;
  timestamps: boolean;
  limitBytes?: number;
}

type RawQuery = Record<string, string | string[] | undefined>;

const one = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v[v.length - 1] : v);
const flag = (v: string | string[] | undefined): boolean => {
  const s = one(v);
  return s === 'true' || s === '1';
};

function intQuery(q: RawQuery, name: string, min: number): number | string | undefined {
  const s = one(q[name]);
  if (s === undefined || s === '') return undefined;
  const n = Number(s);
  if (!/^-?\d+$/.test(s) || !Number.isSafeInteger(n) || n < min) return `${name}: "${s}" must be an integer of at least ${min}`;
  return n;
}

/** The log query as the kubelet takes it (the container is in the kubelet's path). */
export function logSearchParams(q: LogQuery): URLSearchParams {
  const out = new URLSearchParams();
  if (q.follow) out.set('follow', 'true');
  if (q.previous) out.set('previous', 'true');
  if (q.tailLines !== undefined) out.set('tailLines', String(q.tailLines));
  if (q.timestamps) out.set('timestamps', 'true');
  if (q.limitBytes !== undefined) out.set('limitBytes', String(q.limitBytes));
  return out;
}

/** Parses the log route's query; a string is the reason it is refused. */
export function parseLogQuery(q: RawQuery): LogQuery | string {
  if (one(q.sinceSeconds) !== undefined || one(q.sinceTime) !== undefined) {
    return 'sinceSeconds and sinceTime are not supported: gantry\'s container log files keep no time per line';
  }
  const tail = intQuery(q, 'tailLines', 0);
  if (typeof tail === 'string') return tail;
  const limit = intQuery(q, 'limitBytes', 1);
  if (typeof limit === 'string') return limit;
  const container = one(q.container);
  return {
    ...(container ? { container } : {}),
    follow: flag(q.follow),
    previous: flag(q.previous),
    ...(tail !== undefined ? { tailLines: tail } : {}),
    timestamps: flag(q.timestamps),
    ...(limit !== undefined ? { limitBytes: limit } : {}),
  };
}

/** Query of the exec route, as parsed. */
export interface ExecQuery {
  command: string[];
  container?: string;
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  tty: boolean;
}

/** The query names of the streams an exec asks for: the API's, and the kubelet's. */
const EXEC_FLAGS = {
  api: { stdin: 'stdin', stdout: 'stdout', stderr: 'stderr' },
  kubelet: { stdin: 'input', stdout: 'output', stderr: 'error' },
} as const;

/**
 * Parses the exec route's query (`command` repeated, once per argument; the API's `stdin`,
 * `stdout`, `stderr` or the kubelet's `input`, `output`, `error`); a string is the reason it is
 * refused.
 */
export function parseExecQuery(q: RawQuery, style: keyof typeof EXEC_FLAGS = 'api'): ExecQuery | string {
  const raw = q.command;
  const command = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
  if (command.length === 0) return 'you must specify at least one command for the container';
  const container = one(q.container);
  const n = EXEC_FLAGS[style];
  const e: ExecQuery = { command, ...(container ? { container } : {}), stdin: flag(q[n.stdin]), stdout: flag(q[n.stdout]), stderr: flag(q[n.stderr]), tty: flag(q.tty) };
  if (!e.stdin && !e.stdout && !e.stderr) return 'you must specify at least 1 of stdin, stdout, stderr';
  // On a terminal, stderr is merged into stdout, as the kubelet does.
  if (e.tty) e.stderr = false;
  return e;
}

/**
 * Which container: the one named, or the pod's only one; the API server's wording otherwise.
 * @returns the name, or `{ error }`.
 */
export function chooseContainer(pod: Pod, name: string | undefined): string | { error: string } {
  const apps = pod.spec.containers.map((c) => c.name);
  const inits = (pod.spec.initContainers ?? []).map((c) => c.name);
  if (name) return apps.includes(name) || inits.includes(name) ? name : { error: `container ${name} is not valid for pod ${pod.metadata.name}` };
  if (apps.length === 1) return apps[0]!;
  const initPart = inits.length > 0 ? ` or one of the init containers: [${inits.join(' ')}]` : '';
  return { error: `a container name must be specified for pod ${pod.metadata.name}, choose one of: [${apps.join(' ')}]${initPart}` };
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
  const onMessage = (data: Buffer, s: ExecSession): void => {
    const f = parseFrame(data);
    if (!f) return;
    if (f.channel === Channel.stdin && !stdinEnded && s.stdin) {
      // Read no more from the client until the process has taken this in.
      pendingInput++;
      socket.pause();
      void s.stdin.write(f.data).finally(() => {
        if (--pendingInput === 0) socket.resume();
      });
    } else if (f.channel === Channel.resize) {
      const size = parseResize(f.data);
      if (size) void s.resize(size).catch(() => undefined);
    } else if (v5 && f.channel === Channel.close && f.data[0] === Channel.stdin && !stdinEnded) {
      stdinEnded = true;
      void s.stdin?.end().catch(() => undefined);
    }
  };
  socket.on('message', (data: Buffer) => {
    if (session) onMessage(data, session);
    else early.push(data);
  });
  try {
    session = await streams.exec({ target, command: q.command, stdin: q.stdin, stdout: q.stdout, stderr: q.stderr, tty: q.tty, signal: ac.signal });
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
