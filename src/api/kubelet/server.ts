/**
 * A `gantry agent`'s kubelet endpoint: a small HTTPS server on its own address (`--kubelet-listen`,
 * default `0.0.0.0:10250`) serving, for the pods this agent runs and nobody else's, what the API
 * server relays to it (./relay.ts): `GET /containerLogs/…`, the exec WebSocket at `/exec/…` and
 * port-forward at `/portForward/…` (./paths.ts) — the same route code as the API's
 * (../streams.ts, ../portforward.ts) over the node's own {@link PodStreams} and {@link PodPorts}.
 *
 * Only the control plane may call it. The TLS handshake asks for a client certificate; a request
 * without one that chains to the kubelet CA gets 401, and one whose certificate is not the
 * control plane's (a node's own, say) gets 403 — so holding a node's credentials does not open
 * another node's pods. Users never reach it directly: their tokens and RBAC are checked by the
 * API server before it relays anything. See ./pki.ts for where the certificates come from.
 */
import type { TLSSocket } from 'node:tls';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Logger } from '../../log.js';
import type { Pod } from '../../model/types.js';
import type { PodPorts } from '../../node/portforward.js';
import type { PodStreams } from '../../node/streams.js';
import { sendStatus } from '../kube.js';
import { kubeletPortForwardApi } from '../portforward.js';
import { kubeletStreamsApi } from '../streams.js';
import { isControlPlaneClient, KUBELET_CLIENT_NAME, type KubeletServingCredentials } from './pki.js';

/** The kubelet's default port. */
export const DEFAULT_KUBELET_PORT = 10250;

/** What the endpoint serves, once the node runs. */
export interface KubeletNode {
  /** A pod this agent runs (undefined for any other). */
  pod(namespace: string, name: string): Pod | undefined;
  streams: PodStreams;
  ports: PodPorts;
}

/** Options of {@link startKubeletServer}. */
export interface KubeletServerOptions {
  nodeName: string;
  /** `[host, port]`; port 0 picks a free one. */
  listen: [string, number];
  credentials: KubeletServingCredentials;
  logger: Logger;
}

/** A listening kubelet endpoint. */
export interface KubeletServer {
  /** The port it listens on (published as the Node's kubelet endpoint). */
  readonly port: number;
  /** Starts serving the node's pods; until then their requests get 503. */
  attach(node: KubeletNode): void;
  /** Serves new connections with renewed credentials. */
  renew(credentials: KubeletServingCredentials): void;
  close(): Promise<void>;
}

/** Why a TLS peer may not call the endpoint, or undefined when it is the control plane. */
export function refuseClient(socket: Pick<TLSSocket, 'getPeerCertificate' | 'authorized' | 'authorizationError'>): { code: 401 | 403; reason: string; message: string } | undefined {
  const cert = typeof socket.getPeerCertificate === 'function' ? socket.getPeerCertificate() : undefined;
  if (!cert || Object.keys(cert).length === 0) {
    return { code: 401, reason: 'Unauthorized', message: `a client certificate is required: this kubelet endpoint serves the control plane only (${KUBELET_CLIENT_NAME})` };
  }
  if (!socket.authorized) {
    return { code: 401, reason: 'Unauthorized', message: `the client certificate of ${cert.subject?.CN ?? 'an unnamed client'} is not signed by this cluster's kubelet CA (${String(socket.authorizationError ?? 'unverified')})` };
  }
  if (!isControlPlaneClient(cert)) {
    return { code: 403, reason: 'Forbidden', message: `${cert.subject?.CN ?? 'this client'} may not use the kubelet endpoint: it serves the control plane (${KUBELET_CLIENT_NAME}) only` };
  }
  return undefined;
}

/** Builds the endpoint's fastify app (the caller listens): client check, then the routes. */
export function createKubeletApp(opts: Omit<KubeletServerOptions, 'listen'>, current: () => KubeletNode | undefined): FastifyInstance {
  const c = opts.credentials;
  const app = Fastify({
    loggerInstance: opts.logger,
    // Followed logs and exec sessions stay open until their client goes: on close, end them.
    forceCloseConnections: true,
    // The client certificate is asked for in the handshake and judged per request (a Status, not a reset).
    https: { cert: c.cert, key: c.key, ca: c.clientCa, requestCert: true, rejectUnauthorized: false },
  }) as unknown as FastifyInstance;
  app.addHook('onRequest', async (req, reply) => {
    const refused = refuseClient(req.raw.socket as TLSSocket);
    if (!refused) return;
    req.log.warn({ remote: req.ip, url: req.url, why: refused.message }, 'kubelet endpoint: request refused');
    return sendStatus(reply, refused.code, refused.reason, refused.message);
  });
  const pod = (namespace: string, name: string): Pod | undefined => current()?.pod(namespace, name);
  void app.register(kubeletStreamsApi({ nodeName: opts.nodeName, pod, streams: () => current()?.streams }));
  void app.register(kubeletPortForwardApi({ nodeName: opts.nodeName, pod, ports: () => current()?.ports }));
  return app;
}

/** Listens on `opts.listen` and serves the node's pods once {@link KubeletServer.attach}ed. */
export async function startKubeletServer(opts: KubeletServerOptions): Promise<KubeletServer> {
  let node: KubeletNode | undefined;
  const app = createKubeletApp(opts, () => node);
  const [host, port] = opts.listen;
  await app.listen({ host, port });
  const address = app.server.address();
  return {
    port: typeof address === 'object' && address ? address.port : port,
    attach(n) {
      node = n;
    },
    renew(c) {
      (app.server as unknown as { setSecureContext(o: object): void }).setSecureContext({ cert: c.cert, key: c.key, ca: c.clientCa });
    },
    close: () => app.close(),
  };
}
